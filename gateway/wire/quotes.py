"""An FX quote on the wire: the request that makes one, and the Quote `quote_view` renders.

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Final, Literal

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.wire.common import CLOSED, Money, MoneyInput, Rate, Timestamp, closed, prefixed

__all__ = [
    "QUOTE_EXAMPLE",
    "DisplayRate",
    "DisplayRates",
    "FxPosition",
    "FxPositionLine",
    "Quote",
    "QuoteRequest",
    "UnavailableRate",
]

QUOTE_EXAMPLE: Final = {
    "id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
    "object": "fx_quote",
    "amount": {"currency": "THB", "value": 125050},
    "payer_amount": {"currency": "CNY", "value": 23253},
    "rate": "0.185948",
    "mid_rate": "0.1832",
    "markup_bps": 150,
    "markup_rule": "default (150 bps)",
    "rate_source": "ecb",
    "rate_as_of": "2026-11-25T15:00:00.000Z",
    "rate_set": "rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50",
    "wallet": "alipay_cn",
    "created_at": "2026-11-26T14:03:10.512Z",
    "expires_at": "2026-11-26T14:08:10.512Z",
}


@with_config(CLOSED)
class QuoteRequest(TypedDict):
    amount: Annotated[MoneyInput, Field(description="In the merchant's currency.")]
    wallet: Annotated[
        str,
        Field(
            pattern="^[a-z0-9_]{1,64}$",
            description="A configured wallet id (sandbox: `alipay_cn`, `kakaopay`, `gcash`, "
            "`truemoney`). An unknown wallet, or one paying in the merchant's own currency (no "
            "FX needed), is `invalid_request` with `param: wallet`.",
            examples=["alipay_cn"],
        ),
    ]


@with_config(closed(QUOTE_EXAMPLE))
class Quote(TypedDict):
    """An FX quote, honoured exactly until `expires_at`. `payer_amount.value` =
    round_half_up(amount.value × rate × 10^(e_payer − e_merchant))."""

    id: Annotated[str, prefixed("qt_")]
    object: Literal["fx_quote"]
    amount: Annotated[Money, Field(description="Merchant currency.")]
    payer_amount: Annotated[Money, Field(description="Wallet currency.")]
    rate: Annotated[
        Rate,
        Field(
            description="1 unit of `amount.currency` = `rate` units of the payer currency, markup "
            "included: mid × (1 + markup_bps / 10^4), rounded half-up to 10 significant digits."
        ),
    ]
    mid_rate: Rate
    markup_bps: Annotated[int, Field(ge=0)]
    markup_rule: Annotated[
        str | None,
        Field(
            description="Why `markup_bps`: the most specific markup rule that matched the "
            "merchant, wallet, partner and currency pair (and where it was set), or the default; "
            "null for quotes made before rules were recorded.",
            examples=["wallet=kakaopay (gateway.toml)", "default (150 bps)"],
        ),
    ]
    rate_source: Annotated[
        str,
        Field(
            examples=["ecb"],
            description="The configured rate source that priced it: the first in priority order "
            "whose rates were fresh and had both currencies.",
        ),
    ]
    rate_as_of: Annotated[Timestamp, Field(description="When the source published the rates.")]
    rate_set: Annotated[
        str | None,
        Field(
            description="The stored rate set (one publication of the source) the mid rate was "
            "derived from; null for quotes made before rate sets were stored.",
            examples=["rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50"],
        ),
    ]
    wallet: str
    created_at: Timestamp
    expires_at: Timestamp


@with_config(CLOSED)
class DisplayRate(TypedDict):
    """What 1 unit of the base would cost in one wallet's currency now, markup included:
    for display only. A payment is priced by its own quote."""

    wallet: str
    currency: Annotated[str, Field(examples=["CNY"])]
    rate: Rate
    mid_rate: Rate
    markup_bps: Annotated[int, Field(ge=0)]
    markup_rule: str
    rate_source: str
    rate_set: str
    rate_as_of: Timestamp
    age_seconds: Annotated[int, Field(description="Since the rates were published.")]


@with_config(CLOSED)
class UnavailableRate(TypedDict):
    wallet: str
    currency: str
    reason: Annotated[str, Field(description="Why no rate: every source's reason.")]


@with_config(CLOSED)
class DisplayRates(TypedDict):
    """Indicative rates for the POS screen: every wallet the merchant can take that pays in
    another currency."""

    object: Literal["fx_rates"]
    base: Annotated[str, Field(description="The merchant's currency.", examples=["THB"])]
    rates: list[DisplayRate]
    unavailable: list[UnavailableRate]


@with_config(CLOSED)
class FxPositionLine(TypedDict):
    currency: str
    position: Annotated[int, Field(description="Minor units held: long (+) or short (−).")]
    position_change: Annotated[int, Field(description="The day's movement of `position`.")]
    revenue: Annotated[int, Field(description="Markup revenue booked in this currency.")]
    revenue_day: int
    value: Annotated[
        int | None,
        Field(description="`position` in the reporting currency's minor units at the latest mid."),
    ]
    value_day: int | None
    mid: Annotated[str | None, Field(description="1 `currency` in the reporting currency.")]


@with_config(CLOSED)
class FxPosition(TypedDict):
    """The gateway's FX book at the end of a UTC day: what the journal's `fx_position` account
    holds per currency, the markup revenue (`fx_revenue`), and their value at the latest mids.
    Positions booked at their quotes' mids sum to zero; valued at today's they give the
    unrealised result."""

    object: Literal["fx_position"]
    date: Annotated[str, Field(examples=["2026-12-04"])]
    reporting_currency: str
    unrealised: Annotated[int | None, Field(description="Σ value (null: a currency has no rate).")]
    unrealised_day: int | None
    currencies: list[FxPositionLine]
    unavailable: list[str]
