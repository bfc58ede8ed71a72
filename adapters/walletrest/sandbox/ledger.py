"""The sandbox partner's books: payments and refunds by Idempotency-Key, and every money movement.

State is evaluated lazily against the sandbox clock (no background tasks): a payment "processing"
becomes `succeeded` (0093) or expires (0094) the first time anyone looks at it after its
deadline, with the charge dated at the deadline. Tests read the ledger through `app[LEDGER]` or
`GET /_sandbox/ledger`, with the same reading API as the Alipay+ sandbox's (`payments`,
`entries`, `charges_for`, `reversals_for`, `to_json`). It holds masked codes and SHA-256
digests, never a raw wallet code.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from adapters._base import mask_code
from adapters._clock import Clock
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from fx import Money

__all__ = [
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "RefundRecord",
    "SandboxLedger",
    "Scenario",
    "digest",
]


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = codes.SUCCEEDED
    PROCESSING = codes.PROCESSING
    FAILED = codes.FAILED
    CANCELED = codes.CANCELED


class Scenario(enum.StrEnum):
    """How a recorded payment evolves (the test code's behaviour once recorded)."""

    FINAL = "final"  # decided at once (approve or decline)
    CONFIRM = "confirm"  # 0093: processing, then succeeded after confirm_seconds
    EXPIRE = "expire"  # 0094: processing, then failed payment_expired after expire_seconds
    CANCEL_MARKER = "cancel_marker"  # canceled before any create arrived: refuse a late create


def digest(text: str) -> str:
    """What the sandbox keeps to recognise a replay (of a code, or a whole body): SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


@dataclasses.dataclass
class PaymentRecord:
    payment_request_id: str
    payment_id: str
    amount: wire.Amount | None  # the payer amount; None for a cancel marker
    merchant_amount: wire.Amount | None
    reference: str | None
    body_sha256: str = dataclasses.field(repr=False)
    code_sha256: str = dataclasses.field(repr=False)
    masked_code: str
    scenario: Scenario
    status: PaymentStatus
    decline_code: str | None
    created_at: datetime
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    charged: bool = False
    reversed: bool = False
    pay_calls: int = 0
    refunded_minor: int = 0  # minor units of `amount` refunded so far

    def to_wire(self) -> wire.Payment:
        refunded = None
        if self.amount is not None:
            money = wire.money_from_wire(self.amount)
            refunded = wire.money_to_wire(Money.of(self.refunded_minor, money.currency))
        return wire.Payment(
            id=self.payment_id,
            request_id=self.payment_request_id,
            status=self.status.value,
            amount=self.amount,
            merchant_amount=self.merchant_amount,
            amount_refunded=refunded,
            reference=self.reference,
            decline_code=self.decline_code,
            created_at=_iso(self.created_at),
            completed_at=_iso(self.completed_at),
            canceled_at=_iso(self.canceled_at),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "amount": self.amount.model_dump() if self.amount else None,
            "masked_code": self.masked_code,
            "status": self.status.value,
            "decline_code": self.decline_code,
            "charged": self.charged,
            "reversed": self.reversed,
            "pay_calls": self.pay_calls,
            "refunded_minor": self.refunded_minor,
            "created_at": self.created_at.isoformat(),
            "completed_at": _iso(self.completed_at),
            "canceled_at": _iso(self.canceled_at),
        }


@dataclasses.dataclass
class RefundRecord:
    refund_request_id: str
    refund_id: str
    payment_request_id: str
    amount: wire.Amount
    body_sha256: str = dataclasses.field(repr=False)
    status: PaymentStatus
    decline_code: str | None
    created_at: datetime
    completed_at: datetime | None = None
    calls: int = 1

    def to_wire(self) -> wire.Refund:
        return wire.Refund(
            id=self.refund_id,
            request_id=self.refund_request_id,
            payment=self.payment_request_id,
            status=self.status.value,
            amount=self.amount,
            decline_code=self.decline_code,
            created_at=_iso(self.created_at),
            completed_at=_iso(self.completed_at),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "refund_request_id": self.refund_request_id,
            "refund_id": self.refund_id,
            "payment_request_id": self.payment_request_id,
            "amount": self.amount.model_dump(),
            "status": self.status.value,
            "decline_code": self.decline_code,
            "calls": self.calls,
            "created_at": self.created_at.isoformat(),
        }


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    kind: str  # "charge" | "reversal" | "refund"
    payment_request_id: str
    payment_id: str
    amount: wire.Amount
    at: datetime
    refund_request_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "refund_request_id": self.refund_request_id,
            "amount": self.amount.model_dump(),
            "at": self.at.isoformat(),
        }


class SandboxLedger:
    """Payments and refunds by request id, plus the list of charges, reversals and refunds."""

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._expire = timedelta(seconds=expire_seconds)
        self._payments: dict[str, PaymentRecord] = {}
        self._refunds: dict[str, RefundRecord] = {}
        self._entries: list[LedgerEntry] = []

    # --- reading (always evaluated at the clock's now) ------------------------------------------

    @property
    def payments(self) -> dict[str, PaymentRecord]:
        self.refresh()
        return dict(self._payments)

    @property
    def refunds(self) -> dict[str, RefundRecord]:
        return dict(self._refunds)

    @property
    def entries(self) -> list[LedgerEntry]:
        self.refresh()
        return list(self._entries)

    def get(self, payment_request_id: str) -> PaymentRecord | None:
        record = self._payments.get(payment_request_id)
        if record is not None:
            self._evaluate(record, self._clock.now())
        return record

    def get_refund(self, refund_request_id: str) -> RefundRecord | None:
        return self._refunds.get(refund_request_id)

    def _count(self, kind: str, payment_request_id: str) -> int:
        return sum(
            1 for e in self.entries if e.kind == kind and e.payment_request_id == payment_request_id
        )

    def charges_for(self, payment_request_id: str) -> int:
        """How many times this request id was charged (0 or 1 when the sandbox is right)."""
        return self._count("charge", payment_request_id)

    def reversals_for(self, payment_request_id: str) -> int:
        return self._count("reversal", payment_request_id)

    def refunds_for(self, payment_request_id: str) -> int:
        return self._count("refund", payment_request_id)

    def to_json(self) -> dict[str, Any]:
        self.refresh()
        return {
            "payments": {k: r.to_json() for k, r in self._payments.items()},
            "refunds": {k: r.to_json() for k, r in self._refunds.items()},
            "entries": [e.to_json() for e in self._entries],
        }

    def refresh(self) -> None:
        now = self._clock.now()
        for record in self._payments.values():
            self._evaluate(record, now)

    # --- writing ---------------------------------------------------------------------------------

    def record(
        self,
        *,
        payment_request_id: str,
        body: wire.CreatePayment | None,
        body_sha256: str,
        scenario: Scenario,
        status: PaymentStatus,
        decline_code: str | None = None,
    ) -> PaymentRecord:
        """A new payment (or, with `body=None`, a cancel marker); a success is charged at once."""
        now = self._clock.now()
        code = body.payment_code if body is not None else None
        record = PaymentRecord(
            payment_request_id=payment_request_id,
            payment_id=f"wr_pay_{uuid.uuid4().hex[:24]}",
            amount=body.amount if body is not None else None,
            merchant_amount=body.merchant_amount if body is not None else None,
            reference=body.reference if body is not None else None,
            body_sha256=body_sha256,
            code_sha256=digest(code) if code is not None else "",
            masked_code=mask_code(code) if code is not None else "",
            scenario=scenario,
            status=status,
            decline_code=decline_code,
            created_at=now,
        )
        if status is PaymentStatus.CANCELED:
            record.canceled_at = now
        self._payments[payment_request_id] = record
        if status is PaymentStatus.SUCCEEDED:
            self._charge(record, now)
        elif status is PaymentStatus.FAILED:
            record.completed_at = now
        return record

    def cancel(self, record: PaymentRecord) -> None:
        """Cancel whatever the state; reverse a charge once. Idempotent."""
        now = self._clock.now()
        self._evaluate(record, now)
        if record.status is PaymentStatus.CANCELED:
            return
        if record.charged and not record.reversed and record.amount is not None:
            record.reversed = True
            self._entries.append(
                LedgerEntry(
                    "reversal", record.payment_request_id, record.payment_id, record.amount, now
                )
            )
        record.status = PaymentStatus.CANCELED
        record.canceled_at = now

    def refund(
        self,
        *,
        refund_request_id: str,
        payment_request_id: str,
        amount: wire.Amount,
        body_sha256: str,
    ) -> RefundRecord:
        """Refund part or all of a succeeded payment; declines are recorded too (replayable)."""
        now = self._clock.now()
        payment = self.get(payment_request_id)
        money = wire.money_from_wire(amount)
        decline = _refund_decline(payment, money)
        record = RefundRecord(
            refund_request_id=refund_request_id,
            refund_id=f"wr_rf_{uuid.uuid4().hex[:24]}",
            payment_request_id=payment_request_id,
            amount=amount,
            body_sha256=body_sha256,
            status=PaymentStatus.FAILED if decline else PaymentStatus.SUCCEEDED,
            decline_code=decline,
            created_at=now,
            completed_at=now,
        )
        self._refunds[refund_request_id] = record
        if decline is None and payment is not None:
            payment.refunded_minor += money.value
            self._entries.append(
                LedgerEntry(
                    "refund",
                    payment_request_id,
                    payment.payment_id,
                    amount,
                    now,
                    refund_request_id=refund_request_id,
                )
            )
        return record

    def _charge(self, record: PaymentRecord, at: datetime) -> None:
        if record.charged or record.amount is None:
            return
        record.charged = True
        record.completed_at = at
        self._entries.append(
            LedgerEntry("charge", record.payment_request_id, record.payment_id, record.amount, at)
        )

    def _evaluate(self, record: PaymentRecord, now: datetime) -> None:
        if record.status is not PaymentStatus.PROCESSING:
            return
        if record.scenario is Scenario.CONFIRM and now >= record.created_at + self._confirm:
            record.status = PaymentStatus.SUCCEEDED
            self._charge(record, record.created_at + self._confirm)
        elif record.scenario is Scenario.EXPIRE and now >= record.created_at + self._expire:
            record.status = PaymentStatus.FAILED
            record.decline_code = codes.PAYMENT_EXPIRED
            record.completed_at = record.created_at + self._expire


def _refund_decline(payment: PaymentRecord | None, money: Money) -> str | None:
    """Why a refund of `money` cannot be made, or None: only succeeded payments, up to their
    amount in total, in their currency."""
    if payment is None or payment.status is not PaymentStatus.SUCCEEDED or payment.amount is None:
        return codes.PAYMENT_NOT_REFUNDABLE
    charged = wire.money_from_wire(payment.amount)
    if charged.currency != money.currency:
        return codes.PAYMENT_NOT_REFUNDABLE
    if payment.refunded_minor + money.value > charged.value:
        return codes.AMOUNT_EXCEEDS_REFUNDABLE
    return None
