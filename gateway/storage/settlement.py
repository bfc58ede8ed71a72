"""What the payment lifecycle asks settlement before it dates a line (is that day closed? which
is the next open one?), and the per-key locks that keep those answers true until the line commits.

Closing and a late line's commit are serialised per batch key: closing takes the key's
exclusive transaction-level advisory lock on PostgreSQL (`lock_for_close`), and
`next_open_date(s)` (what the lifecycle asks at commit) takes it shared (`hold_open`), so a line
is either committed before the close reads the lines (and is in the batch) or sees the batch
closed and moves to the next open day. SQLite has one writer.

These questions run inside the hot path's writes (`open_days.py`, the payment and reversal
units), on the write's own `Statements` (a raw transaction, or a unit's connection); which
lines a batch holds is `settlement_lines.py`, closing it `settlement_batches.py`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settlement.model import BatchKey, BatchType
from gateway.storage.raw import Statements

__all__ = [
    "closed_through",
    "hold_open",
    "holding_open",
    "holding_open_in_statement",
    "is_closed",
    "lock_for_close",
    "next_open_date",
    "next_open_dates",
]

# --- the per-key locks -------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a day's few keys are asked for by every payment
def _lock_number(key: BatchKey) -> int:
    digest = hashlib.sha256(
        f"settlement\n{key.type}\n{key.owner}\n{key.currency}\n{key.day}".encode()
    )
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


async def lock_for_close(conn: AsyncConnection, key: BatchKey) -> None:
    """Take the key's advisory lock exclusively until the transaction ends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_number(key))))


# --- what the lifecycle asks -------------------------------------------------------------------


async def closed_through(
    statements: Statements, type: BatchType | str, owner: str, currency: str
) -> date | None:
    """The latest closed business date of (type, owner, currency), None if none is closed.

    Days need not close in order (`gateway settle --date` may close a later one first, and days
    without lines never close): `next_open_date` answers "where does a line dated D go"."""
    rows = await statements.fetch(
        "SELECT MAX(business_date) AS d FROM settlement_batches"
        " WHERE type = ? AND owner = ? AND currency = ?",
        [str(BatchType(type)), owner, currency],
    )
    found = rows[0]["d"] if rows else None
    return date.fromisoformat(found) if found is not None else None


async def is_closed(
    statements: Statements,
    type: BatchType | str,
    owner: str,
    currency: str,
    business_date: date | str,
) -> bool:
    """Whether the batch of (type, owner, currency, business date) is closed."""
    day = business_date if isinstance(business_date, str) else business_date.isoformat()
    rows = await statements.fetch(
        "SELECT id FROM settlement_batches"
        " WHERE type = ? AND owner = ? AND currency = ? AND business_date = ?",
        [str(BatchType(type)), owner, currency, day],
    )
    return bool(rows)


async def hold_open(statements: Statements, *keys: BatchKey) -> None:
    """Take the keys' advisory locks shared until the transaction ends (PostgreSQL; SQLite has
    one writer): a close of those batches waits for this transaction, and this one waits for a
    close in progress. `next_open_date(s)` does this for every day it looks at. Shared locks
    never wait on each other, so their order does not matter."""
    held, args = holding_open(statements, keys)
    if args:
        await statements.fetch(f"SELECT * FROM {held}", args)


def holding_open(tx: Statements, keys: Iterable[BatchKey]) -> tuple[str, list[Any]]:
    """`hold_open` as a FROM item, to take the locks within a query the write asks anyway
    (one round trip fewer): `SELECT ... FROM {item} LEFT JOIN table ON ...`. The left side of
    a LEFT JOIN is always read, so the locks are taken whether the query finds rows or not.
    Locks the transaction holds already are left out; on SQLite the item is a constant row."""
    # Sorted: two writers holding the same days never wait for each other in a cycle through
    # a close queued for one of them.
    numbers = sorted({n for n in map(_lock_number, keys) if n not in tx.held_locks})
    if not numbers or tx.dialect != "postgresql":
        return "(SELECT 1 AS held) AS held", []
    # Marked before the query runs: if it fails, PostgreSQL aborts the whole transaction.
    tx.held_locks.update(numbers)
    return (
        "(SELECT count(pg_advisory_xact_lock_shared(n)) AS held"
        " FROM unnest(CAST(? AS BIGINT[])) AS locks (n)) AS held",
        [numbers],
    )


def holding_open_in_statement(keys: Iterable[BatchKey]) -> tuple[str, list[Any]]:
    """An SQL expression (and its arguments) that holds the keys' days open as `hold_open` does
    and is true when none of them is closed, for a write made in one statement (PostgreSQL's
    `gateway_hold_days_open`, migration 0012: it looks at the batches after taking the locks,
    which a statement's own snapshot cannot)."""
    wanted = list(dict.fromkeys(keys))
    numbers = sorted(set(map(_lock_number, wanted)))  # as `holding_open`
    columns = [
        [str(k.type) for k in wanted],
        [k.owner for k in wanted],
        [k.currency for k in wanted],
        [k.day for k in wanted],
    ]
    return (
        "gateway_hold_days_open(CAST(? AS BIGINT[]), CAST(? AS TEXT[]), CAST(? AS TEXT[]),"
        " CAST(? AS TEXT[]), CAST(? AS TEXT[]))",
        [numbers, *columns],
    )


async def next_open_date(
    statements: Statements,
    type: BatchType | str,
    owner: str,
    currency: str,
    business_date: date | str,
) -> date:
    """The business date a line dated `business_date` belongs to: that day, or if its batch is
    closed the next later day whose batch is not (API.md, Business days).

    Asked inside the write that dates the line, on PostgreSQL it also holds each day it looked
    at open (`hold_open`) until that write commits, so a close cannot slip in between the
    answer and the commit."""
    kind = BatchType(type)
    day = business_date if isinstance(business_date, date) else date.fromisoformat(business_date)
    while True:
        await hold_open(statements, BatchKey(kind, owner, currency, day))
        rows = await statements.fetch(
            "SELECT business_date FROM settlement_batches WHERE type = ? AND owner = ?"
            " AND currency = ? AND business_date >= ?",
            [str(kind), owner, currency, day.isoformat()],
        )
        closed = {date.fromisoformat(r["business_date"]) for r in rows}
        if day not in closed:
            return day
        # Skip the closed run in one go, then look again under the lock of the new day.
        while day in closed:
            day += timedelta(days=1)


async def next_open_dates(statements: Statements, keys: Sequence[BatchKey]) -> dict[BatchKey, date]:
    """`next_open_date` of each key, with one lock statement and one query for all of them
    (a write dates the lines of a whole batch of payments at once); a key whose day is closed,
    which is rare, then takes its own turn."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    await hold_open(statements, *wanted)
    stored = [(str(k.type), k.owner, k.currency, k.day) for k in wanted]
    columns = ("type", "owner", "currency", "business_date")
    match, args = statements.matching(columns, stored)
    rows = await statements.fetch(
        f"SELECT type, owner, currency, business_date FROM settlement_batches WHERE {match}",
        args,
    )
    closed = {(r["type"], r["owner"], r["currency"], r["business_date"]) for r in rows}
    opened: dict[BatchKey, date] = {}
    for key in wanted:
        if (str(key.type), key.owner, key.currency, key.day) in closed:
            opened[key] = await next_open_date(
                statements, key.type, key.owner, key.currency, key.business_date
            )
        else:
            opened[key] = key.business_date
    return opened
