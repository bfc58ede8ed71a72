"""SQL of the event outbox: reads for the events API, and the units the webhook worker and
redelivery hand to the group-commit writer (see `repository.py` for what a unit is).

Delivery is claimed through a lease on the event row (owner, expiry, version), in a short
transaction of its own; no transaction is held across the HTTP call. On PostgreSQL the claim
selects with `FOR UPDATE OF events SKIP LOCKED`, so processes sharing the database take disjoint
events without waiting on each other; on SQLite the writer's transaction (`BEGIN IMMEDIATE`) is
the only writer, so a select followed by a conditional update is atomic. A result is written only
while the lease is still the one taken (owner and version), so an event is never recorded twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events import DeliveryStatus
from gateway.storage.db import Database
from gateway.storage.repository import IdempotencyOutcome, idempotency, judge_idempotency
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "Claimed",
    "RedeliverRefused",
    "Redelivered",
    "any_due",
    "claim_due",
    "deliveries",
    "events",
    "get_deliveries",
    "get_event",
    "list_events",
    "record_attempt",
    "redeliver",
]

events = metadata.tables["events"]
deliveries = metadata.tables["event_deliveries"]
_merchants = metadata.tables["merchants"]

_PENDING = DeliveryStatus.PENDING.value


# --- reads ------------------------------------------------------------------------------------


async def get_event(db: Database, event_id: str) -> dict[str, Any] | None:
    async with db.reader.connect() as conn:
        row = (
            (await conn.execute(sa.select(events).where(events.c.id == event_id)))
            .mappings()
            .first()
        )
    return dict(row) if row is not None else None


async def list_events(
    db: Database,
    *,
    merchant_id: str | None,
    event_type: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """Newest first. Ids sort by creation time, so paging is an id range."""
    stmt = sa.select(events)
    if merchant_id is not None:
        stmt = stmt.where(events.c.merchant_id == merchant_id)
    if event_type is not None:
        stmt = stmt.where(events.c.type == event_type)
    if starting_after is not None:
        stmt = stmt.where(events.c.id < starting_after)
    stmt = stmt.order_by(events.c.id.desc()).limit(limit + 1)
    async with db.reader.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    return rows[:limit], len(rows) > limit


async def get_deliveries(db: Database, event_id: str) -> list[dict[str, Any]]:
    """Every attempt to deliver the event, oldest first."""
    stmt = (
        sa.select(deliveries)
        .where(deliveries.c.event_id == event_id)
        .order_by(deliveries.c.attempted_at, deliveries.c.id)
    )
    async with db.reader.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        events.c.delivery_status == _PENDING,
        events.c.next_attempt_at <= now,
        sa.or_(events.c.lease_owner.is_(None), events.c.lease_expires_at < now),
    )


async def any_due(db: Database, now: datetime) -> bool:
    """A cheap look (on the reader) before taking the writer for a claim."""
    stmt = sa.select(events.c.id).where(_due(now)).limit(1)
    async with db.reader.connect() as conn:
        return (await conn.scalar(stmt)) is not None


# --- units ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    events: list[dict[str, Any]]
    """Due events of merchants with a webhook URL, now leased to the claimer."""
    no_endpoint: int
    """Due events of merchants without one, marked `no_endpoint` on the way (no attempt made)."""


def claim_due(
    *, owner: str, now: datetime, until: datetime, limit: int, exclude: Collection[str] = ()
) -> Unit[Claimed]:
    """Lease up to `limit` due events (oldest due first) to `owner` until `until`.

    `exclude`: events this process is still delivering (never claim one twice at once, even if
    its lease ran out under a stalled attempt).
    """

    async def unit(conn: AsyncConnection) -> Claimed:
        postgresql = conn.dialect.name == "postgresql"
        with_url = sa.select(_merchants.c.id).where(_merchants.c.webhook_url.is_not(None))
        without_url = sa.select(_merchants.c.id).where(_merchants.c.webhook_url.is_(None))
        orphans = sa.select(events.c.id).where(_due(now), events.c.merchant_id.in_(without_url))
        if postgresql:  # never wait on rows another process is deciding on
            orphans = orphans.with_for_update(skip_locked=True, of=events)
        orphaned = await conn.execute(
            sa.update(events)
            .where(events.c.id.in_(orphans), _due(now))
            .values(
                delivery_status=DeliveryStatus.NO_ENDPOINT.value,
                next_attempt_at=None,
                version=events.c.version + 1,
            )
        )
        pick = (
            sa.select(events.c.id)
            .where(_due(now), events.c.merchant_id.in_(with_url))
            .order_by(events.c.next_attempt_at)
            .limit(limit)
        )
        if exclude:
            pick = pick.where(events.c.id.not_in(list(exclude)))
        if postgresql:
            pick = pick.with_for_update(skip_locked=True, of=events)
        ids = list(await conn.scalars(pick))
        claimed: list[dict[str, Any]] = []
        if ids:
            await conn.execute(
                sa.update(events)
                .where(events.c.id.in_(ids), _due(now))
                .values(lease_owner=owner, lease_expires_at=until, version=events.c.version + 1)
            )
            taken = sa.select(events).where(
                events.c.id.in_(ids),
                events.c.lease_owner == owner,
                events.c.lease_expires_at == until,
            )
            claimed = [
                dict(r) for r in (await conn.execute(taken.order_by(events.c.id))).mappings()
            ]
        return Claimed(claimed, int(orphaned.rowcount or 0))

    return unit


def record_attempt(
    *,
    event_id: str,
    owner: str,
    version: int,
    lease_until: datetime,
    changes: dict[str, Any],
    delivery: dict[str, Any] | None,
) -> Unit[bool]:
    """Write an attempt's outcome (`changes` to the event, releasing the lease) if the lease
    taken at `version` is still ours; False if not. `delivery` (an `event_deliveries` row, None
    when no attempt was made) is recorded either way: the POST happened.

    When a redelivery was asked for during the attempt (it bumps the version), the outcome is
    not written, but our lease is released so the event is taken up again at once.
    """

    async def unit(conn: AsyncConnection) -> bool:
        if delivery is not None:
            await conn.execute(sa.insert(deliveries).values(**delivery))
        ours = sa.and_(
            events.c.id == event_id,
            events.c.lease_owner == owner,
            events.c.lease_expires_at == lease_until,
        )
        written = await conn.execute(
            sa.update(events)
            .where(ours, events.c.version == version)
            .values(
                **changes, lease_owner=None, lease_expires_at=None, version=events.c.version + 1
            )
        )
        if written.rowcount == 1:
            return True
        await conn.execute(
            sa.update(events).where(ours).values(lease_owner=None, lease_expires_at=None)
        )
        return False

    return unit


@dataclasses.dataclass(frozen=True, slots=True)
class Redelivered:
    status: int
    body: str


@dataclasses.dataclass(frozen=True, slots=True)
class RedeliverRefused:
    reason: str  # "not_found" | "no_endpoint"


def redeliver(
    *,
    event_id: str,
    merchant_id: str | None,
    claim: dict[str, Any],
    now: datetime,
    status: int,
    render: Callable[[dict[str, Any]], str],
) -> Unit[IdempotencyOutcome | Redelivered | RedeliverRefused]:
    """Make the event pending and due now with a fresh schedule, and store the answer (`status`,
    `render(event)`) under the idempotency key `claim`, in one commit.

    `merchant_id` None: any merchant's event (operator). Refusals store nothing (they changed
    nothing, so the same key may be retried once the merchant has a webhook URL). An attempt in
    flight keeps its lease; the version bump makes its outcome yield to this request.
    """

    async def unit(conn: AsyncConnection) -> IdempotencyOutcome | Redelivered | RedeliverRefused:
        key = (idempotency.c.merchant_id == claim["merchant_id"], idempotency.c.key == claim["key"])
        existing = (await conn.execute(sa.select(idempotency).where(*key))).mappings().first()
        verdict = judge_idempotency(existing, claim["request_hash"], now)
        if verdict is not None:
            return verdict
        found = (
            await conn.execute(
                sa.select(events.c.merchant_id, _merchants.c.webhook_url)
                .join(_merchants, _merchants.c.id == events.c.merchant_id)
                .where(events.c.id == event_id)
            )
        ).first()
        if found is None or (merchant_id is not None and found.merchant_id != merchant_id):
            return RedeliverRefused("not_found")
        if not found.webhook_url:
            return RedeliverRefused("no_endpoint")
        if existing is not None:  # expired: the key may be used again
            await conn.execute(sa.delete(idempotency).where(*key))
        await conn.execute(
            sa.update(events)
            .where(events.c.id == event_id)
            .values(
                delivery_status=_PENDING,
                next_attempt_at=now,
                delivery_attempts=0,
                version=events.c.version + 1,
            )
        )
        row = (await conn.execute(sa.select(events).where(events.c.id == event_id))).mappings()
        body = render(dict(row.one()))
        await conn.execute(
            sa.insert(idempotency).values(
                **{
                    **claim,
                    "state": "completed",
                    "response_status": status,
                    "response_body": body,
                    "resource_id": event_id,
                }
            )
        )
        return Redelivered(status, body)

    return unit
