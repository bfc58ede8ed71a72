"""Engines: SQLite (embedded default) or PostgreSQL (production, many processes).

SQLite runs in WAL mode with `synchronous=FULL`: a commit is on disk when it returns. pysqlite's
own transaction handling is switched off (`isolation_level = None`) so that SQLAlchemy's BEGIN is
the one that counts and SAVEPOINTs work; the writer's connection begins IMMEDIATE so it never has
to upgrade a read lock under contention. PostgreSQL keeps its default durability
(`synchronous_commit` on).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["Database", "is_sqlite", "open_database"]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_engine(url: str, *, begin: str | None, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=False,
        connect_args={"timeout": 30},
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=30000",
        ):
            cursor.execute(pragma)
        cursor.close()

    if begin is not None:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: sa.Connection) -> None:
            connection.exec_driver_sql(begin)

    return engine


@dataclasses.dataclass
class Database:
    """A reader engine for queries and a writer engine that only the group-commit writer uses."""

    url: str
    reader: AsyncEngine
    writer: AsyncEngine

    @property
    def dialect(self) -> str:
        return self.reader.dialect.name

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))


def open_database(url: str, *, pool_size: int = 10) -> Database:
    if is_sqlite(url):
        # Readers run each statement on its own WAL snapshot: no BEGIN, no extra round trip.
        reader = _sqlite_engine(url, begin=None, pool_size=pool_size)
        writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
        return Database(url=url, reader=reader, writer=writer)
    engine = create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=30)
    return Database(url=url, reader=engine, writer=engine)
