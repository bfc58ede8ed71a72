"""The journal's vocabulary: account names, entry kinds, and the shape of an entry.

Pure values with no rules attached. They live apart from the posting rules (`postings.py`)
because storage names them too (settlement lines read `merchant_payable` and reversals; the
verifier's queries count entries by kind), and storage may depend on models only, never on the
rules that book money.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ACCOUNTS",
    "FEE_TERM_COLUMNS",
    "FX_POSITION",
    "FX_REVENUE",
    "MERCHANT_ACCOUNTS",
    "MERCHANT_FEES",
    "MERCHANT_PAYABLE",
    "PARTNER_ACCOUNTS",
    "PARTNER_FEES",
    "PARTNER_RECEIVABLE",
    "PAYMENT",
    "REFUND",
    "REVERSAL",
    "FeeTerms",
    "JournalEntry",
]

PARTNER_RECEIVABLE = "partner_receivable"
PARTNER_FEES = "partner_fees"
FX_POSITION = "fx_position"
FX_REVENUE = "fx_revenue"
MERCHANT_PAYABLE = "merchant_payable"
MERCHANT_FEES = "merchant_fees"
ACCOUNTS = frozenset(
    {PARTNER_RECEIVABLE, PARTNER_FEES, FX_POSITION, FX_REVENUE, MERCHANT_PAYABLE, MERCHANT_FEES}
)

MERCHANT_ACCOUNTS = frozenset({MERCHANT_PAYABLE, MERCHANT_FEES})
"""The accounts kept per merchant, in the merchant's currency (a merchant batch's lines)."""
PARTNER_ACCOUNTS = frozenset({PARTNER_RECEIVABLE, PARTNER_FEES})
"""The accounts kept per partner, in the payer's currency (a partner batch's lines)."""

# `journal_entries.kind`: a payment's success, a refund's, a cancelled payment's reversal.
PAYMENT = "payment"
REFUND = "refund"
REVERSAL = "reversal"


FEE_TERM_COLUMNS = (
    "mdr_bps",
    "fixed_fee",
    "partner_fee_bps",
    "partner_fee_fixed",
    "partner_fee_returned",
)
"""The `journal_entries` columns holding the fee terms an entry was booked under (`FeeTerms`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class FeeTerms:
    """The fee terms a payment was booked under, stored on its `payment` journal entry (and
    copied onto each of its refunds' entries), so that its refunds and `ledger verify` use the
    terms of the day it was paid, never today's configuration.

    - `mdr_bps`, `fixed_fee`: the merchant's fee, round_half_up(amount × mdr_bps / 10^4) +
      fixed_fee, in merchant-currency minor units; refunds return the % part cumulatively.
    - `partner_fee_bps`, `partner_fee_fixed`: the partner's fee on the payment, in payer-currency
      minor units (the fixed part for the payment's payer currency).
    - `partner_fee_returned`: whether the partner gives its % fee back on refunds (cumulatively,
      like the merchant's) or keeps it (`[fees] refunds` of its config).
    """

    mdr_bps: int
    fixed_fee: int
    partner_fee_bps: int
    partner_fee_fixed: int
    partner_fee_returned: bool

    def columns(self) -> dict[str, Any]:
        """The terms as `journal_entries` columns."""
        return {name: getattr(self, name) for name in FEE_TERM_COLUMNS}

    def filled(self, stored: Mapping[str, Any] | None) -> FeeTerms:
        """`stored` columns (`FEE_TERM_COLUMNS`, None where unknown: a payment booked before
        they were kept) completed with these terms."""
        if not stored:
            return self

        def pick(name: str) -> Any:
            value = stored.get(name)
            return getattr(self, name) if value is None else value

        return FeeTerms(
            mdr_bps=int(pick("mdr_bps")),
            fixed_fee=int(pick("fixed_fee")),
            partner_fee_bps=int(pick("partner_fee_bps")),
            partner_fee_fixed=int(pick("partner_fee_fixed")),
            partner_fee_returned=bool(pick("partner_fee_returned")),
        )


@dataclasses.dataclass(frozen=True, slots=True)
class JournalEntry:
    """One `journal_entries` row and its `journal_lines` rows, as plain dicts ready to INSERT."""

    entry: dict[str, Any]
    lines: list[dict[str, Any]]
