"""Stores with a static entry code (`gateway/stores/`): reads, and the units that write them.

Rows map to `gateway.stores.model.Store` here (the domain is small enough to keep its mapping
beside its SQL)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.db import Database
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit
from gateway.stores.model import Store, StoreStatus

__all__ = [
    "change_status",
    "delete_pending",
    "get_store",
    "insert_store",
    "list_stores",
    "save_registration",
    "store",
    "store_row",
    "stores",
]

stores = metadata.tables["stores"]


def store_row(s: Store) -> dict[str, Any]:
    return {
        "id": s.id,
        "merchant_id": s.merchant_id,
        "name": s.name,
        "partner": s.partner,
        "partner_store_id": s.partner_store_id,
        "code": s.code,
        "status": s.status.value,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
    }


def store(row: Mapping[str, Any] | sa.RowMapping) -> Store:
    return Store(
        id=row["id"],
        merchant_id=row["merchant_id"],
        name=row["name"],
        partner=row["partner"],
        partner_store_id=row["partner_store_id"],
        code=row["code"],
        status=StoreStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_store(db: Database, store_id: str) -> Store | None:
    async with db.reader.connect() as conn:
        row = (await conn.execute(sa.select(stores).where(stores.c.id == store_id))).mappings()
        found = row.first()
    return None if found is None else store(found)


async def list_stores(db: Database, merchant_id: str) -> list[Store]:
    """The merchant's stores, oldest first (ids sort by creation time)."""
    stmt = sa.select(stores).where(stores.c.merchant_id == merchant_id).order_by(stores.c.id)
    async with db.reader.connect() as conn:
        return [store(r) for r in (await conn.execute(stmt)).mappings()]


def insert_store(s: Store) -> Unit[None]:
    async def unit(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(stores).values(**store_row(s)))

    return unit


async def _reread(conn: AsyncConnection, store_id: str) -> Store | None:
    found = (await conn.execute(sa.select(stores).where(stores.c.id == store_id))).mappings()
    row = found.first()
    return None if row is None else store(row)


def save_registration(registered: Store) -> Unit[Store | None]:
    """Store the code the partner issued (and the store's status as `registered` says, unless
    it was disabled meanwhile); the store as written, None if it is gone."""

    async def unit(conn: AsyncConnection) -> Store | None:
        status = sa.case(
            (stores.c.status == StoreStatus.DISABLED.value, stores.c.status),
            else_=registered.status.value,
        )
        await conn.execute(
            sa.update(stores)
            .where(stores.c.id == registered.id)
            .values(
                code=registered.code,
                partner_store_id=registered.partner_store_id,
                status=status,
                updated_at=registered.updated_at,
            )
        )
        return await _reread(conn, registered.id)

    return unit


def change_status(
    *, store_id: str, to: StoreStatus, allowed: Collection[StoreStatus], now: datetime
) -> Unit[Store | None]:
    """Set the store's status to `to` if it is one of `allowed` now; the store as it then is
    (changed or not), None if there is no such store."""

    async def unit(conn: AsyncConnection) -> Store | None:
        await conn.execute(
            sa.update(stores)
            .where(stores.c.id == store_id, stores.c.status.in_([s.value for s in allowed]))
            .values(status=to.value, updated_at=now)
        )
        return await _reread(conn, store_id)

    return unit


def delete_pending(store_id: str) -> Unit[bool]:
    """Forget a store the partner refused to register (nothing exists there): True if it was
    still pending and is gone."""

    async def unit(conn: AsyncConnection) -> bool:
        result = await conn.execute(
            sa.delete(stores).where(
                stores.c.id == store_id, stores.c.status == StoreStatus.PENDING.value
            )
        )
        return bool(result.rowcount == 1)

    return unit
