"""Alipay+ exchange-rate inquiry (`inquireExchangeRate`) <-> `RatesRequest` / `PartnerRates`.

Request: one `currencyPairs` entry per quote, `sellCurrency` = the base (the merchant's
currency) and `buyCurrency` = the quote (our choice of sides: the answer's
`quoteCurrencyPair` is then "<base>/<quote>" and reads as 1 base = `quotePrice` quote), with
`productCode` IN_STORE_PAYMENT.

Answer (verified by the client, HTTP 200): `result` S SUCCESS, and `quotes` with exactly one
entry per pair asked for. Anything else is `RatesUnavailable` naming what, never a value:

- a result other than S SUCCESS (F PARAM_ILLEGAL, CURRENCY_NOT_SUPPORT, PROCESS_FAIL...,
  U UNKNOWN_EXCEPTION...): its status and code are in the message;
- a body that is not JSON or not the answer's shape, no `quotes`, a quote for a pair not asked
  for (the inverse pair "CNY/THB" included: reading it would invert the rate), the same pair
  twice, a pair asked for and missing;
- a `quotePrice` that is not a positive plain decimal (a JSON number or a string: both are
  read from their text, never through float, so "1E-3", NaN, Infinity and negatives are
  refused), rounded half-up to 10 significant digits (`adapters.RATE_DIGITS`);
- a `quoteStartTime` missing or without offset, a `quoteExpiryTime` unreadable or before its
  start.

`published_at` is the earliest `quoteStartTime`, `expires_at` the earliest `quoteExpiryTime`
(None when no quote has one): the set is only as fresh as its oldest member.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from adapters._base import PartnerRates, RatesRequest, RatesUnavailable, parse_time
from adapters._rates import read_rate
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.transforms.bodies import IN_STORE_PAYMENT

__all__ = ["exchange_rate_body", "partner_rates", "read_json"]

_PAIR = re.compile(r"([A-Z]{3})/([A-Z]{3})")


def exchange_rate_body(request: RatesRequest) -> wire.InquireExchangeRateRequest:
    """One pair per quote: sell the base, buy the quote (module docstring)."""
    return wire.InquireExchangeRateRequest(
        currency_pairs=[
            wire.CurrencyPair(sell_currency=request.base, buy_currency=quote)
            for quote in request.quotes
        ],
        product_code=IN_STORE_PAYMENT,
    )


def read_json(raw: bytes) -> Any:
    """The JSON body with every number as its source text (never a float): `0.1832` ->
    "0.1832", `NaN` -> "NaN"; `ValueError` when it is not JSON."""
    try:
        return json.loads(raw, parse_float=str, parse_int=str, parse_constant=str)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _quote_rate(
    quote: wire.Quote, request: RatesRequest
) -> tuple[str, Decimal, datetime, datetime | None]:
    """(quote currency, rate, start, expiry) of one quote; `ValueError` naming the field."""
    match = _PAIR.fullmatch(quote.quote_currency_pair or "")
    if match is None:
        raise ValueError("quoteCurrencyPair is not <base>/<quote>")
    base, code = match.groups()
    if base != request.base or code not in request.quotes:
        raise ValueError("a quote is for a pair that was not asked for")
    rate = read_rate(quote.quote_price, f"quotePrice of {base}/{code}")
    start = parse_time(quote.quote_start_time)
    if start is None:
        raise ValueError(f"quoteStartTime of {base}/{code} is missing or has no offset")
    expiry = parse_time(quote.quote_expiry_time)
    if quote.quote_expiry_time is not None and expiry is None:
        raise ValueError(f"quoteExpiryTime of {base}/{code} has no offset or is unreadable")
    if expiry is not None and expiry < start:
        raise ValueError(f"quoteExpiryTime of {base}/{code} is before its quoteStartTime")
    return code, rate, start, expiry


def partner_rates(raw: bytes, *, partner_id: str, request: RatesRequest) -> PartnerRates:
    """A verified `inquireExchangeRate` answer's bytes -> `PartnerRates`, else
    `RatesUnavailable` (module docstring)."""

    def unavailable(why: str) -> RatesUnavailable:
        return RatesUnavailable(f"fx_rates of {partner_id}: {why}", http_status=200)

    try:
        answer = wire.InquireExchangeRateResponse.model_validate(read_json(raw))
    except ValidationError as exc:
        where = "; ".join(".".join(map(str, e["loc"])) + f" {e['type']}" for e in exc.errors()[:3])
        raise unavailable(f"unparseable answer ({where})") from None
    except ValueError:
        raise unavailable("the answer is not JSON") from None
    result = answer.result
    if result is None:
        raise unavailable("the answer has no result")
    if result.result_status != "S" or result.result_code != codes.SUCCESS:
        text = f"{result.result_status or '-'} {result.result_code or '-'}"
        message = (result.result_message or "")[:200]
        detail = f"{text}: {message}" if message else text
        raise unavailable(f"no rates: {detail}")
    rates: dict[str, Decimal] = {}
    starts: list[datetime] = []
    expiries: list[datetime] = []
    try:
        for quote in answer.quotes or []:
            code, rate, start, expiry = _quote_rate(quote, request)
            if code in rates:
                raise ValueError(f"{request.base}/{code} is quoted twice")
            rates[code] = rate
            starts.append(start)
            if expiry is not None:
                expiries.append(expiry)
    except ValueError as exc:
        raise unavailable(str(exc)) from None
    missing = [code for code in request.quotes if code not in rates]
    if missing:
        raise unavailable(f"no quote for {', '.join(f'{request.base}/{c}' for c in missing)}")
    return PartnerRates(
        partner_id=partner_id,
        base=request.base,
        rates={code: rates[code] for code in request.quotes},
        published_at=min(starts),
        expires_at=min(expiries) if expiries else None,
        raw=raw,
    )
