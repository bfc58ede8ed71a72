"""SQL of closed settlement batches: the closing transaction that freezes a batch, and the reads
of its row and its frozen lines.

Closing is one transaction on the writer engine (`closing_batch`), in the steps
`gateway.settlement.closing` drives: claim the key (its advisory lock, then the row inserted
unless someone closed it first), read the key's lines once in file order (`BatchClosing.lines`:
one statement, a server-side cursor on PostgreSQL) and freeze each page of them into
`settlement_lines` as it is rendered (`freeze`: a binary `COPY` on PostgreSQL, an
`executemany` on SQLite), then the `total` row, the file's parts, and the totals and digest on
the row with the `settlement.closed` event beside it. The file format and the event are the
caller's: this module only stores what it is handed.

On PostgreSQL the closing transaction runs without JIT compilation (`jit = off`: compiling the
line query's plan took longer than running it) and compresses the stored parts with LZ4 when
the server has it (`default_toast_compression`: several times faster than the default `pglz`
for a few per cent more bytes; the readers need nothing to tell them apart).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import re
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.settlement.model import BatchKey, BatchType, ClosedBatch, Totals
from gateway.storage.db import Database
from gateway.storage.settlement import lock_for_close
from gateway.storage.settlement_lines import LineFilter, fetch_all, line_source, without_jit
from gateway.storage.tables import metadata

__all__ = [
    "FIELDS_FROM",
    "LINE_FIELDS",
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
    """One batch's closing transaction, step by step (`closing_batch` opens it).

    On PostgreSQL its writes of lines and parts run behind the caller, one at a time and in
    order, on the closing connection (`freeze` and `store_part` queue them and return, waiting
    only while `_WRITES_BEHIND` are queued; the next step waits for them all), while the lines
    are read on a second connection that sees exactly what the closing transaction sees (its
    exported snapshot, taken once the key is locked): the server stores one page while the next
    is read and rendered. Every write is the closing transaction's own; the reader only reads,
    and a write that fails fails the close (the transaction rolls back)."""

    def __init__(self, conn: AsyncConnection, key: BatchKey, db: Database) -> None:
        self._conn = conn
        self._key = key
        self._db = db
        self._stack = contextlib.AsyncExitStack()
        self._writes: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._unfrozen: list[Sequence[Sequence[Any]]] = []
        self._unfrozen_rows = 0
        self._fetching: asyncio.Future[Any] | None = None

    async def claim(self, batch: ClosedBatch) -> ClosedBatch | None:
        """Take the key's lock and insert `batch` (its totals still to come). None when this
        transaction now owns the close; else the batch as whoever closed it first stored it
        (nothing was written)."""
        await lock_for_close(self._conn, self._key)
        if await _insert_batch(self._conn, _row(batch)):
            await _tune(self._conn)
            return None
        existing = await get_batch(self._conn, self._key.id)
        assert existing is not None, f"batch {self._key.id} conflicted but is not there"
        return existing

    async def lines(self, *, page_rows: int) -> AsyncIterator[Sequence[Sequence[Any]]]:
        """The key's lines in file order, `page_rows` at a time, read once by one statement
        (memory: a page, and the next one being fetched): each row `(batch_id, seq,
        *LINE_FIELDS)` (`FIELDS_FROM`), `seq` numbering them from 1, ready for `freeze`."""
        dialect = self._conn.dialect.name
        stmt = _line_rows(self._key, dialect)
        if dialect != "postgresql":
            result = await self._conn.stream(stmt)
            async for page in result.partitions(page_rows):
                yield page
            return
        # A server-side cursor (a portal) on the reader's own asyncpg connection: its records
        # as they are, without SQLAlchemy's rows, for `freeze`'s COPY.
        reader = await self._reader()
        sql, args = _driver_sql(reader, stmt)
        cursor = await (await _driver(reader)).cursor(sql, *args)
        seq = 1
        # The next page is fetched while the caller renders this one (and the closing
        # connection stores the one before).
        self._fetching = asyncio.ensure_future(cursor.fetch(page_rows))
        while page := await self._fetching:
            self._fetching = asyncio.ensure_future(cursor.fetch(page_rows))
            if [row[1] for row in page] != list(range(seq, seq + len(page))):
                raise RuntimeError(f"{self._key.id}: lines not read in the order numbered")
            seq += len(page)
            yield page
        self._fetching = None

    async def _reader(self) -> AsyncConnection:
        """A connection whose transaction (read only, repeatable read) has the closing
        transaction's snapshot, as of now: the same lines (no line of the key can commit
        meanwhile: it would need the key's lock). Ends with the closing transaction."""
        snapshot = str(await self._conn.scalar(sa.text("SELECT pg_export_snapshot()")))
        if not re.fullmatch(r"[0-9A-Fa-f-]+", snapshot):
            raise RuntimeError(f"unexpected snapshot id {snapshot!r}")
        reader = await self._stack.enter_async_context(self._db.reader.connect())
        await reader.execution_options(isolation_level="REPEATABLE READ")
        await self._stack.enter_async_context(reader.begin())
        await reader.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        await reader.exec_driver_sql("SET TRANSACTION READ ONLY")
        await without_jit(reader)
        return reader

    async def freeze(self, rows: Sequence[Sequence[Any]]) -> None:
        """Store rows as `lines` gave them in `settlement_lines`: on PostgreSQL a binary `COPY`
        (asyncpg's `copy_records_to_table`) of a few pages at a time, behind the caller."""
        if not rows:
            return
        if self._conn.dialect.name != "postgresql":
            await self._conn.execute(
                sa.insert(_frozen), [dict(zip(_FROZEN_COLUMNS, row, strict=True)) for row in rows]
            )
            return
        self._unfrozen.append(rows)
        self._unfrozen_rows += len(rows)
        if self._unfrozen_rows >= _COPY_ROWS:
            await self._copy_unfrozen()

    async def _copy_unfrozen(self) -> None:
        """The pages `freeze` was given since the last COPY, in one COPY (behind the caller): a
        COPY statement has a cost of its own, a page of lines is small."""
        if not self._unfrozen:
            return
        pages, self._unfrozen, self._unfrozen_rows = self._unfrozen, [], 0
        driver = await _driver(self._conn)
        await self._behind(
            driver.copy_records_to_table(
                _frozen.name, records=itertools.chain.from_iterable(pages), columns=_FROZEN_COLUMNS
            )
        )

    async def freeze_total(self, seq: int, total: Mapping[str, Any]) -> None:
        """Store the `total` row (`LINE_FIELDS` by name; those missing are empty) as `seq`."""
        await self.settle()
        await self._conn.execute(sa.insert(_frozen).values(batch_id=self._key.id, seq=seq, **total))

    async def store_part(self, seq: int, data: bytes) -> None:
        """Store part `seq` (from 1) of the rendered file (behind the caller on PostgreSQL)."""
        stored = self._conn.execute(
            sa.insert(_parts).values(batch_id=self._key.id, seq=seq, data=data)
        )
        if self._conn.dialect.name == "postgresql":
            await self._behind(stored)
        else:
            await stored

    async def _behind(self, write: Coroutine[Any, Any, Any]) -> None:
        """Queue `write` to run after the writes queued before it, and return; wait only while
        more than `_WRITES_BEHIND` are queued (raising the error of one that failed)."""
        previous = self._writes[-1] if self._writes else None
        self._writes.append(asyncio.ensure_future(_after(previous, write)))
        while len(self._writes) > _WRITES_BEHIND:
            await self._writes.popleft()

    async def settle(self) -> None:
        """Write what `freeze` holds, and wait for the writes still running behind the caller
        (raising the error of one that failed)."""
        await self._copy_unfrozen()
        while self._writes:
            await self._writes.popleft()

    async def _end(self, failed: bool) -> None:
        """Before the transaction ends: the last write done (or, on failure, over), the
        reader's transaction ended and its connection returned."""
        try:
            if failed:
                self._unfrozen.clear()
                running = [*self._writes, *([self._fetching] if self._fetching else [])]
                self._writes.clear()
                if running:
                    await asyncio.wait(running)
                for future in running:  # retrieved: the error already raising wins
                    if not future.cancelled():
                        future.exception()
            self._fetching = None
            await self.settle()
        finally:
            await self._stack.aclose()

    async def finish(self, batch: ClosedBatch, event: Mapping[str, Any] | None) -> None:
        """Store `batch`'s totals and file digest on its row, and the outbox `event` if any."""
        await self.settle()
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
        closing = BatchClosing(conn, key, db)
        try:
            yield closing
        except BaseException:
            await closing._end(failed=True)
            raise
        await closing._end(failed=False)


_WRITES_BEHIND = 2
"""How many writes may wait behind the caller (a COPY of lines is a few MB, a part 1 MiB)."""

_COPY_ROWS = 4000
"""Lines per COPY (PostgreSQL): at 1,000 a COPY, a million lines took ~1.8 s longer."""


async def _after(previous: asyncio.Future[Any] | None, write: Coroutine[Any, Any, Any]) -> Any:
    """Run `write` once `previous` is done; not at all if it failed (its error, again)."""
    if previous is not None:
        try:
            await previous
        except BaseException:
            write.close()
            raise
    return await write


async def _tune(conn: AsyncConnection) -> None:
    """For the rest of the closing transaction (PostgreSQL): no JIT, and LZ4 for the file's
    parts if the server was built with it (see the module's docstring)."""
    if conn.dialect.name != "postgresql":
        return
    await conn.execute(
        sa.text(
            "SELECT set_config('jit', 'off', true),"
            " (SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings"
            "  WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals))"
        )
    )


async def _driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under SQLAlchemy's, in the transaction SQLAlchemy began."""
    raw = await conn.get_raw_connection()
    return raw.driver_connection


def _driver_sql(conn: AsyncConnection, stmt: sa.Select[Any]) -> tuple[str, list[Any]]:
    """`stmt` as the driver runs it: its SQL (`$1`, ...) and positional arguments."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = compiled.construct_params()
    processors: Mapping[str, Any] = compiled._bind_processors  # none for these types
    args = []
    for name in compiled.positiontup or ():
        value = params[name]
        processor = processors.get(name)
        args.append(processor(value) if processor is not None else value)
    return compiled.string, args


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


FIELDS_FROM = 2
"""Where `LINE_FIELDS` begin in a row of `BatchClosing.lines` (after `batch_id` and `seq`)."""

_FROZEN_COLUMNS = tuple(column.name for column in _frozen.columns)
LINE_FIELDS = _FROZEN_COLUMNS[FIELDS_FROM:]
"""A frozen line's fields, in the table's order: the order `csvfile.LineRenderer` reads a row
in (`csvfile.LINE_FIELDS`, checked by a test)."""


def _line_rows(key: BatchKey, dialect: str) -> sa.Select[Any]:
    """The key's lines as `settlement_lines` rows, in file order (payments, refunds, then
    reversals, each by id), `seq` from 1 in that order. PostgreSQL sorts once for both the
    window and the `ORDER BY` (the same keys) and emits the rows as numbered: `lines` checks it;
    SQLite is told to order by `seq` itself."""
    src = line_source(key.type, LineFilter.of(key))
    order = (src.c.rank, src.c.object_id)
    seq = sa.func.row_number().over(order_by=order).label("seq")
    return sa.select(
        sa.literal(key.id, sa.String).label("batch_id"),
        seq,
        *(src.c[name] for name in LINE_FIELDS),
    ).order_by(*(order if dialect == "postgresql" else (seq,)))
