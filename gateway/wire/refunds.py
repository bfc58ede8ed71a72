"""A refund on the wire: the request that creates one, and the Refund `refund_view` renders.

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, Literal, NotRequired

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.refunds.model import RefundStatus
from gateway.wire.common import (
    CLOSED,
    NO_NUL,
    Money,
    MoneyInput,
    Timestamp,
    closed,
    one_of,
    prefixed,
)
from gateway.wire.payments import PAYMENT_EXAMPLE, PaymentQuote

__all__ = ["REASON_LENGTH", "REFUND_EXAMPLE", "Refund", "RefundList", "RefundRequest"]

REASON_LENGTH: Final = (1, 500)

REFUND_EXAMPLE: Final = {
    "id": "rf_01jd8x7a2m3n4p5q6r7s8t9v0w",
    "object": "refund",
    "payment_id": "pay_01jd8x6k9b3n4p5q6r7s8t9v0w",
    "status": "succeeded",
    "amount": {"currency": "THB", "value": 25000},
    "payer_amount": {"currency": "CNY", "value": 4649},
    "quote": PAYMENT_EXAMPLE["quote"],
    "reason": "returned goods",
    "failure": None,
    "partner_reference": "2026112611150000000000000001",
    "created_at": "2026-11-26T15:10:02.101Z",
    "updated_at": "2026-11-26T15:10:02.388Z",
}


@with_config(CLOSED)
class RefundRequest(TypedDict):
    amount: Annotated[MoneyInput, Field(description="In the payment's (merchant) currency.")]
    reason: NotRequired[
        Annotated[
            str,
            Field(
                min_length=REASON_LENGTH[0],
                max_length=REASON_LENGTH[1],
                pattern=NO_NUL,
                description="Optional, shown on the refund (leave it out rather than sending "
                "`null`).",
            ),
        ]
    ]


@with_config(CLOSED)
class RefundFailure(TypedDict):
    code: Annotated[str, Field(description="`partner_declined`.")]
    message: str


@with_config(closed(REFUND_EXAMPLE, single=True))
class Refund(TypedDict):
    """Money returned on a succeeded payment. `processing` reserves its amount; only a final
    partner decline (`failed`) releases it. `payer_amount` is priced cumulatively at the payment's
    rate: all refunds together never return more than the tourist paid, and a full refund returns
    exactly the payer amount."""

    id: Annotated[str, prefixed("rf_")]
    object: Literal["refund"]
    payment_id: Annotated[str, prefixed("pay_")]
    status: Annotated[str, one_of(RefundStatus)]
    amount: Money
    payer_amount: Money
    quote: Annotated[
        PaymentQuote | None,
        Field(description="The payment's quote: `payer_amount` is priced at its `rate`."),
    ]
    reason: str | None
    failure: RefundFailure | None
    partner_reference: str | None
    created_at: Timestamp
    updated_at: Timestamp


@with_config(CLOSED)
class RefundList(TypedDict):  # all of a payment's refunds: `has_more` is always false
    object: Literal["list"]
    data: list[Refund]
    has_more: bool
