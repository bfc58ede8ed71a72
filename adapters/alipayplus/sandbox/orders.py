"""The Alipay+ sandbox's merchant-presented order codes, in Alipay+ words (the rules they follow
are `adapters._sandbox.orders`).

`pay` with `paymentFactor.inStorePaymentScenario` OrderCode (no `paymentMethodId`, no
`order.env`) records a pending payment (nothing charged) and answers, signed, U
PAYMENT_IN_PROCESS with `orderCodeForm {expireTime, codeDetails: [{codeValueType: QRCODE,
codeValue: <sandbox base url>/oc/<token>, displayType: TEXT}]}`. The code expires at
`paymentExpiryTime`, or 30 minutes from now if that is earlier or absent (F PARAM_ILLEGAL when
it is unreadable or past; so is a `paymentNotifyUrl` that is not an http(s) URL). The same
paymentRequestId with the same body answers the same order (its current state: the same U
while pending, else the pay answer of what became of it); with another body, or for another
kind of payment, F REPEAT_REQ_INCONSISTENT; after a cancel that came first, F
ORDER_STATUS_INVALID.

Afterwards the payment is an ordinary one: `inquiryPayment` says PROCESSING
(PAYMENT_IN_PROCESS) while pending, SUCCESS once paid, FAIL with the decline's code
(USER_BALANCE_NOT_ENOUGH, RISK_REJECT, EXPIRED_CODE) or ORDER_IS_CLOSED once expired; `cancel`
closes a pending one (CANCELLED; later scans are refused); refunds and the settlement file
treat it like a scanned payment.

`notifyPayment` (`AlipayPlusOrders.notification`), POSTed to `paymentNotifyUrl`, signed with
the sandbox's key like an answer but as a request: headers `client-id` (the client id the order
came from), `request-time` and `signature` over `POST <notify path>\\n<client-id>.
<request-time>.<body>`, body `{"notifyType": "PAYMENT_RESULT", "result": {S SUCCESS | F
<code>}, "paymentRequestId", "paymentId", "paymentAmount", "paymentCreateTime",
"paymentTime" (when paid)}`. The merchant's answer is accepted when it is HTTP 200 with
`result.resultStatus` S; its signature, checked with the merchant's key when present, is only
recorded (Antom does not require acknowledgments to be signed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from adapters._base import parse_time
from adapters._sandbox.orders import (
    Ack,
    Order,
    OrderProtocol,
    OutboundNotification,
    base_url_of,
)
from adapters._sandbox.records import digest
from adapters._sandbox.scenarios import Scenario
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import Reply, SandboxState, result
from adapters.alipayplus.sandbox.ledger import PaymentRecord, PaymentStatus
from adapters.alipayplus.signing import SignatureHeader, build_content, sign, verify
from fx import Money, from_minor_str, to_minor_str

__all__ = [
    "ORDER_CODE_SCENARIO",
    "AlipayPlusOrders",
    "open_order",
    "order_code_answer",
]

ORDER_CODE_SCENARIO = "OrderCode"
QR_CODE = "QRCODE"
TEXT = "TEXT"
PAYMENT_RESULT = "PAYMENT_RESULT"
_MAX_NOTIFY_URL = 2048
_CONTENT_TYPE = "application/json; charset=UTF-8"
_FAILURE_MESSAGES = {
    codes.USER_BALANCE_NOT_ENOUGH: "The user balance is not enough for the payment.",
    codes.RISK_REJECT: "The request is rejected because of the risk control.",
    codes.EXPIRED_CODE: "The payment code is expired.",
    codes.ORDER_IS_CLOSED: "The order is closed.",
}


def signed_request(
    state: SandboxState, url: str, client_id: str, raw: bytes, *, spoil: bool = False
) -> OutboundNotification:
    """A request from the partner to the gateway at `url` (a notification, an entry order),
    signed as Alipay+ signs them (`spoil`: a signature that does not verify, for tests)."""
    request_time = _iso(state.settings.clock.now())
    content = build_content("POST", httpx.URL(url).path, client_id, request_time, raw)
    if spoil:
        content += b" "
    header = SignatureHeader(
        signature=sign(state.private_key, content), key_version=state.settings.key_version
    )
    return OutboundNotification(
        url=url,
        headers={
            "content-type": _CONTENT_TYPE,
            "client-id": client_id,
            "request-time": request_time,
            "signature": header.render(),
        },
        body=raw,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _http_url(text: str) -> bool:
    if len(text) > _MAX_NOTIFY_URL:
        return False
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _illegal(field: str) -> Reply:
    return Reply("F", codes.PARAM_ILLEGAL, f"Illegal parameters: {field}")


def open_order(
    request: web.Request, state: SandboxState, body: wire.PayRequest
) -> tuple[PaymentRecord, Order]:
    """The order of an OrderCode `pay` (its amount already checked): a new one, or the one a
    replay names; `Reply` with the refusal otherwise (module docstring)."""
    ledger, desk = state.ledger, state.orders
    request_id = body.payment_request_id
    fingerprint = digest(wire.encode(body).decode("utf-8"))
    record = ledger.get(request_id)
    if record is not None:
        record.pay_calls += 1
        if record.scenario is Scenario.CANCEL_MARKER:
            raise Reply("F", codes.ORDER_STATUS_INVALID, "The payment was cancelled.")
        order = desk.get(request_id)
        if order is None or order.fingerprint != fingerprint:
            raise Reply("F", codes.REPEAT_REQ_INCONSISTENT, "Repeated requests are inconsistent.")
        return record, order
    notify_url = body.payment_notify_url
    if notify_url is not None and not _http_url(notify_url):
        raise _illegal("paymentNotifyUrl")
    asked = None
    if body.payment_expiry_time is not None:
        asked = parse_time(body.payment_expiry_time)
        if asked is None:
            raise _illegal("paymentExpiryTime")
    try:
        expires_at = desk.expiry(asked)
    except ValueError:
        raise _illegal("paymentExpiryTime") from None
    amount = body.payment_amount
    money = from_minor_str(amount.value, amount.currency)  # checked by the pay handler
    record = ledger.record(
        payment_request_id=request_id,
        amount=amount,
        merchant_amount=body.order.order_amount,
        code=None,
        scenario=Scenario.ORDER,
        status=PaymentStatus.PROCESSING,
        result_code=codes.PAYMENT_IN_PROCESS,
        expires_at=expires_at,
    )
    record.pay_calls = 1
    order = desk.open(
        payment_request_id=request_id,
        payment_id=record.payment_id,
        amount=money,
        notify_url=notify_url,
        recipient=request.headers.get("client-id", ""),
        fingerprint=fingerprint,
        base_url=base_url_of(request),
        expires_at=expires_at,
    )
    return record, order


def order_code_answer(record: PaymentRecord, order: Order) -> wire.PayResponse | None:
    """U PAYMENT_IN_PROCESS with the `orderCodeForm` while the order is pending; None once it
    is not (then the pay answer of its state is the answer)."""
    if record.status is not PaymentStatus.PROCESSING:
        return None
    return wire.PayResponse(
        result=result("U", codes.PAYMENT_IN_PROCESS, "Waiting for the user to scan the code."),
        payment_request_id=record.payment_request_id,
        payment_id=record.payment_id,
        payment_amount=record.amount,
        payment_create_time=_iso(record.created_at),
        order_code_form=wire.OrderCodeForm(
            expire_time=_iso(order.expires_at),
            code_details=[
                wire.CodeDetail(code_value_type=QR_CODE, code_value=order.code, display_type=TEXT)
            ],
        ),
    )


class AlipayPlusOrders(OrderProtocol):
    """`notifyPayment` and the reading of its acknowledgment, for `OrderDesk`."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def notification(
        self, order: Order, *, amount: Money, bad_signature: bool
    ) -> OutboundNotification:
        state = self._state
        record = state.ledger.get(order.payment_request_id)
        assert record is not None and order.notify_url is not None
        paid = record.status is PaymentStatus.SUCCESS
        if paid:
            outcome: dict[str, Any] = {
                "resultCode": codes.SUCCESS,
                "resultStatus": "S",
                "resultMessage": "success",
            }
        else:
            code = record.result_code
            message = _FAILURE_MESSAGES.get(code, "The payment failed.")
            outcome = {"resultCode": code, "resultStatus": "F", "resultMessage": message}
        fields: dict[str, Any] = {
            "notifyType": PAYMENT_RESULT,
            "result": outcome,
            "paymentRequestId": record.payment_request_id,
            "paymentId": record.payment_id,
            "paymentAmount": {"currency": amount.currency.code, "value": to_minor_str(amount)},
            "paymentCreateTime": _iso(record.created_at),
        }
        if paid and record.completed_at is not None:
            fields["paymentTime"] = _iso(record.completed_at)
        raw = wire.encode(wire.NotifyPaymentRequest.model_validate(fields))
        return signed_request(state, order.notify_url, order.recipient, raw, spoil=bad_signature)

    def acknowledgment(
        self, order: Order, status: int, headers: Mapping[str, str], body: bytes
    ) -> Ack:
        accepted = False
        if status == 200:
            try:
                answer = json.loads(body)
                accepted = answer["result"]["resultStatus"] == "S"
            except (ValueError, TypeError, KeyError, RecursionError):
                accepted = False
        return Ack(accepted=accepted, signature_valid=self._ack_signature(order, headers, body))

    def _ack_signature(self, order: Order, headers: Mapping[str, str], body: bytes) -> bool | None:
        """None when unsigned; else whether it verifies with the merchant's key."""
        header = headers.get("signature")
        if not header:
            return None
        key = self._state.merchant_keys.get(order.recipient)
        client_id = headers.get("client-id")
        response_time = headers.get("response-time")
        if key is None or client_id is None or response_time is None or order.notify_url is None:
            return False
        try:
            parsed = SignatureHeader.parse(header)
        except ValueError:
            return False
        path = httpx.URL(order.notify_url).path
        content = build_content("POST", path, client_id, response_time, body)
        return verify(key, content, parsed.signature)
