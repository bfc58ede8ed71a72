"""SQL of closed settlement batches: the closing transaction that freezes a batch, and the reads
of its row and its frozen lines.

Closing is one transaction on the writer engine (`closing_batch`), in the steps
`gateway.settlement.closing` drives: claim the key (its advisory lock, then the row inserted
unless someone closed it first), freeze its lines into `settlement_lines` in file order by one
`INSERT ... SELECT`, page through them to render the file, then record the totals and digest on
the row with the `settlement.closed` event beside it. The file format and the event are the
caller's: this module only stores what it is handed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settlement.model import BatchKey, BatchType, ClosedBatch, Totals
from gateway.storage.db import Database
from gateway.storage.settlement import lock_for_close
from gateway.storage.settlement_lines import LineFilter, fetch_all, line_source
from gateway.storage.tables import metadata

__all__ = [
    "BatchClosing",
    "closing_batch",
    "file_parts",
    "get_batch",
    "list_closed",
    "page_lines",
]


def _closed(row: Mapping[Any, Any]) -> ClosedBatch:
    key = BatchKey(
        BatchType(row["type"]),
        row["owner"],
        row["currency"],
        date.fromisoformat(row["business_date"]),
    )
    return ClosedBatch(
        key=key,
        totals=Totals.of(row),
        file_sha256=row["file_sha256"],
        file_bytes=row["file_bytes"],
        file_format=row["file_format"],
        forced=bool(row["forced"]),
        closed_by=row["closed_by"],
        closed_at=row["closed_at"],
    )


def _row(batch: ClosedBatch) -> dict[str, Any]:
    key, totals = batch.key, batch.totals
    return {
        "id": key.id,
        "type": str(key.type),
        "owner": key.owner,
        "merchant_id": batch.merchant_id,
        "partner": batch.partner,
        "currency": key.currency,
        "business_date": key.day,
        "status": "closed",
        "payments_count": totals.payments_count,
        "payments_amount": totals.payments_amount,
        "refunds_count": totals.refunds_count,
        "refunds_amount": totals.refunds_amount,
        "fees": totals.fees,
        "net": totals.net,
        "line_count": batch.line_count,
        "file_sha256": batch.file_sha256,
        "file_bytes": batch.file_bytes,
        "file_format": batch.file_format,
        "forced": batch.forced,
        "closed_by": batch.closed_by[:120],
        "closed_at": batch.closed_at,
    }


_batches = metadata.tables["settlement_batches"]
_frozen = metadata.tables["settlement_lines"]
_parts = metadata.tables["settlement_file_parts"]
_events = metadata.tables["events"]


# --- closed batches ----------------------------------------------------------------------------


async def get_batch(db: Database | AsyncConnection, batch_id: str) -> ClosedBatch | None:
    stmt = sa.select(_batches).where(_batches.c.id == batch_id)
    rows = await fetch_all(db, stmt)
    return _closed(rows[0]._mapping) if rows else None


async def list_closed(
    db: Database,
    *,
    kind: BatchType | None,
    day: date | None,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None,
) -> list[ClosedBatch]:
    """Closed batches, newest day first (ids sort by day), at most `limit`."""
    stmt = sa.select(_batches)
    if kind is not None:
        stmt = stmt.where(_batches.c.type == str(kind))
    if day is not None:
        stmt = stmt.where(_batches.c.business_date == day.isoformat())
    if merchant_id is not None:
        stmt = stmt.where(_batches.c.merchant_id == merchant_id)
    if starting_after is not None:
        stmt = stmt.where(_batches.c.id < starting_after)
    stmt = stmt.order_by(_batches.c.id.desc()).limit(limit)
    return [_closed(row._mapping) for row in await fetch_all(db, stmt)]


async def page_lines(
    db: Database | AsyncConnection, batch_id: str, *, page_rows: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """A closed batch's frozen lines in file order, `page_rows` at a time: keyset pages on the
    primary key, one short query each, so memory stays flat however long the batch. With a
    `Database`, on one reader connection; with a connection, on it (the closing transaction)."""
    if isinstance(db, AsyncConnection):
        async for page in _pages(db, batch_id, page_rows):
            yield page
        return
    async with db.reader.connect() as conn:
        async for page in _pages(conn, batch_id, page_rows):
            yield page


async def _pages(
    conn: AsyncConnection, batch_id: str, page_rows: int
) -> AsyncIterator[list[dict[str, Any]]]:
    last = 0
    while True:
        stmt = (
            sa.select(_frozen)
            .where(_frozen.c.batch_id == batch_id, _frozen.c.seq > last)
            .order_by(_frozen.c.seq)
            .limit(page_rows)
        )
        result = await conn.execute(stmt)
        names = list(result.keys())
        page = [dict(zip(names, row, strict=True)) for row in result]
        if not page:
            return
        yield page
        last = page[-1]["seq"]
        if len(page) < page_rows:
            return


async def file_parts(db: Database, batch_id: str) -> AsyncIterator[bytes]:
    """A closed batch's file as stored at closing, part by part (one short query each, so
    memory stays at one part); nothing for a batch closed before files were stored."""
    async with db.reader.connect() as conn:
        seq = 0
        while True:
            data = await conn.scalar(
                sa.select(_parts.c.data).where(
                    _parts.c.batch_id == batch_id, _parts.c.seq == seq + 1
                )
            )
            if data is None:
                return
            seq += 1
            yield bytes(data)


# --- closing -----------------------------------------------------------------------------------


class BatchClosing:
    """One batch's closing transaction, step by step (`closing_batch` opens it)."""

    def __init__(self, conn: AsyncConnection, key: BatchKey) -> None:
        self._conn = conn
        self._key = key

    async def claim(self, batch: ClosedBatch) -> ClosedBatch | None:
        """Take the key's lock and insert `batch` (its totals still to come). None when this
        transaction now owns the close; else the batch as whoever closed it first stored it
        (nothing was written)."""
        await lock_for_close(self._conn, self._key)
        if await _insert_batch(self._conn, _row(batch)):
            return None
        existing = await get_batch(self._conn, self._key.id)
        assert existing is not None, f"batch {self._key.id} conflicted but is not there"
        return existing

    async def freeze_lines(self) -> Totals:
        """Copy the key's lines into `settlement_lines` (see `_freeze_lines`); their totals."""
        return await _freeze_lines(self._conn, self._key, self._key.id)

    def pages(self, *, page_rows: int) -> AsyncIterator[list[dict[str, Any]]]:
        """The frozen lines in file order, read back inside this transaction."""
        return page_lines(self._conn, self._key.id, page_rows=page_rows)

    async def store_part(self, seq: int, data: bytes) -> None:
        """Store part `seq` (from 1) of the rendered file."""
        await self._conn.execute(
            sa.insert(_parts).values(batch_id=self._key.id, seq=seq, data=data)
        )

    async def finish(self, batch: ClosedBatch, event: Mapping[str, Any] | None) -> None:
        """Store `batch`'s totals and file digest on its row, and the outbox `event` if any."""
        row = _row(batch)
        written = {
            name: row[name]
            for name in (
                "payments_count",
                "payments_amount",
                "refunds_count",
                "refunds_amount",
                "fees",
                "net",
                "line_count",
                "file_sha256",
                "file_bytes",
            )
        }
        await self._conn.execute(
            sa.update(_batches).where(_batches.c.id == self._key.id).values(**written)
        )
        if event is not None:
            await self._conn.execute(sa.insert(_events).values(**event))


@contextlib.asynccontextmanager
async def closing_batch(db: Database, key: BatchKey) -> AsyncIterator[BatchClosing]:
    """The closing transaction of `key`, on the writer engine (not the group-commit writer: a
    large batch must not hold up the payments queued behind it). It commits when the block
    ends, and rolls back if it raises."""
    async with db.writer.connect() as conn, conn.begin():
        yield BatchClosing(conn, key)


async def _insert_batch(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert the batch's row unless its key (or id) is there already: False if it was (closed
    by someone else). On PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then does nothing."""
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(_batches).values(**row).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(_batches).values(**row).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


_LINE_COLUMNS = (
    "record_type",
    "object_id",
    "payment_id",
    "merchant_reference",
    "partner",
    "wallet",
    "succeeded_at",
    "currency",
    "amount",
    "payer_currency",
    "payer_amount",
    "fx_rate",
    "fee",
    "net",
    "fx_mid_rate",
    "fx_markup_bps",
    "fx_rate_source",
    "fx_rate_set",
    "fx_rate_as_of",
    "payment_method",
)


async def _freeze_lines(conn: AsyncConnection, key: BatchKey, batch_id: str) -> Totals:
    """Copy the key's lines into `settlement_lines` (seq 1..n, file order) in one
    statement, append the `total` row (seq n + 1), and return the totals."""
    src = line_source(key.type, LineFilter.of(key))
    seq = sa.func.row_number().over(order_by=(src.c.rank, src.c.object_id))
    select = sa.select(
        sa.literal(batch_id, sa.String).label("batch_id"),
        seq.label("seq"),
        *(src.c[name] for name in _LINE_COLUMNS),
    )
    await conn.execute(sa.insert(_frozen).from_select(["batch_id", "seq", *_LINE_COLUMNS], select))
    lines = _frozen.c
    is_payment = lines.record_type == "payment"
    sums = (
        (
            await conn.execute(
                sa.select(
                    sa.func.count().label("lines"),
                    sa.func.sum(sa.case((is_payment, 1), else_=0)).label("payments_count"),
                    sa.func.sum(sa.case((is_payment, lines.amount), else_=0)).label(
                        "payments_amount"
                    ),
                    sa.func.sum(sa.case((is_payment, 0), else_=1)).label("refunds_count"),
                    sa.func.sum(sa.case((is_payment, 0), else_=-lines.amount)).label(
                        "refunds_amount"
                    ),
                    sa.func.sum(lines.amount).label("amount"),
                    sa.func.sum(lines.fee).label("fees"),
                    sa.func.sum(lines.net).label("net"),
                ).where(lines.batch_id == batch_id)
            )
        )
        .one()
        ._mapping
    )
    count = int(sums["lines"])
    await conn.execute(
        sa.insert(_frozen).values(
            batch_id=batch_id,
            seq=count + 1,
            record_type="total",
            object_id=str(count),
            currency=key.currency,
            amount=int(sums["amount"] or 0),
            fee=int(sums["fees"] or 0),
            net=int(sums["net"] or 0),
        )
    )
    return Totals.of(sums)
