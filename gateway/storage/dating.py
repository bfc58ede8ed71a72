"""Moving a line whose business day has closed to the next open one, inside the write that
dates it (API.md, Business days: "If that day's batch is already closed, the line goes to the
next later open batch").

The services date a final state from the clock; the write that commits it asks settlement which
days are still open (`settlement_repo.next_open_date`, which on PostgreSQL also holds those days
open until the commit, so a close cannot slip in between) and moves the state's dates and its
journal lines together. Usually nothing moves: a day closes hours after its cut-off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway import ledger
from gateway.storage.settlement_repo import Executor, next_open_date

__all__ = ["OpenDays", "Sides", "move_to_open_days"]

_MERCHANT_ACCOUNTS = frozenset({ledger.MERCHANT_PAYABLE, ledger.MERCHANT_FEES})


@dataclasses.dataclass(frozen=True, slots=True)
class Sides:
    """Whose batches a payment's (or refund's) lines belong to."""

    merchant_id: str
    currency: str
    partner: str
    payer_currency: str

    @classmethod
    def of(cls, row: dict[str, Any]) -> Sides:
        return cls(row["merchant_id"], row["currency"], row["partner"], row["payer_currency"])


OpenDays = dict[tuple[str, str, str, str], str]
"""(type, owner, currency, date) → the open date it moves to; shared within one transaction."""


async def move_to_open_days(
    executor: Executor,
    sides: Sides,
    changes: dict[str, Any],
    rows: list[tuple[str, dict[str, Any]]],
    known: OpenDays,
) -> None:
    """Re-date `changes` (its business dates) and the journal lines in `rows`, in place."""

    async def opened(kind: str, owner: str, currency: str, day: str) -> str:
        key = (kind, owner, currency, day)
        if key not in known:
            known[key] = (await next_open_date(executor, kind, owner, currency, day)).isoformat()
        return known[key]

    if changes.get("merchant_business_date"):
        changes["merchant_business_date"] = await opened(
            "merchant", sides.merchant_id, sides.currency, changes["merchant_business_date"]
        )
    if changes.get("partner_business_date"):
        changes["partner_business_date"] = await opened(
            "partner", sides.partner, sides.payer_currency, changes["partner_business_date"]
        )
    for table, row in rows:
        if table != "journal_lines" or row["business_date"] is None:
            continue
        merchant_side = row["account"] in _MERCHANT_ACCOUNTS or (
            row["account"] == ledger.FX_POSITION and row["currency"] == sides.currency
        )
        if merchant_side:
            row["business_date"] = await opened(
                "merchant", sides.merchant_id, sides.currency, row["business_date"]
            )
        else:
            row["business_date"] = await opened(
                "partner", sides.partner, sides.payer_currency, row["business_date"]
            )
