"""Alipay+ / Antom result codes -> our verdicts, as module-private tables.

A code counts as success, decline or "not accepted" only because a table below says so; anything
else (an unknown code with status S, a missing status, an unknown status) is untrusted and ends
up UNKNOWN, maybe sent. The sandbox answers with codes from the same tables.

Sources: alipayplus-v1.md ("Result semantics") and the Alipay+ acquirer error-code pages
(common codes such as `ACCESS_DENIED`, `INVALID_SIGNATURE`, `KEY_NOT_FOUND`, `INVALID_CLIENT`;
pay codes such as `PARTNER_STATUS_ABNORMAL`, `ORDER_IS_CLOSED`, `ORDER_STATUS_INVALID`).
Choices we made ourselves are marked "(our choice)".
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from adapters._base import FailureCode

__all__ = [
    "PaymentState",
    "RefundState",
    "Verdict",
    "classify",
    "classify_payment_status",
    "classify_refund_status",
    "failure_code",
    "is_in_process",
    "is_not_found",
]

# Result codes the sandbox uses, named once so client tests and sandbox agree.
SUCCESS = "SUCCESS"
PAYMENT_IN_PROCESS = "PAYMENT_IN_PROCESS"
UNKNOWN_EXCEPTION = "UNKNOWN_EXCEPTION"
ACCESS_DENIED = "ACCESS_DENIED"
INVALID_SIGNATURE = "INVALID_SIGNATURE"
PARAM_ILLEGAL = "PARAM_ILLEGAL"
REPEAT_REQ_INCONSISTENT = "REPEAT_REQ_INCONSISTENT"
ORDER_NOT_EXIST = "ORDER_NOT_EXIST"
ORDER_IS_CLOSED = "ORDER_IS_CLOSED"
ORDER_STATUS_INVALID = "ORDER_STATUS_INVALID"
PARTNER_STATUS_ABNORMAL = "PARTNER_STATUS_ABNORMAL"
USER_BALANCE_NOT_ENOUGH = "USER_BALANCE_NOT_ENOUGH"
RISK_REJECT = "RISK_REJECT"
EXPIRED_CODE = "EXPIRED_CODE"
INVALID_CODE = "INVALID_CODE"
CANCEL_WINDOW_EXCEED = "CANCEL_WINDOW_EXCEED"
PROCESS_FAIL = "PROCESS_FAIL"
REFUND_AMOUNT_EXCEED = "REFUND_AMOUNT_EXCEED"
REFUND_IN_PROCESS = "REFUND_IN_PROCESS"
REFUND_NOT_EXIST = "REFUND_NOT_EXIST"
CURRENCY_NOT_SUPPORT = "CURRENCY_NOT_SUPPORT"  # inquireExchangeRate: no rate for a currency

_SUCCESS_CODES = frozenset({SUCCESS})

# With status U: the partner has not decided. Only PAYMENT_IN_PROCESS means "the tourist is
# confirming" (in_process), and REFUND_IN_PROCESS "the refund is under way"; the others are
# plain "try again / inquire".
_IN_PROCESS_CODES = frozenset({PAYMENT_IN_PROCESS, "USER_PAYING", REFUND_IN_PROCESS})
_PENDING_CODES = _IN_PROCESS_CODES | frozenset(
    {UNKNOWN_EXCEPTION, "REQUEST_TRAFFIC_EXCEED_LIMIT", "SYSTEM_ERROR"}
)

# With status F, these refuse the *request*, not the payment: the partner did not take it up and
# charged nothing, so the gateway may retry or fail over (UNKNOWN, NOT_SENT). Authentication and
# configuration refusals, plus PARTNER_STATUS_ABNORMAL, which the sandbox sends for test code
# 0503 ("partner unavailable"; our choice among the documented codes).
_NOT_ACCEPTED_CODES = frozenset(
    {
        ACCESS_DENIED,
        INVALID_SIGNATURE,
        "INVALID_CLIENT",
        "KEY_NOT_FOUND",
        "INVALID_API",
        "PARTNER_NOT_EXIST",
        PARTNER_STATUS_ABNORMAL,
    }
)

# With status F, these mean the request id already names another request: the payment behind the
# id may well exist (and be charged), so the answer says nothing final about it (our choice).
_INCONSISTENT_CODES = frozenset({REPEAT_REQ_INCONSISTENT})

# Final declines with a specific normalised code; every other F is partner_declined.
# ORDER_IS_CLOSED is what the sandbox reports when the tourist never confirms and the partner
# expires the payment (test code 0094; our choice).
_FAILURE_CODES: Mapping[str, FailureCode] = MappingProxyType(
    {
        USER_BALANCE_NOT_ENOUGH: FailureCode.INSUFFICIENT_FUNDS,
        RISK_REJECT: FailureCode.RISK_REJECTED,
        EXPIRED_CODE: FailureCode.CODE_EXPIRED,
        INVALID_CODE: FailureCode.PAYMENT_CODE_INVALID,
        ORDER_IS_CLOSED: FailureCode.PAYMENT_EXPIRED,
    }
)


class Verdict(enum.Enum):
    """What one `result` object means for the request it answers."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"  # status U: inquire or retry the same request id
    DECLINED = "declined"  # status F, final
    NOT_ACCEPTED = "not_accepted"  # status F, request refused, nothing charged
    UNTRUSTED = "untrusted"  # anything we cannot read as one of the above


def classify(status: str | None, code: str | None) -> Verdict:
    """Read a `result` (resultStatus, resultCode). Unknown never counts as success."""
    code = code or ""
    if status == "S":
        return Verdict.SUCCEEDED if code in _SUCCESS_CODES else Verdict.UNTRUSTED
    if status == "U":
        return Verdict.PENDING
    if status == "F":
        if code in _NOT_ACCEPTED_CODES:
            return Verdict.NOT_ACCEPTED
        if code in _INCONSISTENT_CODES or code in _SUCCESS_CODES or code in _PENDING_CODES:
            return Verdict.UNTRUSTED
        return Verdict.DECLINED
    return Verdict.UNTRUSTED


def is_in_process(code: str | None) -> bool:
    """A U answer saying the tourist is still confirming (PIN, password) on their phone."""
    return (code or "") in _IN_PROCESS_CODES


def failure_code(code: str | None) -> FailureCode:
    """The normalised failure for a final decline's partner code (of a pay or its inquiry).

    A refund's decline is always `partner_declined`: the specific codes say why a *payment*
    failed (ORDER_IS_CLOSED refusing a refund of a cancelled payment is no expiry)."""
    return _FAILURE_CODES.get(code or "", FailureCode.PARTNER_DECLINED)


# With status F, "no such record": the inquired payment or refund is unknown to the partner (yet).
# An inquiry answering so is never a failure by itself (UNKNOWN, not_found). Antom documents
# ORDER_NOT_EXIST; REFUND_NOT_EXIST is accepted too for inquiryRefund (our choice).
_NOT_FOUND_CODES = frozenset({ORDER_NOT_EXIST, REFUND_NOT_EXIST})


def is_not_found(status: str | None, code: str | None) -> bool:
    """An inquiry's `result` saying the partner has no record of what was inquired."""
    return status == "F" and (code or "") in _NOT_FOUND_CODES


class PaymentState(enum.Enum):
    """A payment's own state, as an inquiry reports it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PROCESSING = "processing"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


_PAYMENT_STATUSES: Mapping[str, PaymentState] = MappingProxyType(
    {
        "SUCCESS": PaymentState.SUCCEEDED,
        "FAIL": PaymentState.FAILED,
        "PROCESSING": PaymentState.PROCESSING,
        # Antom: "the payment is completed, wait for the final result": not final for us.
        "PENDING": PaymentState.PROCESSING,
        "CANCELLED": PaymentState.CANCELLED,
    }
)


def classify_payment_status(status: str | None) -> PaymentState:
    """Antom's `paymentStatus`; an unknown or missing value is UNKNOWN, never final."""
    return _PAYMENT_STATUSES.get(status or "", PaymentState.UNKNOWN)


class RefundState(enum.Enum):
    """A refund's own state, as inquiryRefund reports it (`refundStatus`)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PROCESSING = "processing"
    UNKNOWN = "unknown"


_REFUND_STATUSES: Mapping[str, RefundState] = MappingProxyType(
    {
        "SUCCESS": RefundState.SUCCEEDED,
        "FAIL": RefundState.FAILED,
        "PROCESSING": RefundState.PROCESSING,
    }
)


def classify_refund_status(status: str | None) -> RefundState:
    """`refundStatus`; an unknown or missing value is UNKNOWN, never final."""
    return _REFUND_STATUSES.get(status or "", RefundState.UNKNOWN)
