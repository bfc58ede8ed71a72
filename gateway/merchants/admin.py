"""Operator actions behind the command line: merchants, API keys, webhooks and request signing
(async, testable).

Webhook and signing secrets are returned in the clear exactly once, when made, for the command
line to show; the database holds them sealed (`gateway/core/secrets.py`). Running gateways see these
changes within `durations.key_cache_ttl` (their cache of keys and merchants;
`gateway/merchants/auth.py`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import fx
from gateway.core.ids import new_id
from gateway.core.iso3166 import ALPHA2
from gateway.core.secrets import Purpose, SealedSecretError, SecretBox, SecretSet, generate_secret
from gateway.merchants.auth import Role, generate_key
from gateway.quotes.model import MarkupRule
from gateway.storage import merchants as repo
from gateway.storage import rows
from gateway.storage.db import Database

__all__ = [
    "MAX_KEEP_PREVIOUS",
    "AdminError",
    "check_webhook_url",
    "clear_markup",
    "clear_webhook",
    "create_key",
    "create_merchant",
    "disable_signing",
    "enable_signing",
    "find_merchant_by_name",
    "rotate_secret",
    "set_markup",
    "set_webhook",
]

MAX_KEEP_PREVIOUS = timedelta(days=7)


class AdminError(ValueError):
    """Bad operator input; `option` names the command-line option at fault."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


async def create_merchant(
    db: Database,
    *,
    name: str,
    country: str,
    currency: str,
    timezone: str,
    cutoff: str = "00:00",
    mdr_bps: int = 0,
    fixed_fee: int = 0,
) -> str:
    if not 1 <= len(name) <= 200:
        raise AdminError("--name", "use 1 to 200 characters")
    if country not in ALPHA2:
        raise AdminError("--country", f"{country!r} is not an ISO 3166-1 alpha-2 code (e.g. TH)")
    try:
        fx.get_currency(currency)
    except fx.UnsupportedCurrency as exc:
        raise AdminError("--currency", f"{currency!r} is not an ISO 4217 payment currency") from exc
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise AdminError("--timezone", f"{timezone!r} is not an IANA time zone") from exc
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", cutoff):
        raise AdminError("--cutoff", "use HH:MM, e.g. 00:00 or 23:30")
    if not 0 <= mdr_bps <= 10_000:
        raise AdminError("--mdr-bps", "use 0 to 10000 basis points")
    if not 0 <= fixed_fee <= fx.MAX_AMOUNT:
        raise AdminError("--fixed-fee", "use a non-negative count of minor units")
    merchant_id = new_id("mer")
    row = {
        "id": merchant_id,
        "name": name,
        "country": country,
        "currency": currency,
        "timezone": timezone,
        "cutoff": cutoff,
        "mdr_bps": mdr_bps,
        "fixed_fee": fixed_fee,
        "created_at": datetime.now(UTC),
    }
    await repo.insert_merchant(db, row)
    return merchant_id


async def find_merchant_by_name(db: Database, name: str) -> str | None:
    return await repo.merchant_id_named(db, name)


async def create_key(db: Database, *, role: Role, merchant_id: str | None) -> str:
    """A new key for `role`; returns the plaintext, which is stored only as its SHA-256."""
    if role is Role.OPERATOR and merchant_id is not None:
        raise AdminError("--merchant", "operator keys are bound to no merchant")
    if role is not Role.OPERATOR and merchant_id is None:
        raise AdminError("--merchant", f"a {role.value} key needs a merchant")
    key = generate_key(role)
    row = {
        "id": new_id("key"),
        "key_hash": key.key_hash,
        "hint": key.hint,
        "role": role.value,
        "merchant_id": merchant_id,
        "created_at": datetime.now(UTC),
    }
    if not await repo.insert_api_key(db, row):
        raise AdminError("--merchant", f"no merchant {merchant_id}")
    return key.plaintext


# --- webhooks and request signing -------------------------------------------------------------

_COLUMN = {Purpose.WEBHOOK: "webhook_secret", Purpose.SIGNING: "signing_secret"}


def check_webhook_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials, no fragment, at most 2000 chars."""
    if len(url) > 2000 or any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise AdminError("--url", "use an http(s) URL of at most 2000 characters, no spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise AdminError("--url", f"{url!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AdminError("--url", f"{url!r} is not an http(s) URL, e.g. https://shop.example/hooks")
    if parts.username is not None or parts.password is not None:
        raise AdminError("--url", "leave credentials out of the URL: webhooks are signed instead")
    if parts.fragment:
        raise AdminError("--url", "remove the #fragment: it is never sent")
    return url


async def _change(
    db: Database, merchant_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """`change` the merchant's row under its lock (`repo.change_merchant`); the row as it was."""
    before = await repo.change_merchant(db, merchant_id, change)
    if before is None:
        raise AdminError("MERCHANT_ID", f"no merchant {merchant_id}")
    return before


async def set_webhook(db: Database, box: SecretBox, *, merchant_id: str, url: str) -> str | None:
    """Point the merchant's events at `url`. Returns a new webhook secret (made when the merchant
    had none), else None: an existing secret is kept."""
    url = check_webhook_url(url)
    secret: str | None = None

    def change(merchant: dict[str, Any]) -> dict[str, Any]:
        nonlocal secret
        values: dict[str, Any] = {"webhook_url": url}
        if not merchant["webhook_secret"]:
            secret = generate_secret(Purpose.WEBHOOK)
            values["webhook_secret"] = box.seal(
                SecretSet(secret), merchant_id=merchant_id, purpose=Purpose.WEBHOOK
            )
        return values

    await _change(db, merchant_id, change)
    return secret


async def clear_webhook(db: Database, *, merchant_id: str) -> bool:
    """Remove the merchant's webhook URL and secret; False if it had none. Its events are then
    `no_endpoint` (redeliver them once a URL is set again, which makes a new secret)."""
    merchant = await _change(
        db, merchant_id, lambda _row: {"webhook_url": None, "webhook_secret": None}
    )
    return merchant["webhook_url"] is not None


async def enable_signing(db: Database, box: SecretBox, *, merchant_id: str) -> str | None:
    """Require signed requests of the merchant. Returns a new signing secret (made when it had
    none), else None: an existing secret is kept."""
    secret: str | None = None

    def change(merchant: dict[str, Any]) -> dict[str, Any]:
        nonlocal secret
        values: dict[str, Any] = {"require_signature": True}
        if not merchant["signing_secret"]:
            secret = generate_secret(Purpose.SIGNING)
            values["signing_secret"] = box.seal(
                SecretSet(secret), merchant_id=merchant_id, purpose=Purpose.SIGNING
            )
        return values

    await _change(db, merchant_id, change)
    return secret


async def disable_signing(db: Database, *, merchant_id: str) -> None:
    """Stop requiring signed requests. The secret is kept: a request that still carries a
    signature is checked against it (and refused if wrong)."""
    await _change(db, merchant_id, lambda _row: {"require_signature": False})


async def rotate_secret(
    db: Database,
    box: SecretBox,
    *,
    merchant_id: str,
    purpose: Purpose,
    keep_previous: timedelta = timedelta(0),
    now: datetime | None = None,
) -> str:
    """Replace the merchant's webhook or signing secret; returns the new one.

    With `keep_previous`, the old secret stays valid that long beside the new one (webhooks carry
    a signature by each; requests signed by either are accepted), so the merchant can switch
    without a gap. Up to `MAX_KEEP_PREVIOUS`.
    """
    if not timedelta(0) <= keep_previous <= MAX_KEEP_PREVIOUS:
        raise AdminError("--keep-previous", "use a duration from 0s to 7d")
    now = now or datetime.now(UTC)
    column = _COLUMN[purpose]
    new = generate_secret(purpose)

    def change(merchant: dict[str, Any]) -> dict[str, Any]:
        sealed = merchant[column]
        if not sealed:
            how = "webhook set --url URL" if purpose is Purpose.WEBHOOK else "signing enable"
            raise AdminError(
                "MERCHANT_ID",
                f"merchant {merchant_id} has no {purpose.value} secret yet: run "
                f"`gateway merchants {how} {merchant_id}` first",
            )
        if keep_previous > timedelta(0):
            try:
                current = box.open(sealed, merchant_id=merchant_id, purpose=purpose)
            except SealedSecretError as exc:
                raise AdminError(
                    "--keep-previous", f"{exc}; or rotate without --keep-previous"
                ) from exc
            rotated = current.rotated(new, now=now, keep_previous_until=now + keep_previous)
        else:
            rotated = SecretSet(new)  # the old one need not (and may not) open
        return {column: box.seal(rotated, merchant_id=merchant_id, purpose=purpose)}

    await _change(db, merchant_id, change)
    return new


# --- markups ---------------------------------------------------------------------------------

_PAIR = re.compile(r"([A-Z]{3})/([A-Z]{3})")


def _markup_scope(
    merchant: dict[str, Any], wallet: str | None, pair: str | None, wallets: Collection[str]
) -> tuple[str | None, str | None]:
    if wallet is not None and wallet not in wallets:
        raise AdminError("--wallet", f"no wallet {wallet!r} is configured")
    if pair is not None:
        match = _PAIR.fullmatch(pair)
        if match is None or not all(map(_is_payment_currency, match.groups())):
            raise AdminError("--pair", f"{pair!r} is not a currency pair such as THB/CNY")
        if match.group(1) != merchant["currency"]:
            raise AdminError(
                "--pair",
                f"the pair must start with the merchant's currency, {merchant['currency']}",
            )
    return wallet, pair


def _is_payment_currency(code: str) -> bool:
    try:
        fx.get_currency(code)
    except fx.UnsupportedCurrency:
        return False
    return True


async def set_markup(
    db: Database,
    *,
    merchant_id: str,
    bps: int,
    wallet: str | None = None,
    pair: str | None = None,
    wallets: Collection[str] = (),
) -> tuple[MarkupRule, ...]:
    """Set the merchant's markup for its sales (of `wallet`, in `pair`, when given), replacing
    its rule of the same scope; the merchant's rules afterwards. Quotes made from then on use
    it (within the configured floor and cap); quotes already made keep theirs."""
    if isinstance(bps, bool) or not isinstance(bps, int) or not 0 <= bps <= 10_000:
        raise AdminError("--markup-bps", "give whole basis points from 0 to 10000")
    after: tuple[MarkupRule, ...] = ()

    def change(merchant: dict[str, Any]) -> dict[str, Any]:
        nonlocal after
        scope = _markup_scope(merchant, wallet, pair, wallets)
        kept = [
            r
            for r in rows.merchant_markups(merchant_id, merchant["fx_markups"])
            if (r.wallet, r.pair) != scope
        ]
        rule = MarkupRule(bps, merchant_id, scope[0], None, scope[1], origin="merchant")
        after = (*kept, rule)
        return {"fx_markups": rows.merchant_markups_json(after)}

    await _change(db, merchant_id, change)
    return after


async def clear_markup(
    db: Database, *, merchant_id: str, wallet: str | None = None, pair: str | None = None
) -> bool:
    """Remove the merchant's rule of that scope; False if it had none."""
    removed = False

    def change(merchant: dict[str, Any]) -> dict[str, Any]:
        nonlocal removed
        rules = rows.merchant_markups(merchant_id, merchant["fx_markups"])
        kept = [r for r in rules if (r.wallet, r.pair) != (wallet, pair)]
        removed = len(kept) < len(rules)
        return {"fx_markups": rows.merchant_markups_json(kept)}

    await _change(db, merchant_id, change)
    return removed
