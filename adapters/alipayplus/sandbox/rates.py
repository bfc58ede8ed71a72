"""The Alipay+ sandbox's exchange rates: `inquireExchangeRate`, from the sandbox's rate feed.

A signed request (else F ACCESS_DENIED / INVALID_SIGNATURE) names its pairs in
`currencyPairs`, or one pair as top-level `sellCurrency` / `buyCurrency` (the SDK's model has
both); 1 to 50 distinct pairs of two different three-letter codes, else F PARAM_ILLEGAL. A
currency the partner has no rate for is F CURRENCY_NOT_SUPPORT. The answer quotes each pair
as "<sell>/<buy>" with `quotePrice` = 1 sell in buy units (`adapters._sandbox.partnerrates`:
crossed from the feed, 10 significant digits), a JSON number written from its decimal text,
with start and expiry times in the partner's zone, `guaranteed` false.

The feed's test switch applies (`partnerrates` has the table): `error` is U UNKNOWN_EXCEPTION,
`garbage` a signed body that is not JSON, `bad_signature` the rates signed wrongly.
"""

from __future__ import annotations

import re

from aiohttp import web

from adapters._sandbox.partnerrates import UnknownCurrency, answer_mode, quote_rates
from adapters._sandbox.ratefeed import GARBAGE, RATE_FEED
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import (
    STATE,
    Reply,
    authenticated_body,
    parse_body,
    result,
    signed,
    signed_bytes,
)

__all__ = ["MAX_PAIRS", "handle_inquire_exchange_rate"]

MAX_PAIRS = 50
_CODE = re.compile(r"[A-Z]{3}")
_JSON = "application/json; charset=UTF-8"


def _pairs(body: wire.InquireExchangeRateRequest) -> list[tuple[str, str]]:
    """The (sell, buy) pairs asked for, else a signed F PARAM_ILLEGAL."""
    pairs = [(pair.sell_currency, pair.buy_currency) for pair in body.currency_pairs or []]
    if not pairs and body.sell_currency and body.buy_currency:
        pairs = [(body.sell_currency, body.buy_currency)]
    valid = 0 < len(pairs) <= MAX_PAIRS and len(set(pairs)) == len(pairs)
    for sell, buy in pairs:
        valid = valid and bool(_CODE.fullmatch(sell) and _CODE.fullmatch(buy)) and sell != buy
    if not valid:
        raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: currencyPairs")
    return pairs


async def handle_inquire_exchange_rate(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    feed = request.app[RATE_FEED]
    zone = state.settings.settlement.zone
    try:
        raw = await authenticated_body(request, state)
        mode = await answer_mode(feed)
        if mode == "error":
            raise Reply("U", codes.UNKNOWN_EXCEPTION, "System error, please try again later.")
        quotes: list[wire.Quote] = []
        for sell, buy in _pairs(parse_body(raw, wire.InquireExchangeRateRequest)):
            try:
                quoted = quote_rates(feed, sell, [buy])
            except UnknownCurrency as exc:
                raise Reply(
                    "F", codes.CURRENCY_NOT_SUPPORT, f"The currency {exc.code} is not supported."
                ) from None
            start = quoted.published_at.astimezone(zone)
            quotes.append(
                wire.Quote.model_validate(
                    {
                        "quoteId": f"QT{sell}{buy}{start:%Y%m%d%H%M%S}",
                        "quoteCurrencyPair": f"{sell}/{buy}",
                        "quotePrice": quoted.text(buy),
                        "quoteStartTime": start.isoformat(timespec="seconds"),
                        "quoteExpiryTime": quoted.expires_at.astimezone(zone).isoformat(
                            timespec="seconds"
                        ),
                        "guaranteed": False,
                    }
                )
            )
    except Reply as reply:
        return signed(request, state, wire.InquireExchangeRateResponse(result=reply.result))
    if mode == "garbage":
        return signed_bytes(request, state, GARBAGE, _JSON)
    answer = wire.InquireExchangeRateResponse(
        result=result("S", codes.SUCCESS, "success"), quotes=quotes
    )
    return signed_bytes(
        request,
        state,
        wire.encode_with_prices(answer),
        _JSON,
        wrong_signature=mode == "bad_signature",
    )
