"""The writer's own connection, spoken to through its driver (aiosqlite or asyncpg) directly.

The hot path's batched writes are a handful of fixed statements. Through SQLAlchemy's async layer
each statement costs 0.3–0.5 ms of CPU on this machine (building, caching, the greenlet bridge);
through the driver it costs under 0.1 ms, and the gateway is CPU-bound. So the batched commands
(`repository.BeginPayment`, `repository.SettlePayment`) write plain SQL here, with `?`
placeholders that the PostgreSQL side renumbers to `$n`, while the schema, migrations and every
other query stay with SQLAlchemy. Values are stored exactly as SQLAlchemy stores them, so its
reads see the same rows: on SQLite, timestamps as naive UTC `YYYY-MM-DD HH:MM:SS.ffffff` text.

Here: the statements' shapes (`Insert`, `Update`) and the protocols the commands write through;
each driver's side is a module of its own (`raw_sqlite.py`, `raw_postgres.py`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
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
    "one_row_sql",
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


# How sqlite3 binds a datetime (it asks only for datetimes, at C speed): registered on import of
# the storage layer, so every raw statement (the writer's, `ConnectionStatements`' text) binds
# alike. SQLAlchemy's typed statements hand sqlite3 strings, never datetimes.
sqlite3.register_adapter(datetime, _sqlite_datetime)


def any_of_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[str, list[Any]]:
    """`(a = ? AND b = ?) OR (a = ? AND b = ?) ...` (`a IN (?, ?)` for one column), and its
    arguments: SQLite searches the index for each row of it, while for `(a, b) IN (VALUES ...)`
    of two rows or more it scans the whole table."""
    if len(columns) == 1:
        return f"{columns[0]} IN ({', '.join('?' * len(rows))})", [row[0] for row in rows]
    one = "(" + " AND ".join(f"{c} = ?" for c in columns) + ")"
    return "(" + " OR ".join([one] * len(rows)) + ")", [v for row in rows for v in row]


def one_row_sql(write: Write) -> tuple[str, list[list[Any]]]:
    """The statement for one row (`?` placeholders) and each row's parameters: how SQLite
    writes, and PostgreSQL's fallback when an update meets a row twice."""
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


async def open_raw_store(url: str) -> RawStore:
    """The driver connection behind a SQLAlchemy URL (`sqlite+aiosqlite:///...` or
    `postgresql+asyncpg://...`). The drivers' modules are imported here: each imports this one."""
    if url.startswith("sqlite"):
        from gateway.storage.raw_sqlite import SqliteStore

        return await SqliteStore.open(url.split(":///", 1)[1])
    from gateway.storage.raw_postgres import PostgresStore

    return await PostgresStore.open(re.sub(r"^postgresql\+asyncpg://", "postgresql://", url))
