"""Moving a line whose business day has closed to the next open one, inside the write that
dates it (API.md, Business days: "If that day's batch is already closed, the line goes to the
next later open batch").

The services date a final state from the clock; the write that commits it asks settlement which
days are still open (`settlement.next_open_dates`, which on PostgreSQL also holds those days
open until the commit, so a close cannot slip in between) and moves the state's dates and its
journal lines together. Usually nothing moves: a day closes hours after its cut-off.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

from gateway.ledger import model as ledger
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage.raw import Statements
from gateway.storage.settlement import next_open_dates

__all__ = ["Dated", "Sides", "batch_keys", "move_to_open_days"]


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


Dated = tuple[Sides, dict[str, Any], list[tuple[str, dict[str, Any]]]]
"""A state to date: whose batches, its changes (business dates), and the rows it brings."""


async def move_to_open_days(statements: Statements, states: Sequence[Dated]) -> None:
    """Re-date each state's `changes` (its business dates) and its journal lines, in place.

    All the days the states name are asked about at once (`next_open_dates`): a batch of
    payments in one write costs the same two statements as a single one."""
    places = [place for state in states for place in _places(*state)]
    opened = await next_open_dates(statements, [key for key, _row, _column in places])
    for key, row, column in places:
        row[column] = opened[key].isoformat()


def batch_keys(states: Sequence[Dated]) -> list[BatchKey]:
    """The batches the states' dates fall in, for locks taken ahead (`holding_open`)."""
    return [key for state in states for key, _row, _column in _places(*state)]


def _places(
    sides: Sides, changes: dict[str, Any], rows: list[tuple[str, dict[str, Any]]]
) -> list[tuple[BatchKey, dict[str, Any], str]]:
    """Every business date the state carries: (its batch key, the dict holding it, the key)."""
    merchant = (BatchType.MERCHANT, sides.merchant_id, sides.currency)
    partner = (BatchType.PARTNER, sides.partner, sides.payer_currency)

    def key(side: tuple[BatchType, str, str], day: str) -> BatchKey:
        return BatchKey(*side, date.fromisoformat(day))

    places = []
    if changes.get("merchant_business_date"):
        places.append(
            (key(merchant, changes["merchant_business_date"]), changes, "merchant_business_date")
        )
    if changes.get("partner_business_date"):
        places.append(
            (key(partner, changes["partner_business_date"]), changes, "partner_business_date")
        )
    for table, row in rows:
        if table != "journal_lines" or row["business_date"] is None:
            continue
        merchant_side = row["account"] in ledger.MERCHANT_ACCOUNTS or (
            row["account"] == ledger.FX_POSITION and row["currency"] == sides.currency
        )
        places.append(
            (
                key(merchant if merchant_side else partner, row["business_date"]),
                row,
                "business_date",
            )
        )
    return places
