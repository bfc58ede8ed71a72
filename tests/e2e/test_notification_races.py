"""A partner's notification, delivered again and again and to several gateways at once (#15):
one state change, one journal entry, one event, whatever the order of deliveries and of the
gateway's own inquiries.

The tourist pays with `notify: "never"` (the sandbox charges and stays silent), then the test
delivers the notification itself, signed by the sandbox exactly as its notifier would
(`OrderDesk.notification_for`)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import sqlalchemy as sa

from adapters._sandbox.order_routes import ORDERS
from adapters._sandbox.orders import OrderDesk
from gateway.storage.db import open_database
from gateway.storage.tables import metadata
from tests.e2e._subprocess_gateway import GatewayProcess, Stack, call, running_stack
from tests.e2e.conftest import Gateway
from tests.support.families import MERCHANT_FAMILIES
from tests.support.waiting import eventually

_entries = metadata.tables["journal_entries"]
_events = metadata.tables["events"]


def _body(currency: str) -> dict[str, Any]:
    return {
        "merchant_reference": f"RACE-{secrets.token_hex(6)}",
        "amount": {"currency": currency, "value": 50_000},
        "payment_method": {"type": "merchant_qr", "wallet": "alipay_cn"},
    }


async def _scan_silently(session: aiohttp.ClientSession, code: str) -> None:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(code))
    body = {"code": code, "notify": "never"}
    async with session.post(origin + "/_sandbox/scan", json=body) as answer:
        assert answer.status == 200, await answer.text()


async def _deliver(
    session: aiohttp.ClientSession, desk: OrderDesk, code: str, base_url: str
) -> tuple[int, bytes]:
    order = desk.by_code(code)
    assert order is not None
    note = desk.notification_for(order)
    path = urlsplit(note.url).path
    async with session.post(base_url + path, data=note.body, headers=dict(note.headers)) as ack:
        return ack.status, await ack.read()


def _processed(status: int, body: bytes) -> bool:
    """The protocol's "processed" acknowledgment (Alipay+ S; WalletRest 200 received)."""
    return status == 200 and (b'"resultStatus":"S"' in body or b'"received":true' in body)


async def _books(database_url: str, payment_id: str) -> tuple[int, int]:
    """(journal entries, events) of the payment."""
    db = open_database(database_url)
    try:
        async with db.reader.connect() as conn:
            entries = await conn.scalar(
                sa.select(sa.func.count()).where(_entries.c.payment_id == payment_id)
            )
            events = await conn.scalar(
                sa.select(sa.func.count()).where(_events.c.object_id == payment_id)
            )
    finally:
        await db.dispose()
    return int(entries or 0), int(events or 0)


async def test_five_deliveries_around_the_inquiry_change_it_once(
    gateway: Gateway, protocol_family: str
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    desk = gateway.sandboxes.apps[family.partner][ORDERS]
    answer = await gateway.request(
        "POST",
        "/v1/payments",
        key=family.key,
        json=_body(family.currency),
        idempotency_key=secrets.token_hex(12),
    )
    assert answer.status == 201 and answer.body["status"] == "requires_customer", answer.body
    payment_id, code = answer.body["id"], answer.body["next_action"]["qr_code"]
    async with aiohttp.ClientSession() as session:
        await _scan_silently(session, code)
        # two at once, before or after the gateway's inquiry finds the charge...
        first = await asyncio.gather(*(_deliver(session, desk, code, gateway.url) for _ in "ab"))
        paid = await gateway.wait_final(payment_id, key=family.key)
        # ...and three more once it has
        later = [await _deliver(session, desk, code, gateway.url) for _ in "cde"]
    assert all(_processed(*ack) for ack in [*first, *later]), [*first, *later]
    assert paid["status"] == "succeeded"
    assert await _books(gateway.settings.database.url, payment_id) == (1, 1)
    assert gateway.ledger(family.partner).charges_for(paid_request_id(desk, code)) == 1


def paid_request_id(desk: OrderDesk, code: str) -> str:
    order = desk.by_code(code)
    assert order is not None
    return order.payment_request_id


@pytest.mark.postgres
async def test_two_gateways_notified_at_once_book_one_outcome(
    tmp_path: Path, postgresql_url: str
) -> None:
    """Two processes on one database receive the same notification at the same moment, for
    ten payments: each ends with one outcome."""
    async with running_stack(tmp_path, postgresql_url) as stack:
        gateways = [stack.gateway("gw-a"), stack.gateway("gw-b")]
        for process in gateways:
            await process.start()
        desk = stack.sandboxes.apps["th-siampay"][ORDERS]
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                await _race(stack, gateways, desk, session)


async def _race(
    stack: Stack, gateways: list[GatewayProcess], desk: OrderDesk, session: aiohttp.ClientSession
) -> None:
    reply = await call(
        session,
        gateways[0],
        "POST",
        "/v1/payments",
        key=stack.keys["th_pos"],
        json_body=_body("THB"),
        idempotency_key=secrets.token_hex(12),
    )
    assert reply.status == 201, reply
    payment_id, code = reply.body["id"], reply.body["next_action"]["qr_code"]
    await _scan_silently(session, code)
    acks = await asyncio.gather(*(_deliver(session, desk, code, g.url) for g in gateways))

    async def processed_by_both() -> bool | None:
        # A gateway that lost the race may have asked to be sent it again: it is, and then
        # finds the payment final.
        for i, ack in enumerate(acks):
            if not _processed(*ack):
                acks[i] = await _deliver(session, desk, code, gateways[i].url)
        return all(_processed(*ack) for ack in acks) or None

    await eventually(processed_by_both, timeout=10.0, interval=0.1, failure=stack.logs)
    final = await stack.wait_final(session, gateways[1], f"/v1/payments/{payment_id}", timeout=10)
    assert final["status"] == "succeeded"
    assert await _books(stack.database_url, payment_id) == (1, 1), stack.logs()
    assert stack.ledger().charges_for(paid_request_id(desk, code)) == 1
