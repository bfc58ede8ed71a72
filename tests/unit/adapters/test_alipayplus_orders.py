"""Alipay+ merchant-presented order codes: the order-code `pay` (body, answers, hostile ones),
the partner's `notifyPayment` (signature, time, body) and our signed acknowledgment.

No network: the adapter talks to respx through `httpx.MockTransport(router.async_handler)`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa

from adapters import (
    Delivery,
    FailureCode,
    InboundRequest,
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
from adapters.alipayplus import AlipayPlusAdapter, build_adapter, generate_keypair, transforms
from adapters.alipayplus.models import encode
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
PAY_PATH = "/ams/sandbox/api/v1/payments/pay"
NOTIFY_PATH = "/partners/antom-sbx/notify"
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(minutes=5)
# No order_code entry: it falls back to DEFAULT_TIMEOUTS.
TIMEOUTS: dict[Operation, float] = {
    op: 2.0 for op in Operation if op not in (Operation.FX_RATES, Operation.ORDER_CODE)
}
CODE_URL = "https://qr.partner.test/oc/281002040090bbmmzTC4BzSex92tUglv31de"


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


@functools.cache
def _private(pem: str) -> rsa.RSAPrivateKey:
    return load_private_key(pem)


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def credentials() -> dict[str, str]:
    return {
        "client_id": CLIENT_ID,
        "private_key": keys()["merchant_private"],
        "partner_public_key": keys()["partner_public"],
    }


def order_request(**override: Any) -> OrderCodeRequest:
    base: dict[str, Any] = {
        "partner_request_id": "att_0001",
        "reference": "pay_42",
        "amount": Money.of(125050, "THB"),
        "payer_amount": Money.of(25012, "CNY"),
        "wallet": "alipay_cn",
        "merchant": MerchantInfo(id="m_1", name="Siam Coffee", country="TH", store_id="st_9"),
        "requested_at": NOW,
        "expires_at": EXPIRES,
        "notify_url": "https://gw.test" + NOTIFY_PATH,
        "description": "2 coffees",
    }
    return OrderCodeRequest(**(base | override))


def partner_answer(request: httpx.Request, body: dict[str, Any], **kw: Any) -> httpx.Response:
    raw = json.dumps(body).encode()
    response_time = "2026-11-26T10:00:01+08:00"
    content = build_content("POST", request.url.path, CLIENT_ID, response_time, raw)
    header = SignatureHeader(signature=sign(_private(keys()["partner_private"]), content))
    headers = {
        "client-id": CLIENT_ID,
        "response-time": response_time,
        "signature": header.render(),
        "content-type": "application/json",
    }
    if kw.get("unsigned"):
        del headers["signature"]
    return httpx.Response(kw.get("status", 200), content=raw, headers=headers)


def pending(**override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "result": {
            "resultStatus": "U",
            "resultCode": "PAYMENT_IN_PROCESS",
            "resultMessage": "payment in process",
        },
        "paymentRequestId": "att_0001",
        "paymentId": "2026112619074101300000000001",
        "paymentAmount": {"currency": "CNY", "value": "25012"},
        "paymentCreateTime": "2026-11-26T10:00:00+08:00",
        "orderCodeForm": {
            "expireTime": "2026-11-26T10:04:00+08:00",
            "codeDetails": [
                {"codeValue": CODE_URL + "&picSize=L", "displayType": "BIGIMAGE"},
                {"codeValueType": "QRCODE", "codeValue": CODE_URL, "displayType": "TEXT"},
            ],
        },
    }
    return body | override


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


# --- the order-code pay -------------------------------------------------------------------------


def test_order_code_body_is_exact() -> None:
    assert encode(transforms.order_code_body(order_request())) == (
        b'{"productCode":"IN_STORE_PAYMENT","paymentRequestId":"att_0001",'
        b'"order":{"referenceOrderId":"pay_42","orderDescription":"2 coffees",'
        b'"orderAmount":{"currency":"THB","value":"125050"},'
        b'"merchant":{"referenceMerchantId":"m_1","merchantMCC":"5411",'
        b'"merchantName":"Siam Coffee","store":{"referenceStoreId":"st_9",'
        b'"storeName":"Siam Coffee","storeMCC":"5411"}}},'
        b'"paymentAmount":{"currency":"CNY","value":"25012"},'
        b'"paymentMethod":{"paymentMethodType":"CONNECT_WALLET"},'
        b'"paymentFactor":{"inStorePaymentScenario":"OrderCode"},'
        b'"paymentExpiryTime":"2026-11-26T02:05:00+00:00",'
        b'"paymentNotifyUrl":"https://gw.test/partners/antom-sbx/notify"}'
    )


def test_order_code_body_defaults_description_and_store() -> None:
    request = order_request(
        description="", merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH")
    )
    order = json.loads(encode(transforms.order_code_body(request)))["order"]
    assert order["orderDescription"] == "Order pay_42"
    assert order["merchant"]["store"]["referenceStoreId"] == "m_1"
    assert "env" not in order


async def test_pending_answer_is_the_code(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    route = router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, pending()))
    result = await adapter.create_order_code(order_request())
    assert result == OrderCode(
        code=CODE_URL,
        expires_at=datetime(2026, 11, 26, 2, 4, tzinfo=UTC),
        partner_reference="2026112619074101300000000001",
    )
    request = route.calls.last.request
    assert request.content == encode(transforms.order_code_body(order_request()))
    assert request.headers["request-time"] == "2026-11-26T02:00:00+00:00"
    signature = SignatureHeader.parse(request.headers["signature"]).signature
    content = build_content(
        "POST", PAY_PATH, CLIENT_ID, request.headers["request-time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, signature)


async def test_success_answer_with_form_is_a_code_too(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = pending(result={"resultStatus": "S", "resultCode": "SUCCESS"})
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, OrderCode) and result.code == CODE_URL


async def test_first_code_value_without_text_and_expiry_never_later_than_asked(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = pending(
        orderCodeForm={
            "expireTime": "2026-11-26T11:00:00+08:00",  # an hour: later than asked
            "codeDetails": [{"codeValue": "281234"}, {"codeValue": "other"}],
        }
    )
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.create_order_code(order_request())
    assert result == OrderCode(
        code="281234", expires_at=EXPIRES, partner_reference="2026112619074101300000000001"
    )


async def test_form_without_expire_time_expires_when_asked(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = pending(orderCodeForm={"codeDetails": [{"codeValue": CODE_URL, "displayType": "TEXT"}]})
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, OrderCode) and result.expires_at == EXPIRES


def _assert_untrusted(result: OrderCode | Outcome, *words: str) -> None:
    assert isinstance(result, Outcome), result
    assert result.status is OutcomeStatus.UNKNOWN, result
    assert result.delivery is Delivery.MAYBE_SENT, result
    for word in words:
        assert word in result.message, result.message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (pending(orderCodeForm=None), ("orderCodeForm",)),
        ({k: v for k, v in pending().items() if k != "orderCodeForm"}, ("orderCodeForm",)),
        (pending(orderCodeForm={"codeDetails": []}), ("codeValue",)),
        (pending(orderCodeForm={"codeDetails": [{"displayType": "TEXT"}]}), ("codeValue",)),
        (
            pending(orderCodeForm={"codeDetails": [{"codeValue": "a\nb", "displayType": "TEXT"}]}),
            ("control",),
        ),
        (
            pending(orderCodeForm={"codeDetails": [{"codeValue": "x" * 2049}]}),
            ("longer",),
        ),
        (
            pending(
                orderCodeForm={
                    "expireTime": "2026-11-26 10:04:00",
                    "codeDetails": [{"codeValue": CODE_URL}],
                }
            ),
            ("expireTime",),
        ),
        (pending(paymentAmount={"currency": "CNY", "value": "25013"}), ("250.13", "differs")),
        (pending(paymentAmount={"currency": "USD", "value": "25012"}), ("differs",)),
        (pending(paymentAmount={"currency": "CNY", "value": "250.12"}), ("unreadable",)),
        (pending(paymentRequestId="att_9999"), ("paymentRequestId",)),
        (pending(paymentId="P\x00" + "1" * 200), ("paymentId",)),
        (
            pending(result={"resultStatus": "U", "resultCode": "UNKNOWN_EXCEPTION"}),
            ("no order code",),
        ),
        (pending(result={"resultStatus": "S", "resultCode": "WHATEVER"}), ("no order code",)),
        (
            pending(result={"resultStatus": "F", "resultCode": "REPEAT_REQ_INCONSISTENT"}),
            ("no order code",),
        ),
        (pending(result=None), ("no result",)),
    ],
)
async def test_untrusted_answers_are_unknown_maybe_sent(
    router: respx.Router, adapter: AlipayPlusAdapter, body: dict[str, Any], words: tuple[str, ...]
) -> None:
    body = {k: v for k, v in body.items() if v is not None}
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    _assert_untrusted(await adapter.create_order_code(order_request()), *words)


async def test_amount_echo_is_optional(router: respx.Router, adapter: AlipayPlusAdapter) -> None:
    body = {k: v for k, v in pending().items() if k != "paymentAmount"}
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    assert isinstance(await adapter.create_order_code(order_request()), OrderCode)


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("USER_BALANCE_NOT_ENOUGH", FailureCode.INSUFFICIENT_FUNDS),
        ("RISK_REJECT", FailureCode.RISK_REJECTED),
        ("PARAM_ILLEGAL", FailureCode.PARTNER_DECLINED),
        ("ORDER_IS_CLOSED", FailureCode.PAYMENT_EXPIRED),
    ],
)
async def test_f_answers_fail_with_the_family_mapping(
    router: respx.Router, adapter: AlipayPlusAdapter, code: str, failure: FailureCode
) -> None:
    body = {"result": {"resultStatus": "F", "resultCode": code}, "paymentRequestId": "att_0001"}
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, Outcome)
    assert (result.status, result.failure_code, result.partner_code) == (
        OutcomeStatus.FAILED,
        failure,
        code,
    )


async def test_refused_request_is_not_sent(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = {"result": {"resultStatus": "F", "resultCode": "INVALID_SIGNATURE"}}
    router.post(PAY_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, Outcome)
    assert (result.status, result.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)


@pytest.mark.parametrize(
    "answer",
    [
        lambda r: partner_answer(r, pending(), unsigned=True),
        lambda r: partner_answer(r, pending(), status=500),
        lambda r: httpx.Response(200, content=b"not json"),
    ],
)
async def test_untrusted_transport_answers(
    router: respx.Router, adapter: AlipayPlusAdapter, answer: Any
) -> None:
    router.post(PAY_PATH).mock(side_effect=answer)
    _assert_untrusted(await adapter.create_order_code(order_request()))


async def test_tampered_answer_is_untrusted(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    def tampered(request: httpx.Request) -> httpx.Response:
        good = partner_answer(request, pending())
        raw = good.content.replace(CODE_URL.encode(), b"https://evil.test/oc/x")
        return httpx.Response(200, content=raw, headers=good.headers)

    router.post(PAY_PATH).mock(side_effect=tampered)
    _assert_untrusted(await adapter.create_order_code(order_request()), "signature")


async def test_transport_errors_are_unknown(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    router.post(PAY_PATH).mock(side_effect=httpx.ConnectError("refused"))
    result = await adapter.create_order_code(order_request())
    assert isinstance(result, Outcome)
    assert (result.status, result.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)
    router.post(PAY_PATH).mock(side_effect=httpx.ReadTimeout("slow"))
    _assert_untrusted(await adapter.create_order_code(order_request()))


def test_order_code_is_a_capability_with_a_default_timeout() -> None:
    adapter = build_adapter(
        partner_id="p",
        base_url=BASE_URL,
        credentials=credentials(),
        http=httpx.AsyncClient(),
        timeouts=TIMEOUTS,  # no order_code entry: DEFAULT_TIMEOUTS has one
        clock=FixedClock(),
    )
    assert Operation.ORDER_CODE in adapter.capabilities


# --- notifications ------------------------------------------------------------------------------

PAID = {
    "notifyType": "PAYMENT_RESULT",
    "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
    "paymentRequestId": "att_0001",
    "paymentId": "2026112619074101300000000001",
    "paymentAmount": {"currency": "CNY", "value": "25012"},
    "paymentCreateTime": "2026-11-26T10:00:00+08:00",
    "paymentTime": "2026-11-26T10:01:30+08:00",
}


def notification(
    body: dict[str, Any] | bytes = PAID,
    *,
    signed_at: str = "2026-11-26T10:00:30+08:00",
    client_id: str = CLIENT_ID,
    key: str | None = None,
    key_version: int = 1,
    path: str = NOTIFY_PATH,
    flip: bool = False,
    drop: str | None = None,
) -> InboundRequest:
    """A notification signed as the partner signs them (or broken as asked)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    content = build_content("POST", path, client_id, signed_at, raw)
    signature = sign(_private(key or keys()["partner_private"]), content)
    headers = {
        "content-type": "application/json; charset=UTF-8",
        "client-id": client_id,
        "request-time": signed_at,
        "signature": SignatureHeader(signature=signature, key_version=key_version).render(),
    }
    if drop:
        del headers[drop]
    if flip:
        raw = raw[:-2] + bytes([raw[-2] ^ 0x01]) + raw[-1:]
    return InboundRequest(method="POST", path=NOTIFY_PATH, headers=headers, body=raw)


def reader() -> AlipayPlusAdapter:
    return build_adapter(
        partner_id="antom-sbx",
        base_url=BASE_URL,
        credentials=credentials(),
        http=httpx.AsyncClient(),
        timeouts=TIMEOUTS,
        clock=FixedClock(),
    )


def test_paid_notification_is_read() -> None:
    read = reader().read_notification(notification(), NOW)
    assert read.partner_request_id == "att_0001"
    assert read.payer_amount == Money.of(25012, "CNY")
    assert read.outcome.status is OutcomeStatus.SUCCEEDED
    assert read.outcome.partner_reference == "2026112619074101300000000001"
    assert read.outcome.completed_at == datetime(2026, 11, 26, 2, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("USER_BALANCE_NOT_ENOUGH", FailureCode.INSUFFICIENT_FUNDS),
        ("ORDER_IS_CLOSED", FailureCode.PAYMENT_EXPIRED),
        ("ORDER_CLOSED", FailureCode.PARTNER_DECLINED),
    ],
)
def test_failed_notification_is_read(code: str, failure: FailureCode) -> None:
    body = {k: v for k, v in PAID.items() if k != "paymentTime"}
    body["result"] = {"resultCode": code, "resultStatus": "F", "resultMessage": "no"}
    read = reader().read_notification(notification(body), NOW)
    assert read.outcome.status is OutcomeStatus.FAILED
    assert read.outcome.failure_code is failure
    assert read.payer_amount == Money.of(25012, "CNY")


@pytest.mark.parametrize(
    "signed_at",
    [
        "2026-11-26T09:54:59+08:00",  # 5 min 1 s ago
        "2026-11-26T10:05:01+08:00",  # 5 min 1 s ahead
        "2026-11-25T10:00:00+08:00",  # a replay from yesterday
    ],
)
def test_stale_or_future_notifications_are_refused(signed_at: str) -> None:
    with pytest.raises(NotificationRefused) as info:
        reader().read_notification(notification(signed_at=signed_at), NOW)
    assert info.value.problem is NotificationProblem.STALE


def test_tolerance_edges_are_accepted() -> None:
    for moment in (NOW - NOTIFICATION_TOLERANCE, NOW + NOTIFICATION_TOLERANCE):
        reader().read_notification(notification(signed_at=moment.isoformat()), NOW)


@pytest.mark.parametrize(
    "request_",
    [
        notification(flip=True),
        notification(key=generate_keypair()[0]),
        notification(drop="signature"),
        notification(drop="client-id"),
        notification(drop="request-time"),
        notification(client_id="SANDBOX_SOMEONE_ELSE"),
        notification(key_version=2),
        notification(path="/partners/other/notify"),
        notification(signed_at="2026-11-26 10:00:30+08:00"),
        notification(signed_at="2026-11-26T10:00:30"),
        notification(signed_at="1796104830000"),
    ],
    ids=[
        "flipped-byte",
        "other-key",
        "unsigned",
        "no-client-id",
        "no-request-time",
        "other-client",
        "unknown-key-version",
        "other-path",
        "space-time",
        "naive-time",
        "epoch-millis",
    ],
)
def test_bad_signatures_are_refused(request_: InboundRequest) -> None:
    with pytest.raises(NotificationRefused) as info:
        reader().read_notification(request_, NOW)
    assert info.value.problem is NotificationProblem.SIGNATURE


def test_garbled_signature_header_is_refused() -> None:
    good = notification()
    headers = dict(good.headers) | {"signature": "nonsense"}
    request = InboundRequest(method="POST", path=NOTIFY_PATH, headers=headers, body=good.body)
    with pytest.raises(NotificationRefused) as info:
        reader().read_notification(request, NOW)
    assert info.value.problem is NotificationProblem.SIGNATURE


def test_the_signature_is_checked_before_the_time() -> None:
    """A forged and stale notification is a forgery: nothing of it is read."""
    with pytest.raises(NotificationRefused) as info:
        reader().read_notification(
            notification(flip=True, signed_at="2026-11-25T10:00:00+08:00"), NOW
        )
    assert info.value.problem is NotificationProblem.SIGNATURE


def _without(key: str, body: dict[str, Any] = PAID) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    "body",
    [
        b'{"notifyType": "PAYMENT_RESULT", ',
        b"[]",
        b"\xff\xfe{}",
        json.dumps(PAID)
        .replace('"paymentId"', '"paymentRequestId": "att_9", "paymentId"')
        .encode(),
        json.dumps(PAID).encode()[:-1] + b', "extra": NaN}',
        json.dumps(PAID | {"paymentAmount": {"currency": "CNY", "value": 25012}}).encode(),
        PAID | {"paymentAmount": {"currency": "CNY", "value": "250.12"}},
        PAID | {"paymentAmount": {"currency": "CNY", "value": "-25012"}},
        PAID | {"paymentAmount": {"currency": "CNY", "value": "0"}},
        PAID | {"paymentAmount": {"currency": "XXX", "value": "25012"}},
        _without("paymentAmount"),
        _without("paymentRequestId"),
        PAID | {"paymentRequestId": "a" * 65},
        PAID | {"paymentRequestId": "att\x00"},
        _without("paymentTime"),
        PAID | {"paymentTime": "2026-11-26T10:01:30"},
        _without("paymentId"),
        _without("result"),
        _without("notifyType"),
        PAID | {"notifyType": "PAYMENT_PENDING"},
        PAID | {"result": {"resultStatus": "U", "resultCode": "PAYMENT_IN_PROCESS"}},
        PAID | {"result": {"resultStatus": "S", "resultCode": "PROCESSING"}},
        PAID | {"result": {"resultStatus": "F", "resultCode": "ACCESS_DENIED"}},
        {
            "notify_type": "PAYMENT_RESULT",
            "result": {"result_status": "S", "result_code": "SUCCESS"},
            "payment_request_id": "att_0001",
            "payment_id": "P1",
            "payment_amount": {"currency": "CNY", "value": "25012"},
            "payment_time": "2026-11-26T10:01:30+08:00",
        },
        PAID | {"result": {"result_status": "S", "resultCode": "SUCCESS"}},
    ],
    ids=lambda b: None,
)
def test_malformed_notifications_after_a_good_signature(body: dict[str, Any] | bytes) -> None:
    with pytest.raises(NotificationRefused) as info:
        reader().read_notification(notification(body), NOW)
    assert info.value.problem is NotificationProblem.MALFORMED


def test_unknown_fields_are_ignored() -> None:
    body = PAID | {"acquirerInfo": {"acquirerName": "x"}, "pspCustomerInfo": {"pspName": 1.5}}
    read = reader().read_notification(notification(body), NOW)
    assert read.outcome.status is OutcomeStatus.SUCCEEDED


# --- the acknowledgment -------------------------------------------------------------------------


@pytest.mark.parametrize("accepted", [True, False])
def test_acknowledgment_is_signed_and_verifiable(accepted: bool) -> None:
    request = notification()
    ack = reader().acknowledge(request, accepted)
    assert ack.status == 200
    if accepted:
        assert ack.body == (
            b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'
        )
    else:
        result = json.loads(ack.body)["result"]
        assert (result["resultCode"], result["resultStatus"]) == ("PROCESS_FAIL", "F")
    headers = ack.headers
    assert headers["client-id"] == CLIENT_ID
    assert headers["response-time"] == "2026-11-26T02:00:00+00:00"
    assert headers["content-type"] == "application/json; charset=UTF-8"
    signature = SignatureHeader.parse(headers["signature"])
    content = build_content("POST", NOTIFY_PATH, CLIENT_ID, headers["response-time"], ack.body)
    merchant_public = load_public_key(keys()["merchant_public"])
    assert verify(merchant_public, content, signature.signature)
    assert not verify(merchant_public, content + b" ", signature.signature)
