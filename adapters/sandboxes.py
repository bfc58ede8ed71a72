"""The sandbox partner of each protocol, by the same names as `adapters.PROTOCOLS`.

Sandboxes are for tests and demos: importing `adapters` (or building adapters from
`adapters.PROTOCOLS`) never loads one, and this module is the only way in from outside a
protocol's package. The gateway imports it lazily, for its `sandbox` and `demo` commands
(`gateway.sandboxes`); tests import it directly.

Each entry (`SandboxSpec`) gives:

- `create_app(settings) -> web.Application`, `settings` being a `settings_type` instance;
- `demo_credentials(partner_id) -> (credentials, sandbox_secret | None)`: fresh credentials for
  a demo partner, and the sandbox's own secret if the protocol gives it one;
- `sandbox_for(credentials, sandbox_secret, *, hold_seconds, confirm_seconds, expire_seconds,
  clock, settlement=None, allow_settlement_tamper=False) -> web.Application`: the sandbox that
  accepts those credentials; `settlement` (`SettlementTerms`: the partner's zone, cut-off and
  fees) shapes its settlement file, and `allow_settlement_tamper` opens its test-only tampering
  route and its rate feed's switches (every sandbox serves the ECB feed at `FEED_PATH`,
  `adapters._sandbox.ratefeed`);
- `ledger`: the `web.AppKey` under which the sandbox keeps its ledger (the same reading API for
  every protocol: `payments`, `refunds`, `entries`, `charges_for`, `reversals_for`,
  `refunds_for`, `refunded_for`, `to_json`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from aiohttp import web

from adapters._clock import Clock
from adapters._sandbox.terms import SettlementTerms
from adapters.alipayplus.sandbox import app as alipayplus_app
from adapters.alipayplus.sandbox import demo as alipayplus_demo
from adapters.walletrest.sandbox import app as walletrest_app
from adapters.walletrest.sandbox import demo as walletrest_demo

__all__ = ["SANDBOXES", "SandboxFactory", "SandboxSpec", "SettlementTerms"]


class SandboxFactory(Protocol):
    """`sandbox_for(...)` of a protocol: the sandbox app that accepts `credentials` (the
    gateway's, by name) and signs with `sandbox_secret` when the protocol needs one."""

    def __call__(
        self,
        credentials: Mapping[str, str],
        sandbox_secret: str | None,
        *,
        hold_seconds: float,
        confirm_seconds: float,
        expire_seconds: float,
        clock: Clock,
        settlement: SettlementTerms | None = None,
        allow_settlement_tamper: bool = False,
    ) -> web.Application: ...


@dataclasses.dataclass(frozen=True)
class SandboxSpec:
    """One protocol's sandbox partner (the module docstring says what each field does)."""

    name: str
    create_app: Callable[[Any], web.Application]
    settings_type: type[Any]
    demo_credentials: Callable[[str], tuple[dict[str, str], str | None]]
    sandbox_for: SandboxFactory
    ledger: web.AppKey[Any]


SANDBOXES: Mapping[str, SandboxSpec] = MappingProxyType(
    {
        "alipayplus": SandboxSpec(
            name="alipayplus",
            create_app=alipayplus_app.create_sandbox_app,
            settings_type=alipayplus_app.SandboxSettings,
            demo_credentials=alipayplus_demo.demo_credentials,
            sandbox_for=alipayplus_demo.sandbox_for,
            ledger=alipayplus_app.LEDGER,
        ),
        "walletrest": SandboxSpec(
            name="walletrest",
            create_app=walletrest_app.create_sandbox_app,
            settings_type=walletrest_app.SandboxSettings,
            demo_credentials=walletrest_demo.demo_credentials,
            sandbox_for=walletrest_demo.sandbox_for,
            ledger=walletrest_app.LEDGER,
        ),
    }
)
