"""WalletRest entry codes: `POST /v1/stores` over respx (`httpx.MockTransport(router.
async_handler)`), the partner's `entry_order.created` (HMAC and time first, then a strict
body) and our signed confirmation or refusal."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from adapters import (
    Delivery,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    FailureCode,
    InboundRequest,
    MerchantInfo,
    NotificationProblem,
    NotificationRefused,
    Operation,
    Outcome,
    OutcomeStatus,
    StoreRegistration,
    SystemClock,
)
from adapters.walletrest import WalletRestAdapter, build_adapter
from adapters.walletrest.models import encode
from adapters.walletrest.signing import (
    notification_content,
    request_content,
    response_content,
    sign,
    verify,
)
from adapters.walletrest.transforms import registration_body
from fx import Money

BASE_URL = "https://wallet.test"
API_KEY = "sk_test_0123456789abcdef"
SECRET = "whsec_" + "s" * 40
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
TIMEOUTS = {op: 2.0 for op in Operation}
CODE = "https://wallet.test/e/wr_st_0123456789abcdef"


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def _adapter(http: httpx.AsyncClient) -> WalletRestAdapter:
    return build_adapter(
        partner_id="wr",
        base_url=BASE_URL,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts=TIMEOUTS,
        clock=FixedClock(),
    )


def registration(**merchant: Any) -> StoreRegistration:
    fields: dict[str, Any] = {
        "id": "m_1",
        "name": "Siam Coffee",
        "country": "TH",
        "mcc": "5814",
        "store_id": "sto_9",
    }
    return StoreRegistration(
        merchant=MerchantInfo(**(fields | merchant)),
        name="Siam Coffee Silom",
        currency="THB",
        notify_url="https://gw.example/partners/wr/notify",
    )


def answer(status: int, body: dict[str, Any], *, unsigned: bool = False) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"X-Timestamp": TS, "Content-Type": "application/json"}
    if not unsigned:
        headers["X-Signature"] = sign(SECRET, response_content(TS, status, raw))
    return httpx.Response(status, content=raw, headers=headers)


def store(**override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "store",
        "id": "wr_st_0123456789abcdef",
        "store_id": "sto_9",
        "name": "Siam Coffee Silom",
        "currency": "THB",
        "country": "TH",
        "status": "active",
        "entry_code": CODE,
    }
    return body | override


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def adapter(router: respx.Router) -> AsyncIterator[WalletRestAdapter]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield _adapter(http)


# --- registration -------------------------------------------------------------------------------


def test_registration_body_is_exact() -> None:
    assert encode(registration_body(registration())) == (
        b'{"store_id":"sto_9","name":"Siam Coffee Silom","currency":"THB",'
        b'"notify_url":"https://gw.example/partners/wr/notify",'
        b'"merchant":{"id":"m_1","name":"Siam Coffee","country":"TH","mcc":"5814",'
        b'"store_id":"sto_9"}}'
    )


@pytest.mark.parametrize("status", [200, 201])
async def test_a_store_is_its_entry_code(
    router: respx.Router, adapter: WalletRestAdapter, status: int
) -> None:
    route = router.post("/v1/stores").mock(return_value=answer(status, store()))
    result = await adapter.register_store(registration())
    assert result == EntryCode(code=CODE, partner_store_id="wr_st_0123456789abcdef")
    sent = route.calls.last.request
    assert sent.headers["Idempotency-Key"] == "sto_9"
    assert sent.content == encode(registration_body(registration()))
    content = request_content(sent.headers["X-Timestamp"], "POST", "/v1/stores", sent.content)
    assert verify(SECRET, content, sent.headers["X-Signature"])
    assert Operation.ENTRY_CODE in adapter.capabilities


@pytest.mark.parametrize(
    "response",
    [
        answer(201, store(store_id="sto_OTHER")),
        answer(201, store(status="disabled")),
        answer(201, store(entry_code="")),
        answer(201, store(entry_code="a\u0007b")),
        answer(201, store(entry_code="x" * 1025)),
        answer(201, store(), unsigned=True),
        answer(409, {"error": {"type": "idempotency_conflict"}}),
        answer(500, {"error": {"type": "api_error"}}),
        answer(201, {"nothing": True}),
    ],
)
async def test_untrusted_answers_are_unknown_maybe_sent(
    router: respx.Router, adapter: WalletRestAdapter, response: httpx.Response
) -> None:
    router.post("/v1/stores").mock(return_value=response)
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome)
    assert result.status is OutcomeStatus.UNKNOWN and result.delivery is Delivery.MAYBE_SENT


@pytest.mark.parametrize(
    "response",
    [
        answer(400, {"error": {"type": "invalid_request", "code": "currency_invalid"}}),
        answer(409, {"error": {"type": "invalid_state", "code": "store_conflict"}}),
    ],
)
async def test_refusals_are_final(
    router: respx.Router, adapter: WalletRestAdapter, response: httpx.Response
) -> None:
    router.post("/v1/stores").mock(return_value=response)
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome) and result.status is OutcomeStatus.FAILED
    assert result.failure_code is FailureCode.PARTNER_DECLINED


async def test_not_accepted_is_not_sent(router: respx.Router, adapter: WalletRestAdapter) -> None:
    router.post("/v1/stores").mock(return_value=answer(503, {"error": {"type": "not_accepted"}}))
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome) and result.delivery is Delivery.NOT_SENT


# --- entry orders -------------------------------------------------------------------------------

EVENT = {
    "type": "entry_order.created",
    "id": "wr_evt_1",
    "entry_order_id": "wr_eo_0001",
    "store_id": "sto_9",
    "store": "wr_st_0123456789abcdef",
    "amount": {"currency": "THB", "value": "125.50"},
    "wallet": "alipaycn",
    "created_at": "2026-11-26T02:00:00+00:00",
}


def inbound(
    body: dict[str, Any] | bytes = EVENT, *, timestamp: str = TS, flip: bool = False
) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    signature = sign(SECRET, notification_content(timestamp, raw))
    if flip:
        raw = raw[:-2] + bytes([raw[-2] ^ 0x01]) + raw[-1:]
    headers = {"x-timestamp": timestamp, "x-signature": signature}
    return InboundRequest(method="POST", path="/partners/wr/notify", headers=headers, body=raw)


def reader() -> WalletRestAdapter:
    return _adapter(httpx.AsyncClient())


def test_an_entry_order_is_read() -> None:
    assert reader().read_notification(inbound(), NOW) == EntryOrder(
        partner_order_id="wr_eo_0001",
        store_id="sto_9",
        amount=Money.of(12550, "THB"),
        wallet="alipaycn",
        requested_at=NOW,
    )


def test_signature_and_time_come_first() -> None:
    with pytest.raises(NotificationRefused) as bad:
        reader().read_notification(inbound(flip=True), NOW)
    assert bad.value.problem is NotificationProblem.SIGNATURE
    with pytest.raises(NotificationRefused) as stale:
        reader().read_notification(inbound(timestamp=str(int(NOW.timestamp()) - 900)), NOW)
    assert stale.value.problem is NotificationProblem.STALE


@pytest.mark.parametrize(
    "body",
    [
        EVENT | {"amount": {"currency": "THB", "value": "0.00"}},
        EVENT | {"amount": {"currency": "THB", "value": "-1.00"}},
        EVENT | {"amount": {"currency": "THB", "value": "125.5"}},
        EVENT | {"amount": {"currency": "XXX", "value": "1.00"}},
        EVENT | {"amount": {"currency": "THB", "value": 125.5}},
        EVENT | {"wallet": ""},
        EVENT | {"wallet": "ali pay"},
        EVENT | {"wallet": "w" * 33},
        EVENT | {"store_id": "s" * 65},
        EVENT | {"store_id": 9},
        EVENT | {"entry_order_id": "\u00e9"},
        {k: v for k, v in EVENT.items() if k != "amount"},
    ],
)
def test_malformed_entry_orders_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(NotificationRefused) as refused:
        reader().read_notification(inbound(body), NOW)
    assert refused.value.problem is NotificationProblem.MALFORMED


# --- our answer ---------------------------------------------------------------------------------


def test_a_confirmation_names_the_charge_and_is_signed() -> None:
    confirmation = EntryOrderConfirmation.confirm(
        "wr_eo_0001",
        partner_request_id="att_0001",
        payer_amount=Money.of(2501, "CNY"),
        expires_at=NOW + timedelta(minutes=5),
    )
    ack = reader().confirm_entry_order(inbound(), confirmation)
    assert ack.status == 200
    assert ack.body == (
        b'{"object":"entry_order","entry_order_id":"wr_eo_0001","status":"confirmed",'
        b'"order_id":"att_0001","amount":{"currency":"CNY","value":"25.01"},'
        b'"expires_at":"2026-11-26T02:05:00+00:00"}'
    )
    content = response_content(ack.headers["X-Timestamp"], 200, ack.body)
    assert verify(SECRET, content, ack.headers["X-Signature"])


@pytest.mark.parametrize(
    ("refusal", "status", "kind"),
    [
        (EntryOrderRefusal.UNKNOWN_STORE, 422, "entry_order_refused"),
        (EntryOrderRefusal.WALLET_NOT_ACCEPTED, 422, "entry_order_refused"),
        (EntryOrderRefusal.UNAVAILABLE, 503, "not_accepted"),
    ],
)
def test_a_refusal_is_a_signed_error(refusal: EntryOrderRefusal, status: int, kind: str) -> None:
    ack = reader().confirm_entry_order(
        inbound(), EntryOrderConfirmation.refused("wr_eo_0001", refusal, "")
    )
    body = json.loads(ack.body)
    assert ack.status == status and body["entry_order_id"] == "wr_eo_0001"
    assert body["error"] == {"type": kind, "code": refusal.value, "message": refusal.value}
    content = response_content(ack.headers["X-Timestamp"], status, ack.body)
    assert verify(SECRET, content, ack.headers["X-Signature"])
