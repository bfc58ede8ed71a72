"""The settlement-file part of the adapter contract.

The partner's settlement file is not an outcome but a document: `fetch_settlement_file` returns
a `SettlementFile` (every line the partner settles for one of its business days, parsed from its
own format and verified like any answer), or raises `SettlementFileUnavailable` when it cannot
(transport error, an HTTP error or a refusal, an unsigned or unverifiable answer, a file that does
not parse or contradicts itself). A caller reports "could not fetch" and tries again later.

What a `SettlementLine` says, whatever the protocol:

    record_type                 "payment" (a charge the partner kept) or "refund" (money it
                                returned). A cancelled (reversed) payment is in no file.
    partner_request_id          OUR id of the line: the payment's pay request id (the attempt's
                                partner request id) or the refund's own request id. Match on
                                it (with `record_type`); a file may repeat one (a partner's
                                duplicate is a discrepancy to report, not a parse error).
    partner_reference           the partner's own id of the payment or refund.
    payment_partner_request_id  the payment's request id (for a payment, its own).
    amount                      payer currency, positive: what was charged or returned.
    fee                         the partner's fee on the line, payer currency, positive (on a
                                refund: the fee given back).
    merchant_amount             the merchant-currency amount the request carried, if the
                                protocol reports it (None otherwise).
    fx_rate                     payer amount / merchant amount in major units, as the partner
                                reports it (see `implied_rate`), or None.
    completed_at                when the partner completed it (aware, UTC).

This module is private; `adapters._base` re-exports its names as part of the contract.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Literal

from adapters._rates import RATE_DIGITS
from fx import Money, round_significant

__all__ = [
    "SettlementFile",
    "SettlementFileRequest",
    "SettlementFileUnavailable",
    "SettlementLine",
    "SettlementRecordType",
    "implied_rate",
]


# --- settlement files --------------------------------------------------------------------------

SettlementRecordType = Literal["payment", "refund"]


def implied_rate(payer_amount: Money, merchant_amount: Money) -> Decimal:
    """The rate a pair of amounts implies: payer major units per merchant major unit.

    `payer.value / merchant.value × 10^(e_merchant − e_payer)`, rounded half-up once to 10
    significant digits, in canonical form (no trailing zeros: `str()` gives "0.2000182"). This is
    what the sandboxes report as a line's rate; a reconciler recomputes it from its own two
    amounts and compares exactly. It is not the quote's rate: the payer amount was rounded from
    `amount × rate`, so the implied rate differs from the quote in its last digits.
    """
    if merchant_amount.value <= 0 or payer_amount.value <= 0:
        raise ValueError("an implied rate needs two positive amounts")
    numerator = payer_amount.value * 10**merchant_amount.currency.exponent
    denominator = merchant_amount.value * 10**payer_amount.currency.exponent
    context = Context(prec=RATE_DIGITS, rounding=ROUND_HALF_UP)  # divide rounds exactly once
    return round_significant(context.divide(Decimal(numerator), Decimal(denominator)), RATE_DIGITS)


class SettlementFileUnavailable(Exception):
    """The partner's settlement file could not be fetched or trusted: transport error, HTTP
    error or refusal, an unsigned or unverifiable answer, or a file that does not parse or
    contradicts itself. `http_status` is the answer's status when there was one."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementFileRequest:
    """The file of the partner's `business_date` (its own zone and cut-off); only the lines in
    payer currency `currency` when given (ISO 4217 code)."""

    business_date: date
    currency: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementLine:
    """One payment or refund the partner settles (the module docstring says what each field
    means). Amounts are positive and in the payer's currency; `merchant_amount` in the
    merchant's."""

    record_type: SettlementRecordType
    partner_request_id: str
    partner_reference: str
    payment_partner_request_id: str
    amount: Money
    fee: Money
    merchant_amount: Money | None
    fx_rate: Decimal | None
    completed_at: datetime

    def __post_init__(self) -> None:
        if self.record_type not in ("payment", "refund"):
            raise ValueError(f"record_type must be payment or refund, not {self.record_type!r}")
        if self.fee.currency != self.amount.currency:
            raise ValueError("fee and amount must be in the same (payer) currency")
        if self.completed_at.tzinfo is None:
            raise ValueError("completed_at must be timezone-aware")

    @property
    def net(self) -> Money:
        """What the line is worth to the gateway: amount − fee for a payment, −(amount − fee)
        for a refund (payer currency)."""
        value = self.amount.value - self.fee.value
        return Money(value if self.record_type == "payment" else -value, self.amount.currency)


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementFile:
    """A partner's settlement file for one business day: its lines, parsed, and the raw bytes
    exactly as received (keep them as evidence)."""

    partner_id: str
    business_date: date
    lines: tuple[SettlementLine, ...]
    raw: bytes = dataclasses.field(repr=False)
