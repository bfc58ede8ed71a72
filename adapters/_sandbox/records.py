"""What a sandbox partner's books are made of: payment records, refund records, ledger entries.

Generic over the protocol's amount object `A` (kept exactly as it came on the wire) and its
payment status enum `S`; each protocol subclasses `PaymentRecordBase` with its own fields. The
records hold masked codes and SHA-256 digests (`digest`), never a raw wallet code.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from adapters._sandbox.scenarios import RefundDecline, Scenario

__all__ = [
    "LedgerEntry",
    "PaymentRecordBase",
    "RefundRecord",
    "digest",
    "iso_or_none",
]

A = TypeVar("A")  # the protocol's amount object, as it came on the wire
S = TypeVar("S", bound=enum.Enum)  # the protocol's payment status enum


def digest(text: str) -> str:
    """What the sandbox keeps to recognise a replay (of a code, or a whole body): SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso_or_none(moment: datetime | None, timespec: str = "auto") -> str | None:
    return moment.isoformat(timespec=timespec) if moment is not None else None


@dataclasses.dataclass(kw_only=True)
class PaymentRecordBase(Generic[A, S]):
    """What every protocol's payment record holds; each protocol adds its own fields."""

    payment_request_id: str
    payment_id: str
    amount: A | None  # the amount charged, as sent; None for a cancel marker
    merchant_amount: A | None = None  # the merchant-currency amount the request carried
    code_sha256: str = dataclasses.field(repr=False)
    masked_code: str
    scenario: Scenario
    status: S
    created_at: datetime
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    charged: bool = False
    reversed: bool = False
    pay_calls: int = 0
    refunded_minor: int = 0  # minor units of `amount` refunded so far
    expires_at: datetime | None = None  # an order code's payment fails unpaid at this time

    @property
    def test_code(self) -> str:
        """The last four digits of the wallet code (the masked code shows them anyway)."""
        return self.masked_code[-4:] if self.masked_code else ""


@dataclasses.dataclass(frozen=True)
class LedgerEntry(Generic[A]):
    kind: str  # "charge" | "reversal" | "refund"
    payment_request_id: str
    payment_id: str
    amount: A
    at: datetime
    refund_request_id: str | None = None

    def to_json(self, amount_json: Callable[[A], Any], minor: Callable[[A], int]) -> dict[str, Any]:
        """`amount` as the protocol writes it, and `amount_minor` (an int) for summing."""
        return {
            "kind": self.kind,
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "refund_request_id": self.refund_request_id,
            "amount": amount_json(self.amount),
            "amount_minor": minor(self.amount),
            "at": self.at.isoformat(),
        }


@dataclasses.dataclass
class RefundRecord(Generic[A, S]):
    """One refund request id: made (`status` the protocol's SUCCEEDED) or declined (`decline`
    set, `code` the protocol's word for it). Declines are kept too, so a replay answers them."""

    refund_request_id: str
    refund_id: str
    payment_request_id: str  # of the payment refunded (as requested when there is none)
    payment_id: str | None  # the partner's id of that payment, when it exists
    amount: A
    fingerprint: str = dataclasses.field(repr=False)  # what makes a replay "the same request"
    status: S
    decline: RefundDecline | None
    code: str | None  # the protocol's decline code, None for a refund made
    created_at: datetime
    completed_at: datetime
    calls: int = 1
    merchant_amount: A | None = None  # the merchant-currency amount the request carried

    @property
    def succeeded(self) -> bool:
        return self.decline is None
