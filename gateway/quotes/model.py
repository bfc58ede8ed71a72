"""A quote as a merchant holds it (the locked `fx.Quote`, whose it is, for which wallet), the
terms a payment and its refunds keep from it (`QuoteUse`), and the markup rules that price
quotes (`gateway/quotes/markups.py` chooses among them)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

import fx

__all__ = ["MarkupRule", "MerchantQuote", "QuoteUse", "Sale"]

_WEIGHTS = (("merchant", 8), ("wallet", 4), ("partner", 2), ("pair", 1))


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantQuote:
    quote: fx.Quote
    merchant_id: str
    wallet: str
    """The wallet whose currency it prices in: a payment may use it only with that wallet."""

    @property
    def id(self) -> str:
        return self.quote.id


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class QuoteUse:
    """The terms of the quote that priced a payment (a spot quote, or one the POS asked for),
    copied onto the payment and each of its refunds, so every figure says where it came from
    without a lookup: the rate, the mid rate and markup it was made of, the source and the
    publication (rate set) of the mid."""

    id: str
    rate: str
    """The exact decimal shown to the POS (10 significant digits), kept as text."""
    mid_rate: str
    markup_bps: int
    rate_source: str
    rate_set: str | None
    """None for quotes made before rate sets were stored."""
    rate_as_of: datetime
    """When the rate set was published."""
    expires_at: datetime

    @property
    def rate_value(self) -> Decimal:
        return Decimal(self.rate)

    @classmethod
    def of(cls, quote: fx.Quote) -> QuoteUse:
        return cls(
            id=quote.id,
            rate=fx.format_rate(quote.rate),
            mid_rate=fx.format_rate(quote.mid_rate),
            markup_bps=quote.markup_bps,
            rate_source=quote.rate_source,
            rate_set=quote.rate_set,
            rate_as_of=quote.rate_as_of,
            expires_at=quote.expires_at,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Sale:
    """What a markup rule can match on."""

    merchant: str
    wallet: str
    partner: str
    pair: str
    """`"THB/CNY"`: merchant currency / wallet currency."""


@dataclasses.dataclass(frozen=True, slots=True)
class MarkupRule:
    bps: int
    merchant: str | None = None
    wallet: str | None = None
    partner: str | None = None
    pair: str | None = None
    origin: str = "gateway.toml"
    """Where the rule was set: a config file, or `merchant` (the merchant's own rules)."""

    def __post_init__(self) -> None:
        if isinstance(self.bps, bool) or not isinstance(self.bps, int) or self.bps < 0:
            raise ValueError(f"bps must be a non-negative int, got {self.bps!r}")

    @property
    def specificity(self) -> int:
        return sum(weight for name, weight in _WEIGHTS if getattr(self, name) is not None)

    @property
    def scope(self) -> tuple[tuple[str, str], ...]:
        """The dimensions it names, with their values, most weighty first."""
        return tuple(
            (name, value) for name, _ in _WEIGHTS if (value := getattr(self, name)) is not None
        )

    def matches(self, sale: Sale) -> bool:
        return all(getattr(sale, name) == value for name, value in self.scope)

    def label(self) -> str:
        """E.g. `merchant=mer_1 wallet=kakaopay (merchant)`, `default` for no scope."""
        scope = " ".join(f"{name}={value}" for name, value in self.scope) or "default"
        return f"{scope} ({self.origin})"
