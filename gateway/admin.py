"""Operator actions behind the command line: merchants and API keys (async, testable)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

import fx
from gateway._iso3166 import ALPHA2
from gateway.auth import Role, generate_key
from gateway.ids import new_id
from gateway.storage import repository as repo
from gateway.storage.db import Database

__all__ = ["AdminError", "create_key", "create_merchant", "find_merchant_by_name"]


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
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(sa.insert(repo.merchants).values(**row))
    return merchant_id


async def find_merchant_by_name(db: Database, name: str) -> str | None:
    async with db.reader.connect() as conn:
        found = await conn.scalar(
            sa.select(repo.merchants.c.id).where(repo.merchants.c.name == name)
        )
    return found


async def create_key(db: Database, *, role: Role, merchant_id: str | None) -> str:
    """A new key for `role`; returns the plaintext, which is stored only as its SHA-256."""
    if role is Role.OPERATOR and merchant_id is not None:
        raise AdminError("--merchant", "operator keys are bound to no merchant")
    if role is not Role.OPERATOR and merchant_id is None:
        raise AdminError("--merchant", f"a {role.value} key needs a merchant")
    key = generate_key(role)
    async with db.writer.connect() as conn, conn.begin():
        if merchant_id is not None:
            found = await conn.scalar(
                sa.select(repo.merchants.c.id).where(repo.merchants.c.id == merchant_id)
            )
            if found is None:
                raise AdminError("--merchant", f"no merchant {merchant_id}")
        await conn.execute(
            sa.insert(repo.api_keys).values(
                id=new_id("key"),
                key_hash=key.key_hash,
                hint=key.hint,
                role=role.value,
                merchant_id=merchant_id,
                created_at=datetime.now(UTC),
            )
        )
    return key.plaintext
