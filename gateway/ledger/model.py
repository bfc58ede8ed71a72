"""The journal's vocabulary: account names, entry kinds, and the shape of an entry.

Pure values with no rules attached. They live apart from the posting rules (`postings.py`)
because storage names them too (settlement lines read `merchant_payable` and reversals; the
verifier's queries count entries by kind), and storage may depend on models only, never on the
rules that book money.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = [
    "ACCOUNTS",
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


@dataclasses.dataclass(frozen=True, slots=True)
class JournalEntry:
    """One `journal_entries` row and its `journal_lines` rows, as plain dicts ready to INSERT."""

    entry: dict[str, Any]
    lines: list[dict[str, Any]]
