"""The sandbox partner's books: one record per paymentRequestId, and every money movement.

State is evaluated lazily against the sandbox clock (no background tasks): a payment "in
process" becomes SUCCESS (0093) or expires (0094) the first time anyone looks at it after its
deadline, with the charge dated at the deadline. Tests read the ledger through `app[LEDGER]`
or `GET /_sandbox/ledger`; it holds masked codes and SHA-256 digests, never a raw wallet code.
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


class PaymentStatus(enum.StrEnum):
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"
    PROCESSING = "PROCESSING"
    CANCELLED = "CANCELLED"


class Scenario(enum.StrEnum):
    """How a recorded payment evolves (the test code's behaviour once recorded)."""

    FINAL = "final"  # decided at once (approve or decline)
    CONFIRM = "confirm"  # 0093: in process, then SUCCESS after confirm_seconds
    EXPIRE = "expire"  # 0094: in process, then FAIL ORDER_IS_CLOSED after expire_seconds
    CANCEL_MARKER = "cancel_marker"  # cancelled before any pay arrived: refuse a late pay


def code_digest(code: str) -> str:
    """What the sandbox keeps of a wallet code to recognise a replay: its SHA-256."""
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


@dataclasses.dataclass
class PaymentRecord:
    payment_request_id: str
    payment_id: str
    amount: wire.Amount | None  # paymentAmount; None for a cancel marker
    code_sha256: str = dataclasses.field(repr=False)
    masked_code: str
    scenario: Scenario
    status: PaymentStatus
    result_code: str
    created_at: datetime
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    charged: bool = False
    reversed: bool = False
    pay_calls: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "amount": self.amount.model_dump(by_alias=True) if self.amount else None,
            "masked_code": self.masked_code,
            "status": self.status.value,
            "result_code": self.result_code,
            "charged": self.charged,
            "reversed": self.reversed,
            "pay_calls": self.pay_calls,
            "created_at": self.created_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "cancelled_at": self.cancelled_at.isoformat() if self.cancelled_at else None,
        }


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    kind: str  # "charge" | "reversal"
    payment_request_id: str
    payment_id: str
    amount: wire.Amount
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "amount": self.amount.model_dump(by_alias=True),
            "at": self.at.isoformat(),
        }


class SandboxLedger:
    """Payments by paymentRequestId plus the list of charges and reversals."""

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._expire = timedelta(seconds=expire_seconds)
        self._payments: dict[str, PaymentRecord] = {}
        self._by_payment_id: dict[str, str] = {}
        self._entries: list[LedgerEntry] = []

    # --- reading (always evaluated at the clock's now) ------------------------------------------

    @property
    def payments(self) -> dict[str, PaymentRecord]:
        self.refresh()
        return dict(self._payments)

    @property
    def entries(self) -> list[LedgerEntry]:
        self.refresh()
        return list(self._entries)

    def get(self, payment_request_id: str) -> PaymentRecord | None:
        record = self._payments.get(payment_request_id)
        if record is not None:
            self._evaluate(record, self._clock.now())
        return record

    def find(
        self, *, payment_request_id: str | None, payment_id: str | None
    ) -> PaymentRecord | None:
        """By paymentId when given (it takes precedence, as at Antom), else by request id."""
        if payment_id:
            request_id = self._by_payment_id.get(payment_id)
            return self.get(request_id) if request_id is not None else None
        return self.get(payment_request_id) if payment_request_id else None

    def charges_for(self, payment_request_id: str) -> int:
        """How many times this request id was charged (0 or 1 when the sandbox is right)."""
        return sum(
            1
            for e in self.entries
            if e.kind == "charge" and e.payment_request_id == payment_request_id
        )

    def reversals_for(self, payment_request_id: str) -> int:
        return sum(
            1
            for e in self.entries
            if e.kind == "reversal" and e.payment_request_id == payment_request_id
        )

    def to_json(self) -> dict[str, Any]:
        self.refresh()
        return {
            "payments": {k: r.to_json() for k, r in self._payments.items()},
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
        amount: wire.Amount | None,
        code: str | None,
        scenario: Scenario,
        status: PaymentStatus,
        result_code: str,
    ) -> PaymentRecord:
        now = self._clock.now()
        record = PaymentRecord(
            payment_request_id=payment_request_id,
            payment_id=f"SBX{uuid.uuid4().hex[:24].upper()}",
            amount=amount,
            code_sha256=code_digest(code) if code is not None else "",
            masked_code=mask_code(code) if code is not None else "",
            scenario=scenario,
            status=status,
            result_code=result_code,
            created_at=now,
        )
        self._payments[payment_request_id] = record
        self._by_payment_id[record.payment_id] = payment_request_id
        if status is PaymentStatus.SUCCESS:
            self._charge(record, now)
        return record

    def cancel(self, record: PaymentRecord) -> None:
        """Cancel whatever the state; reverse a charge once. Idempotent."""
        now = self._clock.now()
        self._evaluate(record, now)
        if record.status is PaymentStatus.CANCELLED:
            return
        if record.charged and not record.reversed and record.amount is not None:
            record.reversed = True
            self._entries.append(
                LedgerEntry(
                    "reversal", record.payment_request_id, record.payment_id, record.amount, now
                )
            )
        record.status = PaymentStatus.CANCELLED
        record.cancelled_at = now

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
            record.status = PaymentStatus.SUCCESS
            record.result_code = codes.SUCCESS
            self._charge(record, record.created_at + self._confirm)
        elif record.scenario is Scenario.EXPIRE and now >= record.created_at + self._expire:
            record.status = PaymentStatus.FAIL
            record.result_code = codes.ORDER_IS_CLOSED
            record.completed_at = record.created_at + self._expire
