"""storage/rows.py: the column diffs a write sends agree with the full rows they stand for."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

import fx
from adapters import Delivery, FailureCode, Outcome
from gateway.payments.model import (
    AttemptStatus,
    CancelStatus,
    Failure,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from gateway.quotes.model import QuoteUse
from gateway.storage import rows
from tests.factories import NOW, make_attempt, make_payment, make_quote

LATER = NOW + timedelta(seconds=5)

# A value other than `make_payment`'s for every field of a payment.
OTHER: dict[str, Any] = {
    "id": "pay_2",
    "merchant_id": "mer_2",
    "merchant_reference": "R2",
    "idempotency_key": "K2",
    "status": PaymentStatus.SUCCEEDED,
    "amount": fx.Money(20000, fx.get_currency("THB")),
    "payer_amount": fx.Money(4000, fx.get_currency("CNY")),
    "wallet": "gcash",
    "partner": "th-krungpay",
    "route_reason": "failover",
    "quote": QuoteUse.of(make_quote(20000, mid="0.19", markup_bps=0).quote),
    "code_mask": "2811******1111",
    "code_hash": "1" * 64,
    "store_id": "S1",
    "terminal_id": "T1",
    "metadata": {"b": "2", "a": "1"},
    "created_at": LATER,
    "updated_at": LATER,
    "failure": Failure("risk_rejected", "The wallet declined."),
    "partner_reference": "ref",
    "partner_completed_at": LATER,
    "refunded_value": 100,
    "reserved_value": 200,
    "reserved_payer_value": 40,
    "cancel_status": CancelStatus.PENDING,
    "cancel_requested_at": LATER,
    "merchant_fee": 150,
    "partner_fee": 30,
    "fx_revenue": 12,
    "merchant_business_date": "2026-11-26",
    "partner_business_date": "2026-11-27",
    "next_action_at": LATER,
    "resolve_deadline": LATER,
    "lease_owner": "owner",
    "lease_expires_at": LATER,
    "method": PaymentMethod.MERCHANT_QR,
    "qr_code": "https://partner.test/oc/1",
    "qr_expires_at": LATER,
}


def full_diff(before: Payment, after: Payment) -> dict[str, Any]:
    old, new = rows.payment_row(before), rows.payment_row(after)
    return {k: v for k, v in new.items() if k != "version" and old[k] != v}


def check_changes(before: Payment, after: Payment) -> None:
    """Every column that differs, as `payment_row` maps it; a changed field's other columns
    (an amount's currency, say) may come along, with their values."""
    changes = rows.payment_changes(before, after)
    assert changes.items() >= full_diff(before, after).items()
    assert changes.items() <= rows.payment_row(after).items() - {("version", after.version)}


def test_every_field_has_another_value() -> None:
    fields = {f.name for f in dataclasses.fields(Payment)} - {"version"}
    assert set(OTHER) == fields


@pytest.mark.parametrize("field", sorted(OTHER))
def test_payment_changes_of_one_field_are_the_full_rows_diff(field: str) -> None:
    before = make_payment()
    after = dataclasses.replace(before, **{field: OTHER[field]})
    assert full_diff(before, after) != {}
    check_changes(before, after)
    check_changes(after, before)  # ...and back: a field cleared to None or its default


def test_payment_changes_of_a_final_state() -> None:
    before = make_payment(lease_owner="owner", lease_expires_at=LATER, next_action_at=LATER)
    booked = {"merchant_business_date": "2026-11-26", "partner_business_date": "2026-11-26"}
    for outcome in (
        Outcome.succeeded(partner_reference="ref", completed_at=LATER),
        Outcome.failed(FailureCode.RISK_REJECTED, partner_reference="ref"),
    ):
        after = before.finished(outcome, LATER, booked)
        assert after == dataclasses.replace(before.finished(outcome, LATER), **booked)
        check_changes(before, after)
    assert rows.payment_changes(before, dataclasses.replace(before, version=3)) == {}


def test_new_rows_leave_out_only_the_later_columns() -> None:
    payment, attempt = make_payment(), make_attempt()
    assert rows.new_payment_row(payment) == {
        k: v for k, v in rows.payment_row(payment).items() if k not in rows._LATER_PAYMENT
    }
    assert list(rows.new_payment_row(payment)) == [
        k for k in rows.payment_row(payment) if k not in rows._LATER_PAYMENT
    ]
    assert rows.new_attempt_row(attempt) == {
        k: v for k, v in rows.attempt_row(attempt).items() if k not in rows._LATER_ATTEMPT
    }


def test_an_attempt_ended_with_its_counts_is_counted_then_ended() -> None:
    attempt = make_attempt(pay_calls=1)
    counts = {"pay_calls": 2, "inquiries": 3, "cancel_calls": 0}
    for outcome in (
        Outcome.succeeded(partner_code="S"),
        Outcome.unknown(Delivery.MAYBE_SENT, "timeout"),
    ):
        assert attempt.ended(outcome, LATER, counts=counts) == attempt.counted(counts).ended(
            outcome, LATER
        )
        assert attempt.ended(outcome, LATER) == attempt.counted(attempt.counts()).ended(
            outcome, LATER
        )
    ended = attempt.ended(Outcome.succeeded(), LATER, counts=counts)
    assert ended.status is AttemptStatus.SUCCEEDED
    assert rows.attempt_changes(attempt, ended)["pay_calls"] == 2
