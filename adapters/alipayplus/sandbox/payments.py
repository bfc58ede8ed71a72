"""The Alipay+ sandbox's payment handlers: `pay`, `inquiryPayment` and `cancel`.

The test codes decide what a new pay does (`adapters._sandbox.scenarios`); the app module's
docstring lists the answers. A replay of a pay (same paymentRequestId, amount and code) returns
the payment's current state and never charges twice. A pay of `inStorePaymentScenario`
OrderCode issues an order code instead (`orders`); a user-presented one (PaymentCode, or no
scenario) needs `paymentMethod.paymentMethodId` and `order.env`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from adapters._base import mask_code
from adapters._sandbox.scenarios import CancelRefusal, Outcome
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import (
    STATE,
    Reply,
    SandboxState,
    authenticated_body,
    parse_body,
    result,
    signed,
)
from adapters.alipayplus.sandbox.ledger import (
    PaymentRecord,
    PaymentStatus,
    SandboxLedger,
    Scenario,
    code_digest,
)
from adapters.alipayplus.sandbox.orders import (
    ORDER_CODE_SCENARIO,
    open_order,
    order_code_answer,
)
from fx import FXError, from_minor_str

__all__ = ["handle_cancel", "handle_inquiry", "handle_pay", "pay_answer"]

log = logging.getLogger(__name__)

_PRODUCT_CODE = "IN_STORE_PAYMENT"
_PAYMENT_CODE_SCENARIO = "PaymentCode"


def _same_request(record: PaymentRecord, amount: wire.Amount, code: str) -> bool:
    return (
        record.amount is not None
        and record.amount.currency == amount.currency
        and record.amount.value == amount.value
        and record.code_sha256 == code_digest(code)
    )


def pay_answer(record: PaymentRecord) -> wire.PayResponse:
    """A pay answer for the payment's current state."""
    base: dict[str, Any] = {
        "payment_request_id": record.payment_request_id,
        "payment_id": record.payment_id,
        "payment_amount": record.amount,
        "payment_create_time": record.created_at.isoformat(timespec="seconds"),
    }
    if record.status is PaymentStatus.SUCCESS:
        assert record.completed_at is not None
        return wire.PayResponse(
            result=result("S", codes.SUCCESS, "Success"),
            payment_time=record.completed_at.isoformat(timespec="seconds"),
            **base,
        )
    if record.status is PaymentStatus.PROCESSING:
        return wire.PayResponse(
            result=result("U", codes.PAYMENT_IN_PROCESS, "The payment is being processed."),
            **base,
        )
    if record.status is PaymentStatus.CANCELLED:
        return wire.PayResponse(
            result=result("F", codes.ORDER_STATUS_INVALID, "The payment was cancelled."), **base
        )
    return wire.PayResponse(
        result=result("F", record.result_code, _MESSAGES.get(record.result_code, "")), **base
    )


_MESSAGES = {
    codes.USER_BALANCE_NOT_ENOUGH: "The user balance is not enough for the payment.",
    codes.RISK_REJECT: "The request is rejected because of the risk control.",
    codes.EXPIRED_CODE: "The payment code is expired.",
    codes.INVALID_CODE: "The payment code is invalid.",
    codes.ORDER_IS_CLOSED: "The order is closed: the user did not confirm in time.",
}
_CANCEL_REFUSALS = {
    CancelRefusal.HAS_REFUNDS: (
        codes.ORDER_STATUS_INVALID,
        "The order status is invalid: the payment has refunds; refund instead.",
    ),
    CancelRefusal.WINDOW_CLOSED: (
        codes.CANCEL_WINDOW_EXCEED,
        "The cancel window has closed; refund instead.",
    ),
}
_RESULT_CODES = {
    Outcome.INVALID_CODE: codes.INVALID_CODE,
    Outcome.INSUFFICIENT_FUNDS: codes.USER_BALANCE_NOT_ENOUGH,
    Outcome.RISK_REJECTED: codes.RISK_REJECT,
    Outcome.CODE_EXPIRED: codes.EXPIRED_CODE,
    Outcome.CONFIRM: codes.PAYMENT_IN_PROCESS,
    Outcome.EXPIRE: codes.PAYMENT_IN_PROCESS,
    Outcome.APPROVE: codes.SUCCESS,
}


# --- handlers --------------------------------------------------------------------------------


async def handle_pay(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.PayRequest)
        return await _do_pay(request, state, body)
    except Reply as reply:
        return signed(request, state, wire.PayResponse(result=reply.result))


async def _do_pay(
    request: web.Request, state: SandboxState, body: wire.PayRequest
) -> web.StreamResponse:
    ledger = state.ledger
    request_id = body.payment_request_id
    amount = body.payment_amount
    if body.product_code != _PRODUCT_CODE:
        raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: productCode")
    try:
        if from_minor_str(amount.value, amount.currency).value <= 0:
            raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentAmount")
    except FXError:
        raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentAmount") from None
    scenario = body.payment_factor.in_store_payment_scenario if body.payment_factor else None
    if scenario == ORDER_CODE_SCENARIO:
        ordered, order = open_order(request, state, body)
        answer = order_code_answer(ordered, order) or pay_answer(ordered)
        return signed(request, state, answer)
    if scenario not in (None, _PAYMENT_CODE_SCENARIO):
        raise Reply(
            "F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentFactor.inStorePaymentScenario"
        )
    code = body.payment_method.payment_method_id
    if not code:
        raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentMethod.paymentMethodId")
    if body.order.env is None:
        raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: order.env")

    record = ledger.get(request_id)
    if record is not None:
        record.pay_calls += 1
        if record.scenario is Scenario.CANCEL_MARKER:
            raise Reply("F", codes.ORDER_STATUS_INVALID, "The payment was cancelled.")
        if not _same_request(record, amount, code):
            raise Reply("F", codes.REPEAT_REQ_INCONSISTENT, "Repeated requests are inconsistent.")
        if state.behaviour.holds_answer(code):
            await state.behaviour.hold()
            ledger.get(request_id)  # re-evaluate after the wait
        return signed(request, state, pay_answer(record))

    log.debug("sandbox pay %s code %s", request_id, mask_code(code))
    outcome = state.behaviour.outcome(code, request_id)
    if outcome is Outcome.UNAVAILABLE:
        raise Reply("F", codes.PARTNER_STATUS_ABNORMAL, "The partner is unavailable.")
    if outcome is Outcome.SERVER_ERROR:
        return web.Response(status=500, text="Internal Server Error")
    if outcome is Outcome.TIMEOUT:
        await state.behaviour.hold()
        raise Reply("U", codes.UNKNOWN_EXCEPTION, "An API call failed for unknown reasons.")
    record = ledger.record(
        payment_request_id=request_id,
        amount=amount,
        merchant_amount=body.order.order_amount,
        code=code,
        scenario=outcome.scenario,
        status=SandboxLedger.STATUS[outcome.phase],
        result_code=_RESULT_CODES[outcome],
    )
    record.pay_calls = 1
    if state.behaviour.holds_answer(code):
        await state.behaviour.hold()
        ledger.get(request_id)
    return signed(request, state, pay_answer(record))


async def handle_inquiry(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.InquiryPaymentRequest)
        record = state.ledger.find(
            payment_request_id=body.payment_request_id, payment_id=body.payment_id
        )
        if record is None:
            raise Reply("F", codes.ORDER_NOT_EXIST, "The order does not exist.")
    except Reply as reply:
        return signed(request, state, wire.InquiryPaymentResponse(result=reply.result))
    status = record.status
    if status is PaymentStatus.CANCELLED:
        payment_code, message = codes.ORDER_IS_CLOSED, "The payment was cancelled."
    elif status is PaymentStatus.PROCESSING:
        payment_code, message = codes.PAYMENT_IN_PROCESS, "The payment is being processed."
    else:
        payment_code, message = record.result_code, _MESSAGES.get(record.result_code, "Success")
    answer = wire.InquiryPaymentResponse(
        result=result("S", codes.SUCCESS, "Success"),
        payment_status=status.value,
        payment_result_code=payment_code,
        payment_result_message=message,
        payment_request_id=record.payment_request_id,
        payment_id=record.payment_id,
        payment_amount=record.amount,
        payment_create_time=record.created_at.isoformat(timespec="seconds"),
        payment_time=(
            record.completed_at.isoformat(timespec="seconds")
            if status is PaymentStatus.SUCCESS and record.completed_at
            else None
        ),
    )
    return signed(request, state, answer)


async def handle_cancel(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ledger = state.ledger
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.CancelRequest)
        record = ledger.find(payment_request_id=body.payment_request_id, payment_id=body.payment_id)
        if record is None:
            if body.payment_id or not body.payment_request_id:
                raise Reply("F", codes.ORDER_NOT_EXIST, "The order does not exist.")
            # Nothing yet: remember the cancel so a pay still on its way is refused.
            record = ledger.record(
                payment_request_id=body.payment_request_id,
                amount=None,
                code=None,
                scenario=Scenario.CANCEL_MARKER,
                status=PaymentStatus.CANCELLED,
                result_code=codes.ORDER_IS_CLOSED,
            )
            record.cancelled_at = record.created_at
        else:
            refusal = ledger.cancel(record)
            if refusal is not None:
                code, message = _CANCEL_REFUSALS[refusal]
                raise Reply("F", code, message)
    except Reply as reply:
        return signed(request, state, wire.CancelResponse(result=reply.result))
    cancelled_at = record.cancelled_at or state.settings.clock.now()
    answer = wire.CancelResponse(
        result=result("S", codes.SUCCESS, "Success"),
        payment_id=record.payment_id,
        payment_request_id=record.payment_request_id,
        cancel_time=cancelled_at.isoformat(timespec="seconds"),
    )
    return signed(request, state, answer)
