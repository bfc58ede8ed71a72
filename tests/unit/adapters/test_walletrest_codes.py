"""WalletRest tables: only what a table lists is final; everything else is untrusted."""

from __future__ import annotations

import pytest

from adapters import FailureCode
from adapters.walletrest import codes
from adapters.walletrest.codes import ErrorVerdict, ResourceState


@pytest.mark.parametrize(
    ("decline", "failure"),
    [
        ("insufficient_funds", FailureCode.INSUFFICIENT_FUNDS),
        ("risk_rejected", FailureCode.RISK_REJECTED),
        ("code_expired", FailureCode.CODE_EXPIRED),
        ("invalid_code", FailureCode.PAYMENT_CODE_INVALID),
        ("payment_expired", FailureCode.PAYMENT_EXPIRED),
        ("do_not_honor", FailureCode.PARTNER_DECLINED),
        (None, FailureCode.PARTNER_DECLINED),
    ],
)
def test_decline_codes(decline: str | None, failure: FailureCode) -> None:
    assert codes.failure_code(decline) is failure


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("succeeded", ResourceState.SUCCEEDED),
        ("processing", ResourceState.PROCESSING),
        ("requires_confirmation", ResourceState.PROCESSING),
        ("failed", ResourceState.FAILED),
        ("canceled", ResourceState.CANCELED),
        ("SUCCEEDED", ResourceState.UNKNOWN),
        ("paid", ResourceState.UNKNOWN),
        (None, ResourceState.UNKNOWN),
    ],
)
def test_statuses(status: str | None, state: ResourceState) -> None:
    assert codes.classify_status(status) is state


@pytest.mark.parametrize(
    ("http_status", "error_type", "verdict"),
    [
        (503, "not_accepted", ErrorVerdict.NOT_ACCEPTED),
        (401, "authentication_error", ErrorVerdict.NOT_ACCEPTED),
        (429, "rate_limited", ErrorVerdict.NOT_ACCEPTED),
        (402, "payment_declined", ErrorVerdict.DECLINED),
        (402, "refund_declined", ErrorVerdict.DECLINED),
        (400, "invalid_request", ErrorVerdict.REFUSED),
        (409, "invalid_state", ErrorVerdict.REFUSED),
        (404, "not_found", ErrorVerdict.NOT_FOUND),
        (409, "idempotency_conflict", ErrorVerdict.UNTRUSTED),
        # The status must match the type: a "not accepted" that is not a 503 proves nothing.
        (500, "not_accepted", ErrorVerdict.UNTRUSTED),
        (502, "not_accepted", ErrorVerdict.UNTRUSTED),
        (200, "payment_declined", ErrorVerdict.UNTRUSTED),
        (503, "api_error", ErrorVerdict.UNTRUSTED),
        (500, "api_error", ErrorVerdict.UNTRUSTED),
        (503, None, ErrorVerdict.UNTRUSTED),
    ],
)
def test_error_verdicts(http_status: int, error_type: str | None, verdict: ErrorVerdict) -> None:
    assert codes.classify_error(http_status, error_type) is verdict
