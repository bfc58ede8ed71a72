"""The protocols the gateway can configure a partner with, by name (`protocol:` in its config).

Each entry says which credentials a partner of that protocol needs, how to build its adapter,
and how to start its sandbox (with the protocol's own settings type).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

from adapters import alipayplus, walletrest
from adapters._base import Adapter
from adapters.alipayplus.sandbox import demo as alipayplus_demo
from adapters.walletrest.sandbox import demo as walletrest_demo

__all__ = ["PROTOCOLS", "ProtocolSpec"]


@dataclasses.dataclass(frozen=True)
class ProtocolSpec:
    """One partner protocol.

    - `required_credentials` / `optional_credentials`: the credential names `build` accepts
      (any other name is refused, so a typo cannot go unnoticed).
    - `build(*, partner_id, base_url, credentials, http, timeouts, clock) -> Adapter`, where
      `credentials` maps each name of `required_credentials` to its secret value.
    - `sandbox(settings) -> web.Application`, `settings` being a `sandbox_settings` instance.
    - `demo_credentials(partner_id) -> (credentials, sandbox_secret | None)`: fresh credentials
      for a demo partner, and the sandbox's own secret if the protocol gives it one.
    - `sandbox_for(credentials, sandbox_secret, *, hold_seconds, confirm_seconds,
      expire_seconds, clock, settlement=None, allow_settlement_tamper=False) ->
      web.Application`: the sandbox that accepts those credentials; `settlement`
      (`adapters.SettlementTerms`: the partner's zone, cut-off and fees) shapes its settlement
      file, and `allow_settlement_tamper` opens its test-only tampering route.
    - `ledger`: the `web.AppKey` under which the sandbox keeps its ledger (the same reading API
      for every protocol: `payments`, `refunds`, `entries`, `charges_for`, `reversals_for`,
      `refunds_for`, `refunded_for`, `to_json`).
    """

    name: str
    required_credentials: tuple[str, ...]
    build: Callable[..., Adapter]
    sandbox: Callable[[Any], web.Application]
    sandbox_settings: type[Any]
    demo_credentials: Callable[[str], tuple[dict[str, str], str | None]]
    sandbox_for: Callable[..., web.Application]
    ledger: web.AppKey[Any]
    optional_credentials: tuple[str, ...] = ()


PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType(
    {
        "alipayplus": ProtocolSpec(
            name="alipayplus",
            required_credentials=alipayplus.REQUIRED_CREDENTIALS,
            build=alipayplus.build_adapter,
            sandbox=alipayplus.create_sandbox_app,
            sandbox_settings=alipayplus.SandboxSettings,
            demo_credentials=alipayplus_demo.demo_credentials,
            sandbox_for=alipayplus_demo.sandbox_for,
            ledger=alipayplus.LEDGER,
            optional_credentials=alipayplus.OPTIONAL_CREDENTIALS,
        ),
        "walletrest": ProtocolSpec(
            name="walletrest",
            required_credentials=walletrest.REQUIRED_CREDENTIALS,
            build=walletrest.build_adapter,
            sandbox=walletrest.create_sandbox_app,
            sandbox_settings=walletrest.SandboxSettings,
            demo_credentials=walletrest_demo.demo_credentials,
            sandbox_for=walletrest_demo.sandbox_for,
            ledger=walletrest.LEDGER,
            optional_credentials=walletrest.OPTIONAL_CREDENTIALS,
        ),
    }
)
