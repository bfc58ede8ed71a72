"""The writer's own connection, spoken to through its driver (aiosqlite or asyncpg) directly.

The hot path's batched writes are a handful of fixed statements. Through SQLAlchemy's async layer
each statement costs 0.3–0.5 ms of CPU on this machine (building, caching, the greenlet bridge);
through the driver it costs under 0.1 ms, and the gateway is CPU-bound. So the batched commands
(`repository.BeginPayment`, `repository.SettlePayment`) write plain SQL here, with `?`
placeholders that the PostgreSQL side renumbers to `$n`, while the schema, migrations and every
other query stay with SQLAlchemy. Values are stored exactly as SQLAlchemy stores them, so its
reads see the same rows: on SQLite, timestamps as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff` text.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "Insert",
    "OneStatement",
    "RawStore",
    "RawTransaction",
    "Update",
    "Write",
    "any_of_rows",
    "is_unique_violation",
    "open_raw_store",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Insert:
    """Rows for one table, all with the same columns."""

    table: str
    rows: Sequence[dict[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Update:
    """Rows of one table changed by key: `keys` name the columns that find each row, its other
    columns are set (every row has the same columns). `extra` is one more assignment, `where`
    one more condition, written with the table's name (`payments.version + 1`)."""

    table: str
    rows: Sequence[dict[str, Any]]
    keys: tuple[str, ...] = ("id",)
    extra: str | None = None
    where: str | None = None

    def columns(self) -> list[str]:
        return [c for c in self.rows[0] if c not in self.keys]


Write = Insert | Update


class Statements(Protocol):
    """Plain SQL with `?` placeholders, read inside a write: what the lifecycle's settlement
    questions (`storage/settlement.py`) run on, whether the write is a batched raw transaction
    or a unit's SQLAlchemy connection (`ConnectionStatements`)."""

    dialect: str
    held_locks: set[int]

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]: ...


class ConnectionStatements:
    """A unit's SQLAlchemy connection speaking `Statements`: the same `?` SQL as a raw
    transaction, its placeholders bound by name (`:p0`, ...)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self.dialect = conn.dialect.name
        self.held_locks: set[int] = set()

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        parts = sql.split("?")
        text = sa.text("".join(f"{part}:p{i}" for i, part in enumerate(parts[:-1])) + parts[-1])
        params = {f"p{i}": value for i, value in enumerate(args)}
        return [dict(row) for row in (await self._conn.execute(text, params)).mappings()]

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        return any_of_rows(columns, rows)


class RawTransaction(Protocol):
    dialect: str
    """`sqlite` or `postgresql`, for the few statements that differ."""
    held_locks: set[int]
    """The advisory locks this transaction has taken (PostgreSQL): taking one again would be
    a round trip for nothing."""

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def to_datetime(self, value: Any) -> datetime: ...

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        """A condition true for exactly the given values of the (text) `columns`, and its
        arguments: `(a, b) IN ...`."""
        ...

    async def write(self, *writes: Write) -> None:
        """Run the inserts and updates, in order (empty ones are skipped)."""
        ...


class OneStatement(Protocol):
    """Writes that commit as one statement on their own, without `BEGIN` and `COMMIT`
    (PostgreSQL): a whole commit in one round trip when a condition the statement checks
    itself holds."""

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]: ...

    async def write_if(
        self, checks: Sequence[tuple[str, str]], args: Sequence[Any], *writes: Write
    ) -> bool:
        """Run the writes, as `write` does, if and only if the last of `checks` (named `WITH`
        parts, `?` placeholders for `args`, each may use the ones before it) yields one row
        whose `ok` is true; whether they ran. All in one statement: its own transaction."""
        ...


class RawStore(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[RawTransaction]: ...

    def alone(self) -> OneStatement | None:
        """Statements outside a transaction, each committing on its own; None on SQLite
        (a transaction there costs no round trip)."""
        ...

    async def close(self) -> None: ...


def is_unique_violation(exc: BaseException) -> bool:
    """A unique-key race lost to another process, from either driver (or SQLAlchemy)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc) or "PRIMARY KEY" in str(exc)
    name = type(exc).__name__
    return name in {"UniqueViolationError", "IntegrityError"}


def _sqlite_datetime(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


# How sqlite3 binds a datetime (it asks only for datetimes, at C speed). SQLAlchemy hands sqlite3
# strings, never datetimes, so this changes nothing for its connections.
sqlite3.register_adapter(datetime, _sqlite_datetime)


class _SqliteTransaction:
    """Statements run on the event loop's thread, synchronously: inside our own write
    transaction (`BEGIN IMMEDIATE` holds SQLite's write lock, and WAL readers never block it) a
    statement waits on no lock and touches only the page cache, so it takes microseconds.
    Handing each one to a thread, as aiosqlite does, cost more than the statement: a wake-up of
    the thread, a wake-up of the loop, and the GIL to win back on a busy loop."""

    dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.held_locks: set[int] = set()

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = self._conn.execute(sql, args)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def to_datetime(self, value: Any) -> datetime:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    async def write(self, *writes: Write) -> None:
        for write in writes:
            if write.rows:
                sql, params = _one_row_sql(write)
                self._conn.executemany(sql, params)

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        return any_of_rows(columns, rows)


_BUSY_TIMEOUT_MS = 30_000


class _SqliteStore:
    """One `sqlite3` connection: what may wait (the write lock, the fsync of `COMMIT`) runs in a
    thread of its own; everything else on the loop (`_SqliteTransaction`)."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread

    @classmethod
    async def open(cls, path: str) -> _SqliteStore:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

        def connect() -> sqlite3.Connection:
            # Never used by two threads at once: the writer runs one transaction at a time.
            conn = sqlite3.connect(
                path,
                isolation_level=None,
                check_same_thread=False,
                timeout=_BUSY_TIMEOUT_MS / 1000,
            )
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=0",  # see `_begin`
            ):
                conn.execute(pragma)
            return conn

        conn = await asyncio.get_running_loop().run_in_executor(thread, connect)
        return cls(conn, thread)

    async def _in_thread(self, sql: str) -> None:
        done = asyncio.get_running_loop().run_in_executor(self._thread, self._conn.execute, sql)
        try:
            await asyncio.shield(done)
        except asyncio.CancelledError:
            # The statement runs on regardless: let it end before anyone touches the connection.
            await asyncio.wait([done])
            raise

    async def _begin(self) -> None:
        try:
            self._conn.execute("BEGIN IMMEDIATE")  # busy timeout 0: fails at once if taken
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another connection (a `gateway settle` closing a day, say) holds the write lock:
            # wait for it in the thread, as long as the engine's connections would.
            self._conn.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            try:
                await self._in_thread("BEGIN IMMEDIATE")
            finally:
                self._conn.execute("PRAGMA busy_timeout=0")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTransaction]:
        await self._begin()
        try:
            yield _SqliteTransaction(self._conn)
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise
        try:
            await self._in_thread("COMMIT")  # the fsync: off the loop
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise

    def alone(self) -> OneStatement | None:
        return None

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._conn.close)
        self._thread.shutdown(wait=True)


def any_of_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`(a = ? AND b = ?) OR (a = ? AND b = ?) ...` (`a IN (?, ?)` for one column), and its
    arguments: SQLite searches the index for each row of it, while for `(a, b) IN (VALUES ...)`
    of two rows or more it scans the whole table."""
    if len(columns) == 1:
        return f"{columns[0]} IN ({', '.join('?' * len(rows))})", [row[0] for row in rows]
    one = "(" + " AND ".join(f"{c} = ?" for c in columns) + ")"
    return "(" + " OR ".join([one] * len(rows)) + ")", [v for row in rows for v in row]


def _one_row_sql(write: Write) -> tuple[str, list[list[Any]]]:
    """The statement for one row (`?` placeholders) and each row's parameters."""
    if isinstance(write, Insert):
        columns = list(write.rows[0])
        marks = ", ".join("?" * len(columns))
        sql = f"INSERT INTO {write.table} ({', '.join(columns)}) VALUES ({marks})"
        return sql, [[row[c] for c in columns] for row in write.rows]
    columns = write.columns()
    assignments = [f"{c} = ?" for c in columns] + ([write.extra] if write.extra else [])
    conditions = [f"{k} = ?" for k in write.keys] + ([write.where] if write.where else [])
    sql = f"UPDATE {write.table} SET {', '.join(assignments)} WHERE {' AND '.join(conditions)}"
    return sql, [[row[c] for c in (*columns, *write.keys)] for row in write.rows]


def _array_sql(
    write: Write, numbered: int, guard: str | None = None
) -> tuple[str, list[list[Any]]]:
    """One `WITH` part of `_PostgresTransaction.write`: `$n` placeholders from `numbered + 1`,
    one array argument per column; made only where `guard` (SQL) holds."""
    columns = list(write.rows[0]) if isinstance(write, Insert) else write.columns()
    if isinstance(write, Update):
        columns = [*write.keys, *columns]
    types = _postgres_types()
    arrays = ", ".join(
        f"${numbered + i + 1}::{types[write.table, c]}[]" for i, c in enumerate(columns)
    )
    args = [[row[c] for row in write.rows] for c in columns]
    if isinstance(write, Insert):
        return (
            f"INSERT INTO {write.table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"
            + ("" if guard is None else f" WHERE {guard}"),
            args,
        )
    assignments = [f"{c} = v.{c}" for c in write.columns()] + ([write.extra] if write.extra else [])
    # `= ANY` for the same reason as in `matching`: an index scan in the generic plan.
    conditions = [f"{write.table}.{k} = v.{k}" for k in write.keys] + [
        f"{write.table}.{k} = ANY(${numbered + i + 1}::{types[write.table, k]}[])"
        for i, k in enumerate(write.keys)
    ]
    conditions += [write.where] if write.where else []
    conditions += [] if guard is None else [guard]
    sql = (
        f"UPDATE {write.table} SET {', '.join(assignments)}"
        f" FROM unnest({arrays}) AS v ({', '.join(columns)})"
        f" WHERE {' AND '.join(conditions)}"
    )
    return sql, args


def _repeats_a_key(write: Update) -> bool:
    keys = [tuple(row[k] for k in write.keys) for row in write.rows]
    return len(set(keys)) != len(keys)


@cache
def _postgres_types() -> dict[tuple[str, str], str]:
    """(table, column) → its PostgreSQL type, for the array casts (from the schema's tables).

    Without a length: an explicit cast to `VARCHAR(16)` silently truncates a longer value,
    where the assignment into the column refuses it ("value too long"), as it should."""
    from sqlalchemy.dialects import postgresql

    from gateway.storage.tables import metadata

    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    return {
        (table.name, column.name): _unbounded(column.type.compile(dialect=dialect))
        for table in metadata.tables.values()
        for column in table.columns
    }


def _unbounded(sql_type: str) -> str:
    """`VARCHAR(16)` → `VARCHAR`, `CHAR(3)` → `BPCHAR` (a bare `CHAR` is `CHAR(1)`)."""
    if re.fullmatch(r"VARCHAR\(\d+\)", sql_type):
        return "VARCHAR"
    if re.fullmatch(r"CHAR\(\d+\)", sql_type):
        return "BPCHAR"
    return sql_type


@cache
def _dollar(sql: str, first: int = 1) -> str:
    """`?` placeholders to asyncpg's `$1, $2, ...` (our SQL has no `?` inside literals)."""
    counter = iter(range(first, 1_000_000))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


def _write_parts(
    writes: Sequence[Write], numbered: int, guard: str | None = None
) -> tuple[list[str], list[Any]]:
    """The writes as `WITH` parts `w0, w1, ...`, numbered after `numbered` arguments."""
    parts: list[str] = []
    args: list[Any] = []
    for index, write in enumerate(writes):
        part, part_args = _array_sql(write, numbered + len(args), guard)
        parts.append(f"w{index} AS ({part})")
        args.extend(part_args)
    return parts, args


class _PostgresTransaction:
    """Statements on the writer's asyncpg connection: inside a transaction
    (`_PostgresStore.transaction`) or each on its own (`alone`)."""

    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.held_locks: set[int] = set()

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._conn.fetch(_dollar(sql), *args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_dollar(sql), rows)

    def to_datetime(self, value: Any) -> datetime:
        moment: datetime = value
        return moment.astimezone(UTC)

    async def write(self, *writes: Write) -> None:
        """All of them in one statement: data-modifying `WITH` parts, each fed by arrays (one
        per column, `unnest`ed into rows), so a batch's writes cost one round trip, not one
        per table. The parts see the same snapshot, so an update must not meet the same row
        twice; such a batch (rare) falls back to one `executemany` per write."""
        writes = tuple(w for w in writes if w.rows)
        if not writes:
            return
        if any(isinstance(w, Update) and _repeats_a_key(w) for w in writes):
            for write in writes:
                sql, params = _one_row_sql(write)
                await self._conn.executemany(_dollar(sql), params)
            return
        parts, args = _write_parts(writes, 0)
        await self._conn.execute("WITH " + ", ".join(parts) + " SELECT 1", *args)

    async def write_if(
        self, checks: Sequence[tuple[str, str]], args: Sequence[Any], *writes: Write
    ) -> bool:
        writes = tuple(w for w in writes if w.rows)
        if any(isinstance(w, Update) and _repeats_a_key(w) for w in writes):
            return False  # `write`'s fallback is several statements
        if sum(sql.count("?") for _name, sql in checks) != len(args):
            raise ValueError("the checks' placeholders and args do not match")
        # MATERIALIZED: each check runs once, before any write that its `ok` guards.
        parts, first = [], 1
        for name, sql in checks:
            parts.append(f"{name} AS MATERIALIZED ({_dollar(sql, first)})")
            first += sql.count("?")
        guard = f"(SELECT ok FROM {checks[-1][0]})"
        write_parts, write_args = _write_parts(writes, len(args), guard)
        row = await self._conn.fetchrow(
            "WITH " + ", ".join([*parts, *write_parts]) + f" SELECT {guard} AS ok",
            *args,
            *write_args,
        )
        return bool(row["ok"])

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        # Arrays: one statement text whatever the number of rows (asyncpg prepares each
        # distinct text, a round trip and planning in the server, and keeps only so many).
        # `= ANY` on each column is what lets the cached, generic plan use the index: it
        # cannot know how many rows `unnest` of a parameter yields, and guesses a hash join
        # over the whole table. The `IN` keeps the match exact.
        arrays = [list(column) for column in zip(*rows, strict=True)]
        marks = ", ".join(["?::text[]"] * len(columns))
        condition = " AND ".join(f"{c} = ANY(?::text[])" for c in columns)
        if len(columns) > 1:
            condition += f" AND ({', '.join(columns)}) IN (SELECT * FROM unnest({marks}))"
            return f"({condition})", [*arrays, *arrays]
        return condition, arrays


class _PostgresStore:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, dsn: str) -> _PostgresStore:
        import asyncpg

        # Custom plans: each execution is planned with its arrays' real sizes and the tables'
        # current statistics. A cached generic plan guesses, and one made while the tables
        # were small (a new database) scans them whole long after they have grown.
        settings = {"plan_cache_mode": "force_custom_plan"}
        return cls(await asyncpg.connect(dsn, timeout=30, server_settings=settings))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTransaction]:
        async with self._conn.transaction():
            yield _PostgresTransaction(self._conn)

    def alone(self) -> OneStatement | None:
        return _PostgresTransaction(self._conn)

    async def close(self) -> None:
        await self._conn.close()


async def open_raw_store(url: str) -> RawStore:
    """The driver connection behind a SQLAlchemy URL (`sqlite+aiosqlite:///...` or
    `postgresql+asyncpg://...`)."""
    if url.startswith("sqlite"):
        return await _SqliteStore.open(url.split(":///", 1)[1])
    return await _PostgresStore.open(re.sub(r"^postgresql\+asyncpg://", "postgresql://", url))
