"""Webhook delivery over real HTTP: signed, retried on the schedule, recorded, redelivered; and
two gateways on one database never deliver one event at the same time.

Events are inserted as the services write them (`gateway.events.model.event_row`); the gateway's
worker (test profile: polls every 50 ms, schedule 0s/50ms/100ms/200ms) delivers them to a
receiver on loopback that verifies each signature.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.bootstrap import running_context
from gateway.core.config import Settings, resolve_secrets_key
from gateway.core.secrets import Purpose, SecretBox
from gateway.events.delivery import USER_AGENT, WebhookWorker
from gateway.events.signing import SIGNATURE_HEADER, parse_signature_header
from gateway.merchants import admin
from gateway.sandboxes import sandbox_environment
from gateway.storage import events as events_repo
from tests.e2e._receiver import (
    Receiver,
    database,
    deliveries,
    delivery_counts,
    insert_events,
    running_receiver,
    secret_box,
    status_is,
    statuses,
)
from tests.e2e.conftest import Gateway
from tests.e2e.conftest import test_settings as load_test_settings
from tests.support.seeding import Shop, create_merchant
from tests.support.waiting import eventually


def _standalone(database_url: str) -> tuple[Settings, dict[str, str]]:
    """Settings and environment for gateway contexts started by the test itself."""
    settings = load_test_settings(database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    return settings, env


@pytest.fixture
async def receiver(gateway: Gateway) -> AsyncIterator[Receiver]:
    """The TH merchant's webhook endpoint, set with the command line's admin action."""
    box = secret_box(gateway)
    async with (
        running_receiver(Receiver()) as running,
        database(gateway.settings.database.url) as db,
    ):
        secret = await admin.set_webhook(
            db, box, merchant_id=gateway.merchants["th"], url=running.url
        )
        assert secret is not None and secret.startswith("whsec_")
        running.secrets = [secret]
        yield running


async def test_delivers_the_stored_body_signed(gateway: Gateway, receiver: Receiver) -> None:
    url = gateway.settings.database.url
    [event_id] = await insert_events(url, gateway.merchants["th"])
    row = await status_is(url, event_id, "delivered")

    [got] = receiver.deliveries(event_id)
    assert got.verified, got.problem
    assert got.body == row["body"].encode()  # the exact stored bytes
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Gateway-Event-Id"] == event_id
    assert got.headers["User-Agent"] == USER_AGENT
    timestamp, signatures = parse_signature_header(got.headers[SIGNATURE_HEADER])
    assert len(signatures) == 1 and abs(timestamp - row["delivered_at"].timestamp()) < 5
    assert row["delivery_attempts"] == 1 and row["last_error"] is None
    [attempt] = await deliveries(url, event_id)
    assert attempt["url"] == receiver.url and attempt["status_code"] == 200
    assert attempt["error"] is None and attempt["duration_ms"] >= 0

    # The API shows it the same way.
    answer = await gateway.request("GET", f"/v1/events/{event_id}")
    assert answer.status == 200
    assert answer.body["delivery"]["status"] == "delivered"
    assert {k: answer.body[k] for k in ("id", "type", "created_at", "data")} == json.loads(got.body)


async def test_two_failures_then_success_is_three_deliveries(
    gateway: Gateway, receiver: Receiver
) -> None:
    receiver.answer = lambda _event_id, nth: 500 if nth <= 2 else 200
    url = gateway.settings.database.url
    [event_id] = await insert_events(url, gateway.merchants["th"])
    row = await status_is(url, event_id, "delivered")

    attempts = await deliveries(url, event_id)
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert [a["error"] for a in attempts] == ["HTTP 500", "HTTP 500", None]
    assert row["delivery_attempts"] == 3 and row["last_error"] is None
    assert len(receiver.deliveries(event_id)) == 3 and all(
        r.verified for r in receiver.deliveries(event_id)
    )
    # The schedule's waits (50 ms, then 100 ms) separate the attempts.
    gaps = [b["attempted_at"] - a["attempted_at"] for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= timedelta(milliseconds=50) and gaps[1] >= timedelta(milliseconds=100)


async def test_a_deduping_receiver_applies_each_event_once(
    gateway: Gateway, receiver: Receiver
) -> None:
    """The receiver does its work, then fails to answer 2xx: the event comes again, with the
    same id, and the receiver's dedupe keeps the effect single."""
    receiver.answer = lambda _event_id, nth: 500 if nth == 1 else 200
    url = gateway.settings.database.url
    event_ids = await insert_events(url, gateway.merchants["th"], count=3)
    for event_id in event_ids:
        await status_is(url, event_id, "delivered")
    assert all(receiver.arrivals[e] == 2 for e in event_ids)
    assert all(receiver.effects[e] == 1 for e in event_ids)
    bodies = {r.body for r in receiver.received if r.event_id == event_ids[0]}
    assert len(bodies) == 1  # the same bytes every time


async def test_schedule_exhaustion_fails_then_redeliver_delivers(
    gateway: Gateway, receiver: Receiver
) -> None:
    receiver.answer = lambda _event_id, _nth: 503
    url = gateway.settings.database.url
    [event_id] = await insert_events(url, gateway.merchants["th"])
    row = await status_is(url, event_id, "failed")
    schedule = gateway.settings.webhooks.schedule
    assert row["delivery_attempts"] == len(schedule) and row["next_attempt_at"] is None
    assert row["last_error"] == "HTTP 503"
    assert [a["status_code"] for a in await deliveries(url, event_id)] == [503] * len(schedule)

    receiver.answer = lambda _event_id, _nth: 204
    answer = await gateway.request(
        "POST", f"/v1/events/{event_id}/redeliver", json={}, idempotency_key="redo-1"
    )
    assert answer.status == 202, answer.body
    assert answer.body["delivery"]["status"] == "pending"
    assert answer.body["delivery"]["attempts"] == 0  # a fresh schedule
    row = await status_is(url, event_id, "delivered")
    assert row["delivery_attempts"] == 1
    assert [a["status_code"] for a in await deliveries(url, event_id)][-1] == 204


async def test_timeouts_and_refused_connections_are_retried_and_recorded(
    database_url: str,
) -> None:
    base, env = _standalone(database_url)
    settings = base.model_copy(
        update={
            "webhooks": base.webhooks.model_copy(
                update={
                    "timeout": timedelta(milliseconds=200),
                    "schedule": (timedelta(0), timedelta(milliseconds=50)),
                }
            )
        }
    )
    box = SecretBox(resolve_secrets_key(settings, env))
    async with database(database_url) as db:
        merchant = await create_merchant(db, Shop("Slow Shop", "TH", "THB", "Asia/Bangkok"))
    async with (
        running_receiver(Receiver(delay=1.0)) as receiver,  # answers after the timeout
        running_context(settings, env=env, resolver=False) as ctx,
    ):
        async with database(database_url) as db:
            secret = await admin.set_webhook(db, box, merchant_id=merchant, url=receiver.url)
        assert secret is not None
        receiver.secrets = [secret]
        [event_id] = await insert_events(database_url, merchant)
        ctx.kick_webhooks()
        row = await status_is(database_url, event_id, "failed")
        attempts = await deliveries(database_url, event_id)
        assert len(attempts) == 2 and all(a["status_code"] is None for a in attempts)
        assert all("timed out" in a["error"] for a in attempts), attempts
        assert row["last_error"].startswith("timed out")

        # Nothing listens there: a connection error, recorded (not raised), then retried.
        async with database(database_url) as db:
            await admin.set_webhook(db, box, merchant_id=merchant, url="http://127.0.0.1:9/x")
        [refused] = await insert_events(database_url, merchant)
        await status_is(database_url, refused, "failed")
        errors = [a["error"] for a in await deliveries(database_url, refused)]
        assert len(errors) == 2 and all(e and not e.startswith("HTTP") for e in errors), errors


async def test_no_endpoint_then_redeliver_once_a_url_is_set(
    gateway: Gateway, receiver: Receiver
) -> None:
    url = gateway.settings.database.url
    ph = gateway.merchants["ph"]
    [event_id] = await insert_events(url, ph)
    row = await status_is(url, event_id, "no_endpoint")
    assert row["delivery_attempts"] == 0 and await deliveries(url, event_id) == []

    refused = await gateway.request(
        "POST", f"/v1/events/{event_id}/redeliver", key="ph_pos", json={}, idempotency_key="k1"
    )
    assert refused.status == 409 and refused.error == "webhook_not_configured"

    async with database(url) as db:
        secret = await admin.set_webhook(db, secret_box(gateway), merchant_id=ph, url=receiver.url)
    assert secret is not None
    receiver.secrets.append(secret)
    # The refusal changed nothing and was not stored: the same key now works.
    answer = await gateway.request(
        "POST", f"/v1/events/{event_id}/redeliver", key="ph_pos", json={}, idempotency_key="k1"
    )
    assert answer.status == 202, answer.body
    await status_is(url, event_id, "delivered")
    assert receiver.deliveries(event_id)[-1].verified


async def test_rotation_with_grace_signs_with_both_secrets(
    gateway: Gateway, receiver: Receiver
) -> None:
    url = gateway.settings.database.url
    th = gateway.merchants["th"]
    old = receiver.secrets[0]
    async with database(url) as db:
        new = await admin.rotate_secret(
            db,
            secret_box(gateway),
            merchant_id=th,
            purpose=Purpose.WEBHOOK,
            keep_previous=timedelta(hours=1),
        )
    [event_id] = await insert_events(url, th)
    await status_is(url, event_id, "delivered")
    [got] = receiver.deliveries(event_id)
    _, signatures = parse_signature_header(got.headers[SIGNATURE_HEADER])
    assert len(signatures) == 2
    receiver.secrets = [new]  # a receiver that already switched accepts it...
    receiver.received.clear()
    [second] = await insert_events(url, th)
    await status_is(url, second, "delivered")
    assert receiver.deliveries(second)[0].verified
    receiver.secrets = [old]  # ...and so does one that has not yet
    [third] = await insert_events(url, th)
    await status_is(url, third, "delivered")
    assert receiver.deliveries(third)[0].verified


async def test_a_wrong_secret_is_refused_by_the_receiver(
    gateway: Gateway, receiver: Receiver
) -> None:
    receiver.secrets = ["whsec_" + secrets.token_urlsafe(32)]
    url = gateway.settings.database.url
    [event_id] = await insert_events(url, gateway.merchants["th"])
    row = await status_is(url, event_id, "failed")
    assert {r.problem for r in receiver.deliveries(event_id)} == {"wrong"}
    assert row["last_error"] == "HTTP 400"


async def test_two_gateways_never_deliver_one_event_at_once(database_url: str) -> None:
    """Two gateway contexts (as two processes would) on one database, a slow receiver: every
    event is delivered exactly once, never by both at the same time."""
    settings, env = _standalone(database_url)
    async with database(database_url) as db:
        merchant = await create_merchant(db, Shop("Twin Shop", "TH", "THB", "Asia/Bangkok"))
    receiver = Receiver(delay=0.05)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_receiver(receiver))
        async with database(database_url) as db:
            box = SecretBox(resolve_secrets_key(settings, env))
            secret = await admin.set_webhook(db, box, merchant_id=merchant, url=receiver.url)
        assert secret is not None
        receiver.secrets = [secret]
        contexts = [
            await stack.enter_async_context(running_context(settings, env=env, resolver=False))
            for _ in range(2)
        ]
        assert contexts[0].owner != contexts[1].owner
        event_ids = await insert_events(database_url, merchant, count=40)
        for ctx in contexts:
            ctx.kick_webhooks()

        async def all_delivered() -> bool:
            found = await statuses(database_url, event_ids)
            return set(found.values()) == {"delivered"}

        assert await eventually(all_delivered, timeout=20)
    assert receiver.max_in_flight == 1
    assert all(receiver.arrivals[e] == 1 for e in event_ids), receiver.arrivals
    assert set((await delivery_counts(database_url, event_ids)).values()) == {1}
    assert len(receiver.received) == len(event_ids)


async def test_delivery_concurrency_is_bounded(gateway: Gateway, receiver: Receiver) -> None:
    receiver.delay = 0.1
    url = gateway.settings.database.url
    limit = gateway.settings.webhooks.concurrency
    event_ids = await insert_events(url, gateway.merchants["th"], count=limit + 8)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, sum(receiver.in_flight.values()))
            await asyncio.sleep(0.005)

    async def all_delivered() -> bool:
        return set((await statuses(url, event_ids)).values()) == {"delivered"}

    watcher = asyncio.create_task(watch())
    try:
        assert await eventually(all_delivered)
    finally:
        watcher.cancel()
    assert 1 < peak <= limit


async def test_logs_name_the_delivery_never_the_secret_or_signature(
    gateway: Gateway, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.events.delivery")
    url = gateway.settings.database.url
    [event_id] = await insert_events(url, gateway.merchants["th"])
    await status_is(url, event_id, "delivered")
    [got] = receiver.deliveries(event_id)
    lines = [r.getMessage() for r in caplog.records if event_id in r.getMessage()]
    assert any("delivered" in line and "127.0.0.1" in line for line in lines), lines
    _, [signature] = parse_signature_header(got.headers[SIGNATURE_HEADER])
    assert receiver.secrets[0] not in caplog.text and signature not in caplog.text


def _worker_settings(database_url: str, *, concurrency: int) -> tuple[Settings, dict[str, str]]:
    base, env = _standalone(database_url)
    webhooks = base.webhooks.model_copy(update={"concurrency": concurrency})
    return base.model_copy(update={"webhooks": webhooks}), env


async def _merchant_with_endpoint(
    database_url: str, settings: Settings, env: dict[str, str], receiver: Receiver
) -> str:
    async with database(database_url) as db:
        merchant = await create_merchant(db, Shop("Batch Shop", "TH", "THB", "Asia/Bangkok"))
        box = SecretBox(resolve_secrets_key(settings, env))
        secret = await admin.set_webhook(db, box, merchant_id=merchant, url=receiver.url)
    assert secret is not None
    receiver.secrets = [secret]
    return merchant


async def _retire(database_url: str, event_ids: list[str]) -> None:
    """Leave nothing due behind for other tests' workers (the database is shared)."""
    table = events_repo.events
    async with database(database_url) as db, db.writer.connect() as conn, conn.begin():
        await conn.execute(
            sa.update(table)
            .where(table.c.id.in_(event_ids))
            .values(delivery_status="failed", next_attempt_at=None, lease_owner=None)
        )


async def test_a_claim_whose_lease_ran_short_is_handed_back_unattempted(
    database_url: str,
) -> None:
    """An event that waited for a slot until its lease no longer outlasts a whole attempt is
    not sent (another process could take it mid-attempt): its lease is released instead."""
    settings, env = _worker_settings(database_url, concurrency=4)
    async with (
        running_receiver(Receiver()) as receiver,
        running_context(settings, env=env, resolver=False, webhooks=False) as ctx,
        aiohttp.ClientSession() as http,
    ):
        merchant = await _merchant_with_endpoint(database_url, settings, env, receiver)
        [event_id] = await insert_events(database_url, merchant)
        try:
            now = ctx.clock.now()
            claimed = await ctx.writer.run(
                events_repo.claim_due(
                    owner=ctx.owner, now=now, until=now + settings.webhooks.timeout, limit=100
                )
            )
            [event] = [e for e in claimed.events if e.id == event_id]
            await WebhookWorker(ctx, http=http).deliver(event)
            row = await status_is(database_url, event_id, "pending")
        finally:
            await _retire(database_url, [event_id])
    assert receiver.received == []
    assert row["lease_owner"] is None and row["version"] == event.version + 1
    assert row["delivery_attempts"] == 0 and await deliveries(database_url, event_id) == []


async def test_claims_hold_at_most_twice_the_slots_and_stop_hands_back_the_waiting(
    database_url: str,
) -> None:
    settings, env = _worker_settings(database_url, concurrency=2)
    receiver = Receiver(delay=0.3)
    async with (
        running_receiver(receiver),
        running_context(settings, env=env, resolver=False, webhooks=False) as ctx,
    ):
        merchant = await _merchant_with_endpoint(database_url, settings, env, receiver)
        event_ids = await insert_events(database_url, merchant, count=8)

        async def leased() -> int:
            found = await statuses(database_url, event_ids)
            return sum(status is None for status in found.values())

        async def two_in_flight() -> bool:
            return sum(receiver.in_flight.values()) == 2 and await leased() == 4

        worker = WebhookWorker(ctx)
        await worker.start()
        try:
            assert await eventually(two_in_flight)  # two being sent, two waiting for a slot
            assert worker.active == 2
        finally:
            await worker.stop()
        try:
            # Those in flight were abandoned (their leases expire); the waiting ones are free.
            assert await leased() == 2
        finally:
            await _retire(database_url, event_ids)
    assert receiver.max_in_flight == 1 and len(receiver.received) == 2
