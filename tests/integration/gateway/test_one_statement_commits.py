"""PostgreSQL commits a batch of one kind as one statement when its preconditions hold
(`storage/writer.py`, `run_in_one_statement`), and writes nothing when one fails, leaving the
batch to the transaction: a known key, a lost lease, a closed day (seen even when the close
committed while the statement waited for its lock)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.core.ids import new_id
from gateway.settlement.closing import claim_of
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage import payments as repo
from gateway.storage import settlement as stl
from gateway.storage import settlement_batches as closed_repo
from gateway.storage.db import Database, open_database
from gateway.storage.idempotency import IdempotencyConflict
from gateway.storage.raw import Insert, RawStore, open_raw_store
from gateway.storage.writer import GroupCommitWriter
from tests.factories import make_attempt, make_payment
from tests.support.seeding import Shop, create_merchant, merchant_row

pytestmark = pytest.mark.postgres

NOW = datetime(2031, 6, 3, 12, 0, tzinfo=UTC)
DAY = date(2031, 6, 3)


@dataclasses.dataclass
class Store:
    db: Database
    raw: RawStore
    writer: GroupCommitWriter
    merchant_id: str


@pytest.fixture
async def store(postgresql_url: str) -> AsyncIterator[Store]:
    db = open_database(postgresql_url)
    raw = await open_raw_store(postgresql_url)
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    try:
        merchant_id = await create_merchant(db, Shop("One", "TH", "THB", "Asia/Bangkok"))
        yield Store(db, raw, writer, merchant_id)
    finally:
        await writer.stop()
        await raw.close()
        await db.dispose()


def _begin(merchant_id: str, key: str | None = None) -> repo.BeginPayment:
    key = key or new_id("key")
    payment = make_payment(
        id=new_id("pay"),
        merchant_id=merchant_id,
        idempotency_key=key,
        merchant_reference=new_id("ref"),
        lease_owner="lease-a",
        lease_expires_at=NOW + timedelta(minutes=1),
    )
    return repo.begin_payment(
        claim={
            "merchant_id": merchant_id,
            "key": key,
            "request_hash": "h1",
            "state": "in_progress",
            "created_at": NOW,
            "expires_at": NOW + timedelta(days=1),
        },
        quote=None,
        payment=payment,
        attempt=make_attempt(
            id=new_id("att"), payment_id=payment.id, partner_request_id=new_id("att")
        ),
        now=NOW,
    )


class _Transactions:
    """Counts the batches that took the transaction (`run_batch`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, kind: Any) -> None:
        self.batches = 0
        original = kind.run_batch.__func__

        async def counted(cls: Any, tx: Any, commands: Sequence[Any]) -> Any:
            self.batches += 1
            return await original(cls, tx, commands)

        monkeypatch.setattr(kind, "run_batch", classmethod(counted))


async def test_a_new_payment_begins_in_one_statement_and_a_known_key_takes_the_transaction(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    transactions = _Transactions(monkeypatch, repo.BeginPayment)
    first = _begin(store.merchant_id)
    assert await store.writer.run(first) is None
    assert transactions.batches == 0
    assert await repo.get_payment(store.db, first.payment.id) is not None

    again = dataclasses.replace(
        _begin(store.merchant_id, key=first.claim["key"]), claim=first.claim
    )
    assert await store.writer.run(again) == IdempotencyConflict(in_use=True)
    assert transactions.batches == 1
    assert await repo.get_payment(store.db, again.payment.id) is None


async def test_a_commit_whose_lease_was_taken_writes_nothing_in_one_statement(
    store: Store,
) -> None:
    begun = _begin(store.merchant_id)
    await store.writer.run(begun)
    before = begun.payment
    after = dataclasses.replace(before, lease_owner=None, updated_at=NOW + timedelta(seconds=1))
    commit = repo.commit_outcome(before=before, after=after, attempts=[])
    stolen = dataclasses.replace(commit, owner="lease-b")

    alone = store.raw.alone()
    assert alone is not None
    assert await repo.CommitOutcome.run_in_one_statement(alone, [stolen]) is None
    assert (await repo.get_payment(store.db, before.id)).lease_owner == "lease-a"  # type: ignore[union-attr]
    assert await repo.CommitOutcome.run_in_one_statement(alone, [commit]) == [True]
    assert (await repo.get_payment(store.db, before.id)).lease_owner is None  # type: ignore[union-attr]


async def test_a_day_closed_while_the_statement_waited_is_seen(store: Store) -> None:
    """The statement's own snapshot predates the close's commit; the function looks after the
    lock. Written with the statement's snapshot, the guarded row would be inserted."""
    key = BatchKey(BatchType.MERCHANT, store.merchant_id, "THB", DAY)
    guarded = merchant_row(new_id("mer"), name="guarded by an open day")
    hold, args = stl.holding_open_in_statement([key])
    alone = store.raw.alone()
    assert alone is not None
    async with closed_repo.closing_batch(store.db, key) as closing:
        assert await closing.claim(claim_of(key, forced=True, closed_by="test", now=NOW)) is None
        waiting = asyncio.create_task(
            alone.write_if([("days", f"SELECT {hold} AS ok")], args, Insert("merchants", [guarded]))
        )
        await asyncio.sleep(0.3)
        assert not waiting.done()  # the close holds the day's lock
    assert await waiting is False
    async with store.db.reader.connect() as conn:
        found = await conn.scalar(
            sa.select(sa.func.count()).where(repo.merchants.c.id == guarded["id"])
        )
    assert found == 0

    other_day = dataclasses.replace(key, business_date=DAY + timedelta(days=1))
    hold, args = stl.holding_open_in_statement([other_day])
    assert await alone.write_if([("days", f"SELECT {hold} AS ok")], args) is True
