"""Credentials for a demo partner on this protocol, and the sandbox that accepts them.

WalletRest shares one HMAC secret between both sides, plus an API key: `demo_credentials` makes
both fresh (never stored); the sandbox needs no secret of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from aiohttp import web

from adapters._clock import Clock
from adapters._sandbox.terms import SettlementTerms
from adapters.walletrest.sandbox.app import SandboxSettings, create_sandbox_app

__all__ = ["demo_credentials", "sandbox_for"]


def demo_credentials(partner_id: str) -> tuple[dict[str, str], None]:
    """(the gateway's credentials by name, None: no secret of the sandbox's own)."""
    del partner_id
    return {
        "api_key": "sk_test_" + secrets.token_hex(16),
        "signing_secret": secrets.token_urlsafe(32),
    }, None


def sandbox_for(
    credentials: Mapping[str, str],
    sandbox_secret: str | None,
    *,
    hold_seconds: float,
    confirm_seconds: float,
    expire_seconds: float,
    clock: Clock,
    settlement: SettlementTerms | None = None,
    allow_settlement_tamper: bool = False,
) -> web.Application:
    del sandbox_secret
    return create_sandbox_app(
        SandboxSettings(
            signing_secret=credentials["signing_secret"],
            api_keys=frozenset({credentials["api_key"]}),
            hold_seconds=hold_seconds,
            confirm_seconds=confirm_seconds,
            expire_seconds=expire_seconds,
            clock=clock,
            settlement=settlement or SettlementTerms(),
            allow_settlement_tamper=allow_settlement_tamper,
        )
    )
