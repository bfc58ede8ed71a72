"""WalletRest statuses, error types and decline codes -> our verdicts, as module-private tables.

Order codes (merchant-presented) reuse them: an order is a payment awaiting its payer, so an
unpaid order's `awaiting_payment` is undecided (like `processing`), and its declines and
`failure_code`s in notifications are the payments' decline codes (plus `order_expired`).

An answer counts as success, decline or "not accepted" only because a table below says so;
anything else (an unknown status, an unknown error type, a status code the table does not pair
with that type) is untrusted and ends up UNKNOWN, maybe sent. The sandbox answers with values
from the same tables, so client and sandbox cannot drift apart.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from adapters._base import FailureCode

__all__ = [
    "ErrorVerdict",
    "ResourceState",
    "classify_error",
    "classify_status",
    "failure_code",
]

# Resource statuses (payments, orders and refunds).
SUCCEEDED = "succeeded"
PROCESSING = "processing"
FAILED = "failed"
CANCELED = "canceled"
AWAITING_PAYMENT = "awaiting_payment"  # an order whose code the tourist has not paid yet

# Error types (`error.type`).
INVALID_REQUEST = "invalid_request"
AUTHENTICATION_ERROR = "authentication_error"
PAYMENT_DECLINED = "payment_declined"
REFUND_DECLINED = "refund_declined"
NOT_FOUND = "not_found"
IDEMPOTENCY_CONFLICT = "idempotency_conflict"
INVALID_STATE = "invalid_state"
RATE_LIMITED = "rate_limited"
NOT_ACCEPTED = "not_accepted"
API_ERROR = "api_error"

# Decline codes (`error.decline_code`, and `decline_code` on a failed resource).
INSUFFICIENT_FUNDS = "insufficient_funds"
RISK_REJECTED = "risk_rejected"
CODE_EXPIRED = "code_expired"
INVALID_CODE = "invalid_code"
PAYMENT_EXPIRED = "payment_expired"
ORDER_EXPIRED = "order_expired"  # an order code nobody paid before its `expires_at`
PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
AMOUNT_EXCEEDS_REFUNDABLE = "amount_exceeds_refundable"
REFUND_REJECTED = "refund_rejected"  # the wallet refused the refund (sandbox test code 0096)

# `error.code` of a 409 `invalid_state` answer to a cancel.
PAYMENT_HAS_REFUNDS = "payment_has_refunds"
CANCEL_WINDOW_CLOSED = "cancel_window_closed"


class ResourceState(enum.Enum):
    """A payment's or refund's own state, as its `status` field reports it."""

    SUCCEEDED = "succeeded"
    PROCESSING = "processing"
    FAILED = "failed"
    CANCELED = "canceled"
    UNKNOWN = "unknown"


_STATES: Mapping[str, ResourceState] = MappingProxyType(
    {
        SUCCEEDED: ResourceState.SUCCEEDED,
        PROCESSING: ResourceState.PROCESSING,
        # The tourist is asked to confirm on their phone: still undecided.
        "requires_confirmation": ResourceState.PROCESSING,
        # An order code on display, not paid yet: undecided until paid, declined or closed.
        AWAITING_PAYMENT: ResourceState.PROCESSING,
        FAILED: ResourceState.FAILED,
        CANCELED: ResourceState.CANCELED,
    }
)


def classify_status(status: str | None) -> ResourceState:
    """An unknown or missing status is UNKNOWN, never final."""
    return _STATES.get(status or "", ResourceState.UNKNOWN)


class ErrorVerdict(enum.Enum):
    """What a signed error answer means for the request it answers."""

    DECLINED = "declined"  # final: the partner refused the payment or refund
    REFUSED = "refused"  # final: the partner refused this operation (bad request, wrong state)
    NOT_ACCEPTED = "not_accepted"  # the request was not taken up: nothing charged, retry freely
    NOT_FOUND = "not_found"  # no such resource (yet): unknown, never a failure by itself
    UNTRUSTED = "untrusted"  # anything else, including idempotency conflicts


# (HTTP status, error.type) pairs; the status must match too, so a 200 carrying an error body,
# or a 503 that is not `not_accepted`, stays untrusted.
_ERRORS: Mapping[tuple[int, str], ErrorVerdict] = MappingProxyType(
    {
        (400, INVALID_REQUEST): ErrorVerdict.REFUSED,
        (401, AUTHENTICATION_ERROR): ErrorVerdict.NOT_ACCEPTED,
        (402, PAYMENT_DECLINED): ErrorVerdict.DECLINED,
        (402, REFUND_DECLINED): ErrorVerdict.DECLINED,
        (404, NOT_FOUND): ErrorVerdict.NOT_FOUND,
        # Same Idempotency-Key, other body: the key names some other request, which may well
        # have been charged, so the answer says nothing final about ours.
        (409, IDEMPOTENCY_CONFLICT): ErrorVerdict.UNTRUSTED,
        (409, INVALID_STATE): ErrorVerdict.REFUSED,
        (429, RATE_LIMITED): ErrorVerdict.NOT_ACCEPTED,
        (503, NOT_ACCEPTED): ErrorVerdict.NOT_ACCEPTED,
    }
)


def classify_error(http_status: int, error_type: str | None) -> ErrorVerdict:
    return _ERRORS.get((http_status, error_type or ""), ErrorVerdict.UNTRUSTED)


# Final declines with a specific normalised code; every other decline is partner_declined.
_DECLINES: Mapping[str, FailureCode] = MappingProxyType(
    {
        INSUFFICIENT_FUNDS: FailureCode.INSUFFICIENT_FUNDS,
        RISK_REJECTED: FailureCode.RISK_REJECTED,
        CODE_EXPIRED: FailureCode.CODE_EXPIRED,
        INVALID_CODE: FailureCode.PAYMENT_CODE_INVALID,
        PAYMENT_EXPIRED: FailureCode.PAYMENT_EXPIRED,
        ORDER_EXPIRED: FailureCode.CODE_EXPIRED,
    }
)


def failure_code(decline_code: str | None) -> FailureCode:
    """The normalised failure for a decline code."""
    return _DECLINES.get(decline_code or "", FailureCode.PARTNER_DECLINED)
