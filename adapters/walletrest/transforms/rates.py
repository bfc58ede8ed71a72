"""WalletRest exchange rates: `RatesRequest` -> `GET /v1/fx/rates?...`, answer -> `PartnerRates`.

The path is `/v1/fx/rates?base=THB&quotes=CNY,KRW` (the quotes comma-separated, in the order
asked). A verified answer is read strictly; anything but a complete 200 is `RatesUnavailable`
naming what, never a value:

- any other status (its `error` type, code and message named: 400 `currency_not_supported`
  for a currency the partner does not quote, 401, 5xx...);
- a body that is not the `FxRates` shape (a rate that is a JSON number rather than a string
  included), a `base` other than ours, a quote asked for and missing;
- a rate that is not a positive plain decimal string (signs, exponents, NaN, Infinity are
  refused), rounded half-up to 10 significant digits (`adapters.RATE_DIGITS`);
- a `published_at` missing or without offset, an `expires_at` unreadable or before it.

Rates for currencies not asked for are left out of the result.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

from adapters._base import PartnerRates, RatesRequest, RatesUnavailable, parse_time
from adapters._rates import read_rate
from adapters.walletrest import models as wire
from adapters.walletrest.transforms.answers import parse_answer

__all__ = ["partner_rates", "rates_path"]


def rates_path(request: RatesRequest) -> str:
    """`/v1/fx/rates?base=<base>&quotes=<q1>,<q2>...`."""
    quotes = ",".join(quote(code, safe="") for code in request.quotes)
    return f"/v1/fx/rates?base={quote(request.base, safe='')}&quotes={quotes}"


def partner_rates(
    http_status: int, body: bytes, *, partner_id: str, request: RatesRequest
) -> PartnerRates:
    """A verified answer to `GET /v1/fx/rates` -> `PartnerRates`, else `RatesUnavailable`
    (module docstring)."""
    where = f"fx_rates of {partner_id}"
    if http_status != 200:
        error = parse_answer(wire.ErrorBody, body)
        detail = (
            f"{error.error.type or '-'} {error.error.code or '-'}: {error.error.message or ''}"
            if not isinstance(error, str)
            else error
        )
        raise RatesUnavailable(
            f"{where}: HTTP {http_status}, {detail.strip()[:300]}", http_status=http_status
        )

    def unavailable(why: str) -> RatesUnavailable:
        return RatesUnavailable(f"{where}: {why}", http_status=200)

    answer = parse_answer(wire.FxRates, body)
    if isinstance(answer, str):
        raise unavailable(answer)
    if answer.base != request.base:
        raise unavailable("the answer is for another base")
    missing = [code for code in request.quotes if code not in answer.rates]
    if missing:
        raise unavailable(f"no rate for {', '.join(missing)}")
    try:
        rates: dict[str, Decimal] = {
            code: read_rate(answer.rates[code], f"the {code} rate") for code in request.quotes
        }
    except ValueError as exc:
        raise unavailable(str(exc)) from None
    published_at = parse_time(answer.published_at)
    if published_at is None:
        raise unavailable("published_at is not an RFC 3339 time")
    expires_at = parse_time(answer.expires_at)
    if answer.expires_at is not None and expires_at is None:
        raise unavailable("expires_at is not an RFC 3339 time")
    if expires_at is not None and expires_at < published_at:
        raise unavailable("expires_at is before published_at")
    return PartnerRates(
        partner_id=partner_id,
        base=request.base,
        rates=rates,
        published_at=published_at,
        expires_at=expires_at,
        raw=body,
    )
