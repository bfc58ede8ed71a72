"""A quote as a merchant holds it: the locked `fx.Quote`, whose it is, and for which wallet."""

from __future__ import annotations

import dataclasses

import fx

__all__ = ["MerchantQuote"]


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantQuote:
    quote: fx.Quote
    merchant_id: str
    wallet: str
    """The wallet whose currency it prices in: a payment may use it only with that wallet."""

    @property
    def id(self) -> str:
        return self.quote.id
