"""The ECB reference-rate feed every sandbox partner serves, dated today, and its test switches.

`GET /fx/eurofxref-daily.xml` answers the ECB's `eurofxref-daily.xml` in its exact layout (the
shipped `fx/data/ecb-eurofxref-2022-07-08.xml`: same namespaces, subject, sender, indentation
and quoting), dated the last ECB publication at or before the sandbox clock's now
(`fx.EcbCalendar.last_publication`: 16:00 Europe/Berlin on a TARGET business day), with the
shipped file's rates unchanged (their decimal text as written), so payer amounts stay what they
were and the demo and tests run offline with a fresh set. The answer is `text/xml` with a strong
`ETag` (the quoted SHA-256 of the body) and `Last-Modified` (the publication instant). A request
whose `If-None-Match` matches, or, without `If-None-Match`, whose `If-Modified-Since` is not
older than the publication, gets a 304. Requests and 304s are counted.

Switches (tests only; a sandbox started without `allow_settlement_tamper` answers 403):
`POST /_sandbox/fx_feed` with `{"mode": ..., "slow_seconds"?: 5, "currency"?: "CNY"}`:

    normal    the current set, as above
    stale     the same rates dated 10 publication days back (valid XML, an old date)
    slow      waits `slow_seconds` (a cancellable asyncio sleep), then answers as normal
    error     503, no body worth reading
    garbage   200 `text/xml` whose body is not XML (`<html>oops`): only parsing can tell
    jump      the current set with `currency`'s rate × 1.25 (beyond any sane band), its text
              keeping the same number of decimals
    bad_signature  the feed as normal (it is not signed); the partner's own rates answer
              carries a signature that does not verify

The same switch drives the partner's own rates answer (`fx_rates`, see
`adapters._sandbox.partnerrates`): rates crossed from `served_rates()`, so `jump` moves them
too, `error` makes it the protocol's server error, `slow` delays it, `garbage` makes it a
signed body that does not parse, `stale` dates it at the stale set's publication, and
`bad_signature` signs it wrongly. A mode stays until the next switch (`normal` ends it).

A bad body or an unknown mode is 400. `GET /_sandbox/fx_feed` answers (always)
`{"mode", "requests", "not_modified", "date"}`: `date` is that of the set the mode serves.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters._clock import Clock
from adapters._sandbox.http import json_response, validation_summary
from fx import EcbCalendar, default_ecb_file

__all__ = [
    "FEED_PATH",
    "RATE_FEED",
    "FeedMode",
    "FeedSwitchRefused",
    "RateFeed",
    "install_rate_feed_routes",
    "shipped_rates",
]

FEED_PATH = "/fx/eurofxref-daily.xml"
FeedMode = Literal["normal", "stale", "slow", "error", "garbage", "jump", "bad_signature"]

STALE_DAYS = 10  # publication days back for "stale"
JUMP_FACTOR = Decimal("1.25")  # "jump": far beyond any sane band of day-to-day moves
GARBAGE = b"<html>oops"

_NS = {
    "gesmes": "http://www.gesmes.org/xml/2002-08-01",
    "ecb": "http://www.ecb.int/vocabulary/2002-08-01/eurofxref",
}
_CODE = re.compile(r"[A-Z]{3}")
_RATE = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    f'<gesmes:Envelope xmlns:gesmes="{_NS["gesmes"]}"\n'
    f'                 xmlns="{_NS["ecb"]}">\n'
    "\t<gesmes:subject>Reference rates</gesmes:subject>\n"
    "\t<gesmes:Sender>\n"
    "\t\t<gesmes:name>European Central Bank</gesmes:name>\n"
    "\t</gesmes:Sender>\n"
    "\t<Cube>\n"
)
_TAIL = "\t\t</Cube>\n\t</Cube>\n</gesmes:Envelope>\n"

Rates = tuple[tuple[str, str], ...]
"""(currency, rate text) in the file's order: 1 EUR = rate units."""


@functools.cache
def shipped_rates() -> Rates:
    """The shipped ECB file's rates (`fx.default_ecb_file()`), in its order, text as written."""
    root = ET.fromstring(default_ecb_file().read_bytes())
    day = root.find("ecb:Cube/ecb:Cube[@time]", _NS)
    if day is None:
        raise ValueError("the shipped ECB file has no dated Cube")
    return tuple((c.get("currency", ""), c.get("rate", "")) for c in day.iterfind("ecb:Cube", _NS))


def render(day: date, rates: Rates) -> bytes:
    """`rates` as the ECB's eurofxref-daily.xml of `day`, laid out as the ECB writes it."""
    lines = [f"\t\t\t<Cube currency='{code}' rate='{rate}'/>\n" for code, rate in rates]
    return (_HEAD + f"\t\t<Cube time='{day.isoformat()}'>\n" + "".join(lines) + _TAIL).encode()


def _jumped(rates: Rates, currency: str) -> Rates:
    """`currency`'s rate × `JUMP_FACTOR`, half-up to the decimals it was written with."""
    out = []
    for code, text in rates:
        if code == currency:
            rate = Decimal(text)
            text = format((rate * JUMP_FACTOR).quantize(rate, rounding=ROUND_HALF_UP), "f")
        out.append((code, text))
    return tuple(out)


class FeedSwitchRefused(Exception):
    """This sandbox was started without `allow_settlement_tamper`."""


class _Switch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: FeedMode
    slow_seconds: Annotated[float, Field(ge=0, le=600)] = 5.0
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"


class RateFeed:
    """The feed of one sandbox (module docstring): `rates` (default: the shipped file's) dated by
    `clock`; `allow_switches` False refuses every mode change."""

    def __init__(
        self,
        clock: Clock,
        *,
        allow_switches: bool = False,
        rates: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self.clock = clock
        self.allow_switches = allow_switches
        self.rates: Rates = shipped_rates() if rates is None else tuple(rates)
        codes = [code for code, _ in self.rates]
        if not codes or len(set(codes)) != len(codes) or "EUR" in codes:
            raise ValueError("rates must name each currency but EUR once")
        for code, text in self.rates:  # what is written into the XML: no quote can slip in
            if _CODE.fullmatch(code) is None or _RATE.fullmatch(text) is None or not Decimal(text):
                raise ValueError(f"bad rate entry {code!r}: {text!r}")
        self.calendar = EcbCalendar()
        self.mode: FeedMode = "normal"
        self.slow_seconds = 5.0
        self.jump_currency = "CNY"
        self.requests = 0
        self.not_modified = 0

    def published_at(self) -> datetime:
        """The publication instant of the set the mode serves (`stale`: 10 publication days
        before the current one)."""
        published = self.calendar.last_publication(self.clock.now())
        if self.mode == "stale":
            for _ in range(STALE_DAYS):
                published = self.calendar.last_publication(published - timedelta(microseconds=1))
        return published

    def served_rates(self) -> Rates:
        """The rates the mode serves (1 EUR = rate units): `jump`'s currency moved, else as
        configured."""
        return _jumped(self.rates, self.jump_currency) if self.mode == "jump" else self.rates

    def body(self, published: datetime) -> bytes:
        """The XML of the set published at `published`, as the mode serves it."""
        return render(published.date(), self.served_rates())

    def switch(self, raw: bytes) -> dict[str, Any]:
        """Set the mode from the JSON body `raw`; `FeedSwitchRefused` when not allowed,
        `ValueError` (its message says what is wrong) on a bad body."""
        if not self.allow_switches:
            raise FeedSwitchRefused("rate-feed switches are not allowed on this sandbox")
        try:
            body = _Switch.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(validation_summary(exc)) from None
        if body.mode == "jump" and body.currency not in dict(self.rates):
            raise ValueError(f"the feed has no {body.currency} rate")
        self.mode = body.mode
        self.slow_seconds = body.slow_seconds
        self.jump_currency = body.currency
        return self.status()

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "requests": self.requests,
            "not_modified": self.not_modified,
            "date": self.published_at().date().isoformat(),
        }

    async def respond(self, request: web.Request) -> web.StreamResponse:
        """The `GET /fx/eurofxref-daily.xml` answer."""
        self.requests += 1
        if self.mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        if self.mode == "error":
            return web.Response(status=503, text="service unavailable")
        if self.mode == "garbage":
            return web.Response(body=GARBAGE, content_type="text/xml")
        published = self.published_at()
        body = self.body(published)
        etag = hashlib.sha256(body).hexdigest()
        if _not_modified(request, etag, published):
            self.not_modified += 1
            answer = web.Response(status=304)
        else:
            answer = web.Response(body=body, content_type="text/xml")
        answer.etag = etag
        answer.last_modified = published
        return answer


def _not_modified(request: web.Request, etag: str, published: datetime) -> bool:
    """RFC 9110 §13.2.2: If-None-Match (weak comparison) decides when sent, else
    If-Modified-Since (HTTP dates have whole seconds, as the publication has)."""
    tags = request.if_none_match
    if tags is not None:
        return any(tag.value in (etag, "*") for tag in tags)
    since = request.if_modified_since
    return since is not None and published <= since


RATE_FEED = web.AppKey("sandbox_rate_feed", RateFeed)


def install_rate_feed_routes(app: web.Application, feed: RateFeed) -> None:
    """`GET /fx/eurofxref-daily.xml`, `POST` and `GET /_sandbox/fx_feed` on `app`, which keeps
    `feed` under `RATE_FEED`."""
    app[RATE_FEED] = feed

    async def serve_feed(request: web.Request) -> web.StreamResponse:
        return await request.app[RATE_FEED].respond(request)

    async def switch(request: web.Request) -> web.StreamResponse:
        try:
            status = request.app[RATE_FEED].switch(await request.read())
        except FeedSwitchRefused as exc:
            return json_response(403, {"error": {"type": "forbidden", "message": str(exc)}})
        except ValueError as exc:
            return json_response(400, {"error": {"type": "invalid_request", "message": str(exc)}})
        return json_response(200, status)

    async def show(request: web.Request) -> web.StreamResponse:
        return json_response(200, request.app[RATE_FEED].status())

    app.router.add_get(FEED_PATH, serve_feed)
    app.router.add_post("/_sandbox/fx_feed", switch)
    app.router.add_get("/_sandbox/fx_feed", show)
