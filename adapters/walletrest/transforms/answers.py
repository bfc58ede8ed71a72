"""Verified WalletRest answers (HTTP status and raw body) -> `Outcome`s.

The client hands each function an answer whose signature and timestamp it has verified: the
status and the raw body. The function parses it and decides, so every rule is testable with
recorded JSON. 200/201 carry the resource in whatever state it is; 202 must say `processing`;
4xx/5xx carry `{"error": {...}}`, read through `codes.classify_error`. A success whose echoed
`amount` differs (value or currency), or whose `request_id` is not ours, is not trusted: UNKNOWN,
maybe sent. Partner messages are scrubbed of the wallet code in case one echoes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from adapters._base import (
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    Outcome,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    mask_code,
    parse_time,
)
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.codes import ErrorVerdict, ResourceState
from fx import FXError, Money

__all__ = [
    "amount_problem",
    "cancel_outcome",
    "error_outcome",
    "inquiry_outcome",
    "parse_answer",
    "pay_outcome",
    "refund_inquiry_outcome",
    "refund_outcome",
    "untrusted",
]

_Model = TypeVar("_Model", bound=BaseModel)
_Resource = wire.Payment | wire.Refund


def parse_answer(model: type[_Model], body: bytes) -> _Model | str:
    """The parsed body, or why it cannot be read (locations and types, never input values)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        parts = [".".join(str(p) for p in e["loc"]) + f" {e['type']}" for e in exc.errors()]
        return "unparseable answer (" + ("; ".join(parts[:5]) or "invalid") + ")"


def _scrub(text: str, secret: str | None) -> str:
    if secret and secret in text:
        return text.replace(secret, mask_code(secret))
    return text


def untrusted(message: str, *, partner_code: str | None = None, http_status: int) -> Outcome:
    return Outcome.unknown(
        Delivery.MAYBE_SENT, message, partner_code=partner_code, http_status=http_status
    )


def amount_problem(echo: wire.Amount | None, expected: Money) -> str | None:
    """Why an echoed amount cannot be trusted, or None when it equals `expected` exactly."""
    if echo is None:
        return "no amount echoed"
    try:
        echoed = wire.money_from_wire(echo)
    except FXError:
        return "echoed amount is unreadable"
    if echoed != expected:
        return f"echoed amount {echoed} differs from requested {expected}"
    return None


def _resource_outcome(
    resource: _Resource,
    *,
    kind: str,
    request_id: str,
    expected: Money,
    http_status: int,
) -> Outcome:
    """A payment's or refund's own state -> Outcome, echoes checked before any success."""
    if resource.request_id != request_id:
        return untrusted(f"{kind} answer names another request_id", http_status=http_status)
    state = codes.classify_status(resource.status)
    reference = resource.id
    if state is ResourceState.SUCCEEDED:
        problem = amount_problem(resource.amount, expected)
        if problem:
            return untrusted(
                f"{kind} success not trusted: {problem}",
                partner_code=codes.SUCCEEDED,
                http_status=http_status,
            )
        return Outcome.succeeded(
            partner_reference=reference,
            completed_at=parse_time(resource.completed_at),
            partner_code=codes.SUCCEEDED,
            message=f"{kind} succeeded",
            http_status=http_status,
        )
    if state is ResourceState.PROCESSING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"{kind} in process",
            partner_code=resource.status,
            in_process=True,
            http_status=http_status,
            partner_reference=reference,
        )
    if state is ResourceState.FAILED:
        return Outcome.failed(
            codes.failure_code(resource.decline_code),
            partner_code=resource.decline_code or codes.FAILED,
            message=f"{kind} failed: {resource.decline_code or '-'}",
            partner_reference=reference,
            http_status=http_status,
        )
    if state is ResourceState.CANCELED:
        # Final: a canceled payment is never charged nor settled. Whether it was canceled after
        # a timeout is the gateway's knowledge, not the partner's.
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=codes.CANCELED,
            message=f"the partner reports the {kind} canceled",
            partner_reference=reference,
            http_status=http_status,
        )
    return untrusted(f"unrecognised {kind} status {resource.status!r}", http_status=http_status)


def _read_resource(
    model: type[wire.Payment] | type[wire.Refund],
    body: bytes,
    *,
    kind: str,
    request_id: str,
    expected: Money,
    http_status: int,
    payment: str | None = None,
) -> Outcome:
    """A 200/201/202 answer carrying the resource itself (a refund's `payment` checked too)."""
    resource = parse_answer(model, body)
    if isinstance(resource, str):
        return untrusted(f"{kind}: {resource}", http_status=http_status)
    if isinstance(resource, wire.Refund) and payment is not None and resource.payment != payment:
        return untrusted("refund answer names another payment", http_status=http_status)
    state = codes.classify_status(resource.status)
    if http_status == 202 and state is not ResourceState.PROCESSING:
        return untrusted(
            f"{kind}: HTTP 202 with status {resource.status!r}", http_status=http_status
        )
    return _resource_outcome(
        resource, kind=kind, request_id=request_id, expected=expected, http_status=http_status
    )


def error_outcome(
    body: bytes,
    *,
    operation: str,
    kind: str,
    http_status: int,
    allowed: frozenset[ErrorVerdict],
    secret: str | None = None,
    decline_resource: Callable[[wire.ErrorBody], _Resource | None] | None = None,
    request_id: str | None = None,
) -> Outcome:
    """A 4xx/5xx answer: `{"error": {...}}` read through `codes.classify_error`."""
    parsed = parse_answer(wire.ErrorBody, body)
    if isinstance(parsed, str):
        return untrusted(f"{operation}: HTTP {http_status}, {parsed}", http_status=http_status)
    error = parsed.error
    partner_code = error.decline_code or error.type
    detail = _scrub(f"{error.type or '-'} {error.code or error.decline_code or '-'}", secret)
    if error.message:
        detail += ": " + _scrub(error.message, secret)
    verdict = codes.classify_error(http_status, error.type)
    if verdict not in allowed:
        verdict = ErrorVerdict.UNTRUSTED
    resource = decline_resource(parsed) if decline_resource is not None else None
    reference = resource.id if resource is not None else None
    if resource is not None and request_id is not None and resource.request_id != request_id:
        return untrusted(
            f"{operation}: answer names another request_id ({detail})",
            partner_code=partner_code,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"{operation} not accepted, nothing charged: {detail}",
            partner_code=partner_code,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.DECLINED:
        return Outcome.failed(
            codes.failure_code(error.decline_code),
            partner_code=partner_code,
            message=detail,
            partner_reference=reference,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.REFUSED:
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=error.code or error.type,
            message=detail,
            partner_reference=reference,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.NOT_FOUND:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"the partner has no record of this {kind} (yet)",
            partner_code=partner_code,
            not_found=True,
            http_status=http_status,
        )
    return untrusted(
        f"{operation}: HTTP {http_status} {detail}",
        partner_code=partner_code,
        http_status=http_status,
    )


_RESOURCE_STATUSES = frozenset({200, 201, 202})


def _payment_of(body: wire.ErrorBody) -> _Resource | None:
    return body.payment


def _refund_of(body: wire.ErrorBody) -> _Resource | None:
    return body.refund


# --- responses -------------------------------------------------------------------------------


def pay_outcome(http_status: int, body: bytes, request: PayRequest) -> Outcome:
    """A verified answer to `POST /v1/payments`."""
    if http_status in _RESOURCE_STATUSES:
        return _read_resource(
            wire.Payment,
            body,
            kind="payment",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return error_outcome(
        body,
        operation="pay",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.DECLINED, ErrorVerdict.REFUSED}),
        secret=request.code.value,
        decline_resource=_payment_of,
        request_id=request.partner_request_id,
    )


def inquiry_outcome(http_status: int, body: bytes, request: InquiryRequest) -> Outcome:
    """A verified answer to `GET /v1/payments/{id}`: the Outcome of the payment it describes.

    `delivery` here is about the inquiry itself (NOT_SENT: the partner refused to answer it);
    it never says anything about whether the payment was charged.
    """
    if http_status == 200:
        return _read_resource(
            wire.Payment,
            body,
            kind="payment",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return error_outcome(
        body,
        operation="inquire",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.NOT_FOUND}),
    )


def cancel_outcome(http_status: int, body: bytes, request: CancelRequest) -> Outcome:
    """A verified answer to `POST /v1/payments/{id}/cancel`: SUCCEEDED means canceled (and
    reversed, if it was charged); a refusal (`invalid_state`, e.g. refunded) is final."""
    if http_status == 200:
        payment = parse_answer(wire.Payment, body)
        if isinstance(payment, str):
            return untrusted(f"cancel: {payment}", http_status=http_status)
        if payment.request_id != request.partner_request_id:
            return untrusted("cancel answer names another request_id", http_status=http_status)
        if codes.classify_status(payment.status) is not ResourceState.CANCELED:
            return untrusted(
                f"cancel answered with status {payment.status!r}", http_status=http_status
            )
        return Outcome.succeeded(
            partner_reference=payment.id,
            completed_at=parse_time(payment.canceled_at),
            partner_code=codes.CANCELED,
            message="payment canceled",
            http_status=http_status,
        )
    return error_outcome(
        body,
        operation="cancel",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.REFUSED}),
    )


def refund_outcome(http_status: int, body: bytes, request: RefundRequest) -> Outcome:
    """A verified answer to `POST /v1/refunds` (amount echo checked on success)."""
    if http_status in _RESOURCE_STATUSES:
        return _read_resource(
            wire.Refund,
            body,
            kind="refund",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
            payment=request.payment_partner_request_id,
        )
    return error_outcome(
        body,
        operation="refund",
        kind="refund",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.DECLINED, ErrorVerdict.REFUSED}),
        decline_resource=_refund_of,
        request_id=request.partner_request_id,
    )


def refund_inquiry_outcome(http_status: int, body: bytes, request: RefundInquiryRequest) -> Outcome:
    """A verified answer to `GET /v1/refunds/{id}`."""
    if http_status == 200:
        return _read_resource(
            wire.Refund,
            body,
            kind="refund",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return error_outcome(
        body,
        operation="inquire_refund",
        kind="refund",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.NOT_FOUND}),
    )
