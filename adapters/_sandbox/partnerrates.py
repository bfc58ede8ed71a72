"""What a sandbox partner quotes as its own exchange rates (`fx_rates`), protocol-neutral.

A real partner quotes its own rates; ours derives them from the sandbox's ECB-layout feed
(`RateFeed.served_rates()`: 1 EUR = x, the shipped file's rates), so they agree with the mid
rates every test already prices from: 1 `base` = (EUR→quote) / (EUR→base), rounded half-up
once to 10 significant digits (`adapters.RATE_DIGITS`), which is what `fx.RateSet.mid_rate`
gives for the same pair. They are published at the sandbox clock's now and valid for
`VALIDITY`. A currency the feed has no rate for (nor EUR) is unknown to the partner.

The feed's test switch (`POST /_sandbox/fx_feed`) drives these answers too; each protocol's
handler reads `answer_mode()` and words the result its own way:

    normal          the rates above
    jump            crossed from the jumped feed: the jumped currency moves by 1.25
    stale           dated at the stale feed's publication (10 ECB publication days back),
                    so already expired
    slow            answered after `slow_seconds`
    error           the protocol's server error
    garbage         a signed answer whose body does not parse
    bad_signature   the rates, with a signature that does not verify
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType

from adapters._rates import RATE_DIGITS
from adapters._sandbox.ratefeed import FeedMode, RateFeed
from fx import format_rate, round_significant

__all__ = [
    "VALIDITY",
    "QuotedRates",
    "UnknownCurrency",
    "answer_mode",
    "cross_rate",
    "quote_rates",
]

VALIDITY = timedelta(minutes=10)


class UnknownCurrency(ValueError):
    """The partner quotes no rate for `code` (the message names it)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"no rate for {code}")
        self.code = code


@dataclasses.dataclass(frozen=True)
class QuotedRates:
    """1 `base` = `rates[code]`, in the order asked, from `published_at` to `expires_at`."""

    base: str
    rates: Mapping[str, Decimal]
    published_at: datetime
    expires_at: datetime

    def text(self, code: str) -> str:
        """The rate as written on the wire: plain decimal text, never through float."""
        return format_rate(self.rates[code])


def cross_rate(eur_base: Decimal, eur_quote: Decimal) -> Decimal:
    """1 base in quote units, from two "1 EUR = x" rates, rounded half-up once to 10
    significant digits (the division rounds the exact quotient)."""
    quotient = Context(prec=RATE_DIGITS, rounding=ROUND_HALF_UP).divide(eur_quote, eur_base)
    return round_significant(quotient, RATE_DIGITS)


def quote_rates(feed: RateFeed, base: str, quotes: Sequence[str]) -> QuotedRates:
    """The partner's rates from `base` to each of `quotes` as the feed's mode serves them;
    `UnknownCurrency` for the first currency without a rate."""
    table = {"EUR": Decimal(1)} | {code: Decimal(text) for code, text in feed.served_rates()}
    for code in (base, *quotes):
        if code not in table:
            raise UnknownCurrency(code)
    published = feed.published_at() if feed.mode == "stale" else feed.clock.now()
    rates = {code: cross_rate(table[base], table[code]) for code in quotes}
    return QuotedRates(
        base=base,
        rates=MappingProxyType(rates),
        published_at=published,
        expires_at=published + VALIDITY,
    )


async def answer_mode(feed: RateFeed) -> FeedMode:
    """The mode a rates answer follows, after `slow`'s wait (a cancellable sleep)."""
    if feed.mode == "slow":
        await asyncio.sleep(feed.slow_seconds)
    return feed.mode
