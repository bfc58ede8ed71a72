"""The one way tests create merchants and API keys: the operator's own path
(`gateway.merchants.admin`, what `gateway merchants create` and `gateway keys create` run), so a
seeded merchant is exactly what an operator would make.

`Shop` describes a merchant and the keys it gets, by the name a test uses for each key; `seed`
makes a set of them (and an operator key) in one database. `create_merchant` makes one merchant
without keys. `merchant_row` is a valid `merchants` row for the few tests whose subject is
writing rows (the group-commit writer, hand-written journals): they insert it themselves.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

from gateway.core.ids import new_id
from gateway.merchants import admin
from gateway.merchants.auth import Role
from gateway.storage.db import Database, open_database

__all__ = [
    "MANILA_CRAFTS",
    "SHOPS",
    "SIAM_SOUVENIRS",
    "TOKYO_SWEETS",
    "Seeded",
    "Shop",
    "create_merchant",
    "merchant_row",
    "seed",
]


@dataclasses.dataclass(frozen=True)
class Shop:
    """A merchant as `gateway merchants create` takes it, and its keys (test name → role)."""

    name: str
    country: str
    currency: str
    timezone: str
    _: dataclasses.KW_ONLY
    cutoff: str = "00:00"
    mdr_bps: int = 0
    fixed_fee: int = 0
    keys: Mapping[str, Role] = dataclasses.field(default_factory=dict)


# The merchants most end-to-end tests share (`tests/e2e/conftest.py`). Thailand's first partner
# speaks Alipay+ (th-siampay; th-krungpay, on WalletRest, comes second), Japan's too, and the
# Philippines' WalletRest (`tests/support/families.py`).
SIAM_SOUVENIRS = Shop(
    "Siam Souvenirs",
    "TH",
    "THB",
    "Asia/Bangkok",
    mdr_bps=150,
    keys={"th_pos": Role.POS, "th_finance": Role.FINANCE},
)
TOKYO_SWEETS = Shop("Tokyo Sweets", "JP", "JPY", "Asia/Tokyo", keys={"jp_pos": Role.POS})
MANILA_CRAFTS = Shop("Manila Crafts", "PH", "PHP", "Asia/Manila", keys={"ph_pos": Role.POS})
SHOPS = {"th": SIAM_SOUVENIRS, "jp": TOKYO_SWEETS, "ph": MANILA_CRAFTS}


@dataclasses.dataclass(frozen=True)
class Seeded:
    merchants: dict[str, str]
    """Merchant ids by the label the test gave each shop."""
    keys: dict[str, str]
    """Plaintext API keys by the name the shops gave them (and `operator`)."""


async def create_merchant(db: Database, shop: Shop) -> str:
    """One merchant (without keys), made as the operator makes it; its id."""
    return await admin.create_merchant(
        db,
        name=shop.name,
        country=shop.country,
        currency=shop.currency,
        timezone=shop.timezone,
        cutoff=shop.cutoff,
        mdr_bps=shop.mdr_bps,
        fixed_fee=shop.fixed_fee,
    )


@contextlib.asynccontextmanager
async def _database(target: str | Database) -> AsyncIterator[Database]:
    if not isinstance(target, str):
        yield target
        return
    db = open_database(target)
    try:
        yield db
    finally:
        await db.dispose()


async def seed(
    target: str | Database, shops: Mapping[str, Shop], *, operator_key: str | None = "operator"
) -> Seeded:
    """Each shop (by label) with its keys, and an operator key named `operator_key` (None: no
    operator key), in the database at `target` (a URL, or an open `Database`)."""
    merchants: dict[str, str] = {}
    keys: dict[str, str] = {}
    async with _database(target) as db:
        for label, shop in shops.items():
            merchant_id = merchants[label] = await create_merchant(db, shop)
            for name, role in shop.keys.items():
                keys[name] = await admin.create_key(db, role=role, merchant_id=merchant_id)
        if operator_key is not None:
            keys[operator_key] = await admin.create_key(db, role=Role.OPERATOR, merchant_id=None)
    return Seeded(merchants, keys)


def merchant_row(merchant_id: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid `merchants` row (a Thai shop, no fees), with `changes`; for tests that write rows
    themselves because the writing is what they test."""
    row: dict[str, Any] = {
        "id": merchant_id or new_id("mer"),
        "name": "Test Shop",
        "country": "TH",
        "currency": "THB",
        "timezone": "Asia/Bangkok",
        "cutoff": "00:00",
        "mdr_bps": 0,
        "fixed_fee": 0,
        "created_at": datetime.now(UTC),
    }
    return row | changes
