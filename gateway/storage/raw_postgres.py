"""The writer's PostgreSQL connection: asyncpg itself, a batch's writes as one statement of
data-modifying `WITH` parts fed by arrays (`raw.py` says why raw)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from gateway.storage.raw import Insert, OneStatement, RawTransaction, Update, Write, one_row_sql

__all__ = ["PostgresStore"]


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
    (`PostgresStore.transaction`) or each on its own (`alone`)."""

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
                sql, params = one_row_sql(write)
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


class PostgresStore:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @classmethod
    async def open(cls, dsn: str) -> PostgresStore:
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
