"""The walletrest registry entry, its sandbox entry and the package's public surface."""

from __future__ import annotations

import inspect

from adapters import PROTOCOLS, ProtocolSpec, alipayplus, walletrest
from adapters.sandboxes import SANDBOXES, SandboxSpec
from adapters.walletrest import sandbox


def test_registry_entry() -> None:
    spec = PROTOCOLS["walletrest"]
    assert isinstance(spec, ProtocolSpec)
    assert spec.name == "walletrest"
    assert spec.required_credentials == ("api_key", "signing_secret")
    assert spec.optional_credentials == ()
    assert spec.build is walletrest.build_adapter


def test_sandbox_entry() -> None:
    spec = SANDBOXES["walletrest"]
    assert isinstance(spec, SandboxSpec)
    assert spec.name == "walletrest"
    assert spec.create_app is sandbox.create_sandbox_app
    assert spec.settings_type is sandbox.SandboxSettings
    assert spec.ledger is sandbox.LEDGER


def test_build_takes_the_registry_keywords_of_every_family() -> None:
    required = {"partner_id", "base_url", "credentials", "http", "timeouts", "clock"}
    for build in (walletrest.build_adapter, alipayplus.build_adapter):
        parameters = inspect.signature(build).parameters
        assert required <= set(parameters)
        extra = set(parameters) - required
        assert all(parameters[name].default is not inspect.Parameter.empty for name in extra)


def test_public_names_exist() -> None:
    for module in (walletrest, sandbox):
        for name in module.__all__:
            assert hasattr(module, name), name
