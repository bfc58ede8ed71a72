"""The sandbox partner's books: payments and refunds by Idempotency-Key, and every money movement.

The lazily evaluated state machine and the books are those of
`adapters._sandbox.ledger.SandboxLedger` (with the same reading API as the Alipay+ sandbox's:
`payments`, `refunds`, `entries`, `charges_for`, `reversals_for`, `refunds_for`, `refunded_for`,
`to_json`), refunds and the refund test codes included; this module adds what is WalletRest's
own: its statuses and decline codes, its ids, and amounts kept as the wire's `Amount` (major
units). It holds masked codes and SHA-256 digests, never a raw wallet code.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from adapters._base import mask_code
from adapters._sandbox import records
from adapters._sandbox.ledger import SandboxLedger as BaseLedger
from adapters._sandbox.records import digest
from adapters._sandbox.scenarios import Outcome, Phase, RefundDecline, Scenario
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from fx import Money

__all__ = [
    "DECLINE_CODES",
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "RefundRecord",
    "SandboxLedger",
    "Scenario",
    "digest",
    "order_to_wire",
    "refund_to_wire",
]

LedgerEntry = records.LedgerEntry

DECLINE_CODES: Mapping[Outcome, str] = {
    Outcome.INVALID_CODE: codes.INVALID_CODE,
    Outcome.INSUFFICIENT_FUNDS: codes.INSUFFICIENT_FUNDS,
    Outcome.RISK_REJECTED: codes.RISK_REJECTED,
    Outcome.CODE_EXPIRED: codes.CODE_EXPIRED,
}
"""A test code's decline, in WalletRest's words (a pay's, or an order code's scan)."""


class PaymentStatus(enum.StrEnum):
    SUCCEEDED = codes.SUCCEEDED
    PROCESSING = codes.PROCESSING
    FAILED = codes.FAILED
    CANCELED = codes.CANCELED


def _iso(moment: datetime | None) -> str | None:
    return records.iso_or_none(moment, "seconds")


@dataclasses.dataclass(kw_only=True)
class PaymentRecord(records.PaymentRecordBase[wire.Amount, PaymentStatus]):
    # `amount` is the payer amount, `merchant_amount` the merchant's
    reference: str | None
    body_sha256: str = dataclasses.field(repr=False)
    decline_code: str | None
    wallet: str | None = None  # an order code's wallet

    @property
    def wire_status(self) -> str:
        """The status on the wire: an order code not paid yet is `awaiting_payment`."""
        if self.scenario is Scenario.ORDER and self.status is PaymentStatus.PROCESSING:
            return codes.AWAITING_PAYMENT
        return self.status.value

    def to_wire(self) -> wire.Payment:
        refunded = None
        if self.amount is not None:
            money = wire.money_from_wire(self.amount)
            refunded = wire.money_to_wire(Money.of(self.refunded_minor, money.currency))
        return wire.Payment(
            id=self.payment_id,
            request_id=self.payment_request_id,
            status=self.wire_status,
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
            "merchant_amount": self.merchant_amount.model_dump() if self.merchant_amount else None,
            "masked_code": self.masked_code,
            "status": self.wire_status,
            "scenario": self.scenario.value,
            "decline_code": self.decline_code,
            "charged": self.charged,
            "reversed": self.reversed,
            "pay_calls": self.pay_calls,
            "refunded_minor": self.refunded_minor,
            "created_at": self.created_at.isoformat(),
            "completed_at": _iso(self.completed_at),
            "canceled_at": _iso(self.canceled_at),
            "expires_at": _iso(self.expires_at),
        }


def order_to_wire(record: PaymentRecord, *, order_id: str, qr_code: str | None) -> wire.Order:
    """The order resource of an order code's payment (`qr_code` None for a cancel marker)."""
    return wire.Order(
        id=record.payment_id,
        order_id=order_id,
        status=record.wire_status,
        amount=record.amount,
        merchant_amount=record.merchant_amount,
        wallet=record.wallet,
        reference=record.reference,
        qr_code=qr_code,
        expires_at=_iso(record.expires_at),
        decline_code=record.decline_code,
        created_at=_iso(record.created_at),
        completed_at=_iso(record.completed_at),
        canceled_at=_iso(record.canceled_at),
    )


RefundRecord = records.RefundRecord  # [wire.Amount, PaymentStatus]


def refund_to_wire(record: RefundRecord[wire.Amount, PaymentStatus]) -> wire.Refund:
    """A refund resource for a recorded refund (made or declined)."""
    return wire.Refund(
        id=record.refund_id,
        request_id=record.refund_request_id,
        payment=record.payment_request_id,
        status=record.status.value,
        amount=record.amount,
        decline_code=record.code,
        created_at=_iso(record.created_at),
        completed_at=_iso(record.completed_at),
    )


class SandboxLedger(BaseLedger[PaymentRecord, wire.Amount, PaymentStatus]):
    """Payments and refunds by request id, plus the list of charges, reversals and refunds."""

    STATUS: ClassVar[Mapping[Phase, PaymentStatus]] = {
        Phase.SUCCEEDED: PaymentStatus.SUCCEEDED,
        Phase.FAILED: PaymentStatus.FAILED,
        Phase.PROCESSING: PaymentStatus.PROCESSING,
        Phase.CANCELED: PaymentStatus.CANCELED,
    }
    REFUND_CODES: ClassVar[Mapping[RefundDecline, str]] = {
        RefundDecline.NO_PAYMENT: codes.PAYMENT_NOT_REFUNDABLE,
        RefundDecline.NOT_SUCCEEDED: codes.PAYMENT_NOT_REFUNDABLE,
        RefundDecline.CANCELED: codes.PAYMENT_NOT_REFUNDABLE,
        RefundDecline.CURRENCY: codes.PAYMENT_NOT_REFUNDABLE,
        RefundDecline.EXCEEDS: codes.AMOUNT_EXCEEDS_REFUNDABLE,
        RefundDecline.DECLINED: codes.REFUND_REJECTED,
    }
    CODE_FIELD = "decline_code"

    def _record_json(self, record: PaymentRecord) -> dict[str, Any]:
        return record.to_json()

    def _amount_json(self, amount: wire.Amount) -> Any:
        return amount.model_dump()

    def _money(self, amount: wire.Amount) -> Money:
        return wire.money_from_wire(amount)

    def _new_refund_id(self) -> str:
        return f"wr_rf_{uuid.uuid4().hex[:24]}"

    def _expired(self, record: PaymentRecord) -> None:
        unpaid_order = record.scenario is Scenario.ORDER
        record.decline_code = codes.ORDER_EXPIRED if unpaid_order else codes.PAYMENT_EXPIRED

    def _declined(self, record: PaymentRecord, outcome: Outcome) -> None:
        record.decline_code = DECLINE_CODES.get(outcome, codes.INVALID_CODE)

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

    def record_order(
        self,
        *,
        payment_request_id: str,
        body: wire.CreateOrder,
        body_sha256: str,
        expires_at: datetime,
    ) -> PaymentRecord:
        """A new order code's payment: in process (`awaiting_payment`), nothing charged, until
        the code is scanned (`settle_order`), cancelled, or `expires_at` passes unpaid."""
        record = PaymentRecord(
            payment_request_id=payment_request_id,
            payment_id=f"wr_pay_{uuid.uuid4().hex[:24]}",
            amount=body.amount,
            merchant_amount=body.merchant_amount,
            reference=body.reference,
            body_sha256=body_sha256,
            code_sha256="",
            masked_code="",
            scenario=Scenario.ORDER,
            status=PaymentStatus.PROCESSING,
            decline_code=None,
            wallet=body.wallet,
            created_at=self._clock.now(),
            expires_at=expires_at,
        )
        return self._add(record)
