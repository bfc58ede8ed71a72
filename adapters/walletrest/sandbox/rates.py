"""The WalletRest sandbox's exchange rates: `GET /v1/fx/rates`, from the sandbox's rate feed.

A signed request (else a signed 401) names `base` and `quotes` (comma-separated): three-letter
codes, 1 to 50 distinct quotes, not the base, else a signed 400 `invalid_request`
`parameter_invalid`. A currency the partner has no rate for is a signed 400
`invalid_request` `currency_not_supported`. The answer gives each quote as a decimal string
(`adapters._sandbox.partnerrates`: crossed from the feed, 10 significant digits), published at
the sandbox clock's now and valid 10 minutes.

The feed's test switch applies (`partnerrates` has the table): `error` is a signed 500
`api_error`, `garbage` a signed 200 whose body is not JSON, `bad_signature` the rates signed
wrongly.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from aiohttp import web

from adapters._sandbox.partnerrates import UnknownCurrency, answer_mode, quote_rates
from adapters._sandbox.ratefeed import GARBAGE, RATE_FEED
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.exchange import (
    STATE,
    Reply,
    authenticated_body,
    signed,
    signed_body,
)

__all__ = ["MAX_QUOTES", "handle_get_fx_rates"]

MAX_QUOTES = 50
_CODE = re.compile(r"[A-Z]{3}")


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _query(request: web.Request) -> tuple[str, list[str]]:
    """(base, quotes) from the query string, else a signed 400 `parameter_invalid`."""
    base = request.query.get("base", "")
    quotes = request.query.get("quotes", "").split(",")
    valid = (
        bool(_CODE.fullmatch(base))
        and 0 < len(quotes) <= MAX_QUOTES
        and all(_CODE.fullmatch(code) for code in quotes)
        and len(set(quotes)) == len(quotes)
        and base not in quotes
    )
    if not valid:
        raise Reply(
            400,
            codes.INVALID_REQUEST,
            "base and quotes must be distinct three-letter currency codes.",
            code="parameter_invalid",
        )
    return base, quotes


async def handle_get_fx_rates(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    feed = request.app[RATE_FEED]
    try:
        await authenticated_body(request, state)
        mode = await answer_mode(feed)
        if mode == "error":
            raise Reply(500, codes.API_ERROR, "Internal error, please try again later.")
        base, quotes = _query(request)
        try:
            quoted = quote_rates(feed, base, quotes)
        except UnknownCurrency as exc:
            raise Reply(
                400,
                codes.INVALID_REQUEST,
                f"The currency {exc.code} is not supported.",
                code="currency_not_supported",
            ) from None
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    if mode == "garbage":
        return signed_body(state, 200, GARBAGE)
    answer = wire.FxRates(
        base=base,
        rates={code: quoted.text(code) for code in quotes},
        published_at=_time(quoted.published_at),
        expires_at=_time(quoted.expires_at),
    )
    return signed_body(state, 200, wire.encode(answer), wrong_signature=mode == "bad_signature")
