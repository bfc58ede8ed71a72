"""The WalletRest sandbox's payment handlers: create, get and cancel a payment.

The test codes decide what a new create does (`adapters._sandbox.scenarios`); the app module's
docstring lists the answers. A create with a known key and the same body answers the payment's
current state (`Idempotent-Replayed: true`) and never charges twice.
"""

from __future__ import annotations

import logging

from aiohttp import web

from adapters._base import mask_code
from adapters._sandbox.scenarios import CancelRefusal, Outcome
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.exchange import (
    STATE,
    Reply,
    SandboxState,
    authenticated_body,
    body_fingerprint,
    check_amount,
    idempotency_key,
    parse_body,
    signed,
)
from adapters.walletrest.sandbox.ledger import (
    DECLINE_CODES,
    PaymentRecord,
    PaymentStatus,
    SandboxLedger,
    Scenario,
)

__all__ = ["handle_cancel_payment", "handle_create_payment", "handle_get_payment"]

log = logging.getLogger(__name__)


def _payment_answer(state: SandboxState, record: PaymentRecord, *, created: bool) -> web.Response:
    """The answer to a create for the payment's current state."""
    payment = record.to_wire()
    replayed = not created
    if record.status is PaymentStatus.SUCCEEDED:
        return signed(state, 201 if created else 200, payment, replayed=replayed)
    if record.status is PaymentStatus.PROCESSING:
        return signed(state, 202, payment, replayed=replayed)
    if record.status is PaymentStatus.CANCELED:
        return signed(state, 200, payment, replayed=replayed)
    decline = record.decline_code or codes.INVALID_CODE
    body = wire.ErrorBody(
        error=wire.ErrorDetail(
            type=codes.PAYMENT_DECLINED,
            decline_code=decline,
            message=_MESSAGES.get(decline, "The payment was declined."),
        ),
        payment=payment,
    )
    return signed(state, 402, body, replayed=replayed)


_MESSAGES = {
    codes.INSUFFICIENT_FUNDS: "The wallet balance is too low for the payment.",
    codes.RISK_REJECTED: "The payment was rejected by risk control.",
    codes.CODE_EXPIRED: "The payment code has expired.",
    codes.INVALID_CODE: "The payment code is invalid.",
    codes.PAYMENT_EXPIRED: "The tourist did not confirm in time.",
}
_CANCEL_REFUSALS = {
    CancelRefusal.HAS_REFUNDS: (
        codes.PAYMENT_HAS_REFUNDS,
        "The payment has refunds and cannot be canceled; refund instead.",
    ),
    CancelRefusal.WINDOW_CLOSED: (
        codes.CANCEL_WINDOW_CLOSED,
        "The cancel window has closed; refund instead.",
    ),
}


# --- handlers --------------------------------------------------------------------------------


async def handle_create_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        key = idempotency_key(request)
        body = parse_body(raw, wire.CreatePayment)
        check_amount(body.amount, "amount")
        check_amount(body.merchant_amount, "merchant_amount")
        return await _do_create(state, key, body)
    except Reply as reply:
        return signed(state, reply.status, reply.body)


async def _do_create(state: SandboxState, key: str, body: wire.CreatePayment) -> web.StreamResponse:
    ledger = state.ledger
    code = body.payment_code
    fingerprint = body_fingerprint(body)
    record = ledger.get(key)
    if record is not None:
        record.pay_calls += 1
        if record.scenario is Scenario.CANCEL_MARKER:
            return _payment_answer(state, record, created=False)
        if record.body_sha256 != fingerprint:
            raise Reply(
                409,
                codes.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was used with other parameters.",
            )
        if state.behaviour.holds_answer(code):
            await state.behaviour.hold()
            ledger.get(key)  # re-evaluate after the wait
        return _payment_answer(state, record, created=False)

    log.debug("sandbox create %s code %s", key, mask_code(code))
    outcome = state.behaviour.outcome(code, key)
    if outcome is Outcome.UNAVAILABLE:
        raise Reply(503, codes.NOT_ACCEPTED, "The wallet is unavailable; nothing was charged.")
    if outcome is Outcome.SERVER_ERROR:
        return web.Response(status=500, text="Internal Server Error")
    if outcome is Outcome.TIMEOUT:
        await state.behaviour.hold()
        raise Reply(500, codes.API_ERROR, "An internal error occurred.")
    record = ledger.record(
        payment_request_id=key,
        body=body,
        body_sha256=fingerprint,
        scenario=outcome.scenario,
        status=SandboxLedger.STATUS[outcome.phase],
        decline_code=DECLINE_CODES.get(outcome),
    )
    record.pay_calls = 1
    if state.behaviour.holds_answer(code):
        await state.behaviour.hold()
        ledger.get(key)
    return _payment_answer(state, record, created=True)


async def handle_get_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        await authenticated_body(request, state)
        record = state.ledger.get(request.match_info["request_id"])
        if record is None:
            raise Reply(404, codes.NOT_FOUND, "No such payment.")
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return signed(state, 200, record.to_wire())


async def handle_cancel_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ledger = state.ledger
    request_id = request.match_info["request_id"]
    try:
        await authenticated_body(request, state)
        idempotency_key(request)  # required on every POST; a cancel is idempotent by nature
        record = ledger.get(request_id)
        if record is None:
            # Nothing yet: remember the cancel so a create still on its way is refused.
            record = ledger.record(
                payment_request_id=request_id,
                body=None,
                body_sha256="",
                scenario=Scenario.CANCEL_MARKER,
                status=PaymentStatus.CANCELED,
            )
        else:
            refusal = ledger.cancel(record)
            if refusal is not None:
                code, message = _CANCEL_REFUSALS[refusal]
                raise Reply(409, codes.INVALID_STATE, message, code=code)
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return signed(state, 200, record.to_wire())
