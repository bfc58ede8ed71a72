"""The WalletRest sandbox's refund handlers: create and get a refund.

A refund is keyed by its own `Idempotency-Key` and names its payment by the payment's; every
key is recorded, made or declined, so a replay with the same body answers the same (the app
module's docstring lists the answers; `adapters._sandbox` has the rules).
"""

from __future__ import annotations

from aiohttp import web

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
from adapters.walletrest.sandbox.ledger import PaymentStatus, RefundRecord, refund_to_wire

__all__ = ["handle_create_refund", "handle_get_refund"]

_MESSAGES = {
    codes.PAYMENT_NOT_REFUNDABLE: "The payment cannot be refunded.",
    codes.AMOUNT_EXCEEDS_REFUNDABLE: "The amount exceeds what is left to refund.",
    codes.REFUND_REJECTED: "The wallet refused the refund.",
}


def _refund_answer(
    state: SandboxState, record: RefundRecord[wire.Amount, PaymentStatus], *, created: bool
) -> web.Response:
    refund = refund_to_wire(record)
    if record.succeeded:
        return signed(state, 201 if created else 200, refund, replayed=not created)
    body = wire.ErrorBody(
        error=wire.ErrorDetail(
            type=codes.REFUND_DECLINED,
            decline_code=record.code,
            message=_MESSAGES.get(record.code or "", "The refund was declined."),
        ),
        refund=refund,
    )
    return signed(state, 402, body, replayed=not created)


async def handle_create_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    ledger = state.ledger
    try:
        raw = await authenticated_body(request, state)
        key = idempotency_key(request)
        body = parse_body(raw, wire.CreateRefund)
        check_amount(body.amount, "amount")
        fingerprint = body_fingerprint(body)
        record = ledger.get_refund(key)
        created = record is None
        if record is None:
            record = ledger.refund(
                refund_request_id=key,
                payment=ledger.get(body.payment),
                payment_request_id=body.payment,
                amount=body.amount,
                fingerprint=fingerprint,
                merchant_amount=body.merchant_amount,
            )
        elif record.fingerprint != fingerprint:
            raise Reply(
                409,
                codes.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was used with other parameters.",
            )
        else:
            record.calls += 1
        await state.behaviour.hold_refund_answer(ledger.get(record.payment_request_id))
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return _refund_answer(state, record, created=created)


async def handle_get_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        await authenticated_body(request, state)
        record = state.ledger.get_refund(request.match_info["request_id"])
        if record is None:
            raise Reply(404, codes.NOT_FOUND, "No such refund.")
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return signed(state, 200, refund_to_wire(record))
