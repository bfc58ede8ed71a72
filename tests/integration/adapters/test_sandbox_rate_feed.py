"""The ECB reference-rate feed every sandbox serves (`adapters._sandbox.ratefeed`), over loopback.

Every family's sandbox serves `GET /fx/eurofxref-daily.xml` in the ECB's exact layout, dated the
last publication at or before its clock's now, with the shipped 2022 file's rates, so quotes
priced from it are the same as from the shipped file. Conditional requests get 304s, which are
counted; the test-only switches (stale, slow, error, garbage, jump) change what it serves, and a
sandbox started without `allow_settlement_tamper` refuses them.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from adapters import Operation, SystemClock
from adapters._sandbox import (
    FEED_PATH,
    RateFeed,
    install_rate_feed_routes,
    shipped_rates,
)
from adapters._sandbox.ratefeed import render
from fx import EcbCalendar, RateUnavailable, default_ecb_file, get_currency, parse_ecb_xml
from tests.support.families import SandboxFamily, running_family, serve
from tests.support.virtual_time import ManualClock

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN)  # before Monday's publication
FRIDAY = datetime(2026, 12, 4, 16, 0, tzinfo=BERLIN)  # so the feed is Friday's
TIMEOUTS = {op: 2.0 for op in Operation}
SHIPPED = parse_ecb_xml(default_ecb_file().read_bytes())
EUR = get_currency("EUR")
NS = {"ecb": "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"}


async def _served(feed: RateFeed) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    app = web.Application()
    install_rate_feed_routes(app, feed)
    runner, url = await serve(app)
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        try:
            yield url, http
        finally:
            await runner.cleanup()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(MONDAY.astimezone(UTC))


@pytest.fixture
async def http(clock: ManualClock) -> AsyncIterator[httpx.AsyncClient]:
    async for _, client in _served(RateFeed(clock, allow_switches=True)):
        yield client


async def switch(http: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await http.post("/_sandbox/fx_feed", json=body)


async def status(http: httpx.AsyncClient) -> dict[str, Any]:
    answer = await http.get("/_sandbox/fx_feed")
    assert answer.status_code == 200
    result: dict[str, Any] = answer.json()
    return result


def served_rates(body: bytes) -> tuple[tuple[str, str], ...]:
    """The (currency, rate text) of the feed's one dated Cube, in order."""
    day = ET.fromstring(body).find("ecb:Cube/ecb:Cube[@time]", NS)
    assert day is not None
    return tuple((c.get("currency", ""), c.get("rate", "")) for c in day.iterfind("ecb:Cube", NS))


def assert_shipped_rates(body: bytes) -> None:
    """The shipped file's rates as written, and the same mid rates for payment currencies."""
    assert served_rates(body) == served_rates(default_ecb_file().read_bytes())
    source = parse_ecb_xml(body)
    for code in ("CNY", "THB", "KRW", "JPY", "PHP"):
        quote = get_currency(code)
        assert source.mid_rate(EUR, quote).rate == SHIPPED.mid_rate(EUR, quote).rate


# --- every family's sandbox serves it ----------------------------------------------------------


async def test_every_sandbox_serves_the_last_publication_with_the_shipped_rates(
    protocol_family: str,
) -> None:
    async with running_family(
        protocol_family,
        clock=SystemClock(MONDAY - datetime.now(UTC)),
        timeouts=TIMEOUTS,
        kind=SandboxFamily,
        allow_settlement_tamper=False,
    ) as family:
        answer = await family.http.get(f"{family.url}{FEED_PATH}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/xml")
        assert answer.headers["last-modified"] == format_datetime(FRIDAY.astimezone(UTC), True)
        etag = answer.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"') and len(etag) == 66
        assert parse_ecb_xml(answer.content).published_at == FRIDAY
        assert_shipped_rates(answer.content)

        refused = await family.http.post(f"{family.url}/_sandbox/fx_feed", json={"mode": "error"})
        assert refused.status_code == 403
        assert refused.json()["error"]["type"] == "forbidden"
        shown = (await family.http.get(f"{family.url}/_sandbox/fx_feed")).json()
        assert shown == {"mode": "normal", "requests": 1, "not_modified": 0, "date": "2026-12-04"}


# --- layout ------------------------------------------------------------------------------------


def test_rendered_with_the_shipped_date_it_is_the_shipped_file_byte_for_byte() -> None:
    assert render(date(2022, 7, 8), shipped_rates()) == default_ecb_file().read_bytes()
    assert shipped_rates()[:2] == (("USD", "1.0163"), ("JPY", "138.05"))
    assert dict(shipped_rates())["PLN"] == "4.7630"  # the text as written, trailing zero kept


async def test_the_served_feed_is_the_shipped_file_but_for_its_date(
    http: httpx.AsyncClient,
) -> None:
    body = (await http.get(FEED_PATH)).content
    assert body == default_ecb_file().read_bytes().replace(b"2022-07-08", b"2026-12-04")


# --- conditional requests ----------------------------------------------------------------------


async def test_etag_and_last_modified_answer_304_and_are_counted(
    http: httpx.AsyncClient, clock: ManualClock
) -> None:
    first = await http.get(FEED_PATH)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    older = format_datetime((FRIDAY - timedelta(seconds=1)).astimezone(UTC), True)

    again = await http.get(FEED_PATH, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
    weak = await http.get(FEED_PATH, headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status_code == 304
    assert (await http.get(FEED_PATH, headers={"If-None-Match": '"other"'})).status_code == 200
    since = await http.get(FEED_PATH, headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    assert (await http.get(FEED_PATH, headers={"If-Modified-Since": older})).status_code == 200
    # If-None-Match decides when sent: If-Modified-Since is then ignored.
    both = await http.get(
        FEED_PATH, headers={"If-None-Match": '"other"', "If-Modified-Since": modified}
    )
    assert both.status_code == 200
    assert await status(http) == {
        "mode": "normal", "requests": 7, "not_modified": 3, "date": "2026-12-04",
    }  # fmt: skip

    clock.advance(timedelta(hours=7))  # Monday 17:00: Monday's set
    fresh = await http.get(FEED_PATH, headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["etag"] != etag
    assert parse_ecb_xml(fresh.content).published_at.date() == date(2026, 12, 7)
    stale_since = await http.get(FEED_PATH, headers={"If-Modified-Since": modified})
    assert stale_since.status_code == 200


# --- test switches -----------------------------------------------------------------------------


async def test_stale_serves_the_set_of_ten_publication_days_back(http: httpx.AsyncClient) -> None:
    answer = await switch(http, mode="stale")
    assert answer.status_code == 200 and answer.json()["date"] == "2026-11-20"
    body = (await http.get(FEED_PATH)).content
    source = parse_ecb_xml(body)
    assert source.published_at == datetime(2026, 11, 20, 16, 0, tzinfo=BERLIN)
    published, calendar = FRIDAY, EcbCalendar()
    for _ in range(10):
        published = calendar.last_publication(published - timedelta(microseconds=1))
    assert source.published_at == published
    assert_shipped_rates(body)
    assert (await switch(http, mode="normal")).json()["date"] == "2026-12-04"


async def test_error_answers_503_and_garbage_is_not_xml(http: httpx.AsyncClient) -> None:
    assert (await switch(http, mode="error")).status_code == 200
    assert (await http.get(FEED_PATH)).status_code == 503
    assert (await switch(http, mode="garbage")).status_code == 200
    garbage = await http.get(FEED_PATH)
    assert garbage.status_code == 200 and garbage.headers["content-type"].startswith("text/xml")
    with pytest.raises(RateUnavailable):
        parse_ecb_xml(garbage.content)
    assert (await status(http))["requests"] == 2


async def test_jump_moves_one_rate_by_a_quarter_keeping_its_decimals(
    http: httpx.AsyncClient,
) -> None:
    assert (await switch(http, mode="jump")).status_code == 200
    body = (await http.get(FEED_PATH)).content
    assert b"<Cube currency='CNY' rate='8.5119'/>" in body  # 6.8095 x 1.25 = 8.511875
    jumped = parse_ecb_xml(body)
    thb = get_currency("THB")
    assert jumped.mid_rate(EUR, thb).rate == SHIPPED.mid_rate(EUR, thb).rate

    assert (await switch(http, mode="jump", currency="KRW")).status_code == 200
    body = (await http.get(FEED_PATH)).content
    assert b"rate='1652.01'" in body  # 1321.61 x 1.25 = 1652.0125
    assert b"<Cube currency='CNY' rate='6.8095'/>" in body


async def test_slow_waits_then_answers_normally(http: httpx.AsyncClient) -> None:
    assert (await switch(http, mode="slow", slow_seconds=0.3)).status_code == 200
    started = time.monotonic()
    answer = await http.get(FEED_PATH)
    assert time.monotonic() - started >= 0.3
    assert answer.status_code == 200
    assert parse_ecb_xml(answer.content).published_at == FRIDAY


async def test_a_slow_answer_can_be_cancelled(clock: ManualClock) -> None:
    feed = RateFeed(clock, allow_switches=True)
    feed.switch(b'{"mode": "slow", "slow_seconds": 60}')
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(feed.respond(make_mocked_request("GET", FEED_PATH)), 0.1)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"mode": "sideways"}',
        b'{"mode": "slow", "slow_seconds": -1}',
        b'{"mode": "jump", "currency": "XAU"}',
        b'{"mode": "normal", "extra": 1}',
        b"{}",
    ],
)
async def test_a_bad_switch_is_400_and_changes_nothing(
    http: httpx.AsyncClient, body: bytes
) -> None:
    answer = await http.post("/_sandbox/fx_feed", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["type"] == "invalid_request"
    assert (await status(http))["mode"] == "normal"


async def test_switches_are_refused_unless_allowed(clock: ManualClock) -> None:
    async for _, http in _served(RateFeed(clock)):
        refused = await switch(http, mode="stale")
        assert refused.status_code == 403
        assert refused.json() == {
            "error": {
                "type": "forbidden",
                "message": "rate-feed switches are not allowed on this sandbox",
            }
        }
        assert (await status(http))["mode"] == "normal"
        assert (await http.get(FEED_PATH)).status_code == 200
