"""A merchant's webhook receiver for tests: a real aiohttp server on loopback.

It does what API.md asks of receivers: verifies `Gateway-Signature` with the webhook secret(s)
(a failure answers 400 and is recorded), dedupes on the event id (the *effect* of an event is
applied once however often it arrives), and answers as the test scripts it.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from multidict import CIMultiDict

from gateway.core.config import resolve_secrets_key
from gateway.core.secrets import SecretBox
from gateway.events.model import EventType, event_row
from gateway.events.signing import SIGNATURE_HEADER, SignatureError, verify_webhook
from gateway.storage import events as events_repo
from gateway.storage.db import Database, open_database
from tests.e2e.conftest import Gateway
from tests.support.waiting import eventually


@dataclass
class Received:
    event_id: str
    headers: CIMultiDict[str]
    body: bytes
    verified: bool
    problem: str | None


@dataclass
class Receiver:
    """`answer(event_id, nth)` gives the status for the nth (1-based) arrival of an event."""

    secrets: list[str] = field(default_factory=list)
    answer: Callable[[str, int], int] = lambda _event_id, _nth: 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    arrivals: Counter[str] = field(default_factory=Counter)
    effects: Counter[str] = field(default_factory=Counter)
    in_flight: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = json.loads(body)["id"]
        self.in_flight[event_id] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[event_id])
        try:
            problem = None
            try:
                verify_webhook(
                    request.headers.get(SIGNATURE_HEADER),
                    self.secrets,
                    body,
                    now=datetime.now(UTC),
                )
            except SignatureError as exc:
                problem = exc.problem.value
            self.received.append(
                Received(event_id, CIMultiDict(request.headers), body, problem is None, problem)
            )
            if problem is not None:
                return web.Response(status=400, text=problem)
            self.arrivals[event_id] += 1
            if self.effects[event_id] == 0:  # dedupe on the id: the effect happens once
                self.effects[event_id] += 1
            if self.delay:
                await asyncio.sleep(self.delay)
            return web.Response(status=self.answer(event_id, self.arrivals[event_id]))
        finally:
            self.in_flight[event_id] -= 1

    def deliveries(self, event_id: str) -> list[Received]:
        return [r for r in self.received if r.event_id == event_id]


@asynccontextmanager
async def running_receiver(receiver: Receiver, path: str = "/hooks") -> AsyncIterator[Receiver]:
    app = web.Application()
    app.router.add_post(path, receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def secret_box(gateway: Gateway) -> SecretBox:
    return SecretBox(resolve_secrets_key(gateway.settings, gateway.env))


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = open_database(url)
    try:
        yield db
    finally:
        await db.dispose()


async def insert_events(
    url: str,
    merchant_id: str,
    count: int = 1,
    event_type: EventType = EventType.PAYMENT_SUCCEEDED,
) -> list[str]:
    """Outbox rows as the services write them (`event_row`), due now."""
    rows = []
    for n in range(count):
        now = datetime.now(UTC)
        data = {"id": f"pay_test{n:04d}", "object": "payment", "updated_at": now.isoformat()}
        rows.append(event_row(event_type, merchant_id=merchant_id, data=data, now=now))
        await asyncio.sleep(0.002)  # distinct, ordered ids (milliseconds)
    async with database(url) as db, db.writer.connect() as conn, conn.begin():
        await conn.execute(sa.insert(events_repo.events), rows)
    return [row["id"] for row in rows]


async def event(url: str, event_id: str) -> dict[str, Any]:
    async with database(url) as db:
        row = await events_repo.get_event(db, event_id)
    assert row is not None
    return row


async def statuses(url: str, event_ids: list[str]) -> dict[str, str | None]:
    """Each event's delivery status, or None while a lease is held on it (one query)."""
    table = events_repo.events
    stmt = sa.select(table.c.id, table.c.delivery_status, table.c.lease_owner).where(
        table.c.id.in_(event_ids)
    )
    async with database(url) as db, db.reader.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return {r.id: None if r.lease_owner else r.delivery_status for r in rows}


async def delivery_counts(url: str, event_ids: list[str]) -> dict[str, int]:
    """How many `event_deliveries` rows each event has (one query)."""
    table = events_repo.deliveries
    stmt = (
        sa.select(table.c.event_id, sa.func.count())
        .where(table.c.event_id.in_(event_ids))
        .group_by(table.c.event_id)
    )
    async with database(url) as db, db.reader.connect() as conn:
        counted = {row[0]: int(row[1]) for row in await conn.execute(stmt)}
    return {event_id: counted.get(event_id, 0) for event_id in event_ids}


async def deliveries(url: str, event_id: str) -> list[dict[str, Any]]:
    async with database(url) as db:
        return await events_repo.get_deliveries(db, event_id)


async def status_is(url: str, event_id: str, status: str, timeout: float = 10.0) -> dict[str, Any]:
    """The event's row once its delivery status is `status` and no lease is held on it."""
    last: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        row = await event(url, event_id)
        last[:] = [row]
        return row if row["delivery_status"] == status and row["lease_owner"] is None else None

    def failure() -> str:
        return f"{event_id} is {last[0]['delivery_status']}, not {status}"

    return await eventually(check, timeout=timeout, failure=failure)
