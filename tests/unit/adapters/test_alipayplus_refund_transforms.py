"""Alipay+ refund and inquiryRefund: request bodies and every answer -> Outcome (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters import (
    Delivery,
    FailureCode,
    Outcome,
    OutcomeStatus,
    RefundInquiryRequest,
    RefundRequest,
)
from adapters.alipayplus import codes, transforms
from adapters.alipayplus import models as wire
from fx import Money

REFUND = RefundRequest(
    partner_request_id="rfa_0001",
    payment_partner_request_id="att_0001",
    reference="rf_42",
    amount=Money.of(50000, "THB"),
    payer_amount=Money.of(10005, "CNY"),
    reason="returned goods",
    payment_partner_reference="2026112600001",
)
INQUIRY = RefundInquiryRequest("rfa_0001", Money.of(10005, "CNY"))


def assert_untrusted(outcome: Outcome, fragment: str = "") -> None:
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert fragment in outcome.message, outcome.message


# --- request bodies ------------------------------------------------------------------------------


def test_refund_body_names_the_payment_by_payment_id() -> None:
    body = json.loads(wire.encode(transforms.refund_body(REFUND)))
    assert body == {
        "refundRequestId": "rfa_0001",
        "paymentId": "2026112600001",
        # The payer amount, in the payment's (wallet) currency, minor units.
        "refundAmount": {"currency": "CNY", "value": "10005"},
        "refundReason": "returned goods",
    }


def test_refund_body_without_payment_id_names_the_payment_request_id() -> None:
    request = dataclasses.replace(REFUND, payment_partner_reference=None, reason="")
    body = json.loads(wire.encode(transforms.refund_body(request)))
    assert body == {
        "refundRequestId": "rfa_0001",
        "paymentRequestId": "att_0001",
        "refundAmount": {"currency": "CNY", "value": "10005"},
    }


def test_refund_body_is_compact_and_deterministic() -> None:
    first = wire.encode(transforms.refund_body(REFUND))
    assert first == wire.encode(transforms.refund_body(REFUND))
    assert first.startswith(b'{"refundRequestId":"rfa_0001","paymentId":')
    assert b": " not in first and b"\n" not in first


def test_refund_inquiry_body() -> None:
    assert wire.encode(transforms.refund_inquiry_body(INQUIRY)) == b'{"refundRequestId":"rfa_0001"}'


@pytest.mark.parametrize(
    "data",
    [
        {"refundRequestId": "r", "refundAmount": {"currency": "CNY", "value": "1"}},
        {"paymentId": "p", "refundAmount": {"currency": "CNY", "value": "1"}},
        {"refundRequestId": "r", "paymentId": "p"},
        {
            "refundRequestId": "",
            "paymentId": "p",
            "refundAmount": {"currency": "CNY", "value": "1"},
        },
    ],
    ids=["no payment", "no refundRequestId", "no refundAmount", "empty refundRequestId"],
)
def test_refund_request_model_refuses_incomplete_bodies(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        wire.RefundRequest.model_validate(data)


def test_refund_request_model_reads_an_sdk_shaped_body() -> None:
    """Field names of Ant's SDK request model, its optional extras kept, not refused."""
    sdk = {
        "refundRequestId": "r1",
        "paymentId": "p1",
        "referenceRefundId": "ref-1",
        "refundAmount": {"currency": "USD", "value": "1234"},
        "refundReason": "why",
        "refundNotifyUrl": "https://merchant.example/notify",
        "isAsyncRefund": False,
        "extendInfo": "{}",
    }
    parsed = wire.RefundRequest.model_validate_json(json.dumps(sdk, indent=3))
    assert (parsed.refund_request_id, parsed.payment_id, parsed.reference_refund_id) == (
        "r1",
        "p1",
        "ref-1",
    )
    assert parsed.refund_amount.value == "1234"
    assert parsed.model_extra == {"isAsyncRefund": False, "extendInfo": "{}"}


def test_inquiry_refund_model_needs_an_id() -> None:
    with pytest.raises(ValueError):
        wire.InquiryRefundRequest.model_validate({})
    assert wire.InquiryRefundRequest.model_validate({"refundId": "x"}).refund_id == "x"


# --- refund answers ------------------------------------------------------------------------------


def refund_response(
    status: str | None = "S", code: str | None = "SUCCESS", **extra: Any
) -> wire.RefundResponse:
    data: dict[str, Any] = {
        "refundRequestId": "rfa_0001",
        "refundId": "RF0001",
        "paymentId": "2026112600001",
        "refundAmount": {"currency": "CNY", "value": "10005"},
        "refundTime": "2026-11-26T10:05:00+08:00",
        **extra,
    }
    if status is not None or code is not None:
        data["result"] = {"resultStatus": status, "resultCode": code, "resultMessage": "msg"}
    return wire.RefundResponse.model_validate(data)


def test_refund_success() -> None:
    outcome = transforms.refund_outcome(refund_response(), REFUND, http_status=200)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "RF0001"  # the partner's refund id
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 5, tzinfo=UTC)
    assert (outcome.partner_code, outcome.http_status) == ("SUCCESS", 200)


def test_refund_success_named_by_payment_request_id_takes_any_payment_id() -> None:
    request = dataclasses.replace(REFUND, payment_partner_reference=None)
    outcome = transforms.refund_outcome(refund_response(paymentId="P-OTHER"), request)
    assert outcome.status is OutcomeStatus.SUCCEEDED


@pytest.mark.parametrize(
    "code",
    [
        "REFUND_AMOUNT_EXCEED",
        "ORDER_NOT_EXIST",
        "ORDER_STATUS_INVALID",
        "ORDER_IS_CLOSED",  # a cancelled payment: a decline, not an expiry
        "REFUND_WINDOW_EXCEED",
        "PROCESS_FAIL",
        "PARAM_ILLEGAL",
        "USER_BALANCE_NOT_ENOUGH",  # a pay code means nothing specific for a refund
    ],
)
def test_refund_declines_are_final_partner_declined(code: str) -> None:
    outcome = transforms.refund_outcome(refund_response("F", code), REFUND)
    assert (outcome.status, outcome.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
    )
    assert outcome.partner_code == code


@pytest.mark.parametrize(
    ("code", "in_process"),
    [("REFUND_IN_PROCESS", True), ("UNKNOWN_EXCEPTION", False)],
)
def test_refund_pending_is_unknown_maybe_sent(code: str, in_process: bool) -> None:
    outcome = transforms.refund_outcome(refund_response("U", code), REFUND)
    assert_untrusted(outcome)
    assert outcome.in_process is in_process


@pytest.mark.parametrize("code", ["ACCESS_DENIED", "INVALID_SIGNATURE", "PARTNER_STATUS_ABNORMAL"])
def test_refund_not_accepted_is_not_sent(code: str) -> None:
    outcome = transforms.refund_outcome(refund_response("F", code), REFUND)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)
    assert outcome.nothing_charged


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (refund_response(None, None), "no result"),
        (refund_response("S", "ODD"), "unrecognised"),
        (refund_response("F", "REPEAT_REQ_INCONSISTENT"), "unrecognised"),
        (refund_response(refundAmount={"currency": "CNY", "value": "10006"}), "differs"),
        (refund_response(refundAmount={"currency": "HKD", "value": "10005"}), "differs"),
        (refund_response(refundAmount={"currency": "CNY", "value": "100.05"}), "unreadable"),
        (refund_response(refundAmount=None), "no refundAmount"),
        (refund_response(refundRequestId="rfa_other"), "refundRequestId"),
        (refund_response(paymentId="P-OTHER"), "paymentId"),
        (refund_response("F", "REFUND_AMOUNT_EXCEED", refundRequestId="x"), "refundRequestId"),
    ],
)
def test_refund_untrusted_answers(response: wire.RefundResponse, fragment: str) -> None:
    assert_untrusted(transforms.refund_outcome(response, REFUND), fragment)


# --- inquiryRefund answers -----------------------------------------------------------------------


def inquiry_response(
    refund_status: str | None,
    *,
    result: tuple[str, str] = ("S", "SUCCESS"),
    **extra: Any,
) -> wire.InquiryRefundResponse:
    data: dict[str, Any] = {
        "result": {"resultStatus": result[0], "resultCode": result[1]},
        "refundRequestId": "rfa_0001",
        "refundId": "RF0001",
        "refundAmount": {"currency": "CNY", "value": "10005"},
        "refundTime": "2026-11-26T02:05:00+00:00",
        **extra,
    }
    if refund_status is not None:
        data["refundStatus"] = refund_status
    return wire.InquiryRefundResponse.model_validate(data)


def test_inquiry_refund_success() -> None:
    outcome = transforms.refund_inquiry_outcome(inquiry_response("SUCCESS"), INQUIRY)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "RF0001"
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 5, tzinfo=UTC)


def test_inquiry_refund_failed() -> None:
    response = inquiry_response(
        "FAIL", refundResultCode="REFUND_AMOUNT_EXCEED", refundResultMessage="too much"
    )
    outcome = transforms.refund_inquiry_outcome(response, INQUIRY)
    assert (outcome.status, outcome.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
    )
    assert outcome.partner_code == "REFUND_AMOUNT_EXCEED" and "too much" in outcome.message


def test_inquiry_refund_processing() -> None:
    outcome = transforms.refund_inquiry_outcome(inquiry_response("PROCESSING"), INQUIRY)
    assert_untrusted(outcome)
    assert outcome.in_process


@pytest.mark.parametrize("code", ["ORDER_NOT_EXIST", "REFUND_NOT_EXIST"])
def test_inquiry_refund_not_found_is_unknown(code: str) -> None:
    response = wire.InquiryRefundResponse.model_validate(
        {"result": {"resultStatus": "F", "resultCode": code}}
    )
    outcome = transforms.refund_inquiry_outcome(response, INQUIRY)
    assert_untrusted(outcome)
    assert outcome.not_found


@pytest.mark.parametrize(
    ("response", "delivery", "fragment"),
    [
        (inquiry_response("SUCCESS", result=("U", "UNKNOWN_EXCEPTION")), Delivery.MAYBE_SENT, ""),
        (inquiry_response("SUCCESS", result=("F", "PARAM_ILLEGAL")), Delivery.MAYBE_SENT, ""),
        (inquiry_response("SUCCESS", result=("F", "ACCESS_DENIED")), Delivery.NOT_SENT, ""),
        (inquiry_response("REFUNDED"), Delivery.MAYBE_SENT, "refundStatus"),
        (inquiry_response(None), Delivery.MAYBE_SENT, "refundStatus"),
        (inquiry_response("SUCCESS", refundRequestId="x"), Delivery.MAYBE_SENT, "refundRequestId"),
        (
            inquiry_response("SUCCESS", refundAmount={"currency": "CNY", "value": "1"}),
            Delivery.MAYBE_SENT,
            "differs",
        ),
        (inquiry_response("SUCCESS", refundAmount=None), Delivery.MAYBE_SENT, "no refundAmount"),
        (wire.InquiryRefundResponse(), Delivery.MAYBE_SENT, "no result"),
    ],
)
def test_inquiry_refund_not_final(
    response: wire.InquiryRefundResponse, delivery: Delivery, fragment: str
) -> None:
    outcome = transforms.refund_inquiry_outcome(response, INQUIRY)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery)
    assert not outcome.not_found
    assert fragment in outcome.message


# --- code tables ---------------------------------------------------------------------------------


def test_refund_status_table() -> None:
    assert codes.classify_refund_status("SUCCESS") is codes.RefundState.SUCCEEDED
    assert codes.classify_refund_status("FAIL") is codes.RefundState.FAILED
    assert codes.classify_refund_status("PROCESSING") is codes.RefundState.PROCESSING
    for odd in ("CANCELLED", "success", "", None):
        assert codes.classify_refund_status(odd) is codes.RefundState.UNKNOWN


def test_not_found_needs_status_f() -> None:
    assert codes.is_not_found("F", "ORDER_NOT_EXIST")
    assert not codes.is_not_found("U", "ORDER_NOT_EXIST")
    assert not codes.is_not_found("F", "PROCESS_FAIL")


def test_refund_body_cuts_the_reason_to_the_protocols_256_characters() -> None:
    # Our API takes 500; the wire model refuses more than 256, which raised before sending.
    request = dataclasses.replace(REFUND, reason="r" * 500)
    body = json.loads(wire.encode(transforms.refund_body(request)))
    assert body["refundReason"] == "r" * 256
