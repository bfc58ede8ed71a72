"""A merchant-presented payment's notification, delivered many times, around the gateway's own
inquiries and to two gateway processes at once (#15, done criteria): one state change, one
`payment` journal entry, one event, one charge, whatever the order.

The tourist pays with `notify: "never"` (the sandbox charges, or declines, and stays silent);
the test then delivers the partner's notification itself, signed by the sandbox exactly as its
notifier signs it (`OrderDesk.notification_for`), and reads each acknowledgment the way the
partner reads it (the sandbox's own `OrderProtocol.acknowledgment`: accepted, signature).

Two delivery plans per payment, both families, both databases:

- `raced`: two deliveries at once right after the scan (beside the resolver's inquiries, every
  50-200 ms in the test profile: in practice a notification books it), then, once the payment
  is final, two at once and one more; exactly one of the notification path and the resolver
  books it (their metrics).
- `inquiry_first`: no delivery until the resolver's inquiry has found the result and booked
  it; then three deliveries at once and two more: each is acknowledged as already known and
  changes nothing (the payment reads the same afterwards).

Then two `gateway serve` processes on one PostgreSQL database: ten payments (made through
either), each one's notification (the same signed bytes) delivered to both processes at the
same moment, twice each. The complementary single-delivery race is
tests/e2e/test_notification_races.py.

Last, the resolver of one process committing the result of its inquiry while the other process
books the notification: one of them writes (`CommitOutcome` locks the payment rows and reads
their lease owners again on PostgreSQL; before, both outcomes were written: `BookedTwice`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import secrets
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from adapters._sandbox.order_routes import ORDERS
from adapters._sandbox.orders import OrderDesk, OrderProtocol, OutboundNotification
from adapters.alipayplus.sandbox.exchange import STATE as ALIPAYPLUS_STATE
from adapters.alipayplus.sandbox.orders import AlipayPlusOrders
from adapters.sandboxes import SANDBOXES
from adapters.walletrest.sandbox.exchange import STATE as WALLETREST_STATE
from adapters.walletrest.sandbox.orders import WalletRestOrders
from gateway.core.config import Settings
from gateway.ledger.model import PAYMENT
from gateway.ledger.verify import verify_ledger
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage import payments as repo
from gateway.storage.db import open_database
from gateway.storage.settlement import lock_for_close
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e._subprocess_gateway import GatewayProcess, Stack, call, running_stack
from tests.e2e.conftest import Gateway
from tests.support.families import MERCHANT_FAMILIES, MerchantFamily
from tests.support.waiting import eventually, wait_final

WALLET = "alipay_cn"  # the tourist pays in CNY
APPROVE, DECLINE = "0000", "0051"  # the scan's test codes: paid; insufficient funds
ROUNDS = 10  # payments raced between the two processes

_entries = metadata.tables["journal_entries"]


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """This module's own database: `ledger verify` reads it whole."""
    yield from own_database(request)


# --- the partner's side ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Delivery:
    """One POST of a notification and the acknowledgment it got."""

    gateway: str
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Partner:
    """A sandbox partner as the notifier: its order desk, and its protocol's reading of an
    acknowledgment (the same object the desk's notifier uses)."""

    def __init__(self, app: web.Application, family: str) -> None:
        self.family = family
        self.desk: OrderDesk = app[ORDERS]
        self.protocol: OrderProtocol = (
            AlipayPlusOrders(app[ALIPAYPLUS_STATE])
            if family == "alipayplus"
            else WalletRestOrders(app[WALLETREST_STATE])
        )

    def notification(self, code: str) -> OutboundNotification:
        """The signed notification of the order of `code`, as it stands now."""
        order = self.desk.by_code(code)
        assert order is not None, code
        return self.desk.notification_for(order)

    def request_id(self, code: str) -> str:
        order = self.desk.by_code(code)
        assert order is not None, code
        return order.payment_request_id

    def processed(self, code: str, delivery: Delivery) -> bool:
        """Acknowledged as processed, in the protocol's words (Alipay+: HTTP 200 with
        `result.resultStatus` S, signed by the merchant's key; WalletRest: 200
        `{"received": true}`, HMAC-signed), read as the partner reads it."""
        order = self.desk.by_code(code)
        assert order is not None, code
        ack = self.protocol.acknowledgment(order, delivery.status, delivery.headers, delivery.body)
        if not ack.accepted:
            return False
        assert delivery.status == 200, delivery
        body = delivery.json()
        if self.family == "alipayplus":
            assert body["result"]["resultStatus"] == "S", body
        else:
            assert body == {"received": True}, body
        assert ack.signature_valid is True, delivery  # both families sign their answer
        return True


async def _deliver(
    session: aiohttp.ClientSession, note: OutboundNotification, base_url: str, name: str = ""
) -> Delivery:
    """POST `note` (its exact bytes and headers) to its path on the gateway at `base_url`."""
    path = urlsplit(note.url).path
    async with session.post(base_url + path, data=note.body, headers=dict(note.headers)) as ack:
        headers = {k.lower(): v for k, v in ack.headers.items()}  # as the partner reads them
        return Delivery(name, ack.status, headers, await ack.read())


async def _scan(session: aiohttp.ClientSession, code: str, suffix: str) -> None:
    """The tourist scans the till's code and pays (or is declined); the partner stays silent."""
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(code))
    body = {"code": code, "suffix": suffix, "notify": "never"}
    async with session.post(origin + "/_sandbox/scan", json=body) as answer:
        scanned = await answer.json()
        assert answer.status == 200, scanned
        assert scanned["notified"] is False and scanned["attempts"] == 0, scanned


# --- the gateway's books --------------------------------------------------------------------


_COUNTERS = {
    "gateway_partner_notifications_total": ("notified", "verdict"),
    "gateway_payments_resolved_total": ("resolved", "status"),
}


async def _metrics(session: aiohttp.ClientSession, base_url: str) -> dict[str, float]:
    """The notification verdicts (`notified:booked`, `notified:already`, ...) and the
    resolver's final statuses (`resolved:succeeded`, ...) counted by the gateway at
    `base_url`."""
    async with session.get(base_url + "/metrics") as answer:
        assert answer.status == 200
        text = await answer.text()
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in _COUNTERS:
                prefix, label = _COUNTERS[sample.name]
                found[f"{prefix}:{sample.labels[label]}"] = sample.value
    return found


def _delta(before: Mapping[str, float], after: Mapping[str, float], counter: str) -> float:
    return after.get(counter, 0.0) - before.get(counter, 0.0)


async def _journal(database_url: str, payment_id: str) -> list[str]:
    """The kinds of the payment's journal entries."""
    db = open_database(database_url)
    try:
        async with db.reader.connect() as conn:
            rows = await conn.execute(
                sa.select(_entries.c.kind).where(_entries.c.payment_id == payment_id)
            )
            return sorted(r[0] for r in rows)
    finally:
        await db.dispose()


async def _events_of(
    read: Callable[[str], Awaitable[dict[str, Any]]], payment_id: str
) -> list[str]:
    """The types of the payment's events, through `GET /v1/events` (every page)."""
    found: list[str] = []
    path = "/v1/events?limit=100"
    while True:
        page = await read(path)
        found += [e["type"] for e in page["data"] if e["data"]["id"] == payment_id]
        if not page["has_more"]:
            return found
        path = f"/v1/events?limit=100&starting_after={page['data'][-1]['id']}"


async def _books_balance(database_url: str, settings: Settings) -> None:
    db = open_database(database_url)
    try:
        report = await verify_ledger(db, settings)
    finally:
        await db.dispose()
    assert report.ok, report.summary()


def _order_code_body(family: MerchantFamily) -> dict[str, Any]:
    return {
        "merchant_reference": f"QR-RACE-{secrets.token_hex(6)}",
        "amount": {"currency": family.currency, "value": 88_800},
        "payment_method": {"type": "merchant_qr", "wallet": WALLET},
    }


# --- five deliveries, in any order with the gateway's inquiries -----------------------------


@pytest.mark.parametrize("plan", ["raced", "inquiry_first"])
@pytest.mark.parametrize("suffix", [APPROVE, DECLINE], ids=["paid", "declined"])
async def test_five_deliveries_in_any_order_with_inquiries_change_it_once(
    gateway: Gateway, protocol_family: str, plan: str, suffix: str
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    partner = Partner(gateway.sandboxes.apps[family.partner], protocol_family)
    session = gateway.session
    before = await _metrics(session, gateway.url)
    shown = await gateway.request(
        "POST",
        "/v1/payments",
        key=family.key,
        json=_order_code_body(family),
        idempotency_key=secrets.token_hex(12),
    )
    assert shown.status == 201 and shown.body["status"] == "requires_customer", shown.body
    payment_id, code = shown.body["id"], shown.body["next_action"]["qr_code"]
    [attempt] = await gateway.attempts(payment_id)
    assert attempt["partner_request_id"] == partner.request_id(code)

    async def deliver() -> Delivery:
        return await _deliver(session, partner.notification(code), gateway.url)

    await _scan(session, code, suffix)
    deliveries: list[Delivery] = []
    if plan == "raced":
        deliveries += await asyncio.gather(deliver(), deliver())
        final = await gateway.wait_final(payment_id, key=family.key, timeout=15.0)
        deliveries += await asyncio.gather(deliver(), deliver())
    else:
        final = await gateway.wait_final(payment_id, key=family.key, timeout=15.0)
        found = await _metrics(session, gateway.url)
        assert _delta(before, found, f"resolved:{final['status']}") == 1  # the inquiry did
        assert _delta(before, found, "notified:booked") == 0
        deliveries += await asyncio.gather(deliver(), deliver(), deliver())
        deliveries.append(await deliver())
    deliveries.append(await deliver())

    assert len(deliveries) == 5
    assert [partner.processed(code, d) for d in deliveries] == [True] * 5, deliveries
    expected = "succeeded" if suffix == APPROVE else "failed"
    assert final["status"] == expected, final
    # changed once: the payment reads the same after every later delivery
    assert await gateway.read(f"/v1/payments/{payment_id}", key=family.key) == final
    after = await _metrics(session, gateway.url)
    booked = _delta(before, after, "notified:booked")
    resolved = _delta(before, after, f"resolved:{expected}")
    assert (booked, resolved) in ((1, 0), (0, 1)), after  # one writer booked it
    assert booked + _delta(before, after, "notified:already") == 5, after
    assert _delta(before, after, "notified:busy") == 0, after
    if plan == "inquiry_first":
        assert (booked, resolved) == (0, 1), after

    journal = await _journal(gateway.settings.database.url, payment_id)
    events = await _events_of(lambda path: gateway.read(path, key=family.key), payment_id)
    ledger = gateway.ledger(family.partner)
    request_id = partner.request_id(code)
    if suffix == APPROVE:
        assert journal == [PAYMENT]
        assert events == ["payment.succeeded"]
        assert ledger.charges_for(request_id) == 1
    else:
        assert final["failure"]["code"] == "insufficient_funds", final
        assert journal == []
        assert events == ["payment.failed"]
        assert ledger.charges_for(request_id) == 0
    assert ledger.reversals_for(request_id) == 0  # nothing was cancelled at the partner
    await _books_balance(gateway.settings.database.url, gateway.settings)


# --- two gateway processes, one database, the same notification at once --------------------


@pytest.mark.postgres
async def test_two_processes_notified_at_once_write_one_outcome(
    tmp_path: Path, database_url: str, protocol_family: str
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one gateway process")
    family = MERCHANT_FAMILIES[protocol_family]
    async with running_stack(tmp_path, database_url) as stack:
        gateways = [stack.gateway("gw-a"), stack.gateway("gw-b")]
        await asyncio.gather(*(g.start() for g in gateways))
        partner = Partner(stack.sandboxes.apps[family.partner], protocol_family)
        async with aiohttp.ClientSession() as session:
            before = [await _metrics(session, g.url) for g in gateways]
            for i in range(ROUNDS):
                await _race(stack, gateways, partner, family, session, maker=i % 2)
            after = [await _metrics(session, g.url) for g in gateways]
        booked = sum(_delta(b, a, "notified:booked") for b, a in zip(before, after, strict=True))
        resolved = sum(
            _delta(b, a, "resolved:succeeded") for b, a in zip(before, after, strict=True)
        )
        # Every payment was booked once, by a notification or by an inquiry, in one process.
        assert booked + resolved == ROUNDS, (after, stack.logs())
        for b, a in zip(before, after, strict=True):
            assert _delta(b, a, "notified:contradicts") == 0, stack.logs()
        await _books_balance(stack.database_url, stack.settings)


def _reader(
    session: aiohttp.ClientSession, gateway: GatewayProcess, key: str
) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """GET a path from `gateway` with `key`; it must answer 200."""

    async def read(path: str) -> dict[str, Any]:
        reply = await call(session, gateway, "GET", path, key=key)
        assert reply.status == 200, reply
        body: dict[str, Any] = reply.body
        return body

    return read


async def _race(
    stack: Stack,
    gateways: list[GatewayProcess],
    partner: Partner,
    family: MerchantFamily,
    session: aiohttp.ClientSession,
    *,
    maker: int,
) -> None:
    """One payment made through `gateways[maker]`, paid silently, and its one signed
    notification delivered to both processes at once, twice each: one outcome."""
    key = stack.keys[family.key]
    made = await call(
        session,
        gateways[maker],
        "POST",
        "/v1/payments",
        key=key,
        json_body=_order_code_body(family),
        idempotency_key=secrets.token_hex(12),
    )
    assert made.status == 201 and made.body["status"] == "requires_customer", made
    payment_id, code = made.body["id"], made.body["next_action"]["qr_code"]
    await _scan(session, code, APPROVE)
    note = partner.notification(code)  # one notification, the same bytes to every delivery
    targets = [g for g in gateways for _ in range(2)]
    acks = list(await asyncio.gather(*(_deliver(session, note, g.url, g.name) for g in targets)))

    async def all_processed() -> bool:
        for i, ack in enumerate(acks):
            if not partner.processed(code, ack):
                # "not processed" (busy): the partner sends it again, as its notifier would
                acks[i] = await _deliver(session, note, targets[i].url, targets[i].name)
        return all(partner.processed(code, ack) for ack in acks)

    await eventually(all_processed, timeout=20.0, interval=0.1, failure=stack.logs)

    readers = [_reader(session, g, key) for g in gateways]
    path = f"/v1/payments/{payment_id}"
    finals = [
        await wait_final(functools.partial(read, path), timeout=10.0, what=path, context=stack.logs)
        for read in readers
    ]
    assert finals[0]["status"] == "succeeded", finals[0]
    assert finals[0] == finals[1]  # both processes read one outcome
    assert await _journal(stack.database_url, payment_id) == [PAYMENT], stack.logs()
    for read in readers:
        assert await _events_of(read, payment_id) == ["payment.succeeded"], stack.logs()
    ledger = stack.sandboxes.apps[family.partner][
        SANDBOXES[stack.settings.partner(family.partner).protocol].ledger
    ]
    request_id = partner.request_id(code)
    assert ledger.charges_for(request_id) == 1
    assert ledger.reversals_for(request_id) == 0


# --- the resolver of one process and a notification at the other, at the same commit -------


class BookedTwice(AssertionError):
    """The gateway wrote two outcomes for one payment (the known race below)."""


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres)])
def lone_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostgreSQL database for one test: what it may leave behind spoils no other's books."""
    yield from own_database(request)


_ADVISORY_WAITERS = sa.text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
)


async def test_the_resolver_and_a_notification_in_two_processes_book_it_once(
    tmp_path: Path, lone_database: str
) -> None:
    """The resolver of one process has the tourist's payment from its inquiry and commits it
    while the notification reaches the other process, which takes the lease from it.

    A settlement close of the merchant's day holds the day's lock (`lock_for_close`) meanwhile,
    as `gateway settle` does: every commit that dates a line waits for it. That stretches a
    window that exists anyway (a notification arriving as the inquiry's answer does: about one
    payment in a hundred in a scratch run) to the whole close, so the race happens every time:
    the resolver's commit waits, then the notification's commit waits; the close ends."""
    family = MERCHANT_FAMILIES["alipayplus"]
    async with running_stack(tmp_path, lone_database) as stack:
        gateways = [stack.gateway("gw-a"), stack.gateway("gw-b")]
        await asyncio.gather(*(g.start() for g in gateways))
        partner = Partner(stack.sandboxes.apps[family.partner], family.name)
        key = stack.keys[family.key]
        db = open_database(stack.database_url)

        async def waiting(count: int) -> bool:
            async with db.reader.connect() as conn:
                return int(await conn.scalar(_ADVISORY_WAITERS) or 0) >= count

        try:
            merchant = await repo.get_merchant(db, stack.merchants["th"])
            assert merchant is not None
            day = merchant.business_date(datetime.now(UTC))
            days = [day, day + timedelta(days=1)]  # in case the test runs over midnight
            async with aiohttp.ClientSession() as session:
                async with db.writer.connect() as closer:
                    close = await closer.begin()
                    try:
                        for d in days:
                            batch = BatchKey(BatchType.MERCHANT, merchant.id, merchant.currency, d)
                            await lock_for_close(closer, batch)
                        made = await call(
                            session,
                            gateways[0],
                            "POST",
                            "/v1/payments",
                            key=key,
                            json_body=_order_code_body(family),
                            idempotency_key=secrets.token_hex(12),
                        )
                        assert made.status == 201, made
                        payment_id, code = made.body["id"], made.body["next_action"]["qr_code"]
                        await _scan(session, code, APPROVE)
                        await eventually(
                            lambda: waiting(1),
                            timeout=5.0,
                            failure="the resolver's commit did not wait for the close",
                        )
                        note = partner.notification(code)
                        sent = [
                            asyncio.ensure_future(_deliver(session, note, g.url, g.name))
                            for g in gateways
                        ]
                        await eventually(
                            lambda: waiting(2),
                            timeout=5.0,
                            failure="the notification's commit did not wait for the close",
                        )
                    finally:
                        await close.rollback()
                acks = await asyncio.gather(*sent)
                assert [partner.processed(code, ack) for ack in acks] == [True, True], acks
                readers = [_reader(session, g, key) for g in gateways]
                final = await wait_final(
                    lambda: readers[1](f"/v1/payments/{payment_id}"), timeout=10.0
                )
                journal = await _journal(stack.database_url, payment_id)
                events = await _events_of(readers[0], payment_id)
                if journal != [PAYMENT] or events != ["payment.succeeded"]:
                    raise BookedTwice(f"{payment_id}: {journal}, {events}\n{stack.logs()}")
                assert final["status"] == "succeeded", final
                assert await readers[0](f"/v1/payments/{payment_id}") == final
                ledger = stack.sandboxes.apps[family.partner][
                    SANDBOXES[stack.settings.partner(family.partner).protocol].ledger
                ]
                assert ledger.charges_for(partner.request_id(code)) == 1
            await _books_balance(stack.database_url, stack.settings)
        finally:
            await db.dispose()
