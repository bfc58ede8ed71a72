"""The protocol registry entry and the package's public surface."""

from __future__ import annotations

import adapters
from adapters import PROTOCOLS, ProtocolSpec, alipayplus


def test_registry_entry() -> None:
    spec = PROTOCOLS["alipayplus"]
    assert isinstance(spec, ProtocolSpec)
    assert spec.name == "alipayplus"
    assert spec.required_credentials == ("client_id", "private_key", "partner_public_key")
    assert spec.optional_credentials == ("key_version", "partner_key_version")
    assert spec.build is alipayplus.build_adapter
    assert spec.sandbox is alipayplus.create_sandbox_app
    assert spec.sandbox_settings is alipayplus.SandboxSettings


def test_public_names_exist() -> None:
    for module in (adapters, alipayplus):
        for name in module.__all__:
            assert hasattr(module, name), name
