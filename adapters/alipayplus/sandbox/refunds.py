"""The Alipay+ sandbox's refund handlers: `refund` and `inquiryRefund`.

`refund` names the payment by `paymentId` or `paymentRequestId` (`paymentId` wins); every
refund request id is recorded, made or declined, so a replay answers the same (the app module's
docstring lists the answers; `adapters._sandbox` has the rules).
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from adapters._sandbox.records import digest
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import (
    STATE,
    Reply,
    authenticated_body,
    parse_body,
    result,
    signed,
)
from adapters.alipayplus.sandbox.ledger import PaymentStatus, RefundRecord
from fx import FXError, from_minor_str

__all__ = ["handle_inquiry_refund", "handle_refund"]

_REFUND_MESSAGES = {
    codes.ORDER_NOT_EXIST: "The order does not exist.",
    codes.ORDER_STATUS_INVALID: "The order status is invalid: the payment did not succeed.",
    codes.ORDER_IS_CLOSED: "The order is closed: the payment was cancelled.",
    codes.PARAM_ILLEGAL: "Illegal parameters: refundAmount.currency differs from the payment's.",
    codes.REFUND_AMOUNT_EXCEED: "The total refund amount exceeds the payment amount.",
    codes.PROCESS_FAIL: "A general business failure occurred. Don't retry.",
}


def _refund_fingerprint(body: wire.RefundRequest) -> str:
    """What makes two refunds with one refundRequestId "the same": the payment and the amount."""
    amount = body.refund_amount
    return digest(
        "|".join(
            (body.payment_id or "", body.payment_request_id or "", amount.currency, amount.value)
        )
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _refund_answer(record: RefundRecord[wire.Amount, PaymentStatus]) -> wire.RefundResponse:
    if record.succeeded:
        return wire.RefundResponse(
            result=result("S", codes.SUCCESS, "Success"),
            refund_request_id=record.refund_request_id,
            refund_id=record.refund_id,
            payment_id=record.payment_id,
            refund_amount=record.amount,
            refund_time=_iso(record.completed_at),
        )
    code = record.code or codes.PROCESS_FAIL
    return wire.RefundResponse(
        result=result("F", code, _REFUND_MESSAGES.get(code, "The refund was declined.")),
        refund_request_id=record.refund_request_id,
        payment_id=record.payment_id,
    )


async def handle_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ledger = state.ledger
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.RefundRequest)
        amount = body.refund_amount
        try:
            if from_minor_str(amount.value, amount.currency).value <= 0:
                raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: refundAmount")
        except FXError:
            raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: refundAmount") from None
        fingerprint = _refund_fingerprint(body)
        record = ledger.get_refund(body.refund_request_id)
        if record is None:
            payment = ledger.find(
                payment_request_id=body.payment_request_id, payment_id=body.payment_id
            )
            record = ledger.refund(
                refund_request_id=body.refund_request_id,
                payment=payment,
                payment_request_id=body.payment_request_id or "",
                amount=amount,
                fingerprint=fingerprint,
            )
        elif record.fingerprint != fingerprint:
            raise Reply("F", codes.REPEAT_REQ_INCONSISTENT, "Repeated requests are inconsistent.")
        else:
            record.calls += 1
        await state.behaviour.hold_refund_answer(ledger.get(record.payment_request_id))
    except Reply as reply:
        return signed(request, state, wire.RefundResponse(result=reply.result))
    return signed(request, state, _refund_answer(record))


async def handle_inquiry_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.InquiryRefundRequest)
        record = state.ledger.find_refund(
            refund_request_id=body.refund_request_id, refund_id=body.refund_id
        )
        if record is None:
            raise Reply("F", codes.ORDER_NOT_EXIST, "The refund does not exist.")
    except Reply as reply:
        return signed(request, state, wire.InquiryRefundResponse(result=reply.result))
    answer = wire.InquiryRefundResponse(
        result=result("S", codes.SUCCESS, "Success"),
        refund_id=record.refund_id,
        refund_request_id=record.refund_request_id,
        refund_amount=record.amount,
        refund_status=record.status.value,
        refund_result_code=record.code,
        refund_result_message=_REFUND_MESSAGES.get(record.code) if record.code else None,
        refund_time=_iso(record.completed_at) if record.succeeded else None,
    )
    return signed(request, state, answer)
