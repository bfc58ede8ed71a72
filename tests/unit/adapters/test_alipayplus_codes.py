"""Result-code tables: only what a table lists is success or a final decline."""

from __future__ import annotations

import pytest

from adapters import FailureCode
from adapters.alipayplus import codes
from adapters.alipayplus.codes import PaymentState, Verdict, classify


@pytest.mark.parametrize(
    ("status", "code", "verdict"),
    [
        ("S", "SUCCESS", Verdict.SUCCEEDED),
        ("S", "SOMETHING_NEW", Verdict.UNTRUSTED),  # unknown code with S is not success
        ("S", None, Verdict.UNTRUSTED),
        ("S", "PAYMENT_IN_PROCESS", Verdict.UNTRUSTED),
        (None, "SUCCESS", Verdict.UNTRUSTED),  # missing status
        ("", "SUCCESS", Verdict.UNTRUSTED),
        ("s", "SUCCESS", Verdict.UNTRUSTED),  # statuses are exact
        ("X", "SUCCESS", Verdict.UNTRUSTED),
        ("U", "PAYMENT_IN_PROCESS", Verdict.PENDING),
        ("U", "UNKNOWN_EXCEPTION", Verdict.PENDING),
        ("U", "REQUEST_TRAFFIC_EXCEED_LIMIT", Verdict.PENDING),
        ("U", "ANYTHING", Verdict.PENDING),
        ("F", "USER_BALANCE_NOT_ENOUGH", Verdict.DECLINED),
        ("F", "SOMETHING_NEW", Verdict.DECLINED),
        ("F", None, Verdict.DECLINED),
        ("F", "PARTNER_STATUS_ABNORMAL", Verdict.NOT_ACCEPTED),
        ("F", "ACCESS_DENIED", Verdict.NOT_ACCEPTED),
        ("F", "INVALID_SIGNATURE", Verdict.NOT_ACCEPTED),
        ("F", "KEY_NOT_FOUND", Verdict.NOT_ACCEPTED),
        ("U", "PARTNER_STATUS_ABNORMAL", Verdict.PENDING),  # not-accepted needs a final F
        ("F", "REPEAT_REQ_INCONSISTENT", Verdict.UNTRUSTED),
        ("F", "SUCCESS", Verdict.UNTRUSTED),
        ("F", "PAYMENT_IN_PROCESS", Verdict.UNTRUSTED),
    ],
)
def test_classify(status: str | None, code: str | None, verdict: Verdict) -> None:
    assert classify(status, code) is verdict


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("USER_BALANCE_NOT_ENOUGH", FailureCode.INSUFFICIENT_FUNDS),
        ("RISK_REJECT", FailureCode.RISK_REJECTED),
        ("EXPIRED_CODE", FailureCode.CODE_EXPIRED),
        ("INVALID_CODE", FailureCode.PAYMENT_CODE_INVALID),
        ("ORDER_IS_CLOSED", FailureCode.PAYMENT_EXPIRED),
        ("PROCESS_FAIL", FailureCode.PARTNER_DECLINED),
        ("CANCEL_WINDOW_EXCEED", FailureCode.PARTNER_DECLINED),
        ("NEVER_HEARD_OF_IT", FailureCode.PARTNER_DECLINED),
        (None, FailureCode.PARTNER_DECLINED),
    ],
)
def test_failure_codes(code: str | None, failure: FailureCode) -> None:
    assert codes.failure_code(code) is failure


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("SUCCESS", PaymentState.SUCCEEDED),
        ("FAIL", PaymentState.FAILED),
        ("PROCESSING", PaymentState.PROCESSING),
        ("PENDING", PaymentState.PROCESSING),
        ("CANCELLED", PaymentState.CANCELLED),
        ("success", PaymentState.UNKNOWN),
        ("REFUNDED", PaymentState.UNKNOWN),
        (None, PaymentState.UNKNOWN),
    ],
)
def test_payment_statuses(status: str | None, state: PaymentState) -> None:
    assert codes.classify_payment_status(status) is state


def test_in_process_only_for_confirming_codes() -> None:
    assert codes.is_in_process("PAYMENT_IN_PROCESS")
    assert not codes.is_in_process("UNKNOWN_EXCEPTION")
    assert not codes.is_in_process(None)


def test_tables_do_not_overlap() -> None:
    success = codes._SUCCESS_CODES
    pending = codes._PENDING_CODES
    refused = codes._NOT_ACCEPTED_CODES
    declines = frozenset(codes._FAILURE_CODES)
    assert not success & pending
    assert not success & refused
    assert not refused & declines
    assert not pending & declines
