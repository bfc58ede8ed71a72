"""The writer's SQLite connection: `sqlite3` itself, its statements on the event loop, what may
wait (the write lock, the fsync of `COMMIT`) in a thread of its own (`raw.py` says why raw)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from gateway.storage.raw import OneStatement, RawTransaction, Write, any_of_rows, one_row_sql

__all__ = ["SqliteStore"]


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
                sql, params = one_row_sql(write)
                self._conn.executemany(sql, params)

    def matching(
        self, columns: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[str, list[Any]]:
        return any_of_rows(columns, rows)


_BUSY_TIMEOUT_MS = 30_000


class SqliteStore:
    """One `sqlite3` connection: what may wait (the write lock, the fsync of `COMMIT`) runs in a
    thread of its own; everything else on the loop (`_SqliteTransaction`)."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread

    @classmethod
    async def open(cls, path: str) -> SqliteStore:
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
