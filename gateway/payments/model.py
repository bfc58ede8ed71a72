"""A payment as the gateway knows it, and the state changes it goes through.

Pure: no I/O. A `Payment` is immutable; each transition returns the next state, and the storage
layer writes the difference (`storage/rows.py`). Money is `fx.Money` (integer minor units with
their currency); a rate stays the exact decimal string the API showed.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

import fx
from adapters import Outcome, OutcomeStatus
from gateway.payments.failures import failure_message

__all__ = ["CancelStatus", "Failure", "Payment", "PaymentStatus", "QuoteUse"]


class PaymentStatus(enum.StrEnum):
    """A payment's status (API.md); refunds use the same words."""

    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class CancelStatus(enum.StrEnum):
    """A merchant cancel: irrevocable once `pending`, `confirmed` when the partner undid it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"


@dataclasses.dataclass(frozen=True, slots=True)
class QuoteUse:
    """The quote a payment was priced with (a spot quote, or one the POS asked for)."""

    id: str
    rate: str
    """The exact decimal shown to the POS (10 significant digits), kept as text."""
    mid_rate: str
    expires_at: datetime

    @property
    def rate_value(self) -> Decimal:
        return Decimal(self.rate)


@dataclasses.dataclass(frozen=True, slots=True)
class Failure:
    code: str
    message: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Payment:
    id: str
    merchant_id: str
    merchant_reference: str
    idempotency_key: str
    status: PaymentStatus
    amount: fx.Money
    payer_amount: fx.Money
    wallet: str
    partner: str
    route_reason: str
    quote: QuoteUse | None
    code_mask: str
    code_hash: str
    store_id: str | None
    terminal_id: str | None
    metadata: Mapping[str, str]
    created_at: datetime
    updated_at: datetime
    failure: Failure | None = None
    partner_reference: str | None = None
    partner_completed_at: datetime | None = None
    refunded_value: int = 0
    """Succeeded refunds, in `amount`'s minor units."""
    reserved_value: int = 0
    """Succeeded and processing refunds (what may no longer be refunded)."""
    reserved_payer_value: int = 0
    """The same, in `payer_amount`'s minor units."""
    cancel_status: CancelStatus | None = None
    cancel_requested_at: datetime | None = None
    merchant_fee: int | None = None
    partner_fee: int | None = None
    fx_revenue: int | None = None
    merchant_business_date: str | None = None
    partner_business_date: str | None = None
    next_action_at: datetime | None = None
    """When the resolver looks at it next (None: nothing left to do)."""
    resolve_deadline: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    version: int = 0

    @property
    def is_final(self) -> bool:
        return self.status is not PaymentStatus.PROCESSING

    def finished(self, outcome: Outcome, now: datetime) -> Payment:
        """The state a partner's final `outcome` leaves it in; its lease freed, nothing due."""
        if outcome.status is OutcomeStatus.SUCCEEDED:
            return dataclasses.replace(
                self.released(now=now),
                status=PaymentStatus.SUCCEEDED,
                partner_reference=outcome.partner_reference,
                partner_completed_at=outcome.completed_at or now,
            )
        assert outcome.failure_code is not None, "a final outcome is a success or a failure"
        return dataclasses.replace(
            self.released(now=now),
            status=PaymentStatus.FAILED,
            failure=Failure(outcome.failure_code.value, failure_message(outcome.failure_code)),
            partner_reference=outcome.partner_reference,
        )

    def released(self, *, due: datetime | None = None, now: datetime | None = None) -> Payment:
        """The lease freed; the resolver's next look at `due` (None: none); touched at `now`."""
        return dataclasses.replace(
            self,
            lease_owner=None,
            lease_expires_at=None,
            next_action_at=due,
            updated_at=self.updated_at if now is None else now,
        )

    def cancelled(self, now: datetime) -> Payment:
        """The end of a merchant cancel (the partner undid the payment, or refunded it)."""
        return dataclasses.replace(
            self.released(now=now),
            status=PaymentStatus.CANCELLED,
            cancel_status=CancelStatus.CONFIRMED,
        )

    def routed(self, partner: str, reason: str, now: datetime) -> Payment:
        """Failed over to `partner` (the previous one certainly charged nothing)."""
        return dataclasses.replace(self, partner=partner, route_reason=reason, updated_at=now)

    def next_version(self) -> Payment:
        return dataclasses.replace(self, version=self.version + 1)
