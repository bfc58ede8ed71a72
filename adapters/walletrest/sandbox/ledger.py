"""The sandbox partner's books: payments and refunds by Idempotency-Key, and every money movement.

The lazily evaluated state machine and the books are `adapters._sandbox.SandboxLedger`'s (with
the same reading API as the Alipay+ sandbox's: `payments`, `entries`, `charges_for`,
`reversals_for`, `to_json`); this module adds what is WalletRest's own: its statuses and decline
codes, its ids, refunds, and amounts kept as the wire's `Amount` (major units). It holds masked
codes and SHA-256 digests, never a raw wallet code.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from adapters import _sandbox
from adapters._base import mask_code
from adapters._clock import Clock
from adapters._sandbox import Phase, Scenario, digest
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

LedgerEntry = _sandbox.LedgerEntry


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = codes.SUCCEEDED
    PROCESSING = codes.PROCESSING
    FAILED = codes.FAILED
    CANCELED = codes.CANCELED


def _iso(moment: datetime | None) -> str | None:
    return _sandbox.iso_or_none(moment, "seconds")


@dataclasses.dataclass(kw_only=True)
class PaymentRecord(_sandbox.PaymentRecordBase[wire.Amount, PaymentStatus]):
    # `amount` is the payer amount
    merchant_amount: wire.Amount | None
    reference: str | None
    body_sha256: str = dataclasses.field(repr=False)
    decline_code: str | None
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


class SandboxLedger(_sandbox.SandboxLedger[PaymentRecord, wire.Amount, PaymentStatus]):
    """Payments and refunds by request id, plus the list of charges, reversals and refunds."""

    STATUS: ClassVar[Mapping[Phase, PaymentStatus]] = {
        Phase.SUCCEEDED: PaymentStatus.SUCCEEDED,
        Phase.FAILED: PaymentStatus.FAILED,
        Phase.PROCESSING: PaymentStatus.PROCESSING,
        Phase.CANCELED: PaymentStatus.CANCELED,
    }
    ENTRY_REFUND_IDS = True

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        super().__init__(clock, confirm_seconds=confirm_seconds, expire_seconds=expire_seconds)
        self._refunds: dict[str, RefundRecord] = {}

    def _record_json(self, record: PaymentRecord) -> dict[str, Any]:
        return record.to_json()

    def _amount_json(self, amount: wire.Amount) -> Any:
        return amount.model_dump()

    def _extra_json(self) -> dict[str, Any]:
        return {"refunds": {k: r.to_json() for k, r in self._refunds.items()}}

    def _expired(self, record: PaymentRecord) -> None:
        record.decline_code = codes.PAYMENT_EXPIRED

    # --- reading ---------------------------------------------------------------------------------

    @property
    def refunds(self) -> dict[str, RefundRecord]:
        return dict(self._refunds)

    def get_refund(self, refund_request_id: str) -> RefundRecord | None:
        return self._refunds.get(refund_request_id)

    def refunds_for(self, payment_request_id: str) -> int:
        return self._count("refund", payment_request_id)

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
        elif status is PaymentStatus.FAILED:
            record.completed_at = now
        return self._add(record)

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
