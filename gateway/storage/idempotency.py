"""Idempotency-Key records: judging a key against a new request, claiming it inside the
transaction that writes the request's first rows, and completing it with the stored answer."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.db import Database
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "IdempotencyConflict",
    "IdempotencyOutcome",
    "IdempotencyReplay",
    "claim_key",
    "complete_answer",
    "create_with_key",
    "find_idempotency",
    "idempotency",
    "judge_idempotency",
    "purge_idempotency",
    "store_answer",
]

idempotency = metadata.tables["idempotency_keys"]


@dataclasses.dataclass(frozen=True, slots=True)
class IdempotencyReplay:
    status: int
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class IdempotencyConflict:
    in_use: bool  # True: the first request is still running; False: the key was used for another


IdempotencyOutcome = IdempotencyReplay | IdempotencyConflict | None


async def find_idempotency(db: Database, merchant_id: str, key: str) -> dict[str, Any] | None:
    stmt = sa.select(idempotency).where(
        idempotency.c.merchant_id == merchant_id, idempotency.c.key == key
    )
    async with db.reader.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return dict(row) if row is not None else None


def judge_idempotency(
    record: dict[str, Any] | sa.RowMapping | None, request_hash: str, now: datetime
) -> IdempotencyOutcome:
    """What an existing record means for a new request with the same key (None: go ahead)."""
    if record is None or record["expires_at"] <= now:
        return None
    if record["request_hash"] != request_hash:
        return IdempotencyConflict(in_use=False)
    if record["state"] != "completed":
        return IdempotencyConflict(in_use=True)
    return IdempotencyReplay(status=int(record["response_status"]), body=record["response_body"])


async def claim_key(
    conn: AsyncConnection, claim: dict[str, Any], now: datetime
) -> IdempotencyOutcome:
    """Check the key inside the transaction; the caller inserts the claim if this returns None."""
    where = (idempotency.c.merchant_id == claim["merchant_id"], idempotency.c.key == claim["key"])
    existing = (await conn.execute(sa.select(idempotency).where(*where))).mappings().first()
    verdict = judge_idempotency(existing, claim["request_hash"], now)
    if verdict is None and existing is not None:  # expired: the key may be used again
        await conn.execute(sa.delete(idempotency).where(*where))
    return verdict


def create_with_key(
    *, claim: dict[str, Any], table: sa.Table, row: dict[str, Any], now: datetime
) -> Unit[IdempotencyOutcome]:
    """Insert one row and its completed idempotency record in one commit (e.g. a quote)."""

    async def unit(conn: AsyncConnection) -> IdempotencyOutcome:
        verdict = await claim_key(conn, claim, now)
        if verdict is not None:
            return verdict
        await conn.execute(sa.insert(idempotency).values(**claim))
        await conn.execute(sa.insert(table).values(**row))
        return None

    return unit


def purge_idempotency(now: datetime) -> Unit[int]:
    async def unit(conn: AsyncConnection) -> int:
        result = await conn.execute(sa.delete(idempotency).where(idempotency.c.expires_at <= now))
        return int(result.rowcount)

    return unit


async def complete_answer(
    conn: AsyncConnection, merchant_id: str, resource_id: str, status: int, body: str
) -> None:
    """Store the answer of a request whose first run could not (a crash, or a budget's end)."""
    await conn.execute(
        sa.update(idempotency)
        .where(
            idempotency.c.merchant_id == merchant_id,
            idempotency.c.resource_id == resource_id,
            idempotency.c.state == "in_progress",
        )
        .values(state="completed", response_status=status, response_body=body)
    )


def store_answer(merchant_id: str, resource_id: str, status: int, body: str) -> Unit[None]:
    """`complete_answer` as a write of its own."""

    async def unit(conn: AsyncConnection) -> None:
        await complete_answer(conn, merchant_id, resource_id, status, body)

    return unit
