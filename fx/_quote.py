"""Quotes: a mid rate plus the gateway's markup, locked for a lifetime the caller chooses.

`rate` is rounded to 10 significant digits once, when the quote is made, and is the only rate
used afterwards (payment and refunds), so every payer amount can be recomputed from the quote.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from ._currency import Currency, coerce_currency
from ._exceptions import CurrencyMismatch, InvalidAmount, QuoteExpired
from ._money import MAX_AMOUNT, Money
from ._rates import RATE_DIGITS, MidRate, require_aware
from ._rounding import check_rate, convert_minor, exact_context, round_significant

__all__ = ["Quote", "make_quote", "quote_rate"]

_BPS = 10_000


def _check_markup(markup_bps: object) -> int:
    if isinstance(markup_bps, bool) or not isinstance(markup_bps, int):
        raise TypeError(f"markup_bps must be an int, got {type(markup_bps).__name__}")
    if markup_bps < 0:
        raise ValueError(f"markup_bps must be >= 0, got {markup_bps}")
    return markup_bps


def quote_rate(mid: Decimal, markup_bps: int) -> Decimal:
    """mid × (1 + markup_bps / 10^4), half-up to 10 significant digits (API.md, FX quotes)."""
    mid = check_rate(mid, "mid rate")
    factor = Decimal(_BPS + _check_markup(markup_bps))  # an exact integer
    # Exact product (Inexact trapped); dividing by 10^4 only moves the exponent.
    exact = exact_context(len(mid.as_tuple().digits) + len(str(factor)))
    marked_up = exact.scaleb(exact.multiply(mid, factor), -4)
    return round_significant(marked_up, RATE_DIGITS)


@dataclass(frozen=True, slots=True)
class Quote:
    """A locked conversion of `amount` (merchant currency) into `payer_amount` (wallet currency).

    1 unit of `amount.currency` = `rate` units of `payer_amount.currency`, markup included.
    Constructing one checks that `rate` and `payer_amount` follow from the other fields, so a
    quote read back from storage is as trustworthy as one just made.
    """

    id: str
    amount: Money
    payer_amount: Money
    rate: Decimal
    mid_rate: Decimal
    markup_bps: int
    rate_source: str
    rate_as_of: datetime
    created_at: datetime
    expires_at: datetime
    rate_set: str | None = None
    """The id of the `RateSet` the mid rate came from (None for quotes made before rate sets
    were stored)."""
    markup_rule: str | None = None
    """Why `markup_bps`: the caller's policy names the rule that applied (opaque to fx)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("quote id must be a non-empty string")
        if not isinstance(self.amount, Money) or not isinstance(self.payer_amount, Money):
            raise TypeError("amount and payer_amount must be Money")
        if quote_rate(self.mid_rate, self.markup_bps) != check_rate(self.rate):
            raise InvalidAmount(
                f"rate {self.rate} is not mid {self.mid_rate} plus {self.markup_bps} bps"
            )
        if self.convert(self.amount) != self.payer_amount:
            raise InvalidAmount(
                f"payer_amount {self.payer_amount} does not follow from {self.amount} "
                f"at rate {self.rate}"
            )
        require_aware(self.rate_as_of, "rate_as_of")
        require_aware(self.created_at, "created_at")
        if require_aware(self.expires_at, "expires_at") < self.created_at:
            raise ValueError("expires_at is before created_at")

    @property
    def currency(self) -> Currency:
        """The merchant currency (of `amount`)."""
        return self.amount.currency

    @property
    def payer_currency(self) -> Currency:
        """The wallet currency (of `payer_amount`)."""
        return self.payer_amount.currency

    def is_expired(self, now: datetime) -> bool:
        """Honoured exactly until `expires_at`: expired only strictly after it."""
        return require_aware(now, "now") > self.expires_at

    def ensure_not_expired(self, now: datetime) -> None:
        """Raise `QuoteExpired` if the quote may no longer be used."""
        if self.is_expired(now):
            raise QuoteExpired(f"quote {self.id} expired at {self.expires_at.isoformat()}")

    def convert(self, amount: Money) -> Money:
        """Convert any merchant-currency amount at this quote's rate (e.g. cumulative refunds)."""
        if amount.currency != self.amount.currency:
            raise CurrencyMismatch(
                f"quote {self.id} converts {self.amount.currency.code}, not {amount.currency.code}"
            )
        target = self.payer_amount.currency
        return Money(convert_minor(amount.value, self.rate, amount.currency, target), target)


def make_quote(
    *,
    id: str,
    amount: Money,
    payer_currency: Currency,
    mid: MidRate,
    markup_bps: int,
    created_at: datetime,
    lifetime: timedelta,
    markup_rule: str | None = None,
) -> Quote:
    """Quote `amount` in `payer_currency` from `mid` plus `markup_bps`, valid for `lifetime`.

    Raises `CurrencyMismatch` if `mid` is not amount.currency → payer_currency, and
    `InvalidAmount` if the amount or the payer amount falls outside 1 ≤ value ≤ `MAX_AMOUNT`.
    """
    if not isinstance(amount, Money):
        raise TypeError(f"amount must be Money, got {type(amount).__name__}")
    payer = coerce_currency(payer_currency)
    if not isinstance(mid, MidRate):
        raise TypeError(f"mid must be a MidRate, got {type(mid).__name__}")
    if mid.base != amount.currency or mid.quote != payer:
        raise CurrencyMismatch(
            f"mid rate is {mid.base.code}->{mid.quote.code}, "
            f"quote needs {amount.currency.code}->{payer.code}"
        )
    if not 1 <= amount.value <= MAX_AMOUNT:
        raise InvalidAmount(f"amount must be between 1 and {MAX_AMOUNT} minor units")
    require_aware(created_at, "created_at")
    if not isinstance(lifetime, timedelta) or lifetime <= timedelta(0):
        raise ValueError(f"lifetime must be a positive timedelta, got {lifetime!r}")
    rate = quote_rate(mid.rate, markup_bps)
    payer_value = convert_minor(amount.value, rate, amount.currency, payer)
    if payer_value < 1:
        raise InvalidAmount(f"payer amount would be below 1 minor unit of {payer.code}")
    if payer_value > MAX_AMOUNT:
        raise InvalidAmount(f"payer amount would exceed {MAX_AMOUNT} minor units of {payer.code}")
    return Quote(
        id=id,
        amount=amount,
        payer_amount=Money(payer_value, payer),
        rate=rate,
        mid_rate=mid.rate,
        markup_bps=markup_bps,
        rate_source=mid.source,
        rate_as_of=mid.as_of,
        rate_set=mid.rate_set,
        markup_rule=markup_rule,
        created_at=created_at,
        expires_at=created_at + lifetime,
    )
