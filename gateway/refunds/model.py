"""A refund as the gateway knows it, and the state changes it goes through.

Pure, like `payments/model.py`: each transition returns the next state and storage writes the
difference. A merchant refund is what `POST /v1/payments/{id}/refunds` makes; a cancel refund is
the full refund a cancel falls back on when the partner refuses to cancel (never shown alone).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import fx
from adapters import Outcome, OutcomeStatus
from gateway.payments.failures import failure_message
from gateway.payments.model import Failure, Payment
from gateway.quotes.model import QuoteUse

__all__ = ["Refund", "RefundBasis", "RefundKind", "RefundStatus", "payer_verdict"]


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundKind(enum.StrEnum):
    MERCHANT = "merchant"
    CANCEL = "cancel"


def payer_verdict(payment: Payment, payer_value: int) -> str:
    """What becomes of a refund priced at `payer_value` payer units on the locked `payment`
    (API.md, Business days and fees): `priced` (≥ 1: sent to the partner); `residue` (0, and the
    tourist already has every payer unit back, no refund in flight: booked at once, no partner
    call); `in_flight` (0, every payer unit reserved but some refund still processing: refused
    for now); `too_small` (0 while the tourist is still owed some: refused, `invalid_amount`)."""
    if payer_value >= 1:
        return "priced"
    if payer_value < 0 or payment.reserved_payer_value != payment.payer_amount.value:
        return "too_small"
    if payment.reserved_value != payment.refunded_value:
        return "in_flight"
    return "residue"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RefundBasis:
    """What a refund's returned fees are computed from, read with the payment row locked (so no
    other refund of it can succeed meanwhile): the payment's stored fee terms, and what its
    earlier succeeded merchant refunds returned (API.md, Business days and fees: returns are
    cumulative, like payer amounts)."""

    terms: Mapping[str, Any] | None
    """The payment entry's fee-term columns (`ledger.model.FEE_TERM_COLUMNS`), None where not
    stored (a payment booked before they were kept); None: no payment entry found."""
    payer_refunded: int = 0
    """Σ payer amounts of the succeeded merchant refunds (payer-currency minor units)."""
    merchant_returned: int = 0
    """Σ merchant fees they returned (merchant-currency minor units)."""
    partner_returned: int = 0
    """Σ partner fees they returned (payer-currency minor units)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Refund:
    id: str
    payment_id: str
    merchant_id: str
    kind: RefundKind
    status: RefundStatus
    amount: fx.Money
    payer_amount: fx.Money
    """Priced cumulatively at the payment's rate when the refund is reserved."""
    quote: QuoteUse | None
    """The payment's quote, whose rate prices the refund; None when it needs no FX."""
    partner: str
    partner_request_id: str
    reason: str | None
    created_at: datetime
    updated_at: datetime
    failure: Failure | None = None
    partner_reference: str | None = None
    partner_completed_at: datetime | None = None
    merchant_fee: int | None = None
    partner_fee: int | None = None
    fx_revenue: int | None = None
    merchant_business_date: str | None = None
    partner_business_date: str | None = None
    refund_calls: int = 0
    inquiries: int = 0
    next_action_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    version: int = 0

    @property
    def is_final(self) -> bool:
        return self.status is not RefundStatus.PROCESSING

    def counts(self) -> dict[str, int]:
        """Its call counters, as the tally a partner call increments (`partners/calls.py`)."""
        return {"refund_calls": self.refund_calls, "inquiries": self.inquiries}

    def counted(self, counts: dict[str, int]) -> Refund:
        return dataclasses.replace(
            self, refund_calls=counts["refund_calls"], inquiries=counts["inquiries"]
        )

    def released(self, *, due: datetime | None = None, now: datetime) -> Refund:
        """The lease freed; the resolver's next look at `due` (None: none)."""
        return dataclasses.replace(
            self, lease_owner=None, lease_expires_at=None, next_action_at=due, updated_at=now
        )

    def succeeded(self, outcome: Outcome, now: datetime) -> Refund:
        return dataclasses.replace(
            self.released(now=now),
            status=RefundStatus.SUCCEEDED,
            partner_reference=outcome.partner_reference,
            partner_completed_at=outcome.completed_at or now,
        )

    def finished(self, outcome: Outcome, now: datetime) -> Refund:
        """The state a partner's final `outcome` leaves it in (lease freed, nothing due)."""
        if outcome.status is OutcomeStatus.SUCCEEDED:
            return self.succeeded(outcome, now)
        assert outcome.failure_code is not None, "a final outcome is a success or a failure"
        return dataclasses.replace(
            self.released(now=now),
            status=RefundStatus.FAILED,
            failure=Failure(outcome.failure_code.value, failure_message(outcome.failure_code)),
            partner_reference=outcome.partner_reference,
        )
