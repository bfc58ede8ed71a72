"""The client's wire format and trust rules, against respx (no network).

respx's default mocker patches httpx's own transports, not the aiohttp one, so the adapter gets a
client over `httpx.MockTransport(router.async_handler)`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters import (
    Adapter,
    AdapterConfigError,
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    MerchantInfo,
    Operation,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    SystemClock,
)
from adapters.alipayplus import AlipayPlusAdapter, build_adapter, generate_keypair
from adapters.alipayplus.signing import (
    SignatureHeader,
    build_content,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from fx import Money

BASE_URL = "https://partner.test"
CLIENT_ID = "SANDBOX_GATEWAY"
CODE = "281234567890120000"
TIMEOUTS = {
    Operation.PAY: 2.0,
    Operation.INQUIRE: 2.0,
    Operation.CANCEL: 2.0,
    Operation.REFUND: 2.0,
    Operation.INQUIRE_REFUND: 2.0,
    Operation.SETTLEMENT_FILE: 2.0,
}


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


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)


def credentials(**override: str) -> dict[str, str]:
    base = {
        "client_id": CLIENT_ID,
        "private_key": keys()["merchant_private"],
        "partner_public_key": keys()["partner_public"],
    }
    return {**base, **override}


def pay_request(code: str = CODE) -> PayRequest:
    return PayRequest(
        partner_request_id="att_0001",
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=Money.of(25012, "CNY"),
        code=PaymentCode(code),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH"),
        requested_at=datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC),
    )


def partner_answer(
    request: httpx.Request,
    body: dict[str, Any],
    *,
    status: int = 200,
    key_version: int = 1,
    signing_key: str | None = None,
    tamper: bool = False,
    client_id: str = CLIENT_ID,
) -> httpx.Response:
    """A partner answer signed over `POST <request path>\\n<client-id>.<time>.<body>`."""
    raw = json.dumps(body).encode()
    response_time = "2026-11-26T10:00:01+08:00"
    content = build_content("POST", request.url.path, client_id, response_time, raw)
    key = _private_key(signing_key or keys()["partner_private"])
    header = SignatureHeader(signature=sign(key, content), key_version=key_version)
    if tamper:
        raw = raw.replace(b"25012", b"25013")
    return httpx.Response(
        status,
        content=raw,
        headers={
            "client-id": client_id,
            "response-time": response_time,
            "signature": header.render(),
            "content-type": "application/json",
        },
    )


@functools.cache
def _private_key(pem: str) -> rsa.RSAPrivateKey:
    return load_private_key(pem)


PAY_OK = {
    "result": {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "Success"},
    "paymentRequestId": "att_0001",
    "paymentId": "P1",
    "paymentAmount": {"currency": "CNY", "value": "25012"},
    "paymentTime": "2026-11-26T10:00:01+08:00",
}


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def adapter(router: respx.Router) -> AsyncIterator[AlipayPlusAdapter]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield build_adapter(
            partner_id="antom-sbx",
            base_url=BASE_URL,
            credentials=credentials(),
            http=http,
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )


SANDBOX_PAY = "/ams/sandbox/api/v1/payments/pay"


async def test_pay_request_wire_format(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    route = router.post(SANDBOX_PAY).mock(side_effect=lambda r: partner_answer(r, PAY_OK))
    outcome = await adapter.pay(pay_request())
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "P1"

    request = route.calls.last.request
    assert request.url == f"{BASE_URL}{SANDBOX_PAY}"  # SANDBOX_ client ids use the sandbox path
    headers = request.headers
    assert headers["client-id"] == CLIENT_ID
    assert headers["request-time"] == "2026-11-26T02:00:00+00:00"
    assert headers["content-type"] == "application/json; charset=UTF-8"
    signature = SignatureHeader.parse(headers["signature"])
    assert headers["signature"].startswith("algorithm=RSA256,keyVersion=1,signature=")
    content = build_content(
        "POST", SANDBOX_PAY, CLIENT_ID, headers["request-time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, signature.signature)

    body = json.loads(request.content)
    assert body["paymentRequestId"] == "att_0001"
    assert body["paymentAmount"] == {"currency": "CNY", "value": "25012"}
    assert body["order"]["orderAmount"] == {"currency": "THB", "value": "125050"}
    assert body["paymentMethod"] == {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": CODE}
    assert b": " not in request.content  # compact JSON


async def test_production_client_id_uses_ams_api_path(router: respx.Router) -> None:
    route = router.post("/base/ams/api/v1/payments/cancel").mock(
        side_effect=lambda r: partner_answer(
            r,
            {"result": {"resultStatus": "S", "resultCode": "SUCCESS"}},
            client_id="LIVE_1",
        )
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        adapter = build_adapter(
            partner_id="antom",
            base_url=f"{BASE_URL}/base/",
            credentials=credentials(client_id="LIVE_1"),
            http=http,
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )
        outcome = await adapter.cancel(CancelRequest("att_0001"))
    assert outcome.status is OutcomeStatus.SUCCEEDED
    request = route.calls.last.request
    assert json.loads(request.content) == {"paymentRequestId": "att_0001"}
    # The signed path is the full request path, base path included.
    signature = SignatureHeader.parse(request.headers["signature"]).signature
    content = build_content(
        "POST",
        "/base/ams/api/v1/payments/cancel",
        "LIVE_1",
        request.headers["request-time"],
        request.content,
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, signature)


async def test_inquiry_path_and_body(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    answer = {
        "result": {"resultStatus": "S", "resultCode": "SUCCESS"},
        "paymentStatus": "FAIL",
        "paymentResultCode": "ORDER_IS_CLOSED",
        "paymentRequestId": "att_0001",
    }
    route = router.post("/ams/sandbox/api/v1/payments/inquiryPayment").mock(
        side_effect=lambda r: partner_answer(r, answer)
    )
    outcome = await adapter.inquire(InquiryRequest("att_0001", Money.of(25012, "CNY")))
    assert (outcome.status, outcome.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PAYMENT_EXPIRED,
    )
    assert json.loads(route.calls.last.request.content) == {"paymentRequestId": "att_0001"}


SANDBOX_REFUND = "/ams/sandbox/api/v1/payments/refund"
SANDBOX_INQUIRY_REFUND = "/ams/sandbox/api/v1/payments/inquiryRefund"
REFUND = RefundRequest(
    partner_request_id="rfa_0001",
    payment_partner_request_id="att_0001",
    reference="rf_1",
    amount=Money.of(50000, "THB"),
    payer_amount=Money.of(10005, "CNY"),
    payment_partner_reference="P1",
)
REFUND_OK = {
    "result": {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "Success"},
    "refundRequestId": "rfa_0001",
    "refundId": "RF1",
    "paymentId": "P1",
    "refundAmount": {"currency": "CNY", "value": "10005"},
    "refundTime": "2026-11-26T10:05:00+08:00",
}


async def test_refund_request_wire_format(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    route = router.post(SANDBOX_REFUND).mock(side_effect=lambda r: partner_answer(r, REFUND_OK))
    outcome = await adapter.refund(REFUND)
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference == "RF1"
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 5, tzinfo=UTC)

    request = route.calls.last.request
    assert request.url == f"{BASE_URL}{SANDBOX_REFUND}"
    headers = request.headers
    assert (headers["client-id"], headers["request-time"]) == (
        CLIENT_ID,
        "2026-11-26T02:00:00+00:00",
    )
    assert headers["content-type"] == "application/json; charset=UTF-8"
    signature = SignatureHeader.parse(headers["signature"]).signature
    content = build_content(
        "POST", SANDBOX_REFUND, CLIENT_ID, headers["request-time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, signature)
    assert request.content == (
        b'{"refundRequestId":"rfa_0001","paymentId":"P1",'
        b'"refundAmount":{"currency":"CNY","value":"10005"}}'
    )


async def test_inquire_refund_path_and_body(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    answer = {
        "result": {"resultStatus": "S", "resultCode": "SUCCESS"},
        "refundRequestId": "rfa_0001",
        "refundId": "RF1",
        "refundStatus": "SUCCESS",
        "refundAmount": {"currency": "CNY", "value": "10005"},
        "refundTime": "2026-11-26T10:05:00+08:00",
    }
    route = router.post(SANDBOX_INQUIRY_REFUND).mock(
        side_effect=lambda r: partner_answer(r, answer)
    )
    outcome = await adapter.inquire_refund(RefundInquiryRequest("rfa_0001", Money.of(10005, "CNY")))
    assert (outcome.status, outcome.partner_reference) == (OutcomeStatus.SUCCEEDED, "RF1")
    assert route.calls.last.request.content == b'{"refundRequestId":"rfa_0001"}'


@pytest.mark.parametrize(
    ("answer", "fragment"),
    [
        (lambda r: httpx.Response(500, content=b"oops"), "HTTP 500"),
        (lambda r: httpx.Response(200, content=json.dumps(REFUND_OK).encode()), "unsigned"),
        (
            lambda r: partner_answer(
                r, {**REFUND_OK, "refundAmount": {"currency": "CNY", "value": "1"}}
            ),
            "differs",
        ),
        (lambda r: partner_answer(r, {"result": 3}), "unparseable"),
    ],
)
async def test_untrusted_refund_answers_are_unknown_maybe_sent(
    router: respx.Router,
    adapter: AlipayPlusAdapter,
    answer: Callable[[httpx.Request], httpx.Response],
    fragment: str,
) -> None:
    router.post(SANDBOX_REFUND).mock(side_effect=answer)
    outcome = await adapter.refund(REFUND)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert fragment in outcome.message


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (httpx.ConnectError("refused"), Delivery.NOT_SENT),
        (httpx.ReadTimeout("slow answer"), Delivery.MAYBE_SENT),
    ],
)
async def test_refund_transport_errors(
    router: respx.Router, adapter: AlipayPlusAdapter, error: Exception, delivery: Delivery
) -> None:
    router.post(SANDBOX_REFUND).mock(side_effect=error)
    router.post(SANDBOX_INQUIRY_REFUND).mock(side_effect=error)
    for outcome in (
        await adapter.refund(REFUND),
        await adapter.inquire_refund(RefundInquiryRequest("rfa_0001", Money.of(10005, "CNY"))),
    ):
        assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery)


def _plain(status: int, body: bytes = b"oops") -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, content=body)


@pytest.mark.parametrize(
    ("answer", "fragment", "http_status"),
    [
        (_plain(500), "HTTP 500", 500),
        (lambda r: partner_answer(r, PAY_OK, status=502), "HTTP 502", 502),  # signed, but not 200
        (lambda r: partner_answer(r, PAY_OK, status=201), "HTTP 201", 201),
        (_plain(200, json.dumps(PAY_OK).encode()), "unsigned", 200),
        (lambda r: partner_answer(r, PAY_OK, tamper=True), "does not verify", 200),
        (
            lambda r: partner_answer(r, PAY_OK, signing_key=keys()["merchant_private"]),
            "does not verify",
            200,
        ),
        (lambda r: partner_answer(r, PAY_OK, key_version=2), "keyVersion 2", 200),
        (lambda r: partner_answer(r, PAY_OK, client_id="SOMEONE_ELSE"), "", 200),
    ],
)
async def test_untrusted_answers_are_unknown_maybe_sent(
    router: respx.Router,
    adapter: AlipayPlusAdapter,
    answer: Callable[[httpx.Request], httpx.Response],
    fragment: str,
    http_status: int,
) -> None:
    router.post(SANDBOX_PAY).mock(side_effect=answer)
    outcome = await adapter.pay(pay_request())
    if fragment == "":
        # A differently named client-id is fine as long as the signature covers it.
        assert outcome.status is OutcomeStatus.SUCCEEDED
        return
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert fragment in outcome.message
    assert outcome.http_status == http_status


async def test_signed_but_unparseable_answer_is_unknown(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = partner_answer(request, {"result": "not an object"})
        return response

    router.post(SANDBOX_PAY).mock(side_effect=answer)
    outcome = await adapter.pay(pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert "unparseable" in outcome.message and "result" in outcome.message


async def test_missing_response_headers(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = partner_answer(request, PAY_OK)
        del response.headers["response-time"]
        return response

    router.post(SANDBOX_PAY).mock(side_effect=answer)
    outcome = await adapter.pay(pay_request())
    assert outcome.status is OutcomeStatus.UNKNOWN and "response-time" in outcome.message


async def test_rotated_partner_key_is_accepted(router: respx.Router) -> None:
    new_private, new_public = generate_keypair()
    router.post(SANDBOX_PAY).mock(
        side_effect=lambda r: partner_answer(r, PAY_OK, key_version=2, signing_key=new_private)
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        adapter = build_adapter(
            partner_id="antom",
            base_url=BASE_URL,
            credentials=credentials(partner_public_key=new_public, partner_key_version="2"),
            http=http,
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )
        assert (await adapter.pay(pay_request())).status is OutcomeStatus.SUCCEEDED


async def test_signed_not_accepted_is_not_sent(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = {"result": {"resultStatus": "F", "resultCode": "PARTNER_STATUS_ABNORMAL"}}
    router.post(SANDBOX_PAY).mock(side_effect=lambda r: partner_answer(r, body))
    outcome = await adapter.pay(pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)


@pytest.mark.parametrize(
    ("error", "delivery"),
    [
        (httpx.ConnectError("refused"), Delivery.NOT_SENT),
        (httpx.ConnectTimeout("slow connect"), Delivery.NOT_SENT),
        (httpx.PoolTimeout("pool"), Delivery.NOT_SENT),
        (httpx.ReadTimeout("slow answer"), Delivery.MAYBE_SENT),
        (httpx.RemoteProtocolError("reset"), Delivery.MAYBE_SENT),
        (httpx.WriteError("broken pipe"), Delivery.MAYBE_SENT),
        (RuntimeError("something odd"), Delivery.MAYBE_SENT),
    ],
)
async def test_transport_errors(
    router: respx.Router, adapter: AlipayPlusAdapter, error: Exception, delivery: Delivery
) -> None:
    router.post(SANDBOX_PAY).mock(side_effect=error)
    outcome = await adapter.pay(pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery)
    assert type(error).__name__ in outcome.message
    assert CODE not in outcome.message


async def test_the_code_never_reaches_logs_or_messages(
    router: respx.Router, adapter: AlipayPlusAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    body = {
        "result": {"resultStatus": "F", "resultCode": "INVALID_CODE", "resultMessage": CODE},
        "paymentRequestId": "att_0001",
    }
    router.post(SANDBOX_PAY).mock(side_effect=lambda r: partner_answer(r, body))
    outcome = await adapter.pay(pay_request())
    assert outcome.failure_code is FailureCode.PAYMENT_CODE_INVALID
    assert CODE not in outcome.message
    assert CODE not in caplog.text and CODE not in repr(outcome)


def test_adapter_satisfies_the_protocol() -> None:
    adapter = build_adapter(
        partner_id="p",
        base_url=BASE_URL,
        credentials=credentials(),
        http=httpx.AsyncClient(),
        timeouts=TIMEOUTS,
        clock=FixedClock(),
    )
    assert isinstance(adapter, Adapter)
    assert adapter.partner_id == "p"
    assert adapter.capabilities == {
        Operation.PAY,
        Operation.INQUIRE,
        Operation.CANCEL,
        Operation.REFUND,
        Operation.INQUIRE_REFUND,
        Operation.SETTLEMENT_FILE,
        Operation.FX_RATES,
        Operation.ORDER_CODE,
        Operation.ENTRY_CODE,
    }
    assert "PRIVATE" not in repr(adapter)


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"client_id": ""}, "client_id"),
        ({"private_key": "nonsense"}, "private_key"),
        ({"private_key": keys()["merchant_public"]}, "private_key"),
        ({"partner_public_key": "nonsense"}, "partner_public_key"),
        ({"partner_public_key": "  "}, "partner_public_key"),
        ({"key_version": "one"}, "key_version"),
        ({"private_kye": "x"}, "private_kye"),
    ],
)
def test_build_adapter_names_the_bad_credential(override: dict[str, str], named: str) -> None:
    with pytest.raises(AdapterConfigError, match=named) as info:
        build_adapter(
            partner_id="p",
            base_url=BASE_URL,
            credentials=credentials(**override),
            http=httpx.AsyncClient(),
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )
    assert "BEGIN" not in str(info.value) and "MII" not in str(info.value)


def test_build_adapter_missing_credential() -> None:
    creds = credentials()
    del creds["partner_public_key"]
    with pytest.raises(AdapterConfigError, match="partner_public_key"):
        build_adapter(
            partner_id="p",
            base_url=BASE_URL,
            credentials=creds,
            http=httpx.AsyncClient(),
            timeouts=TIMEOUTS,
            clock=FixedClock(),
        )


@pytest.mark.parametrize(
    ("base_url", "timeouts"),
    [
        ("ftp://partner.test", TIMEOUTS),
        ("partner.test", TIMEOUTS),
        ("https://partner.test/?x=1", TIMEOUTS),
        (BASE_URL, {Operation.PAY: 8.0, Operation.INQUIRE: 5.0}),
        (BASE_URL, {Operation.PAY: 8.0, Operation.INQUIRE: 5.0, Operation.CANCEL: 8.0}),
        (BASE_URL, {**TIMEOUTS, Operation.PAY: 0}),
    ],
)
def test_bad_settings_raise(base_url: str, timeouts: dict[Operation, float]) -> None:
    with pytest.raises(AdapterConfigError):
        build_adapter(
            partner_id="p",
            base_url=base_url,
            credentials=credentials(),
            http=httpx.AsyncClient(),
            timeouts=timeouts,
            clock=FixedClock(),
        )
