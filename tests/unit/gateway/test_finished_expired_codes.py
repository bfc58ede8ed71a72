"""How a payment reads a partner's expiry: a shown code (`requires_customer`) that the partner
expired before our cancel reached it ended as a code nobody paid (`code_expired`), whichever of the
two ended it first and whether an inquiry or a notification told us (`Payment.finished`)."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters import FailureCode, Outcome
from gateway.payments.model import PaymentStatus
from tests.factories import make_payment

NOW = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)
EXPIRED = Outcome.failed(FailureCode.PAYMENT_EXPIRED, partner_code="ORDER_IS_CLOSED")


def test_a_shown_code_the_partner_expired_is_a_code_expired() -> None:
    shown = make_payment(status=PaymentStatus.REQUIRES_CUSTOMER)
    final = shown.finished(EXPIRED, NOW)
    assert final.status is PaymentStatus.FAILED
    assert final.failure is not None
    assert final.failure.code == FailureCode.CODE_EXPIRED.value


def test_other_payments_and_other_failures_end_as_the_partner_said() -> None:
    processing = make_payment(status=PaymentStatus.PROCESSING).finished(EXPIRED, NOW)
    assert processing.failure is not None
    assert processing.failure.code == FailureCode.PAYMENT_EXPIRED.value
    declined = Outcome.failed(FailureCode.INSUFFICIENT_FUNDS)
    shown = make_payment(status=PaymentStatus.REQUIRES_CUSTOMER).finished(declined, NOW)
    assert shown.failure is not None
    assert shown.failure.code == FailureCode.INSUFFICIENT_FUNDS.value
