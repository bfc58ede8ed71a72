"""A reconciliation on the wire, as `reconciliation_view` renders it.

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, Literal

from pydantic import with_config
from typing_extensions import TypedDict

from gateway.wire.common import CLOSED, Count, Date, Timestamp, closed, prefixed

__all__ = ["Reconciliation", "ReconciliationCounts", "ReconciliationList"]

_EXAMPLE: Final = {
    "id": "rec_01jd8y2k2m3n4p5q6r7s8t9v0w",
    "object": "reconciliation",
    "partner": "th-siampay",
    "business_date": "2026-11-26",
    "currency": "CNY",
    "counts": {
        "matched": 1523,
        "missing_at_partner": 0,
        "missing_at_gateway": 1,
        "amount_mismatch": 0,
        "fx_mismatch": 0,
        "fee_mismatch": 2,
    },
    "report_sha256": "9f2b5c0e6a1d4b8c7e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
    "report_url": "/v1/reconciliations/rec_01jd8y2k2m3n4p5q6r7s8t9v0w/report",
    "created_at": "2026-11-27T04:00:12.345Z",
}


@with_config(CLOSED)
class ReconciliationCounts(TypedDict):  # one per `reconciliation.matching.Category` (tested)
    matched: Count
    missing_at_partner: Count
    missing_at_gateway: Count
    amount_mismatch: Count
    fx_mismatch: Count
    fee_mismatch: Count


@with_config(closed(_EXAMPLE, single=True))
class Reconciliation(TypedDict):
    """A partner's settlement file for one day and payer currency, matched line by line (by the
    partner request id) against our partner receivable lines. The day before and after are
    consulted so a line each side dated differently near the cut-off is matched, not reported
    missing."""

    id: Annotated[str, prefixed("rec_")]
    object: Literal["reconciliation"]
    partner: str
    business_date: Date
    currency: str
    counts: ReconciliationCounts
    report_sha256: str
    report_url: str
    created_at: Timestamp


@with_config(CLOSED)
class ReconciliationList(TypedDict):
    object: Literal["list"]
    data: list[Reconciliation]
    has_more: bool
