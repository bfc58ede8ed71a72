"""The protocol families every family-wide suite runs over, in one place.

A family is a wire protocol with its own adapter and sandbox (`adapters.PROTOCOLS`,
`adapters.sandboxes.SANDBOXES`): Alipay+ (RSA, minor-unit strings) and WalletRest (HMAC,
major-unit decimals). A suite that holds for every family takes the `protocol_family` fixture
(`tests/conftest.py`), which runs each of its tests once per name in `FAMILIES`; it then builds
what it needs from here:

- below the gateway (`tests/integration/adapters/`): `running_family` starts the family's
  sandbox on loopback with fresh credentials and builds its adapter through the registry,
  exactly as the gateway builds it;
- through the gateway (`tests/e2e/`): `MERCHANT_FAMILIES` names, per family, the seeded
  merchant whose first partner speaks it (`tests/support/seeding.py`), and `THAI_PARTNERS` the
  Thai partner of each family (one market, both protocols: fail-over crosses families).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import secrets
from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

import httpx
from aiohttp import web

from adapters import PROTOCOLS, Adapter, Operation, SystemClock, alipayplus, new_http_client
from adapters.sandboxes import SANDBOXES

__all__ = [
    "FAMILIES",
    "MERCHANT_FAMILIES",
    "THAI_PARTNERS",
    "MerchantFamily",
    "SandboxFamily",
    "running_family",
    "serve",
]

FAMILIES = ("alipayplus", "walletrest")
"""Every protocol family; `protocol_family` runs a test once per name."""

THAI_PARTNERS = {"alipayplus": "th-siampay", "walletrest": "th-krungpay"}
"""The Thai partner speaking each family (th-siampay first, th-krungpay second)."""


@dataclasses.dataclass(frozen=True)
class MerchantFamily:
    """A family as the merchant API sees it: a seeded merchant whose first partner speaks it."""

    name: str
    key: str
    """The merchant's POS key, by its seeded name."""
    currency: str
    """The merchant's currency."""
    partner: str
    """Its first partner."""


MERCHANT_FAMILIES = {
    "alipayplus": MerchantFamily("alipayplus", "th_pos", "THB", "th-siampay"),
    "walletrest": MerchantFamily("walletrest", "ph_pos", "PHP", "ph-bayadpay"),
}


# --- a family's sandbox and adapter, below the gateway --------------------------------------


@functools.cache
def _alipayplus_keys() -> tuple[tuple[str, str], tuple[str, str]]:
    """(merchant, partner) RSA key pairs, made once per run: generating them is slow."""
    return alipayplus.generate_keypair(), alipayplus.generate_keypair()


def _alipayplus(options: Mapping[str, Any]) -> tuple[Any, dict[str, str]]:
    (merchant_private, merchant_public), (partner_private, partner_public) = _alipayplus_keys()
    client_id = "SANDBOX_TEST"
    settings = SANDBOXES["alipayplus"].settings_type(
        private_key_pem=partner_private,
        merchant_public_keys={client_id: merchant_public},
        **options,
    )
    credentials = {
        "client_id": client_id,
        "private_key": merchant_private,
        "partner_public_key": partner_public,
    }
    return settings, credentials


def _walletrest(options: Mapping[str, Any]) -> tuple[Any, dict[str, str]]:
    secret = secrets.token_urlsafe(32)
    api_key = "sk_test_" + secrets.token_hex(16)
    settings = SANDBOXES["walletrest"].settings_type(
        signing_secret=secret, api_keys=frozenset({api_key}), **options
    )
    return settings, {"api_key": api_key, "signing_secret": secret}


_SETUPS = {"alipayplus": _alipayplus, "walletrest": _walletrest}


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """`app` on an ephemeral loopback port: its runner (to clean up) and its URL."""
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@dataclasses.dataclass
class SandboxFamily:
    """One family's sandbox, running, and an adapter built for it through the registry."""

    name: str
    url: str
    clock: SystemClock
    http: httpx.AsyncClient
    credentials: dict[str, str]
    timeouts: Mapping[Operation, float]
    adapter: Adapter
    ledger: Any
    """The sandbox's ledger (both families' read the same way)."""

    def build(self, base_url: str) -> Adapter:
        """Another adapter of this family with the same credentials, at `base_url`."""
        return PROTOCOLS[self.name].build(
            partner_id=f"{self.name}-other",
            base_url=base_url,
            credentials=self.credentials,
            http=self.http,
            timeouts=self.timeouts,
            clock=self.clock,
        )

    @property
    def carries_refund_merchant_amount(self) -> bool:
        """WalletRest refunds carry `merchant_amount`; Alipay+ refunds have no field for it."""
        return self.name == "walletrest"


F = TypeVar("F", bound=SandboxFamily)


@contextlib.asynccontextmanager
async def running_family(
    name: str,
    *,
    clock: SystemClock,
    timeouts: Mapping[Operation, float],
    kind: type[F] = SandboxFamily,  # type: ignore[assignment]
    **options: Any,
) -> AsyncIterator[F]:
    """Family `name`'s sandbox on loopback (its settings: `options`, e.g. `hold_seconds`,
    `settlement`, with `clock`), fresh credentials, and the adapter `{name}-sbx` for it; as a
    `kind` (a `SandboxFamily`, or a suite's own subclass)."""
    sandbox = SANDBOXES[name]
    settings, credentials = _SETUPS[name]({**options, "clock": clock})
    runner, url = await serve(sandbox.create_app(settings))
    http = new_http_client()
    adapter = PROTOCOLS[name].build(
        partner_id=f"{name}-sbx",
        base_url=url,
        credentials=credentials,
        http=http,
        timeouts=timeouts,
        clock=clock,
    )
    try:
        yield kind(
            name=name,
            url=url,
            clock=clock,
            http=http,
            credentials=credentials,
            timeouts=timeouts,
            adapter=adapter,
            ledger=runner.app[sandbox.ledger],
        )
    finally:
        await http.aclose()
        await runner.cleanup()
