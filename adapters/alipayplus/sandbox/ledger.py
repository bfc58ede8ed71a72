"""The sandbox partner's books: one record per paymentRequestId and per refundRequestId, and
every money movement.

The lazily evaluated state machine, refunds and the books are those of
`adapters._sandbox.ledger.SandboxLedger` (the same reading API and JSON shape as the WalletRest
sandbox's); this module adds what is Alipay+'s own: its statuses and result codes, its payment
and refund ids, and amounts kept as the wire's `Amount` (minor units). Tests read the ledger
through `app[LEDGER]` or `GET /_sandbox/ledger`; it holds masked codes and SHA-256 digests,
never a raw wallet code.
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
from adapters._sandbox.scenarios import Outcome, Phase, RefundDecline, Scenario
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from fx import Money, from_minor_str

__all__ = [
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "RefundRecord",
    "SandboxLedger",
    "Scenario",
    "code_digest",
]

LedgerEntry = records.LedgerEntry
RefundRecord = records.RefundRecord  # [wire.Amount, PaymentStatus]; its `code` a resultCode
code_digest = records.digest  # what the sandbox keeps of a wallet code: its SHA-256


class PaymentStatus(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    PROCESSING = "PROCESSING"
    CANCELLED = "CANCELLED"


@dataclasses.dataclass(kw_only=True)
class PaymentRecord(records.PaymentRecordBase[wire.Amount, PaymentStatus]):
    result_code: str

    @property
    def cancelled_at(self) -> datetime | None:
        return self.canceled_at

    @cancelled_at.setter
    def cancelled_at(self, value: datetime | None) -> None:
        self.canceled_at = value

    def to_json(self) -> dict[str, Any]:
        return {
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "amount": _amount_json(self.amount) if self.amount else None,
            "merchant_amount": _amount_json(self.merchant_amount) if self.merchant_amount else None,
            "masked_code": self.masked_code,
            "status": self.status.value,
            "result_code": self.result_code,
            "charged": self.charged,
            "reversed": self.reversed,
            "pay_calls": self.pay_calls,
            "refunded_minor": self.refunded_minor,
            "created_at": self.created_at.isoformat(),
            "completed_at": records.iso_or_none(self.completed_at),
            "cancelled_at": records.iso_or_none(self.canceled_at),
            "expires_at": records.iso_or_none(self.expires_at),
        }


# The resultCode of an order code the scan declined (by the scan's test code).
_DECLINE_CODES: Mapping[Outcome, str] = {
    Outcome.INSUFFICIENT_FUNDS: codes.USER_BALANCE_NOT_ENOUGH,
    Outcome.RISK_REJECTED: codes.RISK_REJECT,
    Outcome.CODE_EXPIRED: codes.EXPIRED_CODE,
}


def _amount_json(amount: wire.Amount) -> dict[str, Any]:
    return amount.model_dump(by_alias=True)


class SandboxLedger(BaseLedger[PaymentRecord, wire.Amount, PaymentStatus]):
    """Payments by paymentRequestId, refunds by refundRequestId, plus the list of charges,
    reversals and refunds. A refund's status is SUCCESS or FAIL (its `refundStatus`)."""

    STATUS: ClassVar[Mapping[Phase, PaymentStatus]] = {
        Phase.SUCCEEDED: PaymentStatus.SUCCESS,
        Phase.FAILED: PaymentStatus.FAIL,
        Phase.PROCESSING: PaymentStatus.PROCESSING,
        Phase.CANCELED: PaymentStatus.CANCELLED,
    }
    # F resultCodes of a declined refund (our choices among the documented codes).
    REFUND_CODES: ClassVar[Mapping[RefundDecline, str]] = {
        RefundDecline.NO_PAYMENT: codes.ORDER_NOT_EXIST,
        RefundDecline.NOT_SUCCEEDED: codes.ORDER_STATUS_INVALID,
        RefundDecline.CANCELED: codes.ORDER_IS_CLOSED,
        RefundDecline.CURRENCY: codes.PARAM_ILLEGAL,
        RefundDecline.EXCEEDS: codes.REFUND_AMOUNT_EXCEED,
        RefundDecline.DECLINED: codes.PROCESS_FAIL,
    }
    CODE_FIELD = "result_code"

    def _record_json(self, record: PaymentRecord) -> dict[str, Any]:
        return record.to_json()

    def _amount_json(self, amount: wire.Amount) -> Any:
        return _amount_json(amount)

    def _money(self, amount: wire.Amount) -> Money:
        return from_minor_str(amount.value, amount.currency)

    def _new_refund_id(self) -> str:
        return f"SBXRF{uuid.uuid4().hex[:24].upper()}"

    def _confirmed(self, record: PaymentRecord) -> None:
        record.result_code = codes.SUCCESS

    def _expired(self, record: PaymentRecord) -> None:
        record.result_code = codes.ORDER_IS_CLOSED

    def _declined(self, record: PaymentRecord, outcome: Outcome) -> None:
        record.result_code = _DECLINE_CODES.get(outcome, codes.PROCESS_FAIL)

    def record(
        self,
        *,
        payment_request_id: str,
        amount: wire.Amount | None,
        merchant_amount: wire.Amount | None = None,
        code: str | None,
        scenario: Scenario,
        status: PaymentStatus,
        result_code: str,
        expires_at: datetime | None = None,
    ) -> PaymentRecord:
        return self._add(
            PaymentRecord(
                payment_request_id=payment_request_id,
                payment_id=f"SBX{uuid.uuid4().hex[:24].upper()}",
                amount=amount,
                merchant_amount=merchant_amount,
                code_sha256=code_digest(code) if code is not None else "",
                masked_code=mask_code(code) if code is not None else "",
                scenario=scenario,
                status=status,
                result_code=result_code,
                created_at=self._clock.now(),
                expires_at=expires_at,
            )
        )
