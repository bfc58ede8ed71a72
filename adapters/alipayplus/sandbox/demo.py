"""Credentials for a demo partner on this protocol, and the sandbox that accepts them.

The gateway's side holds a client id, its private key and the partner's public key; the sandbox
holds its own private key and our public key. `demo_credentials` makes both halves fresh (never
stored); `sandbox_for` builds the sandbox that trusts the given gateway credentials.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from adapters._clock import Clock
from adapters._sandbox.terms import SettlementTerms
from adapters.alipayplus.sandbox.app import SandboxSettings, create_sandbox_app
from adapters.alipayplus.signing import generate_keypair, load_private_key

__all__ = ["demo_credentials", "sandbox_for"]


def demo_credentials(partner_id: str) -> tuple[dict[str, str], str]:
    """(the gateway's credentials by name, the sandbox's own private key)."""
    ours_private, _ours_public = generate_keypair()
    sandbox_private, sandbox_public = generate_keypair()
    client_id = "SANDBOX_" + partner_id.upper().replace("-", "_")
    credentials = {
        "client_id": client_id,
        "private_key": ours_private,
        "partner_public_key": sandbox_public,
    }
    return credentials, sandbox_private


def _public_pem(private_pem: str) -> str:
    return (
        load_private_key(private_pem)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


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
    if not sandbox_secret:
        raise ValueError("an Alipay+ sandbox signs its answers: it needs its own private key")
    return create_sandbox_app(
        SandboxSettings(
            private_key_pem=sandbox_secret,
            merchant_public_keys={
                credentials["client_id"]: _public_pem(credentials["private_key"])
            },
            hold_seconds=hold_seconds,
            confirm_seconds=confirm_seconds,
            expire_seconds=expire_seconds,
            clock=clock,
            settlement=settlement or SettlementTerms(),
            allow_settlement_tamper=allow_settlement_tamper,
        )
    )
