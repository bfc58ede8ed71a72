"""A payment on the wire: the request that creates one, and the Payment `payment_view` renders.

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, Literal, NotRequired

from pydantic import Field, with_config
from typing_extensions import TypedDict

from adapters import FailureCode
from gateway.payments.model import CancelStatus, PaymentStatus
from gateway.wire.common import (
    CLOSED,
    Identifier,
    Metadata,
    Money,
    MoneyInput,
    Rate,
    Timestamp,
    closed,
    one_of,
    prefixed,
)

__all__ = [
    "PAYMENT_EXAMPLE",
    "CancelRequest",
    "Payment",
    "PaymentList",
    "PaymentRequest",
]

WALLET_CODE: Final = "^[0-9]{16,24}$"

PAYMENT_EXAMPLE: Final = {
    "id": "pay_01jd8x6k9b3n4p5q6r7s8t9v0w",
    "object": "payment",
    "merchant_reference": "POS-17-000123",
    "status": "succeeded",
    "amount": {"currency": "THB", "value": 125050},
    "payer_amount": {"currency": "CNY", "value": 23253},
    "wallet": "alipay_cn",
    "partner": "th-siampay",
    "routing": {"reason": "licensed in TH, serves alipay_cn; priority 10, fee 150 CNY minor"},
    "quote": {
        "id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
        "rate": "0.185948",
        "mid_rate": "0.1832",
        "markup_bps": 150,
        "rate_source": "ecb",
        "rate_set": "rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50",
        "rate_as_of": "2026-11-25T15:00:00.000Z",
        "expires_at": "2026-11-26T14:08:10.512Z",
    },
    "amount_refunded": {"currency": "THB", "value": 0},
    "cancellation": None,
    "failure": None,
    "partner_reference": "2026112614031100001",
    "payment_method": {"type": "wallet_code", "code_masked": "281234********0000"},
    "next_action": None,
    "store_id": "bkk-siam-01",
    "terminal_id": "pos-17",
    "metadata": {},
    "created_at": "2026-11-26T14:03:41.020Z",
    "updated_at": "2026-11-26T14:03:41.733Z",
}


# --- the request ------------------------------------------------------------------------------


@with_config(CLOSED)
class WalletCodeInput(TypedDict):
    """The POS scanned the tourist's wallet code."""

    type: Literal["wallet_code"]
    code: Annotated[
        str,
        Field(
            pattern=WALLET_CODE,
            description="The wallet code scanned from the tourist's phone: 16 to 24 ASCII digits, "
            "the prefix naming the wallet (a wallet may take a narrower range of lengths). Never "
            "stored or returned; one of no known wallet, or of a length its wallet does not "
            "take, is `invalid_payment_code`.",
            examples=["281234567890120000"],
        ),
    ]


@with_config(CLOSED)
class MerchantQrInput(TypedDict):
    """The tourist scans a code the till shows (an order code made for this sale): the answer
    is `requires_customer` with `next_action.display_qr`, and the payment ends when the
    tourist has paid (`succeeded`), declined (`failed`), let the code expire (`failed`,
    `code_expired`) or the merchant cancelled it (`cancelled`)."""

    type: Literal["merchant_qr"]
    wallet: Annotated[
        str,
        Field(
            pattern="^[a-z0-9_]{1,64}$",
            description="The wallet the tourist chose on the till (its currency prices the "
            "quote), e.g. `kakaopay`; an unknown one is `invalid_request`.",
            examples=["kakaopay"],
        ),
    ]


PaymentMethodInput = WalletCodeInput | MerchantQrInput


@with_config(CLOSED)
class PaymentRequest(TypedDict):
    merchant_reference: Annotated[
        Identifier, Field(description="Unique per merchant (`duplicate_merchant_reference`).")
    ]
    amount: Annotated[MoneyInput, Field(description="In the merchant's currency.")]
    payment_method: PaymentMethodInput
    quote_id: NotRequired[
        Annotated[
            Identifier,
            Field(
                description="Optional: lock a quote shown to the tourist (`qt_...`). Unknown or "
                "another merchant's is `404 not_found` (`param: quote_id`). Leave it out to have "
                "a payment needing FX priced on the spot (`null` is `invalid_request`)."
            ),
        ]
    ]
    store_id: NotRequired[Identifier]
    terminal_id: NotRequired[Identifier]
    metadata: NotRequired[Metadata]


@with_config(CLOSED)
class CancelRequest(TypedDict):
    """No fields: `{}`, or no body at all."""


# --- the answer -------------------------------------------------------------------------------


@with_config(CLOSED)
class Routing(TypedDict):
    """Why this partner was chosen (market, wallet, priority, fee); after a fail-over, the reason
    for the partner that took it."""

    reason: str


@with_config(CLOSED)
class PaymentQuote(TypedDict):
    """The quote pricing this payment (and its refunds), with where its rate came from: the mid
    rate of a rate set, plus a markup; null when no FX."""

    id: Annotated[str, prefixed("qt_")]
    rate: Annotated[Rate, Field(description="mid_rate × (1 + markup_bps / 10^4), as quoted.")]
    mid_rate: Rate
    markup_bps: Annotated[int, Field(ge=0)]
    rate_source: Annotated[str, Field(examples=["ecb"], description="The rate source.")]
    rate_set: Annotated[
        str | None,
        Field(
            description="The stored rate set the mid rate came from (null for quotes made before "
            "rate sets were stored).",
            examples=["rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50"],
        ),
    ]
    rate_as_of: Annotated[Timestamp, Field(description="When the source published the rates.")]
    expires_at: Timestamp


@with_config(CLOSED)
class Cancellation(TypedDict):
    status: Annotated[str, one_of(CancelStatus)]
    requested_at: Timestamp


@with_config(CLOSED)
class PaymentFailure(TypedDict):
    code: Annotated[str, one_of(FailureCode)]
    message: str


@with_config(CLOSED)
class WalletCodeMethod(TypedDict):
    type: Literal["wallet_code"]
    code_masked: Annotated[
        str,
        Field(description="First six and last four digits.", examples=["281234********0000"]),
    ]


@with_config(CLOSED)
class MerchantQrMethod(TypedDict):
    type: Literal["merchant_qr"]
    wallet: str


@with_config(CLOSED)
class EntryCodeMethod(TypedDict):
    """The tourist scanned the store's static entry code (`store_id`) and typed the amount:
    the payment was created when the partner asked for it, and ends by the partner's
    notification (the merchant learns of it by webhook)."""

    type: Literal["entry_code"]
    wallet: str


@with_config(CLOSED)
class DisplayQr(TypedDict):
    """Show `qr_code` as a QR code (or fetch `GET /v1/payments/{payment_id}/qr.svg` or
    `.png`) until `expires_at`; then the gateway cancels it at the partner."""

    type: Literal["display_qr"]
    qr_code: Annotated[
        str, Field(description="What the QR code encodes, as the partner issued it.")
    ]
    expires_at: Timestamp


@with_config(closed(PAYMENT_EXAMPLE))
class Payment(TypedDict):
    """**`processing` is not paid: do not release the goods.** The gateway keeps resolving it;
    poll `GET /v1/payments/{payment_id}`."""

    id: Annotated[str, prefixed("pay_")]
    object: Literal["payment"]
    merchant_reference: Identifier
    status: Annotated[str, one_of(PaymentStatus)]
    amount: Annotated[Money, Field(description="Merchant currency.")]
    payer_amount: Annotated[
        Money,
        Field(
            description="What the partner charges the tourist, in the wallet's currency (equal "
            "to `amount` when no FX is involved)."
        ),
    ]
    wallet: str
    partner: str
    routing: Routing
    quote: PaymentQuote | None
    amount_refunded: Money
    cancellation: Cancellation | None
    failure: PaymentFailure | None
    partner_reference: str | None
    payment_method: WalletCodeMethod | MerchantQrMethod | EntryCodeMethod
    next_action: Annotated[
        DisplayQr | None,
        Field(description="What the till must do now: set while `requires_customer`."),
    ]
    store_id: str | None
    terminal_id: str | None
    metadata: Metadata
    created_at: Timestamp
    updated_at: Timestamp


@with_config(CLOSED)
class PaymentList(TypedDict):
    """A page of payments, newest first."""

    object: Literal["list"]
    data: list[Payment]
    has_more: bool
