"""The raw PostgreSQL path (`storage/raw.py`) refuses a value longer than its column, as the
column's own assignment would: its array casts carry no length, since an explicit cast to
`VARCHAR(32)` truncates silently (a `requires_customer` once became `requires_custome`)."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from gateway.storage.raw import Insert
from gateway.storage.raw_postgres import _array_sql, _postgres_types

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_no_cast_has_a_length() -> None:
    types = _postgres_types()
    assert types["payments", "status"] == "VARCHAR"
    assert types["payments", "currency"] == "BPCHAR"  # a bare CHAR would be CHAR(1)
    assert not any("(" in sql_type for sql_type in types.values())


@pytest.mark.postgres
async def test_a_value_too_long_for_its_column_is_refused(postgresql_url: str) -> None:
    dsn = postgresql_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            fits = Insert("rate_feeds", [{"source": "s" * 32, "next_fetch_at": NOW}])
            sql, args = _array_sql(fits, 0)
            await conn.execute(sql, *args)
            stored = await conn.fetchval(
                "SELECT source FROM rate_feeds WHERE source = $1", "s" * 32
            )
            assert stored == "s" * 32
            raise _Rollback
    except _Rollback:
        pass
    too_long = Insert("rate_feeds", [{"source": "t" * 40, "next_fetch_at": NOW}])
    sql, args = _array_sql(too_long, 0)
    try:
        with pytest.raises(asyncpg.StringDataRightTruncationError):
            await conn.execute(sql, *args)
        found = await conn.fetchval("SELECT count(*) FROM rate_feeds WHERE source LIKE 'ttt%'")
        assert found == 0
    finally:
        await conn.close()


class _Rollback(Exception):
    """Undo the row that fits: the session's database is shared."""
