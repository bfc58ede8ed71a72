"""Matching a partner's settlement file against our partner receivable batch, line by line.

Pure: both sides come in as `Movement`s keyed by the partner request id (the id we sent: the pay
request id of a payment, the refund's own request id), which both sides know for certain. Each
line ends in exactly one category; a line wrong in several ways is reported by the first that
applies, in the order money matters to finance: amount, then FX, then fee.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable
from decimal import Decimal

__all__ = ["Category", "Finding", "Movement", "match"]


class Category(enum.StrEnum):
    MATCHED = "matched"
    MISSING_AT_PARTNER = "missing_at_partner"
    MISSING_AT_GATEWAY = "missing_at_gateway"
    AMOUNT_MISMATCH = "amount_mismatch"
    FX_MISMATCH = "fx_mismatch"
    FEE_MISMATCH = "fee_mismatch"


@dataclasses.dataclass(frozen=True, slots=True)
class Movement:
    """One payment or refund as one side records it. Amounts in payer-currency minor units,
    positive (a refund's amount is what went back); `merchant_amount` in merchant minor units."""

    key: str
    record_type: str  # "payment" | "refund"
    currency: str
    amount: int
    fee: int
    merchant_amount: int | None = None
    fx_rate: Decimal | None = None
    reference: str = ""  # our object id (pay_/rf_) or the partner's own id


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    category: Category
    key: str
    gateway: Movement | None
    partner: Movement | None

    @property
    def detail(self) -> str:
        ours, theirs = self.gateway, self.partner
        if self.category is Category.AMOUNT_MISMATCH and ours and theirs:
            return f"amount {ours.amount} here, {theirs.amount} at the partner"
        if self.category is Category.FX_MISMATCH and ours and theirs:
            return (
                f"merchant amount {ours.merchant_amount} / rate {ours.fx_rate} here, "
                f"{theirs.merchant_amount} / {theirs.fx_rate} at the partner"
            )
        if self.category is Category.FEE_MISMATCH and ours and theirs:
            return f"fee {ours.fee} here, {theirs.fee} at the partner"
        return ""


def _fx_differs(ours: Movement, theirs: Movement) -> bool:
    if None not in (theirs.merchant_amount, ours.merchant_amount) and (
        theirs.merchant_amount != ours.merchant_amount
    ):
        return True
    if theirs.fx_rate is not None and ours.fx_rate is not None:
        return theirs.fx_rate.normalize() != ours.fx_rate.normalize()
    return False


def match(gateway: Iterable[Movement], partner: Iterable[Movement]) -> list[Finding]:
    """Every line of either side, categorised; gateway order first, then the partner's extras.

    Keys are unique per side; a key twice in the partner's file is reported as missing at the
    gateway for its second line (we have one movement, they claim two)."""
    theirs: dict[str, Movement] = {}
    extras: list[Movement] = []
    for line in partner:
        if line.key in theirs:
            extras.append(line)
        else:
            theirs[line.key] = line
    findings: list[Finding] = []
    for ours in gateway:
        other = theirs.pop(ours.key, None)
        if other is None:
            category = Category.MISSING_AT_PARTNER
        elif (
            other.amount != ours.amount
            or other.currency != ours.currency
            or (other.record_type != ours.record_type)
        ):
            category = Category.AMOUNT_MISMATCH
        elif _fx_differs(ours, other):
            category = Category.FX_MISMATCH
        elif other.fee != ours.fee:
            category = Category.FEE_MISMATCH
        else:
            category = Category.MATCHED
        findings.append(Finding(category, ours.key, ours, other))
    for line in [*theirs.values(), *extras]:
        findings.append(Finding(Category.MISSING_AT_GATEWAY, line.key, None, line))
    return findings
