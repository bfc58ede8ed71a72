"""Entry codes in Alipay+ words (issue #15): the store's registration and the entry order.

Registration, `POST <prefix>/v1/merchants/registration` (after Antom's merchant registration),
signed and verified like every call (`registration_body`):

    {"registrationRequestId": "<store id>", "productCodes": ["IN_STORE_PAYMENT"],
     "merchantInfo": {"referenceMerchantId", "merchantMCC", "merchantName",
                      "merchantAddress": {"region": "TH"}},
     "storeInfo": {"referenceStoreId": "<store id>", "storeName", "storeMCC",
                   "storeAddress": {"region": "TH"}},
     "settlementStrategy": {"settlementCurrency": "THB"},
     "paymentNotifyUrl": "<where entry orders and notifications go>"}

The answer (`entry_code_result`): S SUCCESS with `storeId` (the partner's id of the store) and
`entryCodeForm.codeDetails` (the TEXT entry's `codeValue` is the code; an EMVCo payload or a
URL) is the `EntryCode`, trusted only when it echoes our store id (`registrationRequestId`,
`referenceStoreId`, when present) and the code is printable and at most 1024 characters. F
refusing the request (ACCESS_DENIED, INVALID_SIGNATURE, ...): UNKNOWN not sent; another F
(PARAM_ILLEGAL, REPEAT_REQ_INCONSISTENT: the store is registered with another currency or
country): FAILED partner_declined (a registration charges nothing, so any other F is final);
U or anything unreadable: UNKNOWN maybe sent (ask again: it is the same registration).

Entry order (`entry_order`), the partner's POST to `paymentNotifyUrl`, signed like a
`notifyPayment` (the client checks signature, addressee and time first), told apart from one
by `notifyType`:

    {"notifyType": "USER_INITIATED_PAY", "entryOrderId", "pspId": "<wallet>",
     "codeValue": "<the scanned code>", "referenceStoreId": "<store id>",
     "storeId": "<partner store id>", "orderAmount": {"currency": "THB", "value": "12550"},
     "orderCreateTime"}

read strictly: `entryOrderId` and `referenceStoreId` 1-64, `pspId` 1-32 printable ASCII
characters without spaces, `orderAmount` a strict minor-unit amount of an ISO currency, > 0;
else `NotificationRefused(MALFORMED)`.

Our answer (`entry_answer_body`), HTTP 200 signed like an acknowledgment:

    confirmed  {"result": {"resultStatus": "S", "resultCode": "SUCCESS", ...},
                "entryOrderId", "paymentRequestId", "amount": {"currency": "CNY", "value"},
                "paymentExpiryTime"}
    refused    {"result": {"resultStatus": "F", "resultCode": <REFUSAL_CODES>, ...},
                "entryOrderId"}; UNAVAILABLE is U UNKNOWN_EXCEPTION (ask again)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ValidationError

from adapters._base import (
    Delivery,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    FailureCode,
    NotificationProblem,
    NotificationRefused,
    Outcome,
    StoreRegistration,
)
from adapters._entry_fields import (
    MAX_WALLET,
    entry_code_problem,
    plain_id,
    plain_text,
)
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.codes import Verdict
from adapters.alipayplus.transforms.orders import _code_value
from adapters.alipayplus.transforms.values import amount_from_wire, amount_to_wire, format_time
from fx import FXError

__all__ = [
    "REFUSAL_CODES",
    "USER_INITIATED_PAY",
    "entry_answer_body",
    "entry_code_result",
    "entry_order",
    "is_entry_order",
    "registration_body",
]

USER_INITIATED_PAY = "USER_INITIATED_PAY"
_PRODUCT = "IN_STORE_PAYMENT"
_MAX_MESSAGE = 256

REFUSAL_CODES: dict[EntryOrderRefusal, tuple[str, str]] = {
    EntryOrderRefusal.UNKNOWN_STORE: ("F", "MERCHANT_NOT_REGISTERED"),
    EntryOrderRefusal.STORE_DISABLED: ("F", "MERCHANT_STATUS_ABNORMAL"),
    EntryOrderRefusal.WALLET_NOT_ACCEPTED: ("F", "PAYMENT_METHOD_NOT_SUPPORTED"),
    EntryOrderRefusal.AMOUNT_INVALID: ("F", codes.PARAM_ILLEGAL),
    EntryOrderRefusal.ORDER_CLOSED: ("F", "ORDER_IS_CLOSED"),
    EntryOrderRefusal.UNAVAILABLE: ("U", codes.UNKNOWN_EXCEPTION),
}
"""(resultStatus, resultCode) of each refusal (our choices among Alipay+-style codes)."""


def _store_id(request: StoreRegistration) -> str:
    store_id = request.merchant.store_id
    if not store_id:
        raise ValueError("a store registration needs merchant.store_id")
    return store_id


def registration_body(request: StoreRegistration) -> wire.RegistrationRequest:
    """The registration of `request`'s store (module docstring)."""
    merchant = request.merchant
    store_id = _store_id(request)
    region = wire.Address(region=merchant.country)
    return wire.RegistrationRequest(
        registration_request_id=store_id,
        product_codes=[_PRODUCT],
        merchant_info=wire.RegistrationMerchantInfo(
            reference_merchant_id=merchant.id,
            merchant_mcc=merchant.mcc,
            merchant_name=merchant.name,
            merchant_address=region,
        ),
        store_info=wire.RegistrationStoreInfo(
            reference_store_id=store_id,
            store_name=request.name,
            store_mcc=merchant.mcc,
            store_address=region,
        ),
        settlement_strategy=wire.SettlementStrategy(settlement_currency=request.currency),
        payment_notify_url=request.notify_url,
    )


def _describe(result: wire.Result) -> str:
    text = f"{result.result_status or '-'} {result.result_code or '-'}"
    return f"{text}: {result.result_message}" if result.result_message else text


def entry_code_result(
    response: wire.RegistrationResponse,
    request: StoreRegistration,
    *,
    http_status: int | None = None,
) -> EntryCode | Outcome:
    """A verified registration answer -> the store's `EntryCode`, or the Outcome that is no
    code (module docstring)."""
    store_id = _store_id(request)
    result = response.result
    if result is None:
        return Outcome.unknown(
            Delivery.MAYBE_SENT, "registration answer has no result", http_status=http_status
        )
    code = result.result_code
    message = _describe(result)

    def untrusted(why: str) -> Outcome:
        return Outcome.unknown(
            Delivery.MAYBE_SENT, f"{why} ({message})", partner_code=code, http_status=http_status
        )

    for echoed in (response.registration_request_id, response.reference_store_id):
        if echoed is not None and echoed != store_id:
            return untrusted("the registration answer names another store")
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"registration not accepted: {message}",
            partner_code=code,
            http_status=http_status,
        )
    if result.result_status == "F":
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=code,
            message=message,
            http_status=http_status,
        )
    if verdict is not Verdict.SUCCEEDED:
        return untrusted("no entry code")
    form = response.entry_code_form
    value = _code_value(form) if form is not None else None
    problem = entry_code_problem(value)
    if problem:
        return untrusted(problem)
    partner_store_id = response.store_id
    if partner_store_id is not None and not plain_id(partner_store_id, 128):
        return untrusted("the storeId is not a plain identifier")
    assert value is not None
    return EntryCode(code=value, partner_store_id=partner_store_id)


def is_entry_order(data: Any) -> bool:
    """A verified body (strict JSON, parsed) that is an entry order, not a notification."""
    return isinstance(data, dict) and data.get("notifyType") == USER_INITIATED_PAY


def _malformed(why: str) -> NotificationRefused:
    return NotificationRefused(NotificationProblem.MALFORMED, f"userInitiatedPay: {why}")


def entry_order(raw: bytes, signed_at: datetime) -> EntryOrder:
    """A verified entry order's body -> `EntryOrder` (module docstring), requested when it was
    signed; `NotificationRefused(MALFORMED)` saying what is wrong, never quoting values."""
    try:
        body = wire.UserInitiatedPayRequest.model_validate_json(raw)
    except ValidationError:
        raise _malformed("unreadable body") from None
    if body.notify_type != USER_INITIATED_PAY:
        raise _malformed("notifyType is not USER_INITIATED_PAY")
    if not plain_id(body.entry_order_id):
        raise _malformed("entryOrderId is missing or not a 1-64 character identifier")
    if not plain_id(body.reference_store_id):
        raise _malformed("referenceStoreId is missing or not a 1-64 character identifier")
    if not plain_id(body.psp_id, MAX_WALLET):
        raise _malformed("pspId is missing or not a 1-32 character identifier")
    if body.order_amount is None:
        raise _malformed("no orderAmount")
    try:
        amount = amount_from_wire(body.order_amount)
    except FXError:
        raise _malformed(
            "orderAmount is not a strict minor-unit amount of an ISO currency"
        ) from None
    if amount.value <= 0:
        raise _malformed("orderAmount is not positive")
    assert body.entry_order_id and body.reference_store_id and body.psp_id
    return EntryOrder(
        partner_order_id=body.entry_order_id,
        store_id=body.reference_store_id,
        amount=amount,
        wallet=body.psp_id,
        requested_at=signed_at,
    )


def entry_answer_body(confirmation: EntryOrderConfirmation) -> bytes:
    """Our answer's bytes: S with the charge to make, or the refusal (module docstring)."""
    if confirmation.refusal is None:
        assert confirmation.payer_amount is not None and confirmation.expires_at is not None
        answer = wire.UserInitiatedPayResponse(
            result=wire.Result(
                result_status="S", result_code=codes.SUCCESS, result_message="success"
            ),
            entry_order_id=confirmation.partner_order_id,
            payment_request_id=confirmation.partner_request_id,
            amount=amount_to_wire(confirmation.payer_amount),
            payment_expiry_time=format_time(confirmation.expires_at),
        )
    else:
        status, code = REFUSAL_CODES[confirmation.refusal]
        message = plain_text(confirmation.message or confirmation.refusal.value, _MAX_MESSAGE)
        answer = wire.UserInitiatedPayResponse(
            result=wire.Result(result_status=status, result_code=code, result_message=message),
            entry_order_id=confirmation.partner_order_id,
        )
    return wire.encode(answer)
