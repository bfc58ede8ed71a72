"""The WalletRest client's wire format and trust rules, over `httpx.MockTransport` (no network)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters import (
    Adapter,
    AdapterConfigError,
    CancelRequest,
    Delivery,
    InquiryRequest,
    MerchantInfo,
    Operation,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
    SystemClock,
)
from adapters.walletrest import (
    RefundInquiryRequest,
    RefundRequest,
    WalletRestAdapter,
    build_adapter,
)
from adapters.walletrest.signing import request_content, response_content, sign, verify
from fx import Money

BASE_URL = "https://wallet.test"
API_KEY = "sk_test_0123456789abcdef"
SECRET = "whsec_" + "s" * 40
CODE = "281234567890120000"
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))
TIMEOUTS = {op: 2.0 for op in Operation}


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def pay_request(code: str = CODE) -> PayRequest:
    return PayRequest(
        partner_request_id="att_0001",
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=Money.of(25012, "CNY"),
        code=PaymentCode(code),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH"),
        requested_at=NOW,
    )


PAYMENT = {
    "object": "payment",
    "id": "wr_pay_1",
    "request_id": "att_0001",
    "status": "succeeded",
    "amount": {"currency": "CNY", "value": "250.12"},
}


def answer(
    status: int,
    body: Any,
    *,
    secret: str = SECRET,
    timestamp: str = TS,
    signed: bool = True,
) -> httpx.Response:
    raw = json.dumps(body).encode() if not isinstance(body, bytes) else body
    headers = {"content-type": "application/json", "x-timestamp": timestamp}
    if signed:
        headers["x-signature"] = sign(secret, response_content(timestamp, status, raw))
    return httpx.Response(status, content=raw, headers=headers)


Handler = Callable[[httpx.Request], httpx.Response]


class Partner:
    """A scripted partner: records requests, answers with `reply`."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.reply: Handler = lambda request: answer(201, PAYMENT)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.reply(request)


@pytest.fixture
def partner() -> Partner:
    return Partner()


@pytest.fixture
async def http(partner: Partner) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(partner.handle)) as client:
        yield client


def make(http: httpx.AsyncClient, base_url: str = BASE_URL, **kwargs: Any) -> WalletRestAdapter:
    return build_adapter(
        partner_id="wr-sbx",
        base_url=base_url,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts=TIMEOUTS,
        clock=FixedClock(),
        **kwargs,
    )


async def test_pay_request_wire_format(partner: Partner, http: httpx.AsyncClient) -> None:
    outcome = await make(http).pay(pay_request())
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    request = partner.requests[-1]
    assert (request.method, str(request.url)) == ("POST", f"{BASE_URL}/v1/payments")
    headers = request.headers
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["idempotency-key"] == "att_0001"
    assert headers["x-timestamp"] == TS
    assert headers["content-type"] == "application/json"
    content = request_content(TS, "POST", "/v1/payments", request.content)
    assert verify(SECRET, content, headers["x-signature"])
    body = json.loads(request.content)
    assert body["amount"] == {"currency": "CNY", "value": "250.12"}
    assert body["merchant_amount"] == {"currency": "THB", "value": "1250.50"}
    assert body["payment_code"] == CODE
    assert b": " not in request.content  # compact JSON: the bytes signed are the bytes sent


async def test_other_operations_paths(partner: Partner, http: httpx.AsyncClient) -> None:
    adapter = make(http, base_url=f"{BASE_URL}/acq/")
    partner.reply = lambda request: answer(404, {"error": {"type": "not_found"}})
    await adapter.inquire(InquiryRequest("att/1 2", Money.of(25012, "CNY")))
    await adapter.cancel(CancelRequest("att_0001"))
    await adapter.refund(
        RefundRequest("rfa_1", "att_0001", "rf-1", Money.of(100, "THB"), Money.of(20, "CNY"))
    )
    await adapter.inquire_refund(RefundInquiryRequest("rfa_1", Money.of(20, "CNY")))
    seen = [
        (r.method, r.url.raw_path.decode(), r.headers.get("idempotency-key"))
        for r in partner.requests
    ]
    assert seen == [
        ("GET", "/acq/v1/payments/att%2F1%202", None),
        ("POST", "/acq/v1/payments/att_0001/cancel", "att_0001"),
        ("POST", "/acq/v1/refunds", "rfa_1"),
        ("GET", "/acq/v1/refunds/rfa_1", None),
    ]
    for request in partner.requests:
        path = request.url.raw_path.decode()
        content = request_content(TS, request.method, path, request.content)
        assert verify(SECRET, content, request.headers["x-signature"]), path
    assert partner.requests[0].content == b""


@pytest.mark.parametrize(
    "reply",
    [
        lambda r: answer(201, PAYMENT, signed=False),
        lambda r: answer(201, PAYMENT, secret=SECRET + "x"),
        lambda r: answer(201, PAYMENT, timestamp=str(int(NOW.timestamp()) - 301)),
        lambda r: answer(201, PAYMENT, timestamp="soon"),
        lambda r: answer(503, {"error": {"type": "not_accepted"}}, signed=False),
        lambda r: answer(500, b"Internal Server Error", signed=False),
    ],
    ids=["unsigned", "wrong secret", "stale", "bad timestamp", "unsigned 503", "unsigned 500"],
)
async def test_untrusted_answers_are_maybe_sent(
    partner: Partner, http: httpx.AsyncClient, reply: Handler
) -> None:
    partner.reply = reply
    outcome = await make(http).pay(pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.http_status is not None and not outcome.nothing_charged


async def test_the_signature_covers_the_status(partner: Partner, http: httpx.AsyncClient) -> None:
    def relabelled(request: httpx.Request) -> httpx.Response:
        signed_503 = answer(503, {"error": {"type": "not_accepted"}})
        return httpx.Response(502, content=signed_503.content, headers=signed_503.headers)

    partner.reply = relabelled
    outcome = await make(http).pay(pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


async def test_signed_not_accepted_is_nothing_charged(
    partner: Partner, http: httpx.AsyncClient
) -> None:
    partner.reply = lambda r: answer(503, {"error": {"type": "not_accepted"}})
    outcome = await make(http).pay(pay_request())
    assert outcome.nothing_charged and outcome.http_status == 503


async def test_signature_tolerance_is_configurable(
    partner: Partner, http: httpx.AsyncClient
) -> None:
    late = str(int((NOW - timedelta(seconds=20)).timestamp()))
    partner.reply = lambda r: answer(201, PAYMENT, timestamp=late)
    assert (await make(http).pay(pay_request())).status is OutcomeStatus.SUCCEEDED
    strict = make(http, signature_tolerance=10)
    assert (await strict.pay(pay_request())).status is OutcomeStatus.UNKNOWN


async def test_transport_errors_are_classified(http: httpx.AsyncClient) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("reset", request=request)

    for handler, delivery in ((refuse, Delivery.NOT_SENT), (reset, Delivery.MAYBE_SENT)):
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            outcome = await make(client).pay(pay_request())
        assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery)
        assert CODE not in outcome.message


def test_is_an_adapter_with_refunds(http: httpx.AsyncClient) -> None:
    adapter = make(http)
    assert isinstance(adapter, Adapter)
    assert {Operation.REFUND, Operation.INQUIRE_REFUND} <= adapter.capabilities
    assert Operation.SETTLEMENT_FILE in adapter.capabilities
    assert Operation.FX_RATES in adapter.capabilities
    assert API_KEY not in repr(adapter) and SECRET not in repr(adapter)


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({"api_key": API_KEY}, "'signing_secret' is missing"),
        ({"api_key": " ", "signing_secret": SECRET}, "'api_key' is missing"),
        ({"api_key": API_KEY, "signing_secret": "short"}, "'signing_secret' is invalid"),
        ({"api_key": "a b", "signing_secret": SECRET}, "'api_key' is invalid"),
        ({"api_key": API_KEY, "signing_secret": SECRET, "key_version": "1"}, "'key_version'"),
    ],
)
def test_build_refuses_bad_credentials(
    http: httpx.AsyncClient, credentials: dict[str, str], message: str
) -> None:
    with pytest.raises(AdapterConfigError, match=message) as info:
        build_adapter(
            partner_id="wr",
            base_url=BASE_URL,
            credentials=credentials,
            http=http,
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("base_url", "timeouts", "message"),
    [
        ("ftp://wallet.test", TIMEOUTS, "base_url"),
        ("https://wallet.test/?x=1", TIMEOUTS, "base_url"),
        (BASE_URL, {Operation.PAY: 1.0}, "timeout for inquire"),
        (BASE_URL, {**TIMEOUTS, Operation.REFUND: 0}, "timeout for refund"),
    ],
)
def test_build_refuses_bad_settings(
    http: httpx.AsyncClient, base_url: str, timeouts: dict[Operation, float], message: str
) -> None:
    with pytest.raises(AdapterConfigError, match=message):
        build_adapter(
            partner_id="wr",
            base_url=base_url,
            credentials={"api_key": API_KEY, "signing_secret": SECRET},
            http=http,
            timeouts=timeouts,
            clock=FixedClock(),
        )


async def test_partner_text_is_made_storable(partner: Partner, http: httpx.AsyncClient) -> None:
    """A NUL (PostgreSQL refuses it) or an over-long reference in a signed answer must not
    make the charge it reports unstorable: the outcome keeps a cleaned, column-sized copy."""
    partner.reply = lambda request: answer(200, {**PAYMENT, "id": "wr\x00" + "p" * 300})
    outcome = await make(http).pay(pay_request())
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference == "wr\ufffd" + "p" * 125
