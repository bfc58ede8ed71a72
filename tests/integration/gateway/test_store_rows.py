"""Stores (issue #15) in the database, on both: a store round-trips through its row; its
registration and status changes write what they say and nothing else; a refused registration
forgets only a pending store; revision 0009 adds the table and takes it away again."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from gateway.core.ids import new_id
from gateway.storage import stores as repo
from gateway.storage.db import open_database
from gateway.storage.migrate import alembic_config, upgrade
from gateway.storage.writer import GroupCommitWriter
from gateway.stores.model import Store, StoreStatus
from tests.conftest import DATABASES, POSTGRES_SERVER, _admin_sql
from tests.support.seeding import SIAM_SOUVENIRS, create_merchant

NOW = datetime(2026, 12, 6, 9, 30, 15, 123000, tzinfo=UTC)


async def test_a_store_round_trips_and_changes_as_told(database_url: str) -> None:
    db = open_database(database_url)
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    try:
        merchant_id = await create_merchant(db, SIAM_SOUVENIRS)
        pending = Store(
            id=new_id("sto"),
            merchant_id=merchant_id,
            name="Siam Souvenirs — ถนนข้าวสาร",  # the partner shows it to tourists: any script
            partner="th-siampay",
            status=StoreStatus.PENDING,
            created_at=NOW,
            updated_at=NOW,
        )
        await writer.run(repo.insert_store(pending))
        assert await repo.get_store(db, pending.id) == pending
        assert await repo.get_store(db, "sto_nobody") is None

        later = NOW + timedelta(seconds=2)
        code = "00020101021230" + "9" * 2000  # EMVCo payloads can be long
        registered = pending.registered(code=code, partner_store_id="ps-1", now=later)
        assert await writer.run(repo.save_registration(registered)) == registered
        assert registered.status is StoreStatus.ACTIVE

        disabled = await writer.run(
            repo.change_status(
                store_id=pending.id,
                to=StoreStatus.DISABLED,
                allowed=(StoreStatus.ACTIVE,),
                now=later,
            )
        )
        assert disabled == registered.with_status(StoreStatus.DISABLED, later)
        # a change from a status it is not in changes nothing
        unchanged = await writer.run(
            repo.change_status(
                store_id=pending.id,
                to=StoreStatus.ACTIVE,
                allowed=(StoreStatus.PENDING,),
                now=later + timedelta(seconds=1),
            )
        )
        assert unchanged == disabled
        # a registration answered again does not re-enable a disabled store
        again = await writer.run(repo.save_registration(registered))
        assert again is not None and again.status is StoreStatus.DISABLED
        # only a pending store is ever forgotten
        assert await writer.run(repo.delete_pending(pending.id)) is False
        other = Store(
            id=new_id("sto"),
            merchant_id=merchant_id,
            name="Second",
            partner="th-krungpay",
            status=StoreStatus.PENDING,
            created_at=later,
            updated_at=later,
        )
        await writer.run(repo.insert_store(other))
        listed = await repo.list_stores(db, merchant_id)
        assert [s.id for s in listed] == [pending.id, other.id]
        assert await writer.run(repo.delete_pending(other.id)) is True
        assert [s.id for s in await repo.list_stores(db, merchant_id)] == [pending.id]
    finally:
        await writer.stop()
        await db.dispose()


@pytest.fixture(params=DATABASES)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        return
    request.getfixturevalue("postgresql_url")  # skips (or fails in CI) without a server
    name = f"gw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _tables(url: str) -> set[str]:
    async def go() -> set[str]:
        db = open_database(url)
        try:
            async with db.reader.connect() as conn:
                return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
        finally:
            await db.dispose()

    return asyncio.run(go())


def test_0009_adds_the_stores_table_and_takes_it_away(fresh_url: str) -> None:
    from alembic import command

    upgrade(fresh_url, "0008")
    assert "stores" not in _tables(fresh_url)
    upgrade(fresh_url)
    assert "stores" in _tables(fresh_url)
    command.downgrade(alembic_config(fresh_url), "0008")
    assert "stores" not in _tables(fresh_url)
