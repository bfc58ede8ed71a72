"""Entry codes over real loopback HTTP, per protocol family: the adapter registers a store with
its sandbox (idempotent; an EMVCo static payload for TH and PH stores), the test plays the
tourist (`POST /_sandbox/scan` with a typed amount and a wallet), the sandbox's entry order
reaches a small aiohttp server that plays the gateway's notify endpoint with nothing but the
adapter (`read_notification`, `confirm_entry_order`, `acknowledge`), and on a confirmation the
sandbox charges exactly the confirmed payer amount under the confirmed request id, then sends
the ordinary payment notification. A refusal charges nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters import (
    Adapter,
    CancelRequest,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    FailureCode,
    InboundRequest,
    InquiryRequest,
    MerchantInfo,
    NotificationRefused,
    Operation,
    Outcome,
    OutcomeStatus,
    PaymentNotification,
    StoreRegistration,
    SystemClock,
    emvco,
    new_http_client,
)
from adapters.alipayplus import build_adapter as build_alipayplus
from adapters.alipayplus import generate_keypair
from adapters.alipayplus.sandbox import LEDGER as ALIPAYPLUS_LEDGER
from adapters.alipayplus.sandbox import SandboxSettings as AlipayPlusSettings
from adapters.alipayplus.sandbox import create_sandbox_app as alipayplus_app
from adapters.walletrest import build_adapter as build_walletrest
from adapters.walletrest.sandbox import LEDGER as WALLETREST_LEDGER
from adapters.walletrest.sandbox import SandboxSettings as WalletRestSettings
from adapters.walletrest.sandbox import create_sandbox_app as walletrest_app
from fx import Money

TIMEOUTS = {op: 3.0 for op in Operation}
NOTIFY_PATH = "/partners/sbx/notify"
PAYER = Money.of(2501, "CNY")  # what the "gateway" asks the tourist to pay, whatever was typed
CLIENT_ID = "SANDBOX_GATEWAY"
WR_SECRET = secrets.token_urlsafe(32)
WR_KEY = "sk_test_" + secrets.token_hex(16)


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


def _alipayplus(clock: SystemClock) -> tuple[web.Application, Callable[..., Adapter]]:
    settings = AlipayPlusSettings(
        private_key_pem=keys()["partner_private"],
        merchant_public_keys={CLIENT_ID: keys()["merchant_public"]},
        clock=clock,
        allow_settlement_tamper=True,
        notify_schedule=(0.05,),
        notify_attempts=3,
    )

    def adapter(url: str, http: httpx.AsyncClient) -> Adapter:
        return build_alipayplus(
            partner_id="sbx",
            base_url=url,
            credentials={
                "client_id": CLIENT_ID,
                "private_key": keys()["merchant_private"],
                "partner_public_key": keys()["partner_public"],
            },
            http=http,
            timeouts=TIMEOUTS,
            clock=clock,
        )

    return alipayplus_app(settings), adapter


def _walletrest(clock: SystemClock) -> tuple[web.Application, Callable[..., Adapter]]:
    settings = WalletRestSettings(
        signing_secret=WR_SECRET,
        api_keys={WR_KEY: "gateway"},
        clock=clock,
        allow_settlement_tamper=True,
        notify_schedule=(0.05,),
    )

    def adapter(url: str, http: httpx.AsyncClient) -> Adapter:
        return build_walletrest(
            partner_id="sbx",
            base_url=url,
            credentials={"api_key": WR_KEY, "signing_secret": WR_SECRET},
            http=http,
            timeouts=TIMEOUTS,
            clock=clock,
        )

    return walletrest_app(settings), adapter


class Gateway:
    """The gateway's notify endpoint, reduced to the adapter's part: entry orders are
    confirmed (or refused, by `refuse`) from `confirmations`, so a repeated one gets the same
    answer; payment notifications are kept and acknowledged."""

    def __init__(self, adapter: Adapter, clock: SystemClock) -> None:
        self.adapter = adapter
        self.clock = clock
        self.entry_orders: list[EntryOrder] = []
        self.notifications: list[PaymentNotification] = []
        self.refused: list[NotificationRefused] = []
        self.confirmations: dict[str, EntryOrderConfirmation] = {}
        self.refuse: EntryOrderRefusal | None = None
        self.arrived = asyncio.Event()

    def decide(self, order: EntryOrder) -> EntryOrderConfirmation:
        known = self.confirmations.get(order.partner_order_id)
        if known is not None:
            return known
        if self.refuse is not None:
            answer = EntryOrderConfirmation.refused(
                order.partner_order_id, self.refuse, "no such store here"
            )
        else:
            answer = EntryOrderConfirmation.confirm(
                order.partner_order_id,
                partner_request_id=f"att_{len(self.confirmations) + 1:04d}",
                payer_amount=PAYER,
                expires_at=self.clock.now() + timedelta(minutes=5),
            )
        self.confirmations[order.partner_order_id] = answer
        return answer

    async def handle(self, request: web.Request) -> web.StreamResponse:
        inbound = InboundRequest(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read(),
        )
        try:
            read = self.adapter.read_notification(inbound, self.clock.now())
        except NotificationRefused as exc:
            self.refused.append(exc)
            ack = self.adapter.acknowledge(inbound, False)
        else:
            if isinstance(read, EntryOrder):
                self.entry_orders.append(read)
                ack = self.adapter.confirm_entry_order(inbound, self.decide(read))
            else:
                self.notifications.append(read)
                self.arrived.set()
                ack = self.adapter.acknowledge(inbound, True)
        return web.Response(status=ack.status, body=ack.body, headers=dict(ack.headers))


@dataclasses.dataclass
class World:
    family: str
    url: str
    notify_url: str
    http: httpx.AsyncClient
    adapter: Adapter
    gateway: Gateway
    ledger: Any

    def registration(self, country: str = "TH", currency: str = "THB", **merchant: Any):  # type: ignore[no-untyped-def]
        fields: dict[str, Any] = {
            "id": "m_1",
            "name": "Siam Coffee",
            "country": country,
            "mcc": "5814",
            "store_id": "sto_0001",
        }
        return StoreRegistration(
            merchant=MerchantInfo(**(fields | merchant)),
            name="Siam Coffee Silom",
            currency=currency,
            notify_url=self.notify_url,
        )

    async def register(self, **kwargs: Any) -> EntryCode:
        code = await self.adapter.register_store(self.registration(**kwargs))
        assert isinstance(code, EntryCode), code
        return code

    async def scan(self, code: str, **body: Any) -> tuple[int, dict[str, Any]]:
        answer = await self.http.post(
            f"{self.url}/_sandbox/scan", json={"code": code, **body}, timeout=30
        )
        data: dict[str, Any] = answer.json()
        return answer.status_code, data


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture(params=["alipayplus", "walletrest"])
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    clock = SystemClock()
    family = request.param
    app, make_adapter = (_alipayplus if family == "alipayplus" else _walletrest)(clock)
    sandbox, url = await _serve(app)
    http = new_http_client()
    adapter = make_adapter(url, http)
    gateway = Gateway(adapter, clock)
    notify_app = web.Application()
    notify_app.router.add_post(NOTIFY_PATH, gateway.handle)
    receiver, gateway_url = await _serve(notify_app)
    ledger = app[ALIPAYPLUS_LEDGER if family == "alipayplus" else WALLETREST_LEDGER]
    try:
        yield World(family, url, gateway_url + NOTIFY_PATH, http, adapter, gateway, ledger)
    finally:
        await receiver.cleanup()
        await sandbox.cleanup()
        await http.aclose()


# --- registration -----------------------------------------------------------------------------


async def test_both_adapters_offer_entry_codes(world: World) -> None:
    assert Operation.ENTRY_CODE in world.adapter.capabilities
    assert isinstance(world.adapter, Adapter)


@pytest.mark.parametrize(
    ("country", "currency", "template", "aid"),
    [("TH", "THB", "29", emvco.PROMPTPAY_AID), ("PH", "PHP", "28", emvco.QRPH_AID)],
)
async def test_an_emvco_market_gets_a_static_emvco_payload(
    world: World, country: str, currency: str, template: str, aid: str
) -> None:
    code = await world.register(country=country, currency=currency)
    parsed = emvco.parse(code.code)  # checks the CRC, among the rest
    assert parsed.static and parsed.amount is None
    assert parsed.objects["01"] == "11"
    assert parsed.country == country and parsed.currency.code == currency
    assert int(code.code[-4:], 16) == emvco.crc16(code.code[:-4].encode())
    account = parsed.account(aid)
    assert account is not None and template in parsed.templates
    assert code.partner_store_id is not None
    assert account["03"] == code.partner_store_id
    assert parsed.templates["62"]["03"] == code.partner_store_id


async def test_elsewhere_the_code_is_a_url_on_the_partner(world: World) -> None:
    code = await world.register(country="JP", currency="JPY")
    assert code.partner_store_id is not None
    assert code.code == f"{world.url}/e/{code.partner_store_id}"
    page = await world.http.get(code.code)
    assert page.status_code == 200 and page.json()["currency"] == "JPY"


async def test_registering_again_is_the_same_registration(world: World) -> None:
    first = await world.register()
    again = await world.register()
    assert again == first
    other = await world.register(store_id="sto_0002")
    assert other.code != first.code and other.partner_store_id != first.partner_store_id


async def test_changing_the_currency_of_a_registered_store_is_refused(world: World) -> None:
    await world.register()
    refused = await world.adapter.register_store(world.registration(currency="USD"))
    assert isinstance(refused, Outcome)
    assert refused.status is OutcomeStatus.FAILED
    assert refused.failure_code is FailureCode.PARTNER_DECLINED


async def test_an_unknown_currency_is_refused(world: World) -> None:
    refused = await world.adapter.register_store(world.registration(currency="ZZZ"))
    assert isinstance(refused, Outcome) and refused.status is OutcomeStatus.FAILED


# --- the tourist pays -------------------------------------------------------------------------


async def test_scan_entry_order_confirmation_charge_and_notification(world: World) -> None:
    code = await world.register()
    status, body = await world.scan(code.code, amount="125.50", wallet="alipay_cn")
    assert status == 200, body
    assert body["state"] == "paid" and body["charged"] is True and body["notified"] is True
    (entry,) = world.gateway.entry_orders
    assert entry.store_id == "sto_0001" and entry.wallet == "alipay_cn"
    assert entry.amount == Money.of(12550, "THB")
    assert body["entry_order"]["entry_order_id"] == entry.partner_order_id
    assert body["entry_order"]["answers"][0]["signature_valid"] is True
    # charged exactly the confirmed payer amount, under the confirmed request id
    assert body["order"]["payment_request_id"] == "att_0001"
    assert body["order"]["amount"] == {"currency": "CNY", "value": 2501}
    assert world.ledger.charges_for("att_0001") == 1
    (notification,) = world.gateway.notifications
    assert notification.partner_request_id == "att_0001"
    assert notification.outcome.status is OutcomeStatus.SUCCEEDED
    assert notification.payer_amount == PAYER
    inquiry = await world.adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert inquiry.status is OutcomeStatus.SUCCEEDED


async def test_a_declined_wallet_notifies_the_failure(world: World) -> None:
    code = await world.register()
    status, body = await world.scan(code.code, amount="10", wallet="alipay_cn", suffix="0051")
    assert status == 200 and body["state"] == "declined" and body["charged"] is False
    (notification,) = world.gateway.notifications
    assert notification.outcome.failure_code is FailureCode.INSUFFICIENT_FUNDS
    assert world.ledger.charges_for("att_0001") == 0


async def test_a_pending_entry_payment_can_be_inquired_and_cancelled(world: World) -> None:
    code = await world.register()
    _, body = await world.scan(code.code, amount="10", wallet="alipay_cn", notify="never")
    assert body["state"] == "paid" and world.gateway.notifications == []
    inquiry = await world.adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert inquiry.status is OutcomeStatus.SUCCEEDED  # found by inquiry
    cancel = await world.adapter.cancel(CancelRequest("att_0001"))
    assert cancel.status is OutcomeStatus.SUCCEEDED
    assert world.ledger.reversals_for("att_0001") == 1


async def test_a_repeated_entry_order_is_answered_the_same_and_charged_once(
    world: World,
) -> None:
    code = await world.register()
    _, body = await world.scan(code.code, amount="99.00", wallet="alipay_cn", entry_twice=True)
    first, second = world.gateway.entry_orders
    assert first == second
    answers = body["entry_order"]["answers"]
    assert (
        len(answers) == 2 and answers[0]["partner_request_id"] == answers[1]["partner_request_id"]
    )
    assert body["state"] == "paid" and world.ledger.charges_for("att_0001") == 1
    assert len(world.gateway.notifications) == 1


async def test_a_refusal_charges_nothing(world: World) -> None:
    code = await world.register()
    world.gateway.refuse = EntryOrderRefusal.UNKNOWN_STORE
    status, body = await world.scan(code.code, amount="10", wallet="alipay_cn")
    assert status == 200
    assert body["state"] == "refused" and body["charged"] is False and body["order"] is None
    answer = body["entry_order"]["answers"][0]
    assert answer["confirmed"] is False and answer["signature_valid"] is True
    expected = "MERCHANT_NOT_REGISTERED" if world.family == "alipayplus" else "unknown_store"
    assert answer["code"] == expected
    assert world.ledger.payments == {}
    assert world.gateway.notifications == []


async def test_unavailable_is_a_refusal_too(world: World) -> None:
    code = await world.register()
    world.gateway.refuse = EntryOrderRefusal.UNAVAILABLE
    _, body = await world.scan(code.code, amount="10", wallet="alipay_cn")
    assert body["state"] == "refused" and body["charged"] is False
    assert world.ledger.payments == {}


async def test_the_scan_of_an_entry_code_needs_an_amount_and_a_wallet(world: World) -> None:
    code = await world.register()
    status, body = await world.scan(code.code, wallet="alipay_cn")
    assert status == 400 and "amount" in body["error"]["message"]
    status, body = await world.scan(code.code, amount="10")
    assert status == 400 and "wallet" in body["error"]["message"]
    status, body = await world.scan(code.code, amount="10.123", wallet="alipay_cn")
    assert status == 400
    status, body = await world.scan(code.code, amount="0", wallet="alipay_cn")
    assert status == 400
    status, _ = await world.scan(code.code, amount="10", wallet="alipay_cn", suffix="0503")
    assert status == 503
    assert world.gateway.entry_orders == []


async def test_the_url_form_and_the_bare_store_id_scan_too(world: World) -> None:
    code = await world.register(country="JP", currency="JPY")
    _, body = await world.scan(code.code, amount="1500", wallet="alipay_cn")
    assert body["state"] == "paid"
    assert world.gateway.entry_orders[0].amount == Money.of(1500, "JPY")
    assert code.partner_store_id is not None
    _, body = await world.scan(code.partner_store_id, amount="1", wallet="alipay_cn")
    assert body["state"] == "paid"


async def test_the_scan_helper_pays_an_emvco_entry_code_at_a_named_sandbox(world: World) -> None:
    """What `gateway sandbox scan --amount --wallet --sandbox` calls."""
    from adapters._sandbox.scan import ScanFailed, describe, scan

    code = await world.register()
    with pytest.raises(ScanFailed):
        scan(code.code, amount="10", wallet="alipay_cn")  # an EMVCo payload names no sandbox
    answer = await asyncio.to_thread(
        scan, code.code, sandbox_url=world.url, amount="10.00", wallet="alipay_cn"
    )
    assert answer.ok and answer.body["charged"] is True
    assert "confirmed as att_0001" in describe(answer)
    world.gateway.refuse = EntryOrderRefusal.STORE_DISABLED
    refused = await asyncio.to_thread(
        scan, code.code, sandbox_url=world.url, amount="10.00", wallet="alipay_cn"
    )
    assert "nothing charged" in describe(refused)
