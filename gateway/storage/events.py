"""SQL of the event outbox: reads for the events API, and what the webhook worker and redelivery
hand to the group-commit writer (see `repository.py` for units and batchable commands).

Delivery is claimed through a lease on the event row (owner, expiry, version), in a short
transaction; no transaction is held across the HTTP call. Claims (`ClaimDue`) and outcomes
(`RecordAttempt`) are batchable commands written through the driver (`storage/raw.py`), so they
share the writer's commits with each other and with the payments. On PostgreSQL the claim
selects with `FOR UPDATE OF e SKIP LOCKED`, so processes sharing the database take disjoint
events without waiting on each other; on SQLite the writer's transaction (`BEGIN IMMEDIATE`) is
the only writer, so each statement is atomic as it is. An outcome is written only while the
lease is still the one taken (owner, expiry and version), so a stale outcome never overwrites a
newer state and an event is never recorded twice; every attempt is recorded in
`event_deliveries` either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.events.model import DeliveryStatus
from gateway.storage.db import Database
from gateway.storage.idempotency import IdempotencyOutcome, idempotency, judge_idempotency
from gateway.storage.raw import RawTransaction
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "ClaimDue",
    "Claimed",
    "DueEvent",
    "RecordAttempt",
    "RedeliverRefused",
    "Redelivered",
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


# --- commands ---------------------------------------------------------------------------------
#
# Claims and outcomes are batchable commands (`writer.Batchable`) in plain SQL through the
# driver (`storage/raw.py`): they share the writer's commits with each other and with payments,
# at a fraction of SQLAlchemy's CPU per statement. Timestamps are bound as the datetimes
# SQLAlchemy would store (raw.py makes both spell them alike), so its reads see the same rows.

_DUE = (
    "e.delivery_status = 'pending' AND e.next_attempt_at <= ?"
    " AND (e.lease_owner IS NULL OR e.lease_expires_at < ?)"
)

# Due events of merchants without a webhook URL: `no_endpoint`, no attempt made.
_ORPHANS = (
    "UPDATE events SET delivery_status = 'no_endpoint', next_attempt_at = NULL,"
    " version = version + 1 WHERE id IN (SELECT e.id FROM events e WHERE {due}"
    " AND e.merchant_id IN (SELECT id FROM merchants WHERE webhook_url IS NULL){lock})"
    " RETURNING id"
).format(due=_DUE, lock="{lock}")

# The oldest due events of merchants with one, leased; with the merchant's URL and sealed secret
# as they are now (so a change made with the command line is seen by the next claim).
_CLAIM = (
    "UPDATE events SET lease_owner = ?, lease_expires_at = ?, version = version + 1"
    " WHERE id IN (SELECT e.id FROM events e WHERE {due}"
    " AND e.merchant_id IN (SELECT id FROM merchants WHERE webhook_url IS NOT NULL){exclude}"
    " ORDER BY e.next_attempt_at LIMIT ?{lock})"
    " RETURNING id, merchant_id, type, body, delivery_attempts, version,"
    " (SELECT m.webhook_url FROM merchants m WHERE m.id = events.merchant_id) AS webhook_url,"
    " (SELECT m.webhook_secret FROM merchants m WHERE m.id = events.merchant_id)"
    " AS webhook_secret"
).format(due=_DUE, exclude="{exclude}", lock="{lock}")

# PostgreSQL: never wait on rows another process is deciding on. SQLite: the writer's
# transaction (`BEGIN IMMEDIATE`) is the only writer, so each statement is atomic as it is.
_SKIP_LOCKED = " FOR UPDATE OF e SKIP LOCKED"


def _on_postgresql(tx: RawTransaction) -> bool:
    return tx.dialect == "postgresql"


@dataclasses.dataclass(frozen=True, slots=True)
class DueEvent:
    """A claimed event: what one attempt needs, and the lease it holds (`version` is the
    event's version under that lease, `lease_expires_at` its expiry)."""

    id: str
    merchant_id: str
    type: str
    body: str
    delivery_attempts: int
    version: int
    lease_expires_at: datetime
    webhook_url: str | None
    webhook_secret: str | None = dataclasses.field(repr=False)
    """The merchant's sealed secret set (`gateway/core/secrets.py`), as read with the claim."""


@dataclasses.dataclass(frozen=True, slots=True)
class Claimed:
    events: list[DueEvent]
    """Due events of merchants with a webhook URL, now leased to the claimer."""
    no_endpoint: int
    """Due events of merchants without one, marked `no_endpoint` on the way (no attempt made)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ClaimDue:
    """Lease up to `limit` due events (oldest due first) to `owner` until `until`.

    `exclude`: events this process is still delivering (never claim one twice at once, even if
    its lease ran out under a stalled attempt).
    """

    kind: ClassVar[str] = "claim_due"

    owner: str
    now: datetime
    until: datetime
    limit: int
    exclude: tuple[str, ...] = ()

    @classmethod
    async def run_batch(cls, tx: RawTransaction, commands: Sequence[ClaimDue]) -> list[Claimed]:
        return [await command._claim(tx) for command in commands]

    async def _claim(self, tx: RawTransaction) -> Claimed:
        lock = _SKIP_LOCKED if _on_postgresql(tx) else ""
        orphans = await tx.fetch(_ORPHANS.format(lock=lock), [self.now, self.now])
        if self.limit <= 0:
            return Claimed([], len(orphans))
        excluded: list[str] = []
        exclude = ""
        if self.exclude:
            excluded = [*self.exclude, *[""] * (_bucket(len(self.exclude)) - len(self.exclude))]
            exclude = f" AND e.id NOT IN {_row(len(excluded))}"
        rows = await tx.fetch(
            _CLAIM.format(exclude=exclude, lock=lock),
            [self.owner, self.until, self.now, self.now, *excluded, self.limit],
        )
        rows.sort(key=lambda r: str(r["id"]))
        claimed = [
            DueEvent(
                id=r["id"],
                merchant_id=r["merchant_id"],
                type=r["type"],
                body=r["body"],
                delivery_attempts=int(r["delivery_attempts"]),
                version=int(r["version"]),
                lease_expires_at=self.until,
                webhook_url=r["webhook_url"],
                webhook_secret=r["webhook_secret"],
            )
            for r in rows
        ]
        return Claimed(claimed, len(orphans))


def claim_due(
    *, owner: str, now: datetime, until: datetime, limit: int, exclude: Collection[str] = ()
) -> ClaimDue:
    return ClaimDue(owner=owner, now=now, until=until, limit=limit, exclude=tuple(exclude))


@dataclasses.dataclass(frozen=True, slots=True)
class RecordAttempt:
    """Write an attempt's outcome (`changes` to the event, releasing the lease) if the lease
    taken at `version` is still ours; the result is False if not. `delivery` (an
    `event_deliveries` row, None when no attempt was made) is recorded either way: the POST
    happened.

    When a redelivery was asked for during the attempt (it bumps the version), the outcome is
    not written, but our lease is released so the event is taken up again at once.

    Batched: one `executemany` for the delivery rows and one per shape of change for the events,
    after one read of the leases (locked on PostgreSQL, so it decides exactly; on SQLite the
    writer's transaction excludes every other writer). Each update checks the lease again.
    """

    kind: ClassVar[str] = "record_attempt"

    event_id: str
    owner: str
    version: int
    lease_until: datetime
    changes: Mapping[str, Any]
    delivery: Mapping[str, Any] | None

    @classmethod
    async def run_batch(cls, tx: RawTransaction, commands: Sequence[RecordAttempt]) -> list[bool]:
        await _insert_many(
            tx, "event_deliveries", [c.delivery for c in commands if c.delivery is not None]
        )
        ids = sorted({c.event_id for c in commands})
        ids += [""] * (_bucket(len(ids)) - len(ids))  # no id: a few statements to prepare
        lock = " FOR UPDATE" if _on_postgresql(tx) else ""  # in id order: no deadlock cycles
        rows = await tx.fetch(
            "SELECT id, lease_owner, lease_expires_at, version FROM events"
            f" WHERE id IN {_row(len(ids))} ORDER BY id{lock}",
            ids,
        )
        held = {r["id"]: r for r in rows}
        results: list[bool] = []
        outcomes: dict[tuple[str, ...], list[list[Any]]] = {}
        releases: list[list[Any]] = []
        for command in commands:
            row = held.pop(command.event_id, None)  # a second command for one event: not ours
            ours = (
                row is not None
                and row["lease_owner"] == command.owner
                and row["lease_expires_at"] is not None
                and tx.to_datetime(row["lease_expires_at"]) == command.lease_until
            )
            lease = [command.event_id, command.owner, command.lease_until]
            if ours and row is not None and int(row["version"]) == command.version:
                columns = tuple(sorted(command.changes))
                values = [command.changes[c] for c in columns]
                outcomes.setdefault(columns, []).append([*values, *lease, command.version])
                results.append(True)
            else:
                if ours:
                    releases.append(lease)
                results.append(False)
        for columns, params in outcomes.items():
            assignments = "".join(f"{c} = ?, " for c in columns)
            await tx.executemany(
                f"UPDATE events SET {assignments}lease_owner = NULL, lease_expires_at = NULL,"
                f" version = version + 1 WHERE {_OURS} AND version = ?",
                params,
            )
        if releases:
            await tx.executemany(
                f"UPDATE events SET lease_owner = NULL, lease_expires_at = NULL WHERE {_OURS}",
                releases,
            )
        return results


_OURS = "id = ? AND lease_owner = ? AND lease_expires_at = ?"


def record_attempt(
    *,
    event_id: str,
    owner: str,
    version: int,
    lease_until: datetime,
    changes: Mapping[str, Any],
    delivery: Mapping[str, Any] | None,
) -> RecordAttempt:
    return RecordAttempt(
        event_id=event_id,
        owner=owner,
        version=version,
        lease_until=lease_until,
        changes=changes,
        delivery=delivery,
    )


def _bucket(count: int) -> int:
    """The next power of two from 8 on: `IN` lists are padded (with "", no id) to such a length,
    so a few statements serve every batch (the driver prepares and caches each one)."""
    size = 8
    while size < count:
        size *= 2
    return size


def _row(width: int) -> str:
    return "(" + ", ".join("?" * width) + ")"


async def _insert_many(tx: RawTransaction, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """One `executemany` per set of columns."""
    shapes: dict[tuple[str, ...], list[list[Any]]] = {}
    for row in rows:
        shapes.setdefault(tuple(row), []).append(list(row.values()))
    for columns, params in shapes.items():
        await tx.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_row(len(columns))}", params
        )


# --- units ------------------------------------------------------------------------------------


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
