"""The sandbox partner's books: one record per paymentRequestId, and every money movement.

The lazily evaluated state machine and the books are `adapters._sandbox.SandboxLedger`'s; this
module adds what is Alipay+'s own: its statuses and result codes, its payment ids, and amounts
kept as the wire's `Amount` (minor units). Tests read the ledger through `app[LEDGER]` or
`GET /_sandbox/ledger`; it holds masked codes and SHA-256 digests, never a raw wallet code.
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
from adapters._sandbox import Phase, Scenario
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire

__all__ = [
    "LedgerEntry",
    "PaymentRecord",
    "PaymentStatus",
    "SandboxLedger",
    "Scenario",
    "code_digest",
]

LedgerEntry = _sandbox.LedgerEntry
code_digest = _sandbox.digest  # what the sandbox keeps of a wallet code: its SHA-256


class PaymentStatus(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    PROCESSING = "PROCESSING"
    CANCELLED = "CANCELLED"


@dataclasses.dataclass(kw_only=True)
class PaymentRecord(_sandbox.PaymentRecordBase[wire.Amount, PaymentStatus]):
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
            "masked_code": self.masked_code,
            "status": self.status.value,
            "result_code": self.result_code,
            "charged": self.charged,
            "reversed": self.reversed,
            "pay_calls": self.pay_calls,
            "created_at": self.created_at.isoformat(),
            "completed_at": _sandbox.iso_or_none(self.completed_at),
            "cancelled_at": _sandbox.iso_or_none(self.canceled_at),
        }


def _amount_json(amount: wire.Amount) -> dict[str, Any]:
    return amount.model_dump(by_alias=True)


class SandboxLedger(_sandbox.SandboxLedger[PaymentRecord, wire.Amount, PaymentStatus]):
    """Payments by paymentRequestId plus the list of charges and reversals."""

    STATUS: ClassVar[Mapping[Phase, PaymentStatus]] = {
        Phase.SUCCEEDED: PaymentStatus.SUCCESS,
        Phase.FAILED: PaymentStatus.FAIL,
        Phase.PROCESSING: PaymentStatus.PROCESSING,
        Phase.CANCELED: PaymentStatus.CANCELLED,
    }

    def _record_json(self, record: PaymentRecord) -> dict[str, Any]:
        return record.to_json()

    def _amount_json(self, amount: wire.Amount) -> Any:
        return _amount_json(amount)

    def _confirmed(self, record: PaymentRecord) -> None:
        record.result_code = codes.SUCCESS

    def _expired(self, record: PaymentRecord) -> None:
        record.result_code = codes.ORDER_IS_CLOSED

    def record(
        self,
        *,
        payment_request_id: str,
        amount: wire.Amount | None,
        code: str | None,
        scenario: Scenario,
        status: PaymentStatus,
        result_code: str,
    ) -> PaymentRecord:
        return self._add(
            PaymentRecord(
                payment_request_id=payment_request_id,
                payment_id=f"SBX{uuid.uuid4().hex[:24].upper()}",
                amount=amount,
                code_sha256=code_digest(code) if code is not None else "",
                masked_code=mask_code(code) if code is not None else "",
                scenario=scenario,
                status=status,
                result_code=result_code,
                created_at=self._clock.now(),
            )
        )
