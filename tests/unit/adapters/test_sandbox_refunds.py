"""The shared sandbox engine's refund and cancel rules (`adapters._sandbox`), without HTTP.

Driven through the Alipay+ ledger (minor-unit amounts); the WalletRest ledger runs the same code,
and both are exercised over HTTP by the contract suite.
"""

from __future__ import annotations

import pytest

from adapters import SystemClock
from adapters._sandbox import (
    CancelRefusal,
    RefundDecline,
    RefundRule,
    Scenario,
    refund_rule,
)
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox import PaymentRecord, PaymentStatus, SandboxLedger


def code(last4: str) -> str:
    return "28123456789012" + last4


def amount(value: int, currency: str = "CNY") -> wire.Amount:
    return wire.Amount(currency=currency, value=str(value))


def ledger_with(
    last4: str = "0000", status: PaymentStatus = PaymentStatus.SUCCESS
) -> SandboxLedger:
    ledger = SandboxLedger(SystemClock(), confirm_seconds=2, expire_seconds=3)
    ledger.record(
        payment_request_id="att_1",
        amount=amount(1000),
        code=code(last4),
        scenario=Scenario.FINAL,
        status=status,
        result_code="SUCCESS",
    )
    return ledger


def payment(ledger: SandboxLedger) -> PaymentRecord:
    record = ledger.get("att_1")
    assert record is not None
    return record


def refund(
    ledger: SandboxLedger, rid: str, value: int, currency: str = "CNY"
) -> RefundDecline | None:
    record = ledger.refund(
        refund_request_id=rid,
        payment=ledger.get("att_1"),
        payment_request_id="att_1",
        amount=amount(value, currency),
        fingerprint=rid,
    )
    return record.decline


@pytest.mark.parametrize(
    ("last4", "rule"),
    [("0095", RefundRule.HOLD), ("0096", RefundRule.DECLINE), ("0097", RefundRule.NORMAL)],
)
def test_refund_rules_follow_the_payment_test_code(last4: str, rule: RefundRule) -> None:
    record = payment(ledger_with(last4))
    assert record.test_code == last4
    assert refund_rule(record) is rule
    assert refund_rule(None) is RefundRule.NORMAL


def test_refunds_up_to_the_remainder() -> None:
    ledger = ledger_with()
    assert refund(ledger, "r1", 600) is None
    assert refund(ledger, "r2", 401) is RefundDecline.EXCEEDS
    assert refund(ledger, "r3", 400) is None
    assert refund(ledger, "r4", 1) is RefundDecline.EXCEEDS
    assert payment(ledger).refunded_minor == 1000 == ledger.refunded_for("att_1")
    assert ledger.refunds_for("att_1") == 2
    assert [e.refund_request_id for e in ledger.entries] == [None, "r1", "r3"]
    declined = ledger.get_refund("r2")
    assert declined is not None and declined.code == "REFUND_AMOUNT_EXCEED"
    assert declined.status is PaymentStatus.FAIL and not declined.succeeded
    made = ledger.get_refund("r1")
    assert made is not None and made.status is PaymentStatus.SUCCESS and made.code is None
    by_id = ledger.find_refund(refund_request_id=None, refund_id=made.refund_id)
    assert by_id is made


@pytest.mark.parametrize(
    ("last4", "status", "currency", "decline"),
    [
        ("0096", PaymentStatus.SUCCESS, "CNY", RefundDecline.DECLINED),
        ("0000", PaymentStatus.SUCCESS, "HKD", RefundDecline.CURRENCY),
        ("0000", PaymentStatus.FAIL, "CNY", RefundDecline.NOT_SUCCEEDED),
        ("0000", PaymentStatus.CANCELLED, "CNY", RefundDecline.CANCELED),
    ],
)
def test_refund_declines(
    last4: str, status: PaymentStatus, currency: str, decline: RefundDecline
) -> None:
    ledger = ledger_with(last4, status)
    assert refund(ledger, "r1", 100, currency) is decline
    assert ledger.refunds_for("att_1") == 0 and payment(ledger).refunded_minor == 0


def test_refund_of_no_payment_is_declined_and_recorded() -> None:
    ledger = ledger_with()
    record = ledger.refund(
        refund_request_id="r1",
        payment=None,
        payment_request_id="att_x",
        amount=amount(1),
        fingerprint="f",
    )
    assert (record.decline, record.payment_request_id, record.payment_id) == (
        RefundDecline.NO_PAYMENT,
        "att_x",
        None,
    )
    assert ledger.get_refund("r1") is record


def test_cancel_refusals() -> None:
    window = ledger_with("0097")
    assert window.cancel(payment(window)) is CancelRefusal.WINDOW_CLOSED
    assert payment(window).status is PaymentStatus.SUCCESS and window.reversals_for("att_1") == 0

    refunded = ledger_with()
    refund(refunded, "r1", 1)
    assert refunded.cancel(payment(refunded)) is CancelRefusal.HAS_REFUNDS
    assert refunded.reversals_for("att_1") == 0

    plain = ledger_with()
    assert plain.cancel(payment(plain)) is None
    assert plain.cancel(payment(plain)) is None  # idempotent
    assert plain.reversals_for("att_1") == 1
