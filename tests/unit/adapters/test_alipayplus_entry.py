"""Alipay+ entry codes: the store's registration (body, answers, hostile ones: respx through
`httpx.MockTransport(router.async_handler)`), the partner's entry order (signature and time
before anything, then a strict body) and our signed confirmation or refusal."""

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
    PaymentNotification,
    StoreRegistration,
    SystemClock,
)
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
REGISTRATION_PATH = "/ams/sandbox/api/v1/merchants/registration"
NOTIFY_PATH = "/partners/antom-sbx/notify"
NOW = datetime(2026, 11, 26, 2, 0, 0, tzinfo=UTC)
TIMEOUTS = {op: 2.0 for op in Operation}
ENTRY_URL = "https://qr.partner.test/e/SBXST0123456789ab"


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


def _adapter(http: httpx.AsyncClient) -> AlipayPlusAdapter:
    return build_adapter(
        partner_id="antom-sbx",
        base_url=BASE_URL,
        credentials={
            "client_id": CLIENT_ID,
            "private_key": keys()["merchant_private"],
            "partner_public_key": keys()["partner_public"],
        },
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
        notify_url="https://gw.test" + NOTIFY_PATH,
    )


def partner_answer(request: httpx.Request, body: dict[str, Any], **kw: Any) -> httpx.Response:
    raw = json.dumps(body).encode()
    response_time = "2026-11-26T10:00:01+08:00"
    content = build_content("POST", request.url.path, CLIENT_ID, response_time, raw)
    header = SignatureHeader(signature=sign(_private(keys()["partner_private"]), content))
    headers = {"client-id": CLIENT_ID, "response-time": response_time, "signature": header.render()}
    if kw.get("unsigned"):
        del headers["signature"]
    return httpx.Response(kw.get("status", 200), content=raw, headers=headers)


def registered(**override: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "result": {"resultStatus": "S", "resultCode": "SUCCESS", "resultMessage": "Success"},
        "registrationRequestId": "sto_9",
        "referenceStoreId": "sto_9",
        "storeId": "SBXST0123456789ab",
        "entryCodeForm": {
            "codeDetails": [
                {"codeValueType": "QRCODE", "codeValue": ENTRY_URL, "displayType": "TEXT"}
            ]
        },
    }
    return body | override


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def adapter(router: respx.Router) -> AsyncIterator[AlipayPlusAdapter]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield _adapter(http)


# --- registration -------------------------------------------------------------------------------


def test_registration_body_is_exact() -> None:
    assert encode(transforms.registration_body(registration())) == (
        b'{"registrationRequestId":"sto_9","productCodes":["IN_STORE_PAYMENT"],'
        b'"merchantInfo":{"referenceMerchantId":"m_1","merchantMCC":"5814",'
        b'"merchantName":"Siam Coffee","merchantAddress":{"region":"TH"}},'
        b'"storeInfo":{"referenceStoreId":"sto_9","storeName":"Siam Coffee Silom",'
        b'"storeMCC":"5814","storeAddress":{"region":"TH"}},'
        b'"settlementStrategy":{"settlementCurrency":"THB"},'
        b'"paymentNotifyUrl":"https://gw.test/partners/antom-sbx/notify"}'
    )


def test_a_registration_needs_a_store_id() -> None:
    with pytest.raises(ValueError, match="store_id"):
        transforms.registration_body(registration(store_id=None))


async def test_registered_answer_is_the_entry_code(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    route = router.post(REGISTRATION_PATH).mock(
        side_effect=lambda r: partner_answer(r, registered())
    )
    result = await adapter.register_store(registration())
    assert result == EntryCode(code=ENTRY_URL, partner_store_id="SBXST0123456789ab")
    request = route.calls.last.request
    assert request.content == encode(transforms.registration_body(registration()))
    signature = SignatureHeader.parse(request.headers["signature"]).signature
    content = build_content(
        "POST", REGISTRATION_PATH, CLIENT_ID, request.headers["request-time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, signature)
    assert Operation.ENTRY_CODE in adapter.capabilities


@pytest.mark.parametrize(
    "body",
    [
        registered(registrationRequestId="sto_OTHER"),
        registered(referenceStoreId="sto_OTHER"),
        registered(entryCodeForm={"codeDetails": []}),
        registered(entryCodeForm={"codeDetails": [{"codeValue": "a\nb", "displayType": "TEXT"}]}),
        registered(entryCodeForm={"codeDetails": [{"codeValue": "x" * 1025}]}),
        registered(storeId="has space"),
        registered(result={"resultStatus": "S", "resultCode": "WEIRD"}),
        registered(result={"resultStatus": "U", "resultCode": "UNKNOWN_EXCEPTION"}),
        {"entryCodeForm": registered()["entryCodeForm"]},
    ],
)
async def test_untrusted_answers_are_unknown_maybe_sent(
    router: respx.Router, adapter: AlipayPlusAdapter, body: dict[str, Any]
) -> None:
    router.post(REGISTRATION_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome)
    assert result.status is OutcomeStatus.UNKNOWN and result.delivery is Delivery.MAYBE_SENT


@pytest.mark.parametrize("code", ["PARAM_ILLEGAL", "REPEAT_REQ_INCONSISTENT"])
async def test_f_answers_are_final(
    router: respx.Router, adapter: AlipayPlusAdapter, code: str
) -> None:
    body = {"result": {"resultStatus": "F", "resultCode": code}}
    router.post(REGISTRATION_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome) and result.status is OutcomeStatus.FAILED
    assert result.failure_code is FailureCode.PARTNER_DECLINED and result.partner_code == code


async def test_refused_request_is_not_sent(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    body = {"result": {"resultStatus": "F", "resultCode": "ACCESS_DENIED"}}
    router.post(REGISTRATION_PATH).mock(side_effect=lambda r: partner_answer(r, body))
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome) and result.delivery is Delivery.NOT_SENT


async def test_unsigned_answers_are_untrusted(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    router.post(REGISTRATION_PATH).mock(
        side_effect=lambda r: partner_answer(r, registered(), unsigned=True)
    )
    result = await adapter.register_store(registration())
    assert isinstance(result, Outcome) and result.status is OutcomeStatus.UNKNOWN


# --- entry orders -------------------------------------------------------------------------------

ENTRY = {
    "notifyType": "USER_INITIATED_PAY",
    "entryOrderId": "SBXEO0001",
    "pspId": "alipay_cn",
    "codeValue": ENTRY_URL,
    "referenceStoreId": "sto_9",
    "storeId": "SBXST0123456789ab",
    "orderAmount": {"currency": "THB", "value": "12550"},
    "orderCreateTime": "2026-11-26T10:00:00+08:00",
}


def inbound(
    body: dict[str, Any] | bytes = ENTRY,
    *,
    signed_at: str = "2026-11-26T10:00:30+08:00",
    flip: bool = False,
) -> InboundRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    content = build_content("POST", NOTIFY_PATH, CLIENT_ID, signed_at, raw)
    signature = sign(_private(keys()["partner_private"]), content)
    if flip:
        raw = raw[:-2] + bytes([raw[-2] ^ 0x01]) + raw[-1:]
    headers = {
        "client-id": CLIENT_ID,
        "request-time": signed_at,
        "signature": SignatureHeader(signature=signature).render(),
    }
    return InboundRequest(method="POST", path=NOTIFY_PATH, headers=headers, body=raw)


def reader() -> AlipayPlusAdapter:
    return _adapter(httpx.AsyncClient())


def test_an_entry_order_is_read() -> None:
    read = reader().read_notification(inbound(), NOW)
    assert read == EntryOrder(
        partner_order_id="SBXEO0001",
        store_id="sto_9",
        amount=Money.of(12550, "THB"),
        wallet="alipay_cn",
        requested_at=datetime(2026, 11, 26, 2, 0, 30, tzinfo=UTC),
    )


def test_a_payment_result_is_still_a_notification() -> None:
    paid = {
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S"},
        "paymentRequestId": "att_0001",
        "paymentId": "2026112619074101300000000001",
        "paymentAmount": {"currency": "CNY", "value": "25012"},
        "paymentTime": "2026-11-26T10:01:30+08:00",
    }
    assert isinstance(reader().read_notification(inbound(paid), NOW), PaymentNotification)


def test_signature_and_time_come_first() -> None:
    with pytest.raises(NotificationRefused) as bad:
        reader().read_notification(inbound(flip=True), NOW)
    assert bad.value.problem is NotificationProblem.SIGNATURE
    with pytest.raises(NotificationRefused) as stale:
        reader().read_notification(inbound(signed_at="2026-11-26T09:50:00+08:00"), NOW)
    assert stale.value.problem is NotificationProblem.STALE


@pytest.mark.parametrize(
    "body",
    [
        ENTRY | {"orderAmount": {"currency": "THB", "value": "0"}},
        ENTRY | {"orderAmount": {"currency": "THB", "value": "-5"}},
        ENTRY | {"orderAmount": {"currency": "XXX", "value": "100"}},
        ENTRY | {"orderAmount": {"currency": "THB", "value": "1.5"}},
        ENTRY | {"orderAmount": {"currency": "THB", "value": 100}},
        {k: v for k, v in ENTRY.items() if k != "orderAmount"},
        ENTRY | {"pspId": ""},
        ENTRY | {"pspId": "alipay cn"},
        ENTRY | {"pspId": "w" * 33},
        ENTRY | {"pspId": "wallet\u00e9"},
        ENTRY | {"referenceStoreId": "s" * 65},
        ENTRY | {"referenceStoreId": None},
        ENTRY | {"entryOrderId": 12},
        b'{"notifyType":"USER_INITIATED_PAY","entryOrderId":"a","entryOrderId":"b"}',
    ],
)
def test_malformed_entry_orders_are_refused(body: dict[str, Any] | bytes) -> None:
    with pytest.raises(NotificationRefused) as refused:
        reader().read_notification(inbound(body), NOW)
    assert refused.value.problem is NotificationProblem.MALFORMED


# --- our answer ---------------------------------------------------------------------------------


def _verified(ack_headers: dict[str, str] | Any, body: bytes) -> bool:
    signature = SignatureHeader.parse(ack_headers["signature"])
    content = build_content("POST", NOTIFY_PATH, CLIENT_ID, ack_headers["response-time"], body)
    return verify(load_public_key(keys()["merchant_public"]), content, signature.signature)


def test_a_confirmation_names_the_charge_and_is_signed() -> None:
    confirmation = EntryOrderConfirmation.confirm(
        "SBXEO0001",
        partner_request_id="att_0001",
        payer_amount=Money.of(2501, "CNY"),
        expires_at=NOW + timedelta(minutes=5),
    )
    ack = reader().confirm_entry_order(inbound(), confirmation)
    assert ack.status == 200
    assert ack.body == (
        b'{"result":{"resultStatus":"S","resultCode":"SUCCESS","resultMessage":"success"},'
        b'"entryOrderId":"SBXEO0001","paymentRequestId":"att_0001",'
        b'"amount":{"currency":"CNY","value":"2501"},'
        b'"paymentExpiryTime":"2026-11-26T02:05:00+00:00"}'
    )
    assert _verified(ack.headers, ack.body)


@pytest.mark.parametrize(
    ("refusal", "status", "code"),
    [
        (EntryOrderRefusal.UNKNOWN_STORE, "F", "MERCHANT_NOT_REGISTERED"),
        (EntryOrderRefusal.STORE_DISABLED, "F", "MERCHANT_STATUS_ABNORMAL"),
        (EntryOrderRefusal.WALLET_NOT_ACCEPTED, "F", "PAYMENT_METHOD_NOT_SUPPORTED"),
        (EntryOrderRefusal.AMOUNT_INVALID, "F", "PARAM_ILLEGAL"),
        (EntryOrderRefusal.UNAVAILABLE, "U", "UNKNOWN_EXCEPTION"),
    ],
)
def test_a_refusal_is_the_protocols_own(refusal: EntryOrderRefusal, status: str, code: str) -> None:
    confirmation = EntryOrderConfirmation.refused("SBXEO0001", refusal, "no\x00pe")
    ack = reader().confirm_entry_order(inbound(), confirmation)
    answer = json.loads(ack.body)
    assert ack.status == 200 and answer["entryOrderId"] == "SBXEO0001"
    assert (answer["result"]["resultStatus"], answer["result"]["resultCode"]) == (status, code)
    assert "\x00" not in answer["result"]["resultMessage"]
    assert "paymentRequestId" not in answer and "amount" not in answer
    assert _verified(ack.headers, ack.body)


def test_a_confirmation_is_whole_or_a_refusal() -> None:
    with pytest.raises(ValueError):
        EntryOrderConfirmation(partner_order_id="x", partner_request_id="att_1")
    with pytest.raises(ValueError):
        EntryOrderConfirmation(
            partner_order_id="x",
            partner_request_id="att_1",
            refusal=EntryOrderRefusal.UNKNOWN_STORE,
        )
    with pytest.raises(ValueError):
        EntryOrderConfirmation.confirm(
            "x", partner_request_id="a", payer_amount=Money.of(0, "CNY"), expires_at=NOW
        )
