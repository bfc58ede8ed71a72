"""The group-commit writer on a real database: shared commits, isolated failures."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.ids import new_id
from gateway.storage import payments as repo
from gateway.storage.db import Database, open_database
from gateway.storage.writer import GroupCommitWriter, in_own_transaction
from tests.support.seeding import merchant_row


def _merchant(merchant_id: str) -> dict[str, Any]:
    return merchant_row(merchant_id, name="writer test")


@pytest.fixture
async def db(database_url: str) -> Any:
    database = open_database(database_url)
    yield database
    await database.dispose()


async def _count(db: Database, ids: list[str]) -> int:
    async with db.reader.connect() as conn:
        stmt = sa.select(sa.func.count()).where(repo.merchants.c.id.in_(ids))
        return int(await conn.scalar(stmt) or 0)


async def test_concurrent_units_share_commits(db: Database) -> None:
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    ids = [new_id("mer") for _ in range(200)]
    try:
        await asyncio.gather(
            *(writer.run(repo.insert_rows((repo.merchants, _merchant(i)))) for i in ids)
        )
    finally:
        await writer.stop()
    assert await _count(db, ids) == 200
    assert writer.units == 200
    assert writer.batches < 200  # grouped: fewer commits than units


async def test_a_failing_unit_fails_alone(db: Database) -> None:
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    taken = new_id("mer")
    await writer.run(repo.insert_rows((repo.merchants, _merchant(taken))))
    good = [new_id("mer") for _ in range(20)]
    try:
        results = await asyncio.gather(
            *(writer.run(repo.insert_rows((repo.merchants, _merchant(i)))) for i in good[:10]),
            writer.run(repo.insert_rows((repo.merchants, _merchant(taken)))),  # duplicate key
            *(writer.run(repo.insert_rows((repo.merchants, _merchant(i)))) for i in good[10:]),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and isinstance(failures[0], IntegrityError)
    assert await _count(db, good) == 20


async def test_a_unit_that_raises_rolls_back_its_own_writes(db: Database) -> None:
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    doomed = new_id("mer")

    async def half_done(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(repo.merchants).values(**_merchant(doomed)))
        raise RuntimeError("crash after the first statement")

    try:
        with pytest.raises(RuntimeError):
            await writer.run(half_done)
    finally:
        await writer.stop()
    assert await _count(db, [doomed]) == 0


async def test_units_marked_alone_commit_on_their_own(db: Database) -> None:
    """Row-locking units never share a transaction, so no two processes' batches can lock the
    same rows in opposite orders; the others still share commits."""
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    shared = [new_id("mer") for _ in range(50)]
    lone = [new_id("mer") for _ in range(5)]
    try:
        await asyncio.gather(
            *(writer.run(repo.insert_rows((repo.merchants, _merchant(i)))) for i in shared),
            *(
                writer.run(in_own_transaction(repo.insert_rows((repo.merchants, _merchant(i)))))
                for i in lone
            ),
        )
    finally:
        await writer.stop()
    assert await _count(db, shared + lone) == 55
    assert writer.units == 55
    assert writer.batches >= len(lone) + 1  # every lone unit had a commit of its own
    assert writer.batches < 55


class _Marker:
    """A batchable command on a lane of its own: writes nothing, reports its commit."""

    kind = "marker"
    lane = "marker"

    @classmethod
    async def run_batch(cls, tx: Any, commands: list[Any]) -> list[str]:
        await tx.fetch("SELECT 1 AS one")
        return ["committed"] * len(commands)


async def test_a_lane_commits_beside_a_busy_main_lane_on_postgresql(
    db: Database, database_url: str
) -> None:
    """On PostgreSQL a command with a `lane` commits while the main lane is still inside a
    transaction; on SQLite (one writer at a time) it waits for that transaction."""
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_unit(conn: AsyncConnection) -> None:
        await conn.execute(sa.insert(repo.merchants).values(**_merchant(new_id("mer"))))
        inside.set()
        await release.wait()

    try:
        blocked = asyncio.create_task(writer.run(slow_unit))
        await asyncio.wait_for(inside.wait(), 10)
        marker = asyncio.create_task(writer.run(_Marker()))
        if database_url.startswith("postgresql"):
            assert await asyncio.wait_for(marker, 10) == "committed"
            assert not blocked.done()
        else:
            await asyncio.sleep(0.2)
            assert not marker.done()  # queued behind the open transaction
        release.set()
        await asyncio.wait_for(blocked, 10)
        assert await asyncio.wait_for(marker, 10) == "committed"
    finally:
        release.set()
        await writer.stop()
