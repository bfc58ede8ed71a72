"""A 40-currency ECB reference-rate document, and a feed serving it to the gateway under test.

    python -m bench.fxfeed --port P [--vary]

The document is the ECB's `eurofxref-daily.xml` layout (`adapters._sandbox.ratefeed.render`: the
shipped `fx/data/ecb-eurofxref-2022-07-08.xml`'s namespaces, indentation and quoting) with the
shipped file's 31 rates, their text as written (HRK included: the ECB published it then, though
it has since left ISO 4217 List One), and `EXTRA`: 9 more ISO 4217 List One currencies at
plausible rates of that day (synthetic: the ECB does not publish them), 40 in all.

`variant(i)` moves every rate of the document by at most ±0.25 % (a pseudo-random pattern seeded
by `i`, the text keeping its decimals), so that variants are distinct publications (other
`RateSet` ids) and any two of them move less than 0.5 % apart, well inside `fx.max_move_bps`.

The feed answers `GET /fx/eurofxref-daily.xml` dated the last ECB publication at or before now
(as the sandbox's own feed does), with a strong `ETag` and `Last-Modified`, and a `304` to an
`If-None-Match` that matches. With `--vary`, each answer is the next variant (a correction of the
same day: the gateway's refresher stores and installs it), so a refresher fetching every second
does the whole refresh every second. `GET /_feed/stats` answers the counts.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import random
from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

import fx
from adapters._sandbox.ratefeed import FEED_PATH, Rates, render, shipped_rates

__all__ = ["CURRENCIES", "EXTRA", "document", "main", "rates", "variant"]

CURRENCIES = 40
# 1 EUR in each, about 2022-07-08 (EUR/USD 1.0163): synthetic, but in each currency's range.
EXTRA: Rates = (
    ("AED", "3.7325"),
    ("SAR", "3.8163"),
    ("QAR", "3.6993"),
    ("KWD", "0.31245"),
    ("TWD", "30.241"),
    ("VND", "23745.12"),
    ("CLP", "960.53"),
    ("COP", "4460.21"),
    ("EGP", "19.2501"),
)
PUBLICATION = date(2022, 7, 8)  # the shipped file's day (the micro-benchmark's documents)


def rates() -> Rates:
    """The 40 (currency, rate text) of the document, the shipped file's first, in its order."""
    out = shipped_rates() + EXTRA
    codes = [code for code, _ in out]
    if len(out) != CURRENCIES or len(set(codes)) != CURRENCIES:
        raise RuntimeError(f"expected {CURRENCIES} distinct currencies, got {codes}")
    for code in codes[len(shipped_rates()) :]:
        fx.get_currency(code)  # a real List One code, or UnsupportedCurrency
    return out


def variant(i: int, base: Sequence[tuple[str, str]] | None = None) -> Rates:
    """`base` (default `rates()`) with each rate moved by k × 0.05 %, k from −5 to 5 drawn by
    `random.Random(i)`, rounded half-up to the decimals it was written with."""
    draw = random.Random(i)
    out: list[tuple[str, str]] = []
    for code, text in base if base is not None else rates():
        rate = Decimal(text)
        factor = 1 + Decimal(draw.randint(-5, 5)) * Decimal("0.0005")
        out.append((code, format((rate * factor).quantize(rate, rounding=ROUND_HALF_UP), "f")))
    return tuple(out)


def document(day: date = PUBLICATION, rates_: Sequence[tuple[str, str]] | None = None) -> bytes:
    """The eurofxref-daily.xml of `day` with `rates_` (default: the 40 of `rates()`)."""
    return render(day, tuple(rates_) if rates_ is not None else rates())


class Feed:
    def __init__(self, *, vary: bool) -> None:
        self.vary = vary
        self.calendar = fx.EcbCalendar()
        self.requests = 0
        self.not_modified = 0
        self.served = 0  # 200 answers
        self.base = rates()

    def body(self, published: datetime) -> bytes:
        rates_ = variant(self.served, self.base) if self.vary else self.base
        return document(published.date(), rates_)

    async def respond(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        published = self.calendar.last_publication(datetime.now(UTC))
        tags = request.if_none_match
        if not self.vary:
            etag = hashlib.sha256(self.body(published)).hexdigest()
            if tags is not None and any(tag.value in (etag, "*") for tag in tags):
                self.not_modified += 1
                answer = web.Response(status=304)
                answer.etag = etag
                return answer
        body = self.body(published)
        self.served += 1
        answer = web.Response(body=body, content_type="text/xml")
        answer.etag = hashlib.sha256(body).hexdigest()
        answer.last_modified = published
        return answer

    def stats(self) -> dict[str, Any]:
        return {
            "vary": self.vary,
            "requests": self.requests,
            "not_modified": self.not_modified,
            "served": self.served,
            "currencies": len(self.base),
        }


FEED = web.AppKey("bench_fx_feed", Feed)


def create_app(*, vary: bool) -> web.Application:
    app = web.Application()
    app[FEED] = Feed(vary=vary)

    async def serve(request: web.Request) -> web.StreamResponse:
        return await request.app[FEED].respond(request)

    async def stats(request: web.Request) -> web.StreamResponse:
        return web.json_response(request.app[FEED].stats())

    app.router.add_get(FEED_PATH, serve)
    app.router.add_get("/_feed/stats", stats)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fxfeed")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--vary", action="store_true", help="a new variant on every 200 answer")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(
        create_app(vary=args.vary), host=args.host, port=args.port, access_log=None, print=None
    )


if __name__ == "__main__":
    main()
