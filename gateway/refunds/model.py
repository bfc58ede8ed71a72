"""A refund as the gateway knows it, and the state changes it goes through.

Pure, like `payments/model.py`: each transition returns the next state and storage writes the
difference. A merchant refund is what `POST /v1/payments/{id}/refunds` makes; a cancel refund is
the full refund a cancel falls back on when the partner refuses to cancel (never shown alone).
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

import fx
from adapters import Outcome, OutcomeStatus
from gateway.payments.failures import failure_message
from gateway.payments.model import Failure
from gateway.quotes.model import QuoteUse

__all__ = ["Refund", "RefundKind", "RefundStatus"]


class RefundStatus(enum.StrEnum):
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class RefundKind(enum.StrEnum):
    MERCHANT = "merchant"
    CANCEL = "cancel"


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
