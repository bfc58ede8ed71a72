"""`bench.pg_wakeup` measures real round trips (PostgreSQL tests only) and leaves nothing behind."""

from __future__ import annotations

import asyncpg
import pytest

from bench.pg_wakeup import GAPS_MS, measure


@pytest.mark.postgres
async def test_it_times_both_statements_at_every_gap_and_drops_its_table(
    postgresql_url: str,
) -> None:
    dsn = postgresql_url.replace("postgresql+asyncpg://", "postgresql://")
    found = await measure(dsn, rounds=5)
    assert [(gap, label) for gap, label, _, _ in found] == [
        (gap, label) for gap in GAPS_MS for label in ("SELECT 1", "INSERT")
    ]
    assert all(0 < p50 <= p99 for _, _, p50, p99 in found)
    conn = await asyncpg.connect(dsn)
    try:
        left = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'bench_wakeup_%'"
        )
    finally:
        await conn.close()
    assert left == 0
