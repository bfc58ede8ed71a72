"""How the resolver reads a partner's expiry of a payment it is resolving: a shown code that the
partner expired before our cancel reached it ended as a code nobody paid (`code_expired`),
whichever of the two ended it first."""

from __future__ import annotations

import dataclasses

from adapters import FailureCode, Outcome
from gateway.payments.model import PaymentStatus
from gateway.payments.resolver import _as_seen
from tests.factories import make_payment


def test_a_shown_code_the_partner_expired_is_a_code_expired() -> None:
    shown = make_payment(status=PaymentStatus.REQUIRES_CUSTOMER)
    expired = Outcome.failed(FailureCode.PAYMENT_EXPIRED, partner_code="ORDER_IS_CLOSED")
    seen = _as_seen(shown, expired)
    assert seen == dataclasses.replace(expired, failure_code=FailureCode.CODE_EXPIRED)
    assert seen.partner_code == "ORDER_IS_CLOSED"


def test_other_payments_and_other_failures_are_read_as_the_partner_said() -> None:
    expired = Outcome.failed(FailureCode.PAYMENT_EXPIRED, partner_code="ORDER_IS_CLOSED")
    assert _as_seen(make_payment(status=PaymentStatus.PROCESSING), expired) is expired
    declined = Outcome.failed(FailureCode.INSUFFICIENT_FUNDS)
    shown = make_payment(status=PaymentStatus.REQUIRES_CUSTOMER)
    assert _as_seen(shown, declined) is declined
