"""Alipay+ order codes over real HTTP: the adapter asks the sandbox for a code, the test plays
the tourist (`POST /_sandbox/scan`, and once `gateway sandbox scan`), and the sandbox's signed
`notifyPayment` reaches a small aiohttp receiver that reads it with the adapter's
`read_notification` and answers with its `acknowledge`, as the gateway's notify endpoint does.

One clock is shared by the sandbox, the adapter and the receiver; expiry moves it forward
instead of waiting. The notifier retries fast here (`notify_schedule`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from click.testing import CliRunner

from adapters import (
    CancelRequest,
    Delivery,
    FailureCode,
    InboundRequest,
    InquiryRequest,
    MerchantInfo,
    NotificationProblem,
    NotificationRefused,
    Operation,
    OrderCode,
    OrderCodeRequest,
    Outcome,
    OutcomeStatus,
    PaymentNotification,
    SystemClock,
    new_http_client,
)
from adapters._sandbox.order_routes import ORDERS
from adapters._sandbox.orders import OrderDesk
from adapters.alipayplus import AlipayPlusAdapter, build_adapter, generate_keypair
from adapters.alipayplus.sandbox import LEDGER, SandboxLedger, SandboxSettings, create_sandbox_app
from fx import Money

CLIENT_ID = "SANDBOX_GATEWAY"
LIVE_CLIENT_ID = "2188120000000001"  # not SANDBOX_: the adapter talks to /ams/api
NOTIFY_PATH = "/partners/sbx/notify"
AMOUNT = Money.of(125050, "THB")
PAYER_AMOUNT = Money.of(25012, "CNY")
ATTEMPTS = 3
TIMEOUTS = {op: 2.0 for op in Operation}


@functools.cache
def keys() -> dict[str, str]:
    merchant_private, merchant_public = generate_keypair()
    partner_private, partner_public = generate_keypair()
    return {
        "merchant_private": merchant_private,
        "merchant_public": merchant_public,
        "partner_private": partner_private,
        "partner_public": partner_public,
    }


@dataclasses.dataclass
class Received:
    """One notification as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    read: PaymentNotification | None
    refused: NotificationRefused | None


@dataclasses.dataclass
class World:
    sandbox_url: str
    notify_url: str
    clock: SystemClock
    http: httpx.AsyncClient
    adapter: AlipayPlusAdapter
    ledger: SandboxLedger
    desk: OrderDesk
    received: list[Received]
    arrived: asyncio.Condition

    def adapter_for(self, client_id: str) -> AlipayPlusAdapter:
        return build_adapter(
            partner_id="sbx",
            base_url=self.sandbox_url,
            credentials=_credentials(client_id),
            http=self.http,
            timeouts=TIMEOUTS,
            clock=self.clock,
        )

    def request(self, request_id: str = "att_oc_1", **override: Any) -> OrderCodeRequest:
        now = self.clock.now()
        base: dict[str, Any] = {
            "partner_request_id": request_id,
            "reference": f"pay_{request_id}",
            "amount": AMOUNT,
            "payer_amount": PAYER_AMOUNT,
            "wallet": "alipay_cn",
            "merchant": MerchantInfo(id="m_1", name="Siam Coffee", country="TH"),
            "requested_at": now,
            "expires_at": now + timedelta(minutes=5),
            "notify_url": self.notify_url,
        }
        return OrderCodeRequest(**(base | override))

    async def code(self, request_id: str = "att_oc_1", **override: Any) -> OrderCode:
        result = await self.adapter.create_order_code(self.request(request_id, **override))
        assert isinstance(result, OrderCode), result
        return result

    async def scan(self, code: str, **body: Any) -> tuple[int, dict[str, Any]]:
        response = await self.http.post(
            f"{self.sandbox_url}/_sandbox/scan", json={"code": code, **body}, timeout=30
        )
        data: dict[str, Any] = response.json()
        return response.status_code, data

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        async with self.arrived:
            await asyncio.wait_for(
                self.arrived.wait_for(lambda: len(self.received) >= count), timeout
            )
        return list(self.received)

    def inquiry(self, request_id: str = "att_oc_1") -> InquiryRequest:
        return InquiryRequest(partner_request_id=request_id, payer_amount=PAYER_AMOUNT)


def _credentials(client_id: str = CLIENT_ID) -> dict[str, str]:
    return {
        "client_id": client_id,
        "private_key": keys()["merchant_private"],
        "partner_public_key": keys()["partner_public"],
    }


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = SystemClock()
    settings = SandboxSettings(
        private_key_pem=keys()["partner_private"],
        merchant_public_keys={
            CLIENT_ID: keys()["merchant_public"],
            LIVE_CLIENT_ID: keys()["merchant_public"],
        },
        clock=clock,
        allow_settlement_tamper=True,
        notify_schedule=(0.05, 0.1),
        notify_attempts=ATTEMPTS,
    )
    sandbox_app = create_sandbox_app(settings)
    sandbox_runner, sandbox_url = await _serve(sandbox_app)
    http = new_http_client()
    adapter = build_adapter(
        partner_id="sbx",
        base_url=sandbox_url,
        credentials=_credentials(),
        http=http,
        timeouts=TIMEOUTS,
        clock=clock,
    )
    received: list[Received] = []
    arrived = asyncio.Condition()

    async def notify(request: web.Request) -> web.StreamResponse:
        """The gateway's notify endpoint, reduced to the adapter's part."""
        inbound = InboundRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        read: PaymentNotification | None = None
        refused: NotificationRefused | None = None
        try:
            read = adapter.read_notification(inbound, clock.now())
        except NotificationRefused as exc:
            refused = exc
        async with arrived:
            received.append(Received(dict(inbound.headers), inbound.body, read, refused))
            arrived.notify_all()
        ack = adapter.acknowledge(inbound, accepted=read is not None)
        return web.Response(status=ack.status, body=ack.body, headers=dict(ack.headers))

    receiver = web.Application()
    receiver.router.add_post(NOTIFY_PATH, notify)
    receiver_runner, receiver_url = await _serve(receiver)
    try:
        yield World(
            sandbox_url=sandbox_url,
            notify_url=receiver_url + NOTIFY_PATH,
            clock=clock,
            http=http,
            adapter=adapter,
            ledger=sandbox_app[LEDGER],
            desk=sandbox_app[ORDERS],
            received=received,
            arrived=arrived,
        )
    finally:
        await sandbox_runner.cleanup()
        await receiver_runner.cleanup()
        await http.aclose()


def assert_paid(notification: PaymentNotification | None, reference: str | None) -> None:
    assert notification is not None
    assert notification.partner_request_id == "att_oc_1"
    assert notification.payer_amount == PAYER_AMOUNT
    assert notification.outcome.status is OutcomeStatus.SUCCEEDED
    assert notification.outcome.partner_reference == reference
    assert notification.outcome.completed_at is not None


# --- the happy path -----------------------------------------------------------------------------


async def test_code_scan_notification_inquiry(world: World) -> None:
    code = await world.code()
    assert code.code.startswith(f"{world.sandbox_url}/oc/")
    assert code.partner_reference
    assert code.expires_at <= world.clock.now() + timedelta(minutes=5)
    assert world.ledger.charges_for("att_oc_1") == 0

    pending = await world.adapter.inquire(world.inquiry())
    assert (pending.status, pending.in_process) == (OutcomeStatus.UNKNOWN, True)

    status, answer = await world.scan(code.code)
    assert status == 200, answer
    assert (answer["state"], answer["notified"], answer["attempts"]) == ("paid", True, 1)
    (received,) = await world.wait_for(1)
    assert received.refused is None
    assert_paid(received.read, code.partner_reference)
    assert world.ledger.charges_for("att_oc_1") == 1
    # Our acknowledgment's signature verified at the sandbox, with our public key.
    (delivery,) = answer["order"]["deliveries"]
    assert delivery["accepted"] and delivery["signature_valid"] is True

    paid = await world.adapter.inquire(world.inquiry())
    assert paid.status is OutcomeStatus.SUCCEEDED
    assert paid.partner_reference == code.partner_reference


async def test_the_code_page_and_the_orders_list(world: World) -> None:
    code = await world.code()
    page = (await world.http.get(code.code)).json()
    assert page["state"] == "pending"
    assert page["amount"] == {"currency": "CNY", "value": 25012}
    orders = (await world.http.get(f"{world.sandbox_url}/_sandbox/orders")).json()["orders"]
    assert orders["att_oc_1"]["code"] == code.code
    assert orders["att_oc_1"]["notify_url"] == world.notify_url


async def test_replays_are_the_same_order_and_another_body_is_inconsistent(world: World) -> None:
    request = world.request()
    first = await world.adapter.create_order_code(request)
    again = await world.adapter.create_order_code(request)
    assert isinstance(first, OrderCode) and again == first

    other = await world.adapter.create_order_code(
        world.request(payer_amount=Money.of(25013, "CNY"))
    )
    assert isinstance(other, Outcome)
    assert other.partner_code == "REPEAT_REQ_INCONSISTENT"
    assert (other.status, other.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    record = world.ledger.get("att_oc_1")
    assert record is not None and record.pay_calls == 3 and not record.charged


async def test_the_antom_path_answers_too(world: World) -> None:
    adapter = world.adapter_for(LIVE_CLIENT_ID)
    result = await adapter.create_order_code(world.request("att_live"))
    assert isinstance(result, OrderCode), result
    assert world.desk.get("att_live") is not None


async def test_expiry_asked_beyond_30_minutes_is_cut(world: World) -> None:
    now = world.clock.now()
    code = await world.code(expires_at=now + timedelta(hours=2))
    assert now + timedelta(minutes=29) < code.expires_at <= now + timedelta(minutes=30)


# --- declines and refusals ----------------------------------------------------------------------


async def test_scan_0051_is_a_failed_notification(world: World) -> None:
    code = await world.code()
    status, answer = await world.scan(code.code, suffix="0051")
    assert status == 200 and answer["state"] == "declined", answer
    (received,) = await world.wait_for(1)
    assert received.read is not None
    assert received.read.outcome.status is OutcomeStatus.FAILED
    assert received.read.outcome.failure_code is FailureCode.INSUFFICIENT_FUNDS
    assert world.ledger.charges_for("att_oc_1") == 0
    failed = await world.adapter.inquire(world.inquiry())
    assert failed.failure_code is FailureCode.INSUFFICIENT_FUNDS


async def test_cancel_then_scan_is_refused_and_charges_nothing(world: World) -> None:
    code = await world.code()
    cancelled = await world.adapter.cancel(CancelRequest("att_oc_1"))
    assert cancelled.status is OutcomeStatus.SUCCEEDED
    status, answer = await world.scan(code.code)
    assert (status, answer["state"]) == (409, "closed"), answer
    assert world.ledger.charges_for("att_oc_1") == 0
    assert world.received == []


async def test_expired_code_is_refused(world: World) -> None:
    code = await world.code()
    world.clock.advance(timedelta(minutes=5, seconds=1))
    status, answer = await world.scan(code.code)
    assert (status, answer["state"]) == (409, "expired"), answer
    assert world.ledger.charges_for("att_oc_1") == 0
    expired = await world.adapter.inquire(world.inquiry())
    assert expired.failure_code is FailureCode.PAYMENT_EXPIRED


async def test_scan_twice_second_is_refused(world: World) -> None:
    code = await world.code()
    assert (await world.scan(code.code))[0] == 200
    status, answer = await world.scan(code.code)
    assert (status, answer["state"]) == (409, "paid"), answer
    assert world.ledger.charges_for("att_oc_1") == 1
    assert len(await world.wait_for(1)) == 1


async def test_concurrent_scans_charge_once(world: World) -> None:
    code = await world.code()
    answers = await asyncio.gather(*(world.scan(code.code) for _ in range(5)))
    assert sorted(status for status, _ in answers) == [200, 409, 409, 409, 409]
    assert world.ledger.charges_for("att_oc_1") == 1


async def test_unknown_code_bad_suffix_and_unavailable(world: World) -> None:
    code = await world.code()
    assert (await world.scan(world.sandbox_url + "/oc/" + "x" * 24))[0] == 404
    assert (await world.scan(code.code, suffix="51"))[0] == 400
    assert (await world.scan(code.code, bogus=1))[0] == 400
    status, answer = await world.scan(code.code, suffix="0503")
    assert (status, answer["state"]) == (503, "pending"), answer
    assert (await world.scan(code.code))[0] == 200  # still payable after the 0503


# --- the notify switches ------------------------------------------------------------------------


async def test_notify_twice_sends_two_identical_notifications(world: World) -> None:
    code = await world.code()
    status, answer = await world.scan(code.code, notify="twice")
    assert (status, answer["notified"], answer["attempts"]) == (200, True, 2), answer
    first, second = await world.wait_for(2)
    assert first.body == second.body and first.headers == second.headers
    assert_paid(first.read, code.partner_reference)
    assert_paid(second.read, code.partner_reference)
    assert world.ledger.charges_for("att_oc_1") == 1


async def test_bad_signature_is_refused_and_retried(world: World) -> None:
    code = await world.code()
    status, answer = await world.scan(code.code, notify="bad_signature")
    assert (status, answer["notified"], answer["attempts"]) == (200, False, ATTEMPTS), answer
    received = await world.wait_for(ATTEMPTS)
    for each in received:
        assert each.read is None and each.refused is not None
        assert each.refused.problem is NotificationProblem.SIGNATURE
    assert all(not d["accepted"] for d in answer["order"]["deliveries"])
    assert world.ledger.charges_for("att_oc_1") == 1  # charged: the gateway inquires


async def test_bad_signature_with_one_attempt(world: World) -> None:
    code = await world.code()
    _, answer = await world.scan(code.code, notify="bad_signature", max_attempts=1)
    assert (answer["notified"], answer["attempts"]) == (False, 1), answer


async def test_never_notified_is_found_by_inquiry(world: World) -> None:
    code = await world.code()
    status, answer = await world.scan(code.code, notify="never")
    assert (status, answer["notified"], answer["attempts"]) == (200, False, 0), answer
    await asyncio.sleep(0.2)
    assert world.received == []
    found = await world.adapter.inquire(world.inquiry())
    assert found.status is OutcomeStatus.SUCCEEDED
    assert found.partner_reference == code.partner_reference


async def test_late_notification_arrives_later(world: World) -> None:
    code = await world.code()
    status, answer = await world.scan(code.code, notify="late", delay_seconds=0.3)
    assert (status, answer["notified"], answer["attempts"]) == (200, None, 0), answer
    assert world.received == []
    (received,) = await world.wait_for(1)
    assert_paid(received.read, code.partner_reference)
    await world.desk.wait_idle()
    (order,) = world.desk.orders.values()
    assert [d.accepted for d in order.deliveries] == [True]


async def test_amount_delta_notifies_another_amount(world: World) -> None:
    code = await world.code()
    await world.scan(code.code, amount_delta=1)
    (received,) = await world.wait_for(1)
    assert received.read is not None  # signed and readable: the gateway compares amounts
    assert received.read.payer_amount == Money.of(25013, "CNY")
    assert world.ledger.charges_for("att_oc_1") == 1


async def test_unreachable_merchant_is_retried_then_given_up(world: World) -> None:
    code = await world.code(notify_url="http://127.0.0.1:9/partners/sbx/notify")
    status, answer = await world.scan(code.code)
    assert (status, answer["notified"], answer["attempts"]) == (200, False, ATTEMPTS), answer
    assert all(d["error"] for d in answer["order"]["deliveries"])
    assert (await world.adapter.inquire(world.inquiry())).status is OutcomeStatus.SUCCEEDED


async def test_switches_are_refused_outside_the_test_profile(world: World) -> None:
    world.desk.allow_switches = False
    code = await world.code()
    for switch in ({"notify": "twice"}, {"amount_delta": 1}, {"max_attempts": 2}):
        status, answer = await world.scan(code.code, **switch)
        assert status == 403, answer
    assert world.ledger.charges_for("att_oc_1") == 0
    assert (await world.scan(code.code, suffix="0000"))[0] == 200  # a plain scan works


# --- gateway sandbox scan -----------------------------------------------------------------------


async def test_gateway_sandbox_scan_command(world: World) -> None:
    from gateway.cli import main

    code = await world.code()
    runner = CliRunner()
    paid = await asyncio.to_thread(
        runner.invoke, main, ["sandbox", "scan", code.code, "--code-suffix", "0000"]
    )
    assert paid.exit_code == 0, paid.output
    assert "paid" in paid.output and "acknowledged after 1 attempt" in paid.output
    again = await asyncio.to_thread(runner.invoke, main, ["sandbox", "scan", code.code, "--json"])
    assert again.exit_code == 1, again.output
    assert json.loads(again.output)["state"] == "paid"
    bad = await asyncio.to_thread(runner.invoke, main, ["sandbox", "scan", "not-a-url"])
    assert bad.exit_code == 1 and "not a sandbox URL" in bad.output
    assert world.ledger.charges_for("att_oc_1") == 1
