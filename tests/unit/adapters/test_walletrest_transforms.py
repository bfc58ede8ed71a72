"""WalletRest domain <-> wire conversions and the trust rules, on recorded answers (no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters import (
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    MerchantInfo,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
)
from adapters.walletrest import RefundInquiryRequest, RefundRequest, transforms
from adapters.walletrest import models as wire
from fx import InvalidAmount, Money

CODE = "281234567890120051"
PAYER = Money.of(25012, "CNY")


def pay_request(payer: Money = PAYER) -> PayRequest:
    return PayRequest(
        partner_request_id="att_0001",
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=payer,
        code=PaymentCode(CODE),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH", store_id="s1"),
        requested_at=datetime(2026, 11, 26, 9, 0, tzinfo=UTC),
    )


def payment(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "object": "payment",
        "id": "wr_pay_1",
        "request_id": "att_0001",
        "status": "succeeded",
        "amount": {"currency": "CNY", "value": "250.12"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "completed_at": "2026-11-26T09:00:01+00:00",
    }
    return {**base, **fields}


def error(error_type: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"type": error_type, **fields}}


def raw(body: Any) -> bytes:
    return json.dumps(body).encode()


# --- requests --------------------------------------------------------------------------------


def test_create_payment_body() -> None:
    body = json.loads(wire.encode(transforms.create_payment_body(pay_request())))
    assert body == {
        "amount": {"currency": "CNY", "value": "250.12"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "payment_code": CODE,
        "reference": "order-42",
        "merchant": {
            "id": "m_1",
            "name": "Siam Coffee",
            "country": "TH",
            "mcc": "5411",
            "store_id": "s1",
            "terminal_id": "POS",
        },
        "requested_at": "2026-11-26T09:00:00+00:00",
    }


def test_the_code_stays_out_of_reprs() -> None:
    model = transforms.create_payment_body(pay_request())
    assert CODE not in repr(model)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money.of(1234, "JPY"), "1234"),
        (Money.of(1250, "KWD"), "1.250"),
        (Money.of(5, "THB"), "0.05"),
        (Money.of(3000000, "KRW"), "3000000"),
    ],
)
def test_amounts_travel_in_major_units_with_the_currency_decimals(money: Money, text: str) -> None:
    amount = wire.money_to_wire(money)
    assert amount.value == text
    assert wire.money_from_wire(amount) == money


@pytest.mark.parametrize(
    ("currency", "value"),
    [("CNY", "250.1"), ("CNY", "250.120"), ("JPY", "1234.0"), ("CNY", "2.5e2"), ("CNY", "+1.00")],
)
def test_amounts_are_read_strictly(currency: str, value: str) -> None:
    with pytest.raises(InvalidAmount):
        wire.money_from_wire(wire.Amount(currency=currency, value=value))


def test_create_refund_body() -> None:
    request = RefundRequest(
        partner_request_id="rfa_1",
        payment_partner_request_id="att_0001",
        reference="rf-1",
        amount=Money.of(50000, "THB"),
        payer_amount=Money.of(10005, "CNY"),
    )
    body = json.loads(wire.encode(transforms.create_refund_body(request)))
    assert body == {
        "payment": "att_0001",
        "amount": {"currency": "CNY", "value": "100.05"},
        "merchant_amount": {"currency": "THB", "value": "500.00"},
        "reference": "rf-1",
    }


# --- pay answers -----------------------------------------------------------------------------


def test_created_success() -> None:
    outcome = transforms.pay_outcome(201, raw(payment()), pay_request())
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "wr_pay_1"
    assert outcome.completed_at == datetime(2026, 11, 26, 9, 0, 1, tzinfo=UTC)
    assert outcome.http_status == 201


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": {"currency": "CNY", "value": "250.13"}},
        {"amount": {"currency": "HKD", "value": "250.12"}},
        {"amount": {"currency": "CNY", "value": "250.120"}},
        {"amount": None},
        {"request_id": "att_0002"},
        {"request_id": None},
    ],
    ids=["value", "currency", "decimals", "missing", "other id", "no id"],
)
def test_a_success_with_a_bad_echo_is_maybe_sent(changes: dict[str, Any]) -> None:
    outcome = transforms.pay_outcome(200, raw(payment(**changes)), pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


def test_processing_is_in_process() -> None:
    outcome = transforms.pay_outcome(202, raw(payment(status="processing")), pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.in_process and outcome.partner_reference == "wr_pay_1"


def test_202_must_say_processing() -> None:
    outcome = transforms.pay_outcome(202, raw(payment()), pay_request())
    assert outcome.status is OutcomeStatus.UNKNOWN and not outcome.in_process


def test_canceled_key_is_a_final_refusal() -> None:
    body = payment(status="canceled", amount=None, merchant_amount=None)
    outcome = transforms.pay_outcome(200, raw(body), pay_request())
    assert (outcome.status, outcome.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
    )
    assert outcome.partner_code == "canceled"


@pytest.mark.parametrize(
    ("decline", "failure"),
    [
        ("insufficient_funds", FailureCode.INSUFFICIENT_FUNDS),
        ("risk_rejected", FailureCode.RISK_REJECTED),
        ("code_expired", FailureCode.CODE_EXPIRED),
        ("invalid_code", FailureCode.PAYMENT_CODE_INVALID),
        ("something_new", FailureCode.PARTNER_DECLINED),
    ],
)
def test_402_declines(decline: str, failure: FailureCode) -> None:
    body = error("payment_declined", decline_code=decline) | {
        "payment": payment(status="failed", decline_code=decline)
    }
    outcome = transforms.pay_outcome(402, raw(body), pay_request())
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, failure)
    assert outcome.partner_code == decline and outcome.partner_reference == "wr_pay_1"


def test_a_decline_for_another_request_is_not_trusted() -> None:
    body = error("payment_declined", decline_code="risk_rejected") | {
        "payment": payment(request_id="att_0002", status="failed")
    }
    outcome = transforms.pay_outcome(402, raw(body), pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


def test_a_partner_message_echoing_the_code_is_scrubbed() -> None:
    body = error("payment_declined", decline_code="invalid_code", message=f"bad code {CODE}")
    outcome = transforms.pay_outcome(402, raw(body), pay_request())
    assert CODE not in outcome.message and "281234********0051" in outcome.message


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (503, error("not_accepted"), (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)),
        (401, error("authentication_error"), (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)),
        (429, error("rate_limited"), (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)),
        (409, error("idempotency_conflict"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (500, error("api_error"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (502, error("not_accepted"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (503, "Service Unavailable", (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (404, error("not_found"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (301, error("moved"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (200, error("payment_declined"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (200, payment(status="paid"), (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)),
        (
            400,
            error("invalid_request", param="amount"),
            (OutcomeStatus.FAILED, Delivery.MAYBE_SENT),
        ),
    ],
)
def test_other_answers(status: int, body: Any, expected: tuple[OutcomeStatus, Delivery]) -> None:
    content = body.encode() if isinstance(body, str) else raw(body)
    outcome = transforms.pay_outcome(status, content, pay_request())
    assert (outcome.status, outcome.delivery) == expected, outcome
    assert outcome.http_status == status
    assert not (outcome.status is OutcomeStatus.UNKNOWN and outcome.not_found)


def test_not_accepted_is_nothing_charged() -> None:
    outcome = transforms.pay_outcome(503, raw(error("not_accepted")), pay_request())
    assert outcome.nothing_charged and outcome.partner_code == "not_accepted"


def test_unparseable_success_is_maybe_sent() -> None:
    outcome = transforms.pay_outcome(201, b"<html>ok</html>", pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)


# --- inquiry, cancel, refunds ----------------------------------------------------------------


INQUIRY = InquiryRequest("att_0001", Money.of(25012, "CNY"))


def test_inquiry_states() -> None:
    assert (
        transforms.inquiry_outcome(200, raw(payment()), INQUIRY).status is OutcomeStatus.SUCCEEDED
    )
    expired = transforms.inquiry_outcome(
        200, raw(payment(status="failed", decline_code="payment_expired")), INQUIRY
    )
    assert expired.failure_code is FailureCode.PAYMENT_EXPIRED
    processing = transforms.inquiry_outcome(200, raw(payment(status="processing")), INQUIRY)
    assert processing.in_process
    canceled = transforms.inquiry_outcome(200, raw(payment(status="canceled")), INQUIRY)
    assert canceled.failure_code is FailureCode.PARTNER_DECLINED


def test_inquiry_not_found_is_unknown_never_failed() -> None:
    outcome = transforms.inquiry_outcome(404, raw(error("not_found")), INQUIRY)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.not_found


def test_inquiry_cannot_be_declined() -> None:
    outcome = transforms.inquiry_outcome(402, raw(error("payment_declined")), INQUIRY)
    assert outcome.status is OutcomeStatus.UNKNOWN


def test_cancel_answers() -> None:
    request = CancelRequest("att_0001")
    done = transforms.cancel_outcome(
        200, raw(payment(status="canceled", canceled_at="2026-11-26T09:01:00+00:00")), request
    )
    assert done.status is OutcomeStatus.SUCCEEDED
    assert done.completed_at == datetime(2026, 11, 26, 9, 1, tzinfo=UTC)
    not_done = transforms.cancel_outcome(200, raw(payment()), request)
    assert not_done.status is OutcomeStatus.UNKNOWN
    other = transforms.cancel_outcome(200, raw(payment(status="canceled", request_id="x")), request)
    assert other.status is OutcomeStatus.UNKNOWN
    refused = transforms.cancel_outcome(409, raw(error("invalid_state")), request)
    assert (refused.status, refused.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
    )


REFUND = RefundRequest(
    partner_request_id="rfa_1",
    payment_partner_request_id="att_0001",
    reference="rf-1",
    amount=Money.of(50000, "THB"),
    payer_amount=Money.of(10005, "CNY"),
)


def refund(**fields: Any) -> dict[str, Any]:
    base = {
        "object": "refund",
        "id": "wr_rf_1",
        "request_id": "rfa_1",
        "payment": "att_0001",
        "status": "succeeded",
        "amount": {"currency": "CNY", "value": "100.05"},
    }
    return {**base, **fields}


def test_refund_answers() -> None:
    ok = transforms.refund_outcome(201, raw(refund()), REFUND)
    assert (ok.status, ok.partner_reference) == (OutcomeStatus.SUCCEEDED, "wr_rf_1")
    for changes in ({"payment": "att_0002"}, {"amount": {"currency": "CNY", "value": "100.06"}}):
        bad = transforms.refund_outcome(201, raw(refund(**changes)), REFUND)
        assert (bad.status, bad.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    declined = transforms.refund_outcome(
        402,
        raw(error("refund_declined", decline_code="amount_exceeds_refundable")),
        REFUND,
    )
    assert (declined.status, declined.failure_code, declined.partner_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
        "amount_exceeds_refundable",
    )
    inquiry = RefundInquiryRequest("rfa_1", Money.of(10005, "CNY"))
    assert transforms.refund_inquiry_outcome(404, raw(error("not_found")), inquiry).not_found
    found = transforms.refund_inquiry_outcome(200, raw(refund()), inquiry)
    assert found.status is OutcomeStatus.SUCCEEDED


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_parse_time_past_datetimes_range_is_unreadable(text: str) -> None:
    assert transforms.parse_time(text) is None  # OverflowError at e0798dc
