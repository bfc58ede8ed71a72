"""The `fx_rates` part of the adapter contract: a partner's own exchange rates as a rate source.

The gateway prices from mid rates (the ECB feed), and may also use the rates a partner quotes,
since those are what the partner converts at. `Adapter.fetch_rates(RatesRequest(base, quotes))`
asks "1 unit of `base` (the merchant's currency) in each of `quotes` (wallet currencies)" and
returns a `PartnerRates`: every quote asked for, or nothing. Whatever goes wrong (transport
error, timeout, an HTTP error, a refusal or a non-success result code, an unsigned or badly
signed answer, a body that does not parse, a currency missing, a rate that is not a positive
plain decimal) raises `RatesUnavailable`, never a partial set: a quote priced from half an
answer could not be explained afterwards. A caller reports "no partner rates" and uses its
other sources.

Rates are `Decimal`, positive and at most `RATE_DIGITS` significant digits, like a quote's rate
and a settlement line's (`adapters.implied_rate`), so the number stored is the number shown.
A partner's text is read strictly by `read_rate` (a plain decimal: no sign, no exponent, no
NaN or Infinity, never through float) and rounded half-up once to `RATE_DIGITS`.

The operation is optional in configuration: `DEFAULT_TIMEOUTS` gives it a timeout when a
partner's timeouts mapping has none (`adapters._http.SignedHttpClient` applies it).

This module is private; `adapters._base` re-exports its names as part of the contract.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

from fx import FXError, get_currency, round_significant

__all__ = [
    "DEFAULT_RATES_TIMEOUT",
    "RATE_DIGITS",
    "PartnerRates",
    "RatesRequest",
    "RatesUnavailable",
    "read_rate",
]

RATE_DIGITS = 10  # significant digits of a reported rate, like a quote's
DEFAULT_RATES_TIMEOUT = 5.0  # seconds, when the partner's timeouts name no `fx_rates`

_RATE_TEXT = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
_MAX_RATE_TEXT = 64  # characters: far beyond any real rate, short of any pathological one


def _currency_code(code: object, what: str) -> str:
    if not isinstance(code, str) or len(code) != 3:
        raise ValueError(f"{what} must be an ISO 4217 code, not {code!r}")
    try:
        get_currency(code)
    except FXError:
        raise ValueError(f"{what} must be an ISO 4217 code, not {code!r}") from None
    return code


def read_rate(text: object, what: str = "rate") -> Decimal:
    """A partner's rate text -> a positive `Decimal` rounded half-up to `RATE_DIGITS`.

    Only a plain decimal is a rate ("0.1832", "1321.61"): signs, exponents ("1E-3"), NaN and
    Infinity, blanks and anything over 64 characters raise `ValueError` (its message names
    `what`, never the text). The JSON number `0.1832` arrives here as its source text, never
    through float (see each family's transforms).
    """
    if not isinstance(text, str) or len(text) > _MAX_RATE_TEXT or not _RATE_TEXT.fullmatch(text):
        raise ValueError(f"{what} is not a plain decimal")
    try:
        value = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError(f"{what} is not a plain decimal") from None
    if value <= 0:
        raise ValueError(f"{what} is not positive")
    return round_significant(value, RATE_DIGITS)


class RatesUnavailable(Exception):
    """The partner's rates could not be fetched or trusted: transport error, timeout, HTTP
    error, refusal or non-success result, unsigned or unverifiable answer, malformed body, a
    currency missing or a rate not positive. `http_status` is the answer's status when there
    was one."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


@dataclasses.dataclass(frozen=True, slots=True)
class RatesRequest:
    """1 unit of `base` (the merchant's currency) in each of `quotes` (wallet currencies).

    ISO 4217 codes; `quotes` is not empty, names each currency once and not `base`. A bad
    request is a programmer's mistake (`ValueError`), not a partner's answer.
    """

    base: str
    quotes: tuple[str, ...]

    def __post_init__(self) -> None:
        _currency_code(self.base, "base")
        quotes = tuple(self.quotes)
        object.__setattr__(self, "quotes", quotes)
        if not quotes:
            raise ValueError("quotes must name at least one currency")
        for code in quotes:
            _currency_code(code, "each quote")
        if len(set(quotes)) != len(quotes) or self.base in quotes:
            raise ValueError("quotes must name each currency once, and not the base")


@dataclasses.dataclass(frozen=True, slots=True)
class PartnerRates:
    """One answer of a partner: 1 `base` = `rates[code]` `code`, for every code asked for.

    `published_at` is when the partner's rates took effect and `expires_at` when the earliest
    of them stops being valid (None when the partner does not say); both aware. `raw` is the
    answer's body exactly as received (keep it as evidence). Rates are `Decimal`, positive,
    with at most `RATE_DIGITS` significant digits; `rates` is read-only.
    """

    partner_id: str
    base: str
    rates: Mapping[str, Decimal]
    published_at: datetime
    expires_at: datetime | None
    raw: bytes = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        _currency_code(self.base, "base")
        rates = dict(self.rates)
        if not rates:
            raise ValueError("rates must name at least one currency")
        for code, rate in rates.items():
            _currency_code(code, "each rate's currency")
            if code == self.base:
                raise ValueError("rates must not name the base")
            if not isinstance(rate, Decimal) or not rate.is_finite() or rate <= 0:
                raise ValueError(f"the {code} rate must be a positive finite Decimal")
            if round_significant(rate, RATE_DIGITS) != rate:
                raise ValueError(f"the {code} rate has more than {RATE_DIGITS} significant digits")
        object.__setattr__(self, "rates", MappingProxyType(rates))
        for name in ("published_at", "expires_at"):
            moment = getattr(self, name)
            if moment is None and name == "expires_at":
                continue
            if not isinstance(moment, datetime) or moment.utcoffset() is None:
                raise ValueError(f"{name} must be a timezone-aware datetime")
        if self.expires_at is not None and self.expires_at < self.published_at:
            raise ValueError("expires_at is before published_at")
