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

import contextlib
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

__all__ = ["RawStore", "RawTransaction", "is_unique_violation", "open_raw_store"]


class RawTransaction(Protocol):
    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def to_datetime(self, value: Any) -> datetime: ...


class RawStore(Protocol):
    def transaction(self) -> contextlib.AbstractAsyncContextManager[RawTransaction]: ...

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
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        cursor = await self._conn.execute(sql, args)
        rows = await cursor.fetchall()
        names = [d[0] for d in cursor.description]
        await cursor.close()
        return [dict(zip(names, row, strict=True)) for row in rows]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, rows)

    def to_datetime(self, value: Any) -> datetime:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class _SqliteStore:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, path: str) -> _SqliteStore:
        import aiosqlite

        conn = await aiosqlite.connect(path, isolation_level=None, timeout=30)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            await conn.execute(pragma)
        return cls(conn)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTransaction]:
        await self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield _SqliteTransaction(self._conn)
        except BaseException:
            await self._conn.execute("ROLLBACK")
            raise
        await self._conn.execute("COMMIT")

    async def close(self) -> None:
        await self._conn.close()


@cache
def _dollar(sql: str) -> str:
    """`?` placeholders to asyncpg's `$1, $2, ...` (our SQL has no `?` inside literals)."""
    counter = iter(range(1, 1_000_000))
    return re.sub(r"\?", lambda _m: f"${next(counter)}", sql)


class _PostgresTransaction:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self._conn.fetch(_dollar(sql), *args)]

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        await self._conn.execute(_dollar(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._conn.executemany(_dollar(sql), rows)

    def to_datetime(self, value: Any) -> datetime:
        moment: datetime = value
        return moment.astimezone(UTC)


class _PostgresStore:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, dsn: str) -> _PostgresStore:
        import asyncpg

        return cls(await asyncpg.connect(dsn, timeout=30))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[RawTransaction]:
        async with self._conn.transaction():
            yield _PostgresTransaction(self._conn)

    async def close(self) -> None:
        await self._conn.close()


async def open_raw_store(url: str) -> RawStore:
    """The driver connection behind a SQLAlchemy URL (`sqlite+aiosqlite:///...` or
    `postgresql+asyncpg://...`)."""
    if url.startswith("sqlite"):
        return await _SqliteStore.open(url.split(":///", 1)[1])
    return await _PostgresStore.open(re.sub(r"^postgresql\+asyncpg://", "postgresql://", url))
