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
from types import MappingProxyType
from typing import Any

import fx
from adapters import FailureCode, Outcome, OutcomeStatus
from gateway.core.ids import new_id
from gateway.payments.failures import failure_message
from gateway.quotes.model import QuoteUse

__all__ = [
    "Attempt",
    "AttemptStatus",
    "CancelStatus",
    "Failure",
    "Payment",
    "PaymentMethod",
    "PaymentStatus",
]

_NOTHING: Mapping[str, Any] = MappingProxyType({})


class PaymentStatus(enum.StrEnum):
    """A payment's status (API.md); refunds use the same words."""

    PROCESSING = "processing"
    REQUIRES_CUSTOMER = "requires_customer"
    """A merchant-presented code is on the till's screen: the tourist has yet to scan it."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


_OPEN = frozenset({PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_CUSTOMER})


class PaymentMethod(enum.StrEnum):
    """How the tourist pays: the POS scans their wallet's code, they scan the till's, or they
    scan a store's static entry code and type the amount (`gateway/payments/entry.py`)."""

    WALLET_CODE = "wallet_code"
    MERCHANT_QR = "merchant_qr"
    ENTRY_CODE = "entry_code"


class CancelStatus(enum.StrEnum):
    """A merchant cancel: irrevocable once `pending`, `confirmed` when the partner undid it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"


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
    method: PaymentMethod = PaymentMethod.WALLET_CODE
    qr_code: str | None = None
    """A merchant-presented payment's code (what the QR encodes), as the partner issued it."""
    qr_expires_at: datetime | None = None
    version: int = 0

    @property
    def is_final(self) -> bool:
        return self.status not in _OPEN

    def displaying(
        self,
        *,
        code: str,
        expires_at: datetime,
        partner_reference: str | None,
        now: datetime,
        first_look: datetime,
    ) -> Payment:
        """The partner issued its code: shown until `expires_at`, our lease freed; the resolver
        looks (inquires) from `first_look` on, and cancels the code once it has expired."""
        return dataclasses.replace(
            self,
            status=PaymentStatus.REQUIRES_CUSTOMER,
            qr_code=code,
            qr_expires_at=expires_at,
            partner_reference=partner_reference,
            lease_owner=None,
            lease_expires_at=None,
            next_action_at=first_look,
            resolve_deadline=expires_at,
            updated_at=now,
        )

    def finished(
        self, outcome: Outcome, now: datetime, booked: Mapping[str, Any] = _NOTHING
    ) -> Payment:
        """The state a partner's final `outcome` leaves it in; its lease freed, nothing due.
        `booked`: fields its booking adds (business dates, fees), set in the same copy."""
        # One `replace` each (not `released` first): this runs for every payment.
        if outcome.status is OutcomeStatus.SUCCEEDED:
            return dataclasses.replace(
                self,
                status=PaymentStatus.SUCCEEDED,
                partner_reference=outcome.partner_reference,
                partner_completed_at=outcome.completed_at or now,
                lease_owner=None,
                lease_expires_at=None,
                next_action_at=None,
                updated_at=now,
                **booked,
            )
        assert outcome.failure_code is not None, "a final outcome is a success or a failure"
        code = outcome.failure_code
        if code is FailureCode.PAYMENT_EXPIRED and self.status is PaymentStatus.REQUIRES_CUSTOMER:
            # A shown code the partner expired (by inquiry or notification, before our cancel
            # reached it) is a code that expired unpaid, as when our cancel ends it.
            code = FailureCode.CODE_EXPIRED
        return dataclasses.replace(
            self,
            status=PaymentStatus.FAILED,
            failure=Failure(code.value, failure_message(code)),
            partner_reference=outcome.partner_reference,
            lease_owner=None,
            lease_expires_at=None,
            next_action_at=None,
            updated_at=now,
            **booked,
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


class AttemptStatus(enum.StrEnum):
    """Where one partner's attempt at a payment ended (`not_accepted`: it certainly charged
    nothing, and the payment failed over)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"
    NOT_ACCEPTED = "not_accepted"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One partner's go at a payment. Its id is the partner request id: every retry of the
    attempt is the same request to the partner, never a second charge."""

    id: str
    payment_id: str
    seq: int
    partner: str
    partner_request_id: str
    route_reason: str
    status: AttemptStatus
    created_at: datetime
    updated_at: datetime
    delivery: str | None = None
    """For an unknown outcome: whether the last request may have reached the partner."""
    partner_code: str | None = None
    message: str | None = None
    pay_calls: int = 0
    inquiries: int = 0
    cancel_calls: int = 0

    @classmethod
    def first(
        cls, payment_id: str, seq: int, partner: str, route_reason: str, now: datetime
    ) -> Attempt:
        attempt_id = new_id("att")
        return cls(
            id=attempt_id,
            payment_id=payment_id,
            seq=seq,
            partner=partner,
            partner_request_id=attempt_id,
            route_reason=route_reason,
            status=AttemptStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    def counts(self) -> dict[str, int]:
        """Its call counters, as the tally a partner call increments (`partners/calls.py`)."""
        return {
            "pay_calls": self.pay_calls,
            "inquiries": self.inquiries,
            "cancel_calls": self.cancel_calls,
        }

    def counted(self, counts: dict[str, int]) -> Attempt:
        return dataclasses.replace(
            self,
            pay_calls=counts["pay_calls"],
            inquiries=counts["inquiries"],
            cancel_calls=counts["cancel_calls"],
        )

    def ended(
        self,
        outcome: Outcome,
        now: datetime,
        *,
        status: AttemptStatus | None = None,
        note: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> Attempt:
        """What `outcome` says of it; `note` heads the message (the gateway's own notes);
        `counts`: its call counters (`counted`), set in the same copy."""
        unknown = outcome.status is OutcomeStatus.UNKNOWN
        message = outcome.message if note is None else note
        counters = self.counts() if counts is None else counts
        return dataclasses.replace(
            self,
            status=status or AttemptStatus(outcome.status.value),
            delivery=outcome.delivery.value if unknown else self.delivery,
            partner_code=outcome.partner_code,
            message=message[:500],
            updated_at=now,
            pay_calls=counters["pay_calls"],
            inquiries=counters["inquiries"],
            cancel_calls=counters["cancel_calls"],
        )
