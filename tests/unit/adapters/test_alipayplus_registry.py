"""The protocol registry entry, its sandbox entry and the package's public surface."""

from __future__ import annotations

import adapters
import adapters.sandboxes
from adapters import PROTOCOLS, ProtocolSpec, alipayplus
from adapters.alipayplus import sandbox
from adapters.sandboxes import SANDBOXES, SandboxSpec


def test_registry_entry() -> None:
    spec = PROTOCOLS["alipayplus"]
    assert isinstance(spec, ProtocolSpec)
    assert spec.name == "alipayplus"
    assert spec.required_credentials == ("client_id", "private_key", "partner_public_key")
    assert spec.optional_credentials == ("key_version", "partner_key_version")
    assert spec.build is alipayplus.build_adapter


def test_sandbox_entry() -> None:
    spec = SANDBOXES["alipayplus"]
    assert isinstance(spec, SandboxSpec)
    assert spec.name == "alipayplus"
    assert spec.create_app is sandbox.create_sandbox_app
    assert spec.settings_type is sandbox.SandboxSettings
    assert spec.ledger is sandbox.LEDGER


def test_public_names_exist() -> None:
    for module in (adapters, adapters.sandboxes, alipayplus, sandbox):
        for name in module.__all__:
            assert hasattr(module, name), name
