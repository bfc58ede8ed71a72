"""Merchant-presented payments in the books (issue #15, its last "done means" items), once per
protocol family and database, over real HTTP against the sandbox partners:

- an order-code payment (`merchant_qr`, paid through `POST /_sandbox/scan`), an entry-code
  payment (a store made with the stores service, the tourist typing the amount) and a scanned
  wallet code flow through refunds (part of the first, all of the second), the business day's
  close, the merchant's and the partner's settlement files, reconciliation against the
  sandbox's own settlement file, `ledger verify` and the events exactly as scanned payments do;
- a correctly signed notification dated beyond `adapters.NOTIFICATION_TOLERANCE` (signed by the
  sandbox's own notifier, its clock set back for that one call) is answered "not processed",
  books nothing and counts `refused_stale`; the same notification signed now books it.

The day's close moves one clock forward (the gateway's and the sandboxes', as
tests/e2e/test_settlement.py does); business day D is 2027-03-10: th-siampay and ph-bayadpay
(and the Manila merchant) end it at 16:00 UTC, the Bangkok merchant at 17:00 UTC.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters import SystemClock, new_http_client
from adapters._orders import NOTIFICATION_TOLERANCE
from gateway.api.state import CONTEXT
from gateway.bootstrap import create_app, one_partner_calls
from gateway.context import Context
from gateway.merchants.auth import Role
from gateway.reconciliation.service import ReconciliationResult, reconcile
from gateway.sandboxes import sandbox_environment, start_sandboxes
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage.db import open_database
from gateway.stores.service import create_store
from tests.conftest import DATABASES, own_database
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Gateway, code, with_partner_urls
from tests.e2e.conftest import test_settings as settings_for  # (not collected as a test)
from tests.e2e.test_entry_codes import _payment_of
from tests.e2e.test_entry_codes import _scan as _scan_entry_code
from tests.e2e.test_merchant_qr import _present
from tests.e2e.test_merchant_qr import _scan as _scan_order_code
from tests.e2e.test_merchant_qr_races import (
    Partner,
    _deliver,
    _delta,
    _events_of,
    _journal,
    _metrics,
)
from tests.e2e.test_merchant_qr_races import _scan as _scan_silently
from tests.e2e.test_settlement import _lines, _minor, at
from tests.support.families import MERCHANT_FAMILIES
from tests.support.seeding import Shop, seed
from tests.support.waiting import wait_final

D = date(2027, 3, 10)
WALLET = "alipay_cn"  # every payment here is paid in CNY
LABELS = {"alipayplus": "th", "walletrest": "ph"}  # the family's merchant, by seeded label
SHOPS = {  # MERCHANT_FAMILIES' merchants (same key names), with fees to see in the files
    "th": Shop(
        "Siam Lanterns",
        "TH",
        "THB",
        "Asia/Bangkok",
        mdr_bps=150,
        fixed_fee=500,
        keys={"th_pos": Role.POS, "th_finance": Role.FINANCE},
    ),
    "ph": Shop(
        "Cebu Weaves",
        "PH",
        "PHP",
        "Asia/Manila",
        mdr_bps=120,
        fixed_fee=300,
        keys={"ph_pos": Role.POS, "ph_finance": Role.FINANCE},
    ),
}


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """This module's own database: `ledger verify` reads it whole."""
    yield from own_database(request)


# --- a gateway and its sandboxes on a clock the test moves --------------------------------------


class SandboxClock(SystemClock):
    """The sandboxes' clock: the gateway's time, except within `set_back`, where it reads
    `delta` earlier. Used around one synchronous call (the notifier signing a notification),
    nothing else runs meanwhile: the partner's own code signs a notification dated then."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        super().__init__(offset)
        self._back = timedelta(0)

    def now(self) -> datetime:
        return super().now() - self._back

    @contextlib.contextmanager
    def set_back(self, delta: timedelta) -> Iterator[None]:
        self._back = delta
        try:
            yield
        finally:
            self._back = timedelta(0)


@dataclass
class Books:
    gateway: Gateway
    ctx: Context
    """The running gateway's own services (what `gateway stores create` would use)."""
    clock: SystemClock
    sandbox_clock: SandboxClock

    def to(self, moment: datetime) -> None:
        """Move both clocks forward to `moment`."""
        delta = moment - self.clock.now()
        self.clock.advance(delta)
        self.sandbox_clock.advance(delta)


@contextlib.asynccontextmanager
async def _running(
    database_url: str, *, start: datetime | None = None, **durations: timedelta
) -> AsyncIterator[Books]:
    offset = start - datetime.now(UTC) if start is not None else timedelta(0)
    clock, sandbox_clock = SystemClock(offset), SandboxClock(offset)
    settings = settings_for(database_url)
    if durations:
        changed = settings.durations.model_copy(update=durations)
        settings = settings.model_copy(update={"durations": changed})
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings,
        env,
        ports={p.id: 0 for p in settings.partners if p.sandbox.enabled},
        clock=sandbox_clock,
    )
    settings = with_partner_urls(settings, running.urls)
    runner = web.AppRunner(create_app(settings, clock=clock, env=env), access_log=None)
    try:
        seeded = await seed(settings.database.url, SHOPS)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with aiohttp.ClientSession() as session:
            gateway = Gateway(url, settings, env, session, running, seeded.keys, seeded.merchants)
            yield Books(gateway, runner.app[CONTEXT], clock, sandbox_clock)
    finally:
        await runner.cleanup()
        await running.stop()


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Books]:
    """A gateway at 12:00 UTC on D: 19:00 in Bangkok, 20:00 in Manila."""
    async with _running(database_url, start=at(D, 12)) as running:
        yield running


@pytest.fixture
async def quiet(database_url: str) -> AsyncIterator[Books]:
    """A gateway that leaves a shown code alone for a minute (no inquiry, no expiry): only a
    notification can end it while the test runs."""
    minute = timedelta(minutes=1)
    async with _running(
        database_url,
        inquiry_initial_interval=minute,
        inquiry_max_interval=minute,
        order_code_lifetime=minute,
    ) as running:
        yield running


# --- helpers -------------------------------------------------------------------------------------


def _bps(value: int, bps: int) -> int:
    """round_half_up(value × bps / 10^4), as API.md's fees are computed."""
    return int((Decimal(value) * bps / 10_000).to_integral_value(ROUND_HALF_UP))


async def _refund(
    gateway: Gateway, key: str, payment: dict[str, Any], value: int
) -> dict[str, Any]:
    answer = await gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        key=key,
        json={"amount": {"currency": payment["amount"]["currency"], "value": value}},
        idempotency_key=secrets.token_hex(8),
    )
    assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
    return dict(answer.body)


async def _closed(gateway: Gateway, batch_id: str) -> dict[str, Any]:
    return await wait_final(
        lambda: gateway.read(f"/v1/settlements/{batch_id}", key="operator"),
        final={"closed"},
        timeout=8.0,
    )


async def _file(gateway: Gateway, batch: dict[str, Any]) -> list[dict[str, str]]:
    """The closed batch's file, as downloaded (its bytes the batch's `file.sha256`), its rows
    after `_lines` checked its arithmetic against itself and the batch."""
    async with gateway.session.get(
        gateway.url + batch["file"]["url"],
        headers={"Authorization": f"Bearer {gateway.keys['operator']}"},
    ) as response:
        assert response.status == 200, await response.text()
        data = await response.read()
    assert hashlib.sha256(data).hexdigest() == batch["file"]["sha256"]
    assert next(csv.reader(io.StringIO(data.decode())))[-1] == "payment_method"
    return _lines(data, batch)


async def _reconcile(books: Books, partner: str) -> list[ReconciliationResult]:
    """`gateway reconcile --partner P --date D`, at the gateway's time."""
    settings = books.gateway.settings
    db = open_database(settings.database.url)
    try:
        async with new_http_client() as http:
            calls = one_partner_calls(
                settings, partner, http=http, clock=books.clock, env=books.gateway.env
            )
            return await reconcile(
                db, settings, calls, partner=partner, day=D, now=books.clock.now()
            )
    finally:
        await db.dispose()


# --- refunds, the day's files, reconciliation, the ledger and the events -------------------------


async def test_presented_payments_are_refunded_settled_and_reconciled_like_scanned_ones(
    books: Books, protocol_family: str
) -> None:
    gateway = books.gateway
    family = MERCHANT_FAMILIES[protocol_family]
    key, currency = family.key, family.currency
    merchant_id = gateway.merchants[LABELS[protocol_family]]
    shop = SHOPS[LABELS[protocol_family]]

    # A wallet code the POS scans.
    answer = await gateway.pay(code("28", "0000"), 100_000, currency, key=key)
    assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
    scanned = dict(answer.body)

    # An order code the tourist scans at the till.
    shown = await _present(gateway, protocol_family, 125_050)
    paid = await _scan_order_code(gateway, shown, suffix="0000")
    assert paid.status == 200, paid.body
    presented = await gateway.wait_final(shown["id"], key=key, timeout=15.0)
    assert presented["status"] == "succeeded", presented

    # A store's entry code, the tourist typing the amount.
    store = await create_store(
        books.ctx, merchant_id=merchant_id, name="Entry desk", notify_base=gateway.url
    )
    assert store.code is not None and store.partner == family.partner, store
    typed = await _scan_entry_code(gateway, protocol_family, store.code, "987.65")
    assert typed.status == 200 and typed.body["charged"] is True, typed.body
    [confirmed] = typed.body["entry_order"]["answers"]
    entry_id = await _payment_of(gateway, confirmed["partner_request_id"])
    entered = await gateway.wait_final(entry_id, key=key, timeout=15.0)
    assert entered["status"] == "succeeded" and entered["store_id"] == store.id, entered
    assert entered["amount"] == {"currency": currency, "value": 98_765}

    payments = {"wallet_code": scanned, "merchant_qr": presented, "entry_code": entered}
    for method, payment in payments.items():
        assert payment["payment_method"]["type"] == method, payment
        assert payment["partner"] == family.partner and payment["quote"] is not None, payment
        assert payment["payer_amount"]["currency"] == "CNY", payment

    # Part of the order code's payment back, all of the entry code's.
    part = await _refund(gateway, key, presented, 25_025)
    whole = await _refund(gateway, key, entered, 98_765)
    refunds = {part["id"]: (part, presented), whole["id"]: (whole, entered)}
    for refund, payment in refunds.values():
        assert refund["quote"] == payment["quote"], refund  # priced at its payment's rate
    after = {
        p["id"]: await gateway.read(f"/v1/payments/{p['id']}", key=key) for p in payments.values()
    }
    assert after[presented["id"]]["amount_refunded"] == {"currency": currency, "value": 25_025}
    assert after[entered["id"]]["amount_refunded"] == {"currency": currency, "value": 98_765}
    assert after[scanned["id"]]["amount_refunded"]["value"] == 0

    # The day closes (the worker, at each cut-off + grace); the files are downloaded.
    books.to(at(D, 17, 0, 0, 300))
    mine = await _closed(gateway, BatchKey(BatchType.MERCHANT, merchant_id, currency, D).id)
    theirs = await _closed(gateway, BatchKey(BatchType.PARTNER, family.partner, "CNY", D).id)
    merchant_rows = await _file(gateway, mine)
    partner_rows = await _file(gateway, theirs)

    by_id = {p["id"]: p for p in payments.values()}
    expected_ids = sorted(by_id) + sorted(refunds)  # payments, then refunds, each by id
    assert [r["id"] for r in merchant_rows] == expected_ids
    assert [r["id"] for r in partner_rows] == expected_ids
    for row in merchant_rows:
        if row["record_type"] == "payment":
            payment, sign = by_id[row["id"]], 1
            value, payer = payment["amount"]["value"], payment["payer_amount"]["value"]
            fee = _bps(value, shop.mdr_bps) + shop.fixed_fee
        else:
            refund, payment = refunds[row["id"]]
            sign = -1
            value, payer = refund["amount"]["value"], refund["payer_amount"]["value"]
            # One refund per payment: the % part of its fee back, the fixed fee kept (the
            # same figure line by line and cumulatively, issue #17).
            fee = _bps(value, shop.mdr_bps)
        assert row["payment_id"] == payment["id"], row
        assert row["payment_method"] == payment["payment_method"]["type"], row
        assert row["merchant_reference"] == payment["merchant_reference"], row
        assert (row["partner"], row["wallet"]) == (family.partner, WALLET), row
        assert _minor(row["amount"], currency) == sign * value, row
        assert row["payer_currency"] == "CNY", row
        assert _minor(row["payer_amount"], "CNY") == sign * payer, row
        assert row["fx_rate"] == str(payment["quote"]["rate"]), row
        assert _minor(row["fee"], currency) == sign * fee, row
        assert _minor(row["net"], currency) == sign * (value - fee), row
    for row in partner_rows:
        payment = by_id.get(row["id"]) or refunds[row["id"]][1]
        assert row["payment_method"] == payment["payment_method"]["type"], row
        assert row["payment_id"] == payment["id"], row
    assert {r["payment_method"] for r in merchant_rows} == set(payments)

    # The partner's own file for D says the same, line by line.
    [result] = await _reconcile(books, family.partner)
    counts = result.counts
    assert counts["matched"] == len(expected_ids) == sum(counts.values()), result.row["report"]

    # The journal balances and every payment and refund is booked, and told, exactly once.
    await assert_books_balance(gateway)
    url = gateway.settings.database.url
    assert await _journal(url, scanned["id"]) == ["payment"]
    assert await _journal(url, presented["id"]) == ["payment", "refund"]
    assert await _journal(url, entered["id"]) == ["payment", "refund"]

    async def read(path: str) -> dict[str, Any]:
        return await gateway.read(path, key=key)

    for payment in payments.values():
        assert await _events_of(read, payment["id"]) == ["payment.succeeded"], payment["id"]
    for refund_id in refunds:
        assert await _events_of(read, refund_id) == ["refund.succeeded"], refund_id


# --- a stale notification ------------------------------------------------------------------------


# The protocol's "not processed: send it again" (status, and the body's fields).
NOT_PROCESSED: dict[str, tuple[int, dict[str, Any]]] = {
    "alipayplus": (200, {"resultCode": "PROCESS_FAIL", "resultStatus": "F"}),
    "walletrest": (503, {"received": False}),
}


async def test_a_stale_notification_is_refused_then_the_fresh_one_books_it(
    quiet: Books, protocol_family: str
) -> None:
    """The tourist pays and the partner stays silent; the `quiet` gateway neither inquires
    nor expires the code meanwhile, so only a notification can book it."""
    gateway = quiet.gateway
    family = MERCHANT_FAMILIES[protocol_family]
    partner = Partner(gateway.sandboxes.apps[family.partner], protocol_family)
    url = gateway.settings.database.url

    async def read(path: str) -> dict[str, Any]:
        return await gateway.read(path, key=family.key)

    shown = await _present(gateway, protocol_family)
    qr_code = shown["next_action"]["qr_code"]
    await _scan_silently(gateway.session, qr_code, "0000")  # charged; the partner stays silent
    before = await _metrics(gateway.session, gateway.url)

    with quiet.sandbox_clock.set_back(NOTIFICATION_TOLERANCE + timedelta(seconds=30)):
        stale = partner.notification(qr_code)  # signed by the sandbox, 5.5 minutes ago
    refused = await _deliver(gateway.session, stale, gateway.url)
    assert not partner.processed(qr_code, refused), refused
    status, expected = NOT_PROCESSED[protocol_family]
    body = refused.json()
    assert refused.status == status, refused
    if protocol_family == "alipayplus":
        assert {k: body["result"][k] for k in expected} == expected, body
    else:
        assert body == expected, body
    middle = await _metrics(gateway.session, gateway.url)
    assert _delta(before, middle, "notified:refused_stale") == 1, middle
    assert _delta(before, middle, "notified:booked") == 0, middle
    assert (await read(f"/v1/payments/{shown['id']}"))["status"] == "requires_customer"
    assert await _journal(url, shown["id"]) == []
    assert await _events_of(read, shown["id"]) == []

    fresh = partner.notification(qr_code)  # the same notification, signed now
    accepted = await _deliver(gateway.session, fresh, gateway.url)
    assert partner.processed(qr_code, accepted), accepted
    after = await _metrics(gateway.session, gateway.url)
    assert _delta(middle, after, "notified:booked") == 1, after
    assert _delta(middle, after, "notified:refused_stale") == 0, after
    assert _delta(before, after, "resolved:succeeded") == 0, after  # no inquiry booked it
    paid = await read(f"/v1/payments/{shown['id']}")
    assert paid["status"] == "succeeded" and paid["payer_amount"] == shown["payer_amount"], paid
    assert await _journal(url, shown["id"]) == ["payment"]
    assert await _events_of(read, shown["id"]) == ["payment.succeeded"]
    assert gateway.ledger(family.partner).charges_for(partner.request_id(qr_code)) == 1
