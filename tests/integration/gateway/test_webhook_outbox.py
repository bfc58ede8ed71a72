"""The webhook outbox's batchable commands on a real database (SQLite and PostgreSQL): claims
lease due events (and mark those without an endpoint), outcomes are written only under the lease
they were taken with, many of them in one commit, and every attempt is recorded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from gateway.core.ids import new_id
from gateway.events.model import EventType, event_row
from gateway.storage import events as events_repo
from gateway.storage import payments as repo
from gateway.storage.db import Database, open_database
from gateway.storage.writer import GroupCommitWriter
from tests.conftest import own_database
from tests.support.seeding import merchant_row

URL = "https://hooks.example.test/in"
SEALED = "v1.test.sealed-secret-set"
LEASE = timedelta(seconds=30)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this module's own: claims take whatever is due in the whole table."""
    yield from own_database(request)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    async with database.writer.connect() as conn, conn.begin():
        await conn.execute(sa.delete(events_repo.deliveries))
        await conn.execute(sa.delete(events_repo.events))
    yield database
    await database.dispose()


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[GroupCommitWriter]:
    running = GroupCommitWriter(db.writer)
    await running.start()
    yield running
    await running.stop()


async def _merchant(db: Database, *, url: str | None) -> str:
    """A merchant with a webhook endpoint (`url`) and a stand-in for its sealed secret: the
    outbox stores and hands on what the row holds, it never opens it."""
    row = merchant_row(name="outbox test", webhook_url=url, webhook_secret=SEALED if url else None)
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(sa.insert(repo.merchants).values(**row))
    return str(row["id"])


async def _events(db: Database, merchant_id: str, dues: list[datetime]) -> list[str]:
    rows = []
    for n, due in enumerate(dues):
        data = {"id": f"pay_outbox{n:04d}", "object": "payment"}
        row = event_row(EventType.PAYMENT_SUCCEEDED, merchant_id=merchant_id, data=data, now=due)
        rows.append(row)
        await asyncio.sleep(0.002)  # distinct, ordered ids
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(sa.insert(events_repo.events), rows)
    return [row["id"] for row in rows]


async def _row(db: Database, event_id: str) -> dict[str, Any]:
    row = await events_repo.get_event(db, event_id)
    assert row is not None
    return row


def _claim(
    owner: str, now: datetime, limit: int = 10, exclude: tuple[str, ...] = ()
) -> events_repo.ClaimDue:
    return events_repo.claim_due(
        owner=owner, now=now, until=now + LEASE, limit=limit, exclude=exclude
    )


def _delivered(event: events_repo.DueEvent, owner: str, now: datetime) -> Any:
    return events_repo.record_attempt(
        event_id=event.id,
        owner=owner,
        version=event.version,
        lease_until=event.lease_expires_at,
        changes={
            "delivery_attempts": event.delivery_attempts + 1,
            "last_error": None,
            "delivery_status": "delivered",
            "delivered_at": now,
            "next_attempt_at": None,
        },
        delivery=_attempt(event, now, 200, None),
    )


def _attempt(
    event: events_repo.DueEvent, now: datetime, status: int | None, error: str | None
) -> dict[str, Any]:
    return {
        "id": new_id("dlv"),
        "event_id": event.id,
        "url": URL,
        "attempted_at": now,
        "status_code": status,
        "error": error,
        "duration_ms": 3,
    }


async def test_a_claim_leases_the_oldest_due_events_with_the_merchants_endpoint(
    db: Database, writer: GroupCommitWriter
) -> None:
    now = datetime.now(UTC)
    with_url = await _merchant(db, url=URL)
    without = await _merchant(db, url=None)
    due = await _events(db, with_url, [now - timedelta(seconds=s) for s in (3, 2, 1)])
    later = await _events(db, with_url, [now + timedelta(minutes=1)])
    orphan = await _events(db, without, [now - timedelta(seconds=1)])

    claimed = await writer.run(_claim("proc-a", now, limit=2))

    assert [e.id for e in claimed.events] == due[:2]  # oldest due first
    assert claimed.no_endpoint == 1
    first = claimed.events[0]
    assert (first.webhook_url, first.webhook_secret) == (URL, SEALED)
    assert first.version == 1 and first.delivery_attempts == 0
    assert first.lease_expires_at == now + LEASE
    assert first.body == (await _row(db, first.id))["body"]
    assert SEALED not in repr(first)  # never in a log line by accident
    row = await _row(db, first.id)
    assert row["lease_owner"] == "proc-a" and row["lease_expires_at"] == now + LEASE
    assert (await _row(db, orphan[0]))["delivery_status"] == "no_endpoint"
    assert (await _row(db, later[0]))["lease_owner"] is None

    # Leased events are not due for anyone else; the rest is.
    other = await writer.run(_claim("proc-b", now))
    assert [e.id for e in other.events] == due[2:] and other.no_endpoint == 0
    # Once a lease has expired, the event is due again (unless the claimer excludes it).
    after = now + LEASE + timedelta(seconds=1)
    assert (await writer.run(_claim("proc-b", after, exclude=tuple(due)))).events == []
    retaken = await writer.run(_claim("proc-b", after, limit=1))
    assert [e.id for e in retaken.events] == [due[0]] and retaken.events[0].version == 2


async def test_outcomes_share_one_commit_and_are_written_only_under_their_lease(
    db: Database, writer: GroupCommitWriter
) -> None:
    now = datetime.now(UTC)
    merchant = await _merchant(db, url=URL)
    ids = await _events(db, merchant, [now - timedelta(seconds=1)] * 4)
    claimed = (await writer.run(_claim("proc-a", now))).events
    delivered, retried, redelivered, lost = claimed
    assert [e.id for e in claimed] == ids

    # Meanwhile: a redelivery is asked for (it bumps the version, the lease stays), and
    # another process takes an event whose lease expired.
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(
            sa.update(events_repo.events)
            .where(events_repo.events.c.id == redelivered.id)
            .values(delivery_attempts=0, version=events_repo.events.c.version + 1)
        )
    after = now + LEASE + timedelta(seconds=1)
    async with db.writer.connect() as conn, conn.begin():
        await conn.execute(
            sa.update(events_repo.events)
            .where(events_repo.events.c.id == lost.id)
            .values(lease_owner="proc-b", lease_expires_at=after + LEASE, version=2)
        )

    retry_at = now + timedelta(minutes=1)
    commands = [
        _delivered(delivered, "proc-a", now),
        events_repo.record_attempt(
            event_id=retried.id,
            owner="proc-a",
            version=retried.version,
            lease_until=retried.lease_expires_at,
            changes={"delivery_attempts": 1, "last_error": "HTTP 500", "next_attempt_at": retry_at},
            delivery=_attempt(retried, now, 500, "HTTP 500"),
        ),
        _delivered(redelivered, "proc-a", now),
        _delivered(lost, "proc-a", now),
    ]
    batches = writer.batches
    results = await asyncio.gather(*(writer.run(c) for c in commands))

    assert results == [True, True, False, False]
    assert writer.batches == batches + 1  # one commit for them all
    done = await _row(db, delivered.id)
    assert done["delivery_status"] == "delivered" and done["delivered_at"] == now
    assert done["lease_owner"] is None and done["version"] == delivered.version + 1
    pending = await _row(db, retried.id)
    assert pending["delivery_status"] == "pending" and pending["next_attempt_at"] == retry_at
    assert pending["last_error"] == "HTTP 500" and pending["lease_owner"] is None
    # The redelivery wins: not marked delivered, but the lease is handed back so it is due now.
    again = await _row(db, redelivered.id)
    assert again["delivery_status"] == "pending" and again["delivery_attempts"] == 0
    assert again["lease_owner"] is None and again["version"] == redelivered.version + 1
    # A stale outcome never overwrites the new owner's lease.
    theirs = await _row(db, lost.id)
    assert theirs["delivery_status"] == "pending" and theirs["lease_owner"] == "proc-b"
    assert theirs["version"] == 2
    # Every attempt is recorded, written or not.
    counts = [len(await events_repo.get_deliveries(db, e.id)) for e in claimed]
    assert counts == [1, 1, 1, 1]


async def test_an_outcome_twice_is_written_once(db: Database, writer: GroupCommitWriter) -> None:
    now = datetime.now(UTC)
    merchant = await _merchant(db, url=URL)
    await _events(db, merchant, [now])
    [event] = (await writer.run(_claim("proc-a", now))).events
    first, second = _delivered(event, "proc-a", now), _delivered(event, "proc-a", now)
    assert await asyncio.gather(writer.run(first), writer.run(second)) == [True, False]
    assert await writer.run(_delivered(event, "proc-a", now)) is False  # the lease is gone
    assert (await _row(db, event.id))["version"] == event.version + 1


async def test_concurrent_claimers_take_disjoint_events(db: Database, database_url: str) -> None:
    """Two processes' writers (two connections) claiming at once never share an event."""
    now = datetime.now(UTC)
    merchant = await _merchant(db, url=URL)
    ids = await _events(db, merchant, [now - timedelta(seconds=1)] * 40)
    others = [open_database(database_url) for _ in range(2)]
    writers = [GroupCommitWriter(other.writer) for other in others]
    for each in writers:
        await each.start()
    taken: dict[str, list[str]] = {"proc-a": [], "proc-b": []}

    async def drain(owner: str, writer: GroupCommitWriter) -> None:
        while claimed := (await writer.run(_claim(owner, now, limit=3))).events:
            taken[owner] += [e.id for e in claimed]
            await asyncio.sleep(0)

    try:
        await asyncio.gather(drain("proc-a", writers[0]), drain("proc-b", writers[1]))
    finally:
        for each, other in zip(writers, others, strict=True):
            await each.stop()
            await other.dispose()
    assert sorted(taken["proc-a"] + taken["proc-b"]) == sorted(ids)
    assert not set(taken["proc-a"]) & set(taken["proc-b"])
