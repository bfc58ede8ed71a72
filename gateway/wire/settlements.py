"""A settlement batch on the wire, as `batch_view` renders it.

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, Literal

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.settlement.model import BatchType
from gateway.wire.common import (
    CLOSED,
    Count,
    Currency,
    Date,
    Money,
    OptionalTimestamp,
    closed,
    one_of,
)

__all__ = ["BATCH_ID", "BatchFile", "SettlementBatch", "SettlementBatchList"]

BATCH_ID: Final = "^stl_[0-9]{8}[mp][0-9a-z]{23}$"

_BATCH_EXAMPLE: Final = {
    "id": "stl_20261126m3n4p5q6r7s8t9v0w1x2y3z4",
    "object": "settlement_batch",
    "type": "merchant",
    "merchant_id": "mer_01jd8x6k0a1b2c3d4e5f6g7h8j",
    "partner": None,
    "business_date": "2026-11-26",
    "currency": "THB",
    "status": "closed",
    "payments": {"count": 2, "amount": {"currency": "THB", "value": 250100}},
    "refunds": {"count": 1, "amount": {"currency": "THB", "value": 50000}},
    "fees": {"currency": "THB", "value": 3002},
    "net": {"currency": "THB", "value": 197098},
    "closed_at": "2026-11-26T19:00:00.041Z",
    "file": {
        "sha256": "9f2c6d0e5b1a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
        "rows": 3,
        "bytes": 612,
        "url": "/v1/settlements/stl_20261126m3n4p5q6r7s8t9v0w1x2y3z4/file",
    },
}


@with_config(CLOSED)
class PaymentLines(TypedDict):
    count: Count
    amount: Annotated[Money, Field(description="Σ payment line amounts.")]


@with_config(CLOSED)
class RefundLines(TypedDict):
    count: Count
    amount: Annotated[
        Money, Field(description="Σ refund (and reversal) line amounts, as a positive amount.")
    ]


@with_config(CLOSED)
class BatchFile(TypedDict):
    sha256: Annotated[str, Field(pattern="^[0-9a-f]{64}$")]
    rows: Annotated[
        int,
        Field(description="Payment, refund and reversal rows (header and total row not counted)."),
    ]
    bytes: int
    url: str


@with_config(closed(_BATCH_EXAMPLE))
class SettlementBatch(TypedDict):
    """What the gateway owes a merchant (`merchant`: per merchant, merchant currency and merchant
    business date) or what a partner owes the gateway (`partner`: per partner, payer currency and
    the partner's business date). Open batches are computed live from the day's final payments
    and refunds and exist while they have lines; each closes once, at its day's cut-off (in its
    owner's zone) plus the grace period, and never changes afterwards. The id is the same before
    and after closing."""

    id: Annotated[str, Field(pattern=BATCH_ID)]
    object: Literal["settlement_batch"]
    type: Annotated[str, one_of(BatchType)]
    merchant_id: str | None
    partner: str | None
    business_date: Date
    currency: Currency
    status: Literal["open", "closed"]
    payments: PaymentLines
    refunds: RefundLines
    fees: Annotated[
        Money,
        Field(description="Σ line fees (a refund gives back its variable fee: negative)."),
    ]
    net: Annotated[
        Money,
        Field(
            description="payments − refunds − fees; may be negative (the merchant owes it; "
            "nothing is carried forward)."
        ),
    ]
    closed_at: OptionalTimestamp
    file: Annotated[BatchFile | None, Field(description="null while the batch is open.")]


@with_config(CLOSED)
class SettlementBatchList(TypedDict):
    """A page of batches, newest business date first."""

    object: Literal["list"]
    data: list[SettlementBatch]
    has_more: bool
