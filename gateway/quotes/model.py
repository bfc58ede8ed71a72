"""A quote as a merchant holds it (the locked `fx.Quote`, whose it is, for which wallet), and
the markup rules that price quotes (`gateway/quotes/markups.py` chooses among them)."""

from __future__ import annotations

import dataclasses

import fx

__all__ = ["MarkupRule", "MerchantQuote", "Sale"]

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
