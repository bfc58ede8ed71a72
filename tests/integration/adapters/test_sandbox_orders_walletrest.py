"""WalletRest order codes over real HTTP: the adapter asks the sandbox for a code, the sandbox
plays the tourist (`POST /_sandbox/scan`) and notifies a small aiohttp receiver that reads the
notification with the adapter and acknowledges it the adapter's way."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

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
    OutcomeStatus,
    PaymentNotification,
    SystemClock,
    new_http_client,
)
from adapters.walletrest import WalletRestAdapter, build_adapter
from adapters.walletrest.sandbox import LEDGER, SandboxLedger, SandboxSettings, create_sandbox_app
from adapters.walletrest.signing import (
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from adapters.walletrest.transforms import create_order_body
from fx import Money

SECRET = secrets.token_urlsafe(32)
API_KEY = "sk_test_" + secrets.token_hex(16)
TIMEOUTS = {op: 2.0 for op in Operation}
PAYER = Money.of(25012, "CNY")


class Receiver:
    """The gateway's notify endpoint, reduced to the adapter's part of it."""

    def __init__(self, adapter: WalletRestAdapter, clock: SystemClock) -> None:
        self.adapter = adapter
        self.clock = clock
        self.accepted: list[PaymentNotification] = []
        self.refused: list[NotificationRefused] = []
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        inbound = InboundRequest(
            method=request.method,
            path=request.path,
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.read(),
        )
        try:
            notification = self.adapter.read_notification(inbound, self.clock.now())
        except NotificationRefused as refused:
            self.refused.append(refused)
            ack = self.adapter.acknowledge(inbound, False)
        else:
            self.accepted.append(notification)
            ack = self.adapter.acknowledge(inbound, True)
        self.arrived.set()
        return web.Response(status=ack.status, body=ack.body, headers=dict(ack.headers))


@dataclasses.dataclass
class World:
    url: str
    notify_url: str
    ledger: SandboxLedger
    clock: SystemClock
    http: httpx.AsyncClient
    adapter: WalletRestAdapter
    receiver: Receiver

    def request(self, request_id: str = "att_0001", **overrides: Any) -> OrderCodeRequest:
        now = self.clock.now()
        fields: dict[str, Any] = {
            "partner_request_id": request_id,
            "reference": "order-42",
            "amount": Money.of(125050, "THB"),
            "payer_amount": PAYER,
            "wallet": "alipaycn",
            "merchant": MerchantInfo(id="m_1", name="Siam Coffee", country="TH", store_id="s1"),
            "requested_at": now,
            "expires_at": now + timedelta(minutes=10),
            "notify_url": self.notify_url,
        }
        return OrderCodeRequest(**(fields | overrides))

    async def order(self, request_id: str = "att_0001") -> OrderCode:
        code = await self.adapter.create_order_code(self.request(request_id))
        assert isinstance(code, OrderCode), code
        return code

    async def scan(self, code: OrderCode, suffix: str = "0000", **options: Any) -> httpx.Response:
        body = {"code": code.code, "suffix": suffix} | options
        return await self.http.post(self.url + "/_sandbox/scan", json=body, timeout=10)

    async def inquire(self, request_id: str = "att_0001") -> Any:
        return await self.adapter.inquire(InquiryRequest(request_id, PAYER))


async def _serve(runner: web.AppRunner) -> str:
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = SystemClock()
    settings = SandboxSettings(
        signing_secret=SECRET,
        api_keys={API_KEY: "gateway"},
        clock=clock,
        allow_settlement_tamper=True,  # the scan's notification switches
        notify_schedule=(0.05,),
    )
    sandbox = web.AppRunner(create_sandbox_app(settings), shutdown_timeout=0.5)
    url = await _serve(sandbox)
    http = new_http_client()
    adapter = build_adapter(
        partner_id="wr-sbx",
        base_url=url,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts=TIMEOUTS,
        clock=clock,
    )
    receiver = Receiver(adapter, clock)
    notify_app = web.Application()
    notify_app.router.add_post("/partners/wr-sbx/notify", receiver.handle)
    gateway = web.AppRunner(notify_app, shutdown_timeout=0.5)
    gateway_url = await _serve(gateway)
    runners = [sandbox, gateway]
    try:
        yield World(
            url=url,
            notify_url=f"{gateway_url}/partners/wr-sbx/notify",
            ledger=sandbox.app[LEDGER],
            clock=clock,
            http=http,
            adapter=adapter,
            receiver=receiver,
        )
    finally:
        for runner in runners:
            await runner.cleanup()
        await http.aclose()


async def test_a_code_is_pending_until_scanned_then_notified(world: World) -> None:
    code = await world.order()
    assert code.code.startswith(world.url + "/oc/")
    asked = world.request().expires_at
    assert code.expires_at <= asked and code.expires_at > asked - timedelta(seconds=2)
    assert code.partner_reference is not None and code.partner_reference.startswith("wr_pay_")
    pending = await world.inquire()
    assert (pending.status, pending.in_process) == (OutcomeStatus.UNKNOWN, True)
    assert world.ledger.charges_for("att_0001") == 0

    scanned = await world.scan(code)
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["notified"] is True and scanned.json()["attempts"] == 1
    [notification] = world.receiver.accepted
    assert notification.partner_request_id == "att_0001"
    assert notification.payer_amount == PAYER
    assert notification.outcome.status is OutcomeStatus.SUCCEEDED
    assert notification.outcome.partner_reference == code.partner_reference
    assert notification.outcome.completed_at is not None
    assert notification.notification_id is not None
    assert world.ledger.charges_for("att_0001") == 1
    paid = await world.inquire()
    assert (paid.status, paid.partner_reference) == (
        OutcomeStatus.SUCCEEDED,
        code.partner_reference,
    )
    [delivery] = scanned.json()["order"]["deliveries"]
    assert (delivery["http_status"], delivery["signature_valid"]) == (200, True)


async def test_the_same_order_again_is_the_same_code_another_body_is_not(world: World) -> None:
    request = world.request()
    code = await world.adapter.create_order_code(request)
    assert isinstance(code, OrderCode)
    assert await world.adapter.create_order_code(request) == code
    other = await world.adapter.create_order_code(
        dataclasses.replace(request, payer_amount=Money.of(25013, "CNY"))
    )
    assert not isinstance(other, OrderCode)
    assert (other.status, other.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert other.http_status == 409
    assert len(world.ledger.payments) == 1


async def test_the_expiry_is_at_most_thirty_minutes(world: World) -> None:
    request = world.request(expires_at=world.clock.now() + timedelta(hours=2))
    code = await world.adapter.create_order_code(request)
    assert isinstance(code, OrderCode)
    assert code.expires_at <= world.clock.now() + timedelta(minutes=30)
    assert code.expires_at > world.clock.now() + timedelta(minutes=29)


async def test_a_declined_scan_is_notified_failed(world: World) -> None:
    code = await world.order()
    scanned = await world.scan(code, "0051")
    assert scanned.status_code == 200, scanned.text
    [notification] = world.receiver.accepted
    outcome = notification.outcome
    assert (outcome.status, outcome.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.INSUFFICIENT_FUNDS,
    )
    assert world.ledger.charges_for("att_0001") == 0
    inquiry = await world.inquire()
    assert inquiry.failure_code is FailureCode.INSUFFICIENT_FUNDS


async def test_a_cancelled_code_cannot_be_paid(world: World) -> None:
    request = world.request()
    code = await world.adapter.create_order_code(request)
    assert isinstance(code, OrderCode)
    cancelled = await world.adapter.cancel(CancelRequest("att_0001"))
    assert cancelled.status is OutcomeStatus.SUCCEEDED
    scanned = await world.scan(code)
    assert scanned.status_code == 409 and scanned.json()["state"] == "closed"
    assert world.ledger.charges_for("att_0001") == 0
    assert world.receiver.accepted == [] and world.receiver.refused == []
    again = await world.adapter.create_order_code(request)  # the gateway's retry: no code
    assert not isinstance(again, OrderCode)
    assert (again.status, again.partner_code) == (OutcomeStatus.FAILED, "canceled")


async def test_an_order_cancelled_before_it_arrived_is_never_created(world: World) -> None:
    assert (await world.adapter.cancel(CancelRequest("att_0009"))).is_final
    late = await world.adapter.create_order_code(world.request("att_0009"))
    assert not isinstance(late, OrderCode)
    assert (late.status, late.partner_code) == (OutcomeStatus.FAILED, "canceled")


async def test_a_code_is_paid_once(world: World) -> None:
    request = world.request()
    code = await world.adapter.create_order_code(request)
    assert isinstance(code, OrderCode)
    assert (await world.scan(code)).status_code == 200
    paid = await world.adapter.create_order_code(request)  # paid already: no code to show
    assert not isinstance(paid, OrderCode) and paid.status is OutcomeStatus.UNKNOWN
    second = await world.scan(code)
    assert second.status_code == 409 and second.json()["state"] == "paid"
    assert world.ledger.charges_for("att_0001") == 1
    assert len(world.receiver.accepted) == 1


async def test_an_expired_code_cannot_be_paid(world: World) -> None:
    request = world.request()
    code = await world.adapter.create_order_code(request)
    assert isinstance(code, OrderCode)
    world.clock.advance(timedelta(minutes=11))
    scanned = await world.scan(code)
    assert scanned.status_code == 409 and scanned.json()["state"] == "expired"
    assert world.ledger.charges_for("att_0001") == 0
    inquiry = await world.inquire()
    assert (inquiry.status, inquiry.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.CODE_EXPIRED,
    )
    again = await world.adapter.create_order_code(request)
    assert not isinstance(again, OrderCode)
    assert (again.status, again.failure_code) == (OutcomeStatus.FAILED, FailureCode.CODE_EXPIRED)


async def test_a_badly_signed_notification_is_refused_and_retried(world: World) -> None:
    code = await world.order()
    scanned = await world.scan(code, notify="bad_signature", max_attempts=2)
    assert scanned.status_code == 200, scanned.text
    assert scanned.json()["notified"] is False and scanned.json()["attempts"] == 2
    assert world.receiver.accepted == []
    assert [r.problem for r in world.receiver.refused] == [NotificationProblem.SIGNATURE] * 2
    deliveries = scanned.json()["order"]["deliveries"]
    assert [(d["http_status"], d["accepted"]) for d in deliveries] == [(503, False)] * 2
    assert (await world.inquire()).status is OutcomeStatus.SUCCEEDED


async def test_a_notification_never_sent_is_found_by_inquiry(world: World) -> None:
    code = await world.order()
    scanned = await world.scan(code, notify="never")
    assert scanned.status_code == 200 and scanned.json()["notified"] is False
    await asyncio.sleep(0.1)
    assert world.receiver.accepted == [] and world.receiver.refused == []
    inquiry = await world.inquire()
    assert (inquiry.status, inquiry.partner_reference) == (
        OutcomeStatus.SUCCEEDED,
        code.partner_reference,
    )


async def test_twice_late_and_another_amount(world: World) -> None:
    first = await world.order()
    assert (await world.scan(first, notify="twice")).json()["attempts"] == 2
    one, two = world.receiver.accepted
    assert one == two  # the same notification, its id included

    second = await world.order("att_0002")
    assert (await world.scan(second, amount_delta=1)).status_code == 200
    assert world.receiver.accepted[-1].payer_amount == Money.of(25013, "CNY")

    third = await world.order("att_0003")
    world.receiver.arrived.clear()
    late = await world.scan(third, notify="late", delay_seconds=0.2)
    assert late.json()["notified"] is None
    await asyncio.wait_for(world.receiver.arrived.wait(), 5)
    assert world.receiver.accepted[-1].partner_request_id == "att_0003"
    assert world.ledger.charges_for("att_0003") == 1


async def test_an_order_answer_of_the_sandbox_by_hand(world: World) -> None:
    """What an order request the sandbox refuses looks like: signed 400s, nothing recorded."""
    bad = await world.adapter.create_order_code(
        world.request(expires_at=world.clock.now() - timedelta(seconds=5))
    )
    assert not isinstance(bad, OrderCode)
    assert (bad.status, bad.partner_code, bad.http_status) == (
        OutcomeStatus.FAILED,
        "expires_at_invalid",
        400,
    )
    assert world.ledger.payments == {}


@pytest.mark.parametrize(
    ("change", "error_code"),
    [
        ({"order_id": "att_other"}, "order_id_mismatch"),
        ({"notify_url": "ftp://gw.example/notify"}, "notify_url_invalid"),
        ({"expires_at": "tomorrow"}, "expires_at_invalid"),
        ({"amount": {"currency": "CNY", "value": "250.1"}}, "amount_invalid"),
        ({"wallet": ""}, "parameter_invalid"),
    ],
)
async def test_the_sandbox_refuses_a_bad_order_request(
    world: World, change: dict[str, Any], error_code: str
) -> None:
    body = create_order_body(world.request()).model_dump(mode="json", exclude_none=True)
    raw = json.dumps(body | change, separators=(",", ":")).encode()
    ts = timestamp_of(world.clock.now())
    response = await world.http.post(
        world.url + "/v1/orders",
        content=raw,
        headers={
            "Authorization": f"Bearer {API_KEY}",
            "X-Timestamp": ts,
            "X-Signature": sign(SECRET, request_content(ts, "POST", "/v1/orders", raw)),
            "Idempotency-Key": "att_0001",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == error_code
    content = response_content(response.headers["x-timestamp"], 400, response.content)
    assert verify(SECRET, content, response.headers["x-signature"])
    assert world.ledger.payments == {}
