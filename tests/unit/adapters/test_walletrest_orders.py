"""WalletRest order codes and notifications: `POST /v1/orders` over respx (the adapter's client
runs over `httpx.MockTransport(router.async_handler)`), the pure answer rules, and the partner's
notifications (verified before read) with our signed acknowledgments."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from adapters import (
    Adapter,
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
    SystemClock,
)
from adapters._orders import NOTIFICATION_TOLERANCE
from adapters.walletrest import WalletRestAdapter, build_adapter
from adapters.walletrest.signing import (
    notification_content,
    request_content,
    response_content,
    sign,
    verify,
)
from adapters.walletrest.transforms import (
    create_order_body,
    notification_headers,
    order_code_outcome,
    read_notification,
)
from fx import Money

BASE_URL = "https://wallet.test"
API_KEY = "sk_test_0123456789abcdef"
SECRET = "whsec_" + "s" * 40
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
EXPIRES = NOW + timedelta(minutes=10)
PAYER = Money.of(25012, "CNY")
QR = "https://wallet.test/oc/Zx81kq"


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def order_request(**overrides: Any) -> OrderCodeRequest:
    fields: dict[str, Any] = {
        "partner_request_id": "att_0001",
        "reference": "order-42",
        "amount": Money.of(125050, "THB"),
        "payer_amount": PAYER,
        "wallet": "alipaycn",
        "merchant": MerchantInfo(
            id="m_1", name="Siam Coffee", country="TH", mcc="5814", store_id="st_9"
        ),
        "requested_at": NOW,
        "expires_at": EXPIRES + timedelta(microseconds=700_000),
        "notify_url": "https://gw.example/partners/wr/notify",
    }
    return OrderCodeRequest(**(fields | overrides))


def order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "order",
        "id": "wr_pay_1",
        "order_id": "att_0001",
        "status": "awaiting_payment",
        "amount": {"currency": "CNY", "value": "250.12"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "wallet": "alipaycn",
        "qr_code": QR,
        "expires_at": "2026-11-26T02:10:00+00:00",
    }
    return body | overrides


def raw(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def outcome_of(status: int, body: Any) -> OrderCode | Outcome:
    return order_code_outcome(status, raw(body), order_request())


def signed(status: int, body: Any, *, secret: str = SECRET, timestamp: str = TS) -> httpx.Response:
    content = raw(body)
    return httpx.Response(
        status,
        content=content,
        headers={
            "content-type": "application/json",
            "x-timestamp": timestamp,
            "x-signature": sign(secret, response_content(timestamp, status, content)),
        },
    )


# --- the request -------------------------------------------------------------------------------


def test_the_body_carries_both_amounts_the_wallet_expiry_and_notify_url() -> None:
    body = create_order_body(order_request()).model_dump(mode="json", exclude_none=True)
    assert body == {
        "order_id": "att_0001",
        "amount": {"currency": "CNY", "value": "250.12"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "wallet": "alipaycn",
        "reference": "order-42",
        "merchant": {
            "id": "m_1",
            "name": "Siam Coffee",
            "country": "TH",
            "mcc": "5814",
            "store_id": "st_9",
            "terminal_id": "POS",
        },
        "requested_at": "2026-11-26T02:00:00+00:00",
        # whole seconds, cut (never rounded) so the partner is never told a later expiry
        "expires_at": "2026-11-26T02:10:00+00:00",
        "notify_url": "https://gw.example/partners/wr/notify",
    }


# --- the answer (pure) -------------------------------------------------------------------------


def test_an_order_awaiting_payment_is_a_code_to_show() -> None:
    assert outcome_of(201, order()) == OrderCode(
        code=QR, expires_at=EXPIRES, partner_reference="wr_pay_1"
    )
    assert outcome_of(200, order()) == outcome_of(201, order())  # a replay of the same order


def test_the_code_never_expires_later_than_asked_but_may_sooner() -> None:
    later = outcome_of(201, order(expires_at="2026-11-26T03:00:00+00:00"))
    assert isinstance(later, OrderCode) and later.expires_at == order_request().expires_at
    sooner = outcome_of(201, order(expires_at="2026-11-26T11:05:00+09:00"))
    assert isinstance(sooner, OrderCode)
    assert sooner.expires_at == datetime(2026, 11, 26, 2, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (201, order(order_id="att_0002"), "another order_id"),
        (201, order(amount={"currency": "CNY", "value": "250.13"}), "differs"),
        (201, order(amount={"currency": "KRW", "value": "250"}), "differs"),
        (201, order(amount={"currency": "CNY", "value": "250.1"}), "unreadable"),
        (201, order(amount=None), "no amount"),
        (201, order(wallet="kakaopay"), "another wallet"),
        (201, order(qr_code=""), "qr_code"),
        (201, order(qr_code=None), "qr_code"),
        (201, order(qr_code="https://x/\x00"), "qr_code"),
        (201, order(qr_code="x" * 1025), "qr_code"),
        (201, order(qr_code=7), "unparseable"),
        (201, order(expires_at="2026-11-26T02:10:00"), "expires_at"),
        (201, order(expires_at="soon"), "expires_at"),
        (201, order(expires_at="2026-11-26T01:59:59+00:00"), "expires_at"),
        (201, order(expires_at=None), "expires_at"),
        (201, order(status="succeeded"), "a new order"),
        (201, order(status="canceled"), "a new order"),
        (200, order(status="paid"), "unrecognised"),
        (202, order(), "HTTP 202"),
        (201, b"[]", "unparseable"),
        (201, b"not json", "unparseable"),
        (409, {"error": {"type": "idempotency_conflict"}}, "idempotency_conflict"),
        (500, {"error": {"type": "api_error"}}, "api_error"),
        (200, {"error": {"type": "not_accepted"}}, "order_id"),
        (503, b"", "unparseable"),
        (402, {"error": {"type": "payment_declined"}, "order": order(order_id="x")}, "another"),
    ],
)
def test_what_cannot_be_trusted_is_unknown_maybe_sent(status: int, body: Any, why: str) -> None:
    outcome = outcome_of(status, body)
    assert isinstance(outcome, Outcome), outcome
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert why in outcome.message, outcome.message
    assert outcome.http_status == status


@pytest.mark.parametrize(
    ("status", "body", "code", "partner_code"),
    [
        (
            402,
            {"error": {"type": "payment_declined", "decline_code": "risk_rejected"}},
            FailureCode.RISK_REJECTED,
            "risk_rejected",
        ),
        (
            402,
            {"error": {"type": "payment_declined", "decline_code": "wallet_unavailable"}},
            FailureCode.PARTNER_DECLINED,
            "wallet_unavailable",
        ),
        (
            400,
            {"error": {"type": "invalid_request", "code": "parameter_invalid"}},
            FailureCode.PARTNER_DECLINED,
            "parameter_invalid",
        ),
        (200, order(status="canceled", amount=None), FailureCode.PARTNER_DECLINED, "canceled"),
        (
            200,
            order(status="failed", decline_code="order_expired"),
            FailureCode.CODE_EXPIRED,
            "order_expired",
        ),
    ],
)
def test_a_signed_refusal_or_a_closed_order_is_failed(
    status: int, body: Any, code: FailureCode, partner_code: str
) -> None:
    outcome = outcome_of(status, body)
    assert isinstance(outcome, Outcome), outcome
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, code)
    assert outcome.partner_code == partner_code


@pytest.mark.parametrize(
    "body", [{"error": {"type": "not_accepted"}}, {"error": {"type": "rate_limited"}}]
)
def test_not_accepted_is_nothing_pending(body: dict[str, Any]) -> None:
    status = 503 if body["error"]["type"] == "not_accepted" else 429
    outcome = outcome_of(status, body)
    assert isinstance(outcome, Outcome) and outcome.nothing_charged


def test_an_order_already_paid_is_no_code_and_not_final() -> None:
    outcome = outcome_of(200, order(status="succeeded"))
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.partner_reference == "wr_pay_1"


# --- the client over respx ---------------------------------------------------------------------


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def http(router: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        yield client


def make_adapter(http: httpx.AsyncClient, timeouts: dict[Operation, float]) -> WalletRestAdapter:
    return build_adapter(
        partner_id="wr-sbx",
        base_url=BASE_URL,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts=timeouts,
        clock=FixedClock(),
    )


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> WalletRestAdapter:
    # No `order_code` timeout configured: it falls back to DEFAULT_TIMEOUTS.
    return make_adapter(http, {op: 2.0 for op in Operation if op is not Operation.ORDER_CODE})


def test_offers_order_codes(adapter: WalletRestAdapter) -> None:
    assert isinstance(adapter, Adapter)
    assert Operation.ORDER_CODE in adapter.capabilities


async def test_a_signed_post_and_a_verified_answer(
    router: respx.Router, adapter: WalletRestAdapter
) -> None:
    route = router.post("/v1/orders").mock(return_value=signed(201, order()))
    result = await adapter.create_order_code(order_request())
    assert result == OrderCode(code=QR, expires_at=EXPIRES, partner_reference="wr_pay_1")
    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["idempotency-key"] == "att_0001"
    assert request.headers["x-timestamp"] == TS
    content = request_content(TS, "POST", "/v1/orders", request.content)
    assert verify(SECRET, content, request.headers["x-signature"])
    body = json.loads(request.content)
    assert body["order_id"] == "att_0001" and body["amount"]["value"] == "250.12"
    assert b": " not in request.content


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, json=order()),  # unsigned
        signed(201, order(), secret=SECRET + "x"),
        signed(201, order(), timestamp=str(int(NOW.timestamp()) - 301)),
        httpx.Response(500, text="Internal Server Error"),
    ],
    ids=["unsigned", "wrong secret", "stale", "unsigned 500"],
)
async def test_an_untrusted_answer_is_unknown_maybe_sent(
    router: respx.Router, adapter: WalletRestAdapter, answer: httpx.Response
) -> None:
    router.post("/v1/orders").mock(return_value=answer)
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, Outcome)
    assert (result.status, result.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


async def test_a_signed_decline_is_failed(router: respx.Router, adapter: WalletRestAdapter) -> None:
    body = {"error": {"type": "payment_declined", "decline_code": "risk_rejected"}}
    router.post("/v1/orders").mock(return_value=signed(402, body))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, Outcome)
    assert result.failure_code is FailureCode.RISK_REJECTED


async def test_transport_errors_follow_the_family(
    router: respx.Router, http: httpx.AsyncClient
) -> None:
    adapter = make_adapter(http, {op: 2.0 for op in Operation})
    router.post("/v1/orders").mock(side_effect=httpx.ConnectError("refused"))
    refused = await adapter.create_order_code(order_request())
    assert isinstance(refused, Outcome) and refused.nothing_charged
    router.post("/v1/orders").mock(side_effect=httpx.ReadTimeout("slow"))
    slow = await adapter.create_order_code(order_request())
    assert isinstance(slow, Outcome)
    assert (slow.status, slow.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


async def test_an_unpaid_order_inquires_in_process_and_cancels(
    router: respx.Router, adapter: WalletRestAdapter
) -> None:
    payment = {
        "object": "payment",
        "id": "wr_pay_1",
        "request_id": "att_0001",
        "status": "awaiting_payment",
        "amount": {"currency": "CNY", "value": "250.12"},
    }
    router.get("/v1/payments/att_0001").mock(return_value=signed(200, payment))
    pending = await adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert (pending.status, pending.in_process) == (OutcomeStatus.UNKNOWN, True)
    assert pending.delivery is Delivery.MAYBE_SENT
    canceled = payment | {"status": "canceled", "canceled_at": "2026-11-26T02:01:00+00:00"}
    router.post("/v1/payments/att_0001/cancel").mock(return_value=signed(200, canceled))
    assert (await adapter.cancel(CancelRequest("att_0001"))).status is OutcomeStatus.SUCCEEDED
    expired = payment | {"status": "failed", "decline_code": "order_expired"}
    router.get("/v1/payments/att_0001").mock(return_value=signed(200, expired))
    closed = await adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert (closed.status, closed.failure_code) == (OutcomeStatus.FAILED, FailureCode.CODE_EXPIRED)


# --- notifications -----------------------------------------------------------------------------


def result(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "payment.result",
        "id": "wr_evt_1",
        "order_id": "att_0001",
        "status": "succeeded",
        "payment_id": "wr_pay_1",
        "amount": {"currency": "CNY", "value": "250.12"},
        "completed_at": "2026-11-26T02:03:04+00:00",
        "failure_code": None,
    }
    return body | overrides


def inbound(
    body: Any,
    *,
    at: datetime = NOW,
    secret: str = SECRET,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> InboundRequest:
    content = raw(body)
    sent = notification_headers(content, at, secret=secret)
    lower = {k.lower(): v for k, v in sent.items()}
    if headers is not None:
        lower = headers
    return InboundRequest(method=method, path="/partners/wr/notify", headers=lower, body=content)


def test_notification_headers_sign_timestamp_and_body() -> None:
    content = raw(result())
    headers = notification_headers(content, NOW, secret=SECRET)
    assert headers["X-Timestamp"] == TS
    assert verify(SECRET, notification_content(TS, content), headers["X-Signature"])
    assert headers["X-Signature"] == sign(SECRET, TS.encode() + b"." + content)


def test_a_verified_success(adapter: WalletRestAdapter) -> None:
    notification = adapter.read_notification(inbound(result()), NOW)
    assert notification.partner_request_id == "att_0001"
    assert notification.notification_id == "wr_evt_1"
    assert notification.payer_amount == PAYER
    outcome = notification.outcome
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "wr_pay_1"
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("failure_code", "expected"),
    [
        ("insufficient_funds", FailureCode.INSUFFICIENT_FUNDS),
        ("order_expired", FailureCode.CODE_EXPIRED),
        ("something_new", FailureCode.PARTNER_DECLINED),
        (None, FailureCode.PARTNER_DECLINED),
    ],
)
def test_a_verified_failure(
    adapter: WalletRestAdapter, failure_code: str | None, expected: FailureCode
) -> None:
    body = result(status="failed", payment_id=None, completed_at=None, failure_code=failure_code)
    outcome = adapter.read_notification(inbound(body), NOW).outcome
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, expected)


@pytest.mark.parametrize(
    "shift",
    [
        NOTIFICATION_TOLERANCE + timedelta(seconds=1),
        -NOTIFICATION_TOLERANCE - timedelta(seconds=1),
    ],
    ids=["old", "future"],
)
def test_a_stale_or_future_notification_is_refused(
    adapter: WalletRestAdapter, shift: timedelta
) -> None:
    with pytest.raises(NotificationRefused) as info:
        adapter.read_notification(inbound(result(), at=NOW - shift), NOW)
    assert info.value.problem is NotificationProblem.STALE


def test_the_tolerance_holds_at_its_edge(adapter: WalletRestAdapter) -> None:
    for shift in (NOTIFICATION_TOLERANCE, -NOTIFICATION_TOLERANCE):
        adapter.read_notification(inbound(result(), at=NOW - shift), NOW)


def _tampered_body() -> InboundRequest:
    good = inbound(result())
    return InboundRequest(
        good.method, good.path, good.headers, good.body.replace(b"250.12", b"250.13")
    )


def _other_timestamp() -> InboundRequest:
    good = inbound(result())
    headers = dict(good.headers) | {"x-timestamp": str(int(NOW.timestamp()) + 1)}
    return InboundRequest(good.method, good.path, headers, good.body)


@pytest.mark.parametrize(
    "request_",
    [
        inbound(result(), headers={}),
        inbound(result(), headers={"x-timestamp": TS}),
        inbound(result(), headers={"x-signature": sign(SECRET, raw(result()))}),
        inbound(result(), secret=SECRET + "x"),
        inbound(result(), headers={"x-timestamp": "-1", "x-signature": "v1=00"}),
        inbound(result(), headers={"x-timestamp": TS, "x-signature": "v0=abc"}),
        # a stale message is not called stale unless it is the partner's
        inbound(result(), at=NOW - timedelta(days=1), secret=SECRET + "x"),
        _tampered_body(),
        _other_timestamp(),
    ],
    ids=[
        "no headers",
        "no signature",
        "no timestamp",
        "wrong secret",
        "bad timestamp",
        "other scheme",
        "stale and forged",
        "tampered body",
        "other timestamp",
    ],
)
def test_a_bad_signature_is_refused_before_anything_is_read(
    adapter: WalletRestAdapter, request_: InboundRequest
) -> None:
    with pytest.raises(NotificationRefused) as info:
        adapter.read_notification(request_, NOW)
    assert info.value.problem is NotificationProblem.SIGNATURE


def test_an_answer_of_ours_cannot_pass_for_a_notification() -> None:
    """The gateway's own signed answers (the same secret) sign `<ts>.<status>.<body>`."""
    body = raw(result())
    forged = InboundRequest(
        "POST",
        "/n",
        {"x-timestamp": TS, "x-signature": sign(SECRET, response_content(TS, 200, body))},
        body,
    )
    with pytest.raises(NotificationRefused) as info:
        read_notification(forged, NOW, secret=SECRET)
    assert info.value.problem is NotificationProblem.SIGNATURE


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"type": "payment.result"}',
        result(type="refund.result"),
        result(status="canceled"),
        result(status="processing"),
        result(status=None),
        result(order_id=""),
        result(order_id="x" * 65),
        result(id=""),
        result(id=7),
        result(payment_id=None),
        result(completed_at=None),
        result(completed_at="2026-11-26T02:03:04"),
        result(amount={"currency": "CNY", "value": "250.1"}),
        result(amount={"currency": "CNY", "value": 250.12}),
        result(amount={"currency": "CNY", "value": "0.00"}),
        result(amount={"currency": "CNY", "value": "-1.00"}),
        result(amount={"currency": "XXX", "value": "1.00"}),
        result(amount=None),
        result(failure_code=""),
        b'{"type": "payment.result", "amount": NaN}',
    ],
)
def test_a_signed_but_malformed_notification_is_refused(
    adapter: WalletRestAdapter, body: Any
) -> None:
    with pytest.raises(NotificationRefused) as info:
        adapter.read_notification(inbound(body), NOW)
    assert info.value.problem is NotificationProblem.MALFORMED


def test_only_a_post_is_a_notification(adapter: WalletRestAdapter) -> None:
    with pytest.raises(NotificationRefused) as info:
        adapter.read_notification(inbound(result(), method="GET"), NOW)
    assert info.value.problem is NotificationProblem.MALFORMED


@pytest.mark.parametrize(("accepted", "status"), [(True, 200), (False, 503)])
def test_the_acknowledgment_is_signed_like_an_answer(
    adapter: WalletRestAdapter, accepted: bool, status: int
) -> None:
    ack = adapter.acknowledge(inbound(result()), accepted)
    assert ack.status == status
    assert json.loads(ack.body) == {"received": accepted}
    timestamp = ack.headers["X-Timestamp"]
    assert timestamp == TS
    assert verify(SECRET, response_content(timestamp, status, ack.body), ack.headers["X-Signature"])
    assert ack.headers["Content-Type"] == "application/json"
