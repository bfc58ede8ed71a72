"""SQL of merchants and API keys for the operator's commands, and the merchants' clocks for
settlement.

The operator's changes to a merchant (webhook, signing, secret rotation) read the row and write
it back in one transaction, the row locked on PostgreSQL (`change_merchant`), so two operators
rotating the same secret cannot both keep their own. What to write is decided by the caller
(`gateway.merchants.admin`) from the row it is shown; this module only stores it.

Request authentication reads keys and merchants through its own cache (`merchants/auth.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from gateway.storage.db import Database
from gateway.storage.tables import metadata

__all__ = [
    "change_merchant",
    "insert_api_key",
    "insert_merchant",
    "merchant_clock",
    "merchant_clocks",
    "merchant_id_named",
]

_merchants = metadata.tables["merchants"]
_api_keys = metadata.tables["api_keys"]


async def insert_merchant(db: Database, row: Mapping[str, Any]) -> None:
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(sa.insert(_merchants).values(**row))


async def merchant_id_named(db: Database, name: str) -> str | None:
    """The id of a merchant called `name` (any one, if several are), or None."""
    async with db.reader.connect() as conn:
        found = await conn.scalar(sa.select(_merchants.c.id).where(_merchants.c.name == name))
    return found


async def insert_api_key(db: Database, row: Mapping[str, Any]) -> bool:
    """Store a key row; False (nothing stored) if it names a merchant that does not exist."""
    async with db.writer.connect() as conn, conn.begin():
        merchant_id = row.get("merchant_id")
        if merchant_id is not None:
            found = await conn.scalar(
                sa.select(_merchants.c.id).where(_merchants.c.id == merchant_id)
            )
            if found is None:
                return False
        await conn.execute(sa.insert(_api_keys).values(**row))
    return True


async def change_merchant(
    db: Database,
    merchant_id: str,
    change: Callable[[dict[str, Any]], Mapping[str, Any]],
) -> dict[str, Any] | None:
    """Lock the merchant's row (PostgreSQL), write the values `change(row)` returns (none: the
    row is only locked and read), and commit; the row as it was, or None if there is no such
    merchant (`change` is not called). If `change` raises, nothing is written."""
    async with db.writer.connect() as conn, conn.begin():
        stmt = sa.select(_merchants).where(_merchants.c.id == merchant_id)
        if conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        found = (await conn.execute(stmt)).mappings().first()
        if found is None:
            return None
        row = dict(found)
        values = change(row)
        if values:
            await conn.execute(
                sa.update(_merchants).where(_merchants.c.id == merchant_id).values(**values)
            )
    return row


async def merchant_clock(db: Database, merchant_id: str) -> tuple[str, str] | None:
    """The merchant's (time zone name, cut-off `HH:MM`), or None if there is no such merchant."""
    async with db.reader.connect() as conn:
        row = (
            await conn.execute(
                sa.select(_merchants.c.timezone, _merchants.c.cutoff).where(
                    _merchants.c.id == merchant_id
                )
            )
        ).first()
    return None if row is None else (row.timezone, row.cutoff)


async def merchant_clocks(db: Database) -> list[tuple[str, str, str]]:
    """Every merchant's (id, time zone name, cut-off `HH:MM`)."""
    async with db.reader.connect() as conn:
        rows = await conn.execute(
            sa.select(_merchants.c.id, _merchants.c.timezone, _merchants.c.cutoff)
        )
        return [(row.id, row.timezone, row.cutoff) for row in rows]
