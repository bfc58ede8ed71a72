"""Verified WalletRest answers to `POST /v1/orders` -> `OrderCode` or `Outcome`.

The client hands over an answer whose signature and timestamp it has verified (status and raw
body). A code to display needs all of: HTTP 201 (a new order) or 200 (the same order again),
an `Order` that echoes our `order_id` and exactly our payer `amount` (and our `wallet`, when it
says one), `status` `awaiting_payment`, a `qr_code` of 1-1024 printable characters, and an
`expires_at` (RFC 3339 with offset) after the request's time. The code's expiry is the
partner's, but never later than we asked: a later one is cut back to ours.

Anything else is an `Outcome`, read like a pay answer (package docstring):

    200/201 order `canceled`            FAILED partner_declined (nothing pending: a cancel came
                                        first, or an earlier attempt was canceled)
    200/201 order `failed`              FAILED, its `decline_code` through `codes` (e.g.
                                        `order_expired` -> code_expired)
    200 order `succeeded`               UNKNOWN maybe sent: already paid, no code to show (the
                                        inquiry tells the rest)
    402 payment_declined, 400 invalid_request   FAILED (codes' table), nothing pending
    409 idempotency_conflict, other statuses, unreadable or mismatched echoes
                                        UNKNOWN maybe sent
    401 / 429 / 503 not_accepted        UNKNOWN not sent
"""

from __future__ import annotations

from adapters._base import Delivery, FailureCode, OrderCode, OrderCodeRequest, Outcome, parse_time
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.codes import ErrorVerdict, ResourceState
from adapters.walletrest.transforms.answers import (
    amount_problem,
    error_outcome,
    parse_answer,
    untrusted,
)

__all__ = ["MAX_QR_CODE_LENGTH", "order_code_outcome"]

MAX_QR_CODE_LENGTH = 1024  # characters; a QR code holds at most 4296 alphanumerics anyway
_CREATED = 201
_REPLAYED = 200


def _order_code(
    order: wire.Order, request: OrderCodeRequest, http_status: int
) -> OrderCode | Outcome:
    qr_code = order.qr_code
    if not qr_code or len(qr_code) > MAX_QR_CODE_LENGTH or not qr_code.isprintable():
        return untrusted(
            "order code not trusted: qr_code missing, too long or unprintable",
            http_status=http_status,
        )
    expires_at = parse_time(order.expires_at)
    if expires_at is None or expires_at <= request.requested_at:
        return untrusted(
            "order code not trusted: expires_at missing, unreadable or not after the request",
            http_status=http_status,
        )
    return OrderCode(
        code=qr_code, expires_at=min(expires_at, request.expires_at), partner_reference=order.id
    )


def _order_state_outcome(order: wire.Order, http_status: int) -> Outcome:
    """An order that is no longer awaiting payment: there is no code to show."""
    state = codes.classify_status(order.status)
    reference = order.id
    if state is ResourceState.FAILED:
        return Outcome.failed(
            codes.failure_code(order.decline_code),
            partner_code=order.decline_code or codes.FAILED,
            message=f"order failed: {order.decline_code or '-'}",
            partner_reference=reference,
            http_status=http_status,
        )
    if state is ResourceState.CANCELED:
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=codes.CANCELED,
            message="the partner reports the order canceled",
            partner_reference=reference,
            http_status=http_status,
        )
    if state is ResourceState.SUCCEEDED:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            "the order is already paid: no code to show",
            partner_code=codes.SUCCEEDED,
            http_status=http_status,
            partner_reference=reference,
        )
    if state is ResourceState.PROCESSING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"order in process ({order.status})",
            partner_code=order.status,
            in_process=True,
            http_status=http_status,
            partner_reference=reference,
        )
    return untrusted(f"unrecognised order status {order.status!r}", http_status=http_status)


def order_code_outcome(
    http_status: int, body: bytes, request: OrderCodeRequest
) -> OrderCode | Outcome:
    """A verified answer to `POST /v1/orders` (module docstring)."""
    if http_status in (_CREATED, _REPLAYED):
        order = parse_answer(wire.Order, body)
        if isinstance(order, str):
            return untrusted(f"order: {order}", http_status=http_status)
        if order.order_id != request.partner_request_id:
            return untrusted("order answer names another order_id", http_status=http_status)
        if order.wallet is not None and order.wallet != request.wallet:
            return untrusted("order answer names another wallet", http_status=http_status)
        if order.status == codes.AWAITING_PAYMENT:
            problem = amount_problem(order.amount, request.payer_amount)
            if problem is not None:
                return untrusted(f"order not trusted: {problem}", http_status=http_status)
            return _order_code(order, request, http_status)
        if http_status == _CREATED:
            return untrusted(
                f"a new order answered with status {order.status!r}", http_status=http_status
            )
        return _order_state_outcome(order, http_status)
    parsed = parse_answer(wire.ErrorBody, body)
    named = None if isinstance(parsed, str) else parsed.order
    if named is not None and named.order_id != request.partner_request_id:
        return untrusted(
            f"order_code: HTTP {http_status}, answer names another order_id",
            http_status=http_status,
        )
    return error_outcome(
        body,
        operation="order_code",
        kind="order",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.DECLINED, ErrorVerdict.REFUSED}),
    )
