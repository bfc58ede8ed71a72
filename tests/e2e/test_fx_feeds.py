"""Live rates over real HTTP: the gateway fetches the sandboxes' ECB-layout feeds, refuses
stale, broken and jumping ones, falls back in priority order, and never prices from an old set.

Two feeds, switched independently: "ecb" on th-siampay's sandbox (primary) and "backup" on
kr-hanapay's (fallback). The sandbox feed carries the shipped 2022 file's rates, dated at the
last ECB publication, so payer amounts are those of every other test.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import sqlalchemy as sa

import fx
from adapters import SystemClock, new_http_client
from gateway.core.config import Settings
from gateway.core.config.sections import RateSourceSettings
from gateway.core.metrics import Metrics
from gateway.rates.refresher import RateRefresher, rate_book
from gateway.sandboxes import RunningSandboxes
from gateway.storage.db import open_database
from gateway.storage.writer import GroupCommitWriter
from tests.conftest import DATABASES, own_database
from tests.e2e.conftest import Gateway, code, start_gateway_app
from tests.support.seeding import SHOPS, seed
from tests.support.waiting import eventually

PRIMARY, FALLBACK = "th-siampay", "kr-hanapay"
FEED = "/fx/eurofxref-daily.xml"
QUOTE = {"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"}

StartGateway = Callable[..., Awaitable[Gateway]]


def _sources(running: RunningSandboxes, **primary: Any) -> list[RateSourceSettings]:
    return [
        RateSourceSettings(name="ecb", kind="ecb_xml", url=running.urls[PRIMARY] + FEED, **primary),
        RateSourceSettings(name="backup", kind="ecb_xml", url=running.urls[FALLBACK] + FEED),
    ]


def _with_fx(settings: Settings, sources: list[RateSourceSettings], **fx_cfg: Any) -> Settings:
    update = {"sources": sources, "refresh_interval": timedelta(milliseconds=200), **fx_cfg}
    return settings.model_copy(update={"fx": settings.fx.model_copy(update=update)})


async def _switch(running: RunningSandboxes, partner: str, mode: str, **options: Any) -> None:
    """Set the feed's mode (and its options: `slow_seconds`, `currency`)."""
    body = {"mode": mode, **options}
    async with (
        aiohttp.ClientSession() as session,
        session.post(running.urls[partner] + "/_sandbox/fx_feed", json=body) as answer,
    ):
        assert answer.status == 200, await answer.text()


async def _feed_counters(running: RunningSandboxes, partner: str) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(running.urls[partner] + "/_sandbox/fx_feed") as answer,
    ):
        body: dict[str, Any] = await answer.json()
        return body


async def _sources_ready(gateway: Gateway) -> dict[str, Any]:
    answer = await gateway.request("GET", "/readyz", key=None)
    fx_checks: dict[str, Any] = answer.body["checks"]["fx"]
    return fx_checks


async def _quote(gateway: Gateway, **body: Any) -> Any:
    return await gateway.request(
        "POST", "/v1/fx/quotes", json=body or QUOTE, idempotency_key=secrets.token_hex(8)
    )


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database per test: the rate sets and feed schedules one test stores are not another's."""
    yield from own_database(request)


@pytest.fixture
async def start_gateway(
    sandboxes_and_env: tuple[Settings, dict[str, str], RunningSandboxes],
) -> AsyncIterator[StartGateway]:
    """Start the gateway with these feeds (after setting their modes), once the book holds
    what the first fetches brought."""
    settings, env, running = sandboxes_and_env
    runners: list[Any] = []
    async with aiohttp.ClientSession() as session:

        async def start(*, modes: dict[str, str] | None = None, **fx_cfg: Any) -> Gateway:
            for partner, mode in (modes or {}).items():
                await _switch(running, partner, mode)
            configured = _with_fx(settings, _sources(running), **fx_cfg)
            seeded = await seed(configured.database.url, SHOPS)
            runner, url = await start_gateway_app(configured, env)
            runners.append(runner)
            gateway = Gateway(url, configured, env, session, running, seeded.keys, seeded.merchants)
            # both feeds answered once (a set, or a refusal on the schedule row)
            await eventually(lambda: _both_fetched(configured), timeout=10)
            return gateway

        try:
            yield start
        finally:
            for runner in runners:
                await runner.cleanup()


async def _both_fetched(settings: Settings) -> bool:
    db = open_database(settings.database.url)
    try:
        async with db.reader.connect() as conn:
            answered = "fetched_at IS NOT NULL OR error_at IS NOT NULL"
            rows = await conn.execute(sa.text(f"SELECT count(*) FROM rate_feeds WHERE {answered}"))
            return rows.scalar_one() == 2
    finally:
        await db.dispose()


def _last_publication() -> datetime:
    return fx.EcbCalendar().last_publication(datetime.now(UTC))


async def test_fresh_feed_prices_the_quote_and_the_quote_names_its_set(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    answer = await _quote(gateway)
    assert answer.status == 201, answer.body
    quote = answer.body
    assert quote["rate_source"] == "ecb"
    published = _last_publication()
    assert datetime.fromisoformat(quote["rate_as_of"]) == published
    assert published.astimezone(ZoneInfo("Europe/Berlin")).hour == 16
    # the same rates as the shipped file: the same mid as every other test
    shipped = fx.parse_ecb_xml(fx.default_ecb_file().read_bytes())
    assert Decimal(quote["mid_rate"]) == shipped.mid_rate("THB", "CNY").rate
    checks = await _sources_ready(gateway)
    assert checks["ecb"]["fresh"] is True and checks["ecb"]["rate_set"] == quote["rate_set"]
    assert quote["rate_set"].startswith("rs_")


async def test_stale_primary_falls_back_and_the_quote_names_the_fallback(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(modes={PRIMARY: "stale"})
    checks = await _sources_ready(gateway)
    assert checks["ecb"]["fresh"] is False and checks["ecb"]["rate_set"] is not None
    assert checks["backup"]["fresh"] is True
    answer = await _quote(gateway)
    assert answer.status == 201, answer.body
    assert answer.body["rate_source"] == "backup"
    assert answer.body["rate_set"] == checks["backup"]["rate_set"]


async def test_every_source_stale_refuses_and_writes_nothing(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(modes={PRIMARY: "stale", FALLBACK: "stale"})
    key = secrets.token_hex(8)
    refused = await gateway.request("POST", "/v1/fx/quotes", json=QUOTE, idempotency_key=key)
    assert refused.status == 503 and refused.error == "rate_unavailable", refused.body
    assert refused.headers.get("Retry-After")
    message = refused.body["error"]["message"]
    assert "ecb:" in message and "backup:" in message and "stale" in message
    paid = await gateway.pay(code("28", "0000"))
    assert paid.status == 503 and paid.error == "rate_unavailable"
    shown = await gateway.read("/v1/fx/rates")
    assert shown["rates"] == [] and {u["currency"] for u in shown["unavailable"]} >= {"CNY"}
    assert all("went stale" in u["reason"] for u in shown["unavailable"])
    assert gateway.ledger().payments == {}  # no partner was called
    db = open_database(gateway.settings.database.url)
    try:
        async with db.reader.connect() as conn:
            for table in ("quotes", "payments", "idempotency_keys"):
                count = await conn.execute(sa.text(f"SELECT count(*) FROM {table}"))
                assert count.scalar_one() == 0, table
    finally:
        await db.dispose()
    # once a feed is fresh again, the same key prices the sale: nothing was used up
    await _switch(gateway.sandboxes, FALLBACK, "normal")
    await eventually(lambda: _fresh(gateway, "backup"), timeout=10)
    retried = await gateway.request("POST", "/v1/fx/quotes", json=QUOTE, idempotency_key=key)
    assert retried.status == 201 and retried.body["rate_source"] == "backup", retried.body


async def _fresh(gateway: Gateway, source: str) -> bool:
    return bool((await _sources_ready(gateway))[source]["fresh"])


async def test_garbage_and_jumps_are_refused_logged_and_not_used(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="gateway.rates.refresher")
    gateway = await start_gateway(modes={PRIMARY: "garbage"})
    checks = await _sources_ready(gateway)
    assert checks["ecb"]["rate_set"] is None  # never a set from garbage
    assert any("rate source ecb: failed" in r.getMessage() for r in caplog.records)
    assert (await _quote(gateway)).body["rate_source"] == "backup"

    await _switch(gateway.sandboxes, PRIMARY, "normal")
    await eventually(lambda: _fresh(gateway, "ecb"), timeout=10)
    held = (await _sources_ready(gateway))["ecb"]["rate_set"]
    caplog.clear()
    await _switch(gateway.sandboxes, PRIMARY, "jump")  # CNY x 1.25, beyond the 10 % band
    await eventually(
        lambda: any("CNY moved 25.00 %" in r.getMessage() for r in caplog.records), timeout=10
    )
    assert (await _sources_ready(gateway))["ecb"]["rate_set"] == held
    quote = await _quote(gateway)
    assert quote.body["rate_source"] == "ecb" and quote.body["rate_set"] == held


async def test_a_feed_slower_than_the_timeout_fails_and_the_book_keeps_its_set(
    start_gateway: StartGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Each attempt gives up after `fx.fetch_timeout` (short here); the fetch fails (logged,
    counted, kept on the schedule row) and the held set keeps pricing while it is fresh: no
    fallback to the backup source."""
    caplog.set_level(logging.ERROR, logger="gateway.rates.refresher")
    gateway = await start_gateway(fetch_timeout=timedelta(milliseconds=300))
    held = (await _sources_ready(gateway))["ecb"]["rate_set"]
    assert held is not None
    failed_before = await _fetches(gateway, "ecb", "failed")
    requests_before = (await _feed_counters(gateway.sandboxes, PRIMARY))["requests"]
    caplog.clear()
    await _switch(gateway.sandboxes, PRIMARY, "slow", slow_seconds=1.0)  # over 3 x the timeout
    try:
        await eventually(
            lambda: any(
                "rate source ecb: failed: ecb: no answer within 0.3s (after 3 attempts)"
                in r.getMessage()
                for r in caplog.records
            ),
            timeout=20,
        )
        assert await _fetches(gateway, "ecb", "failed") > failed_before
        assert (await _feed_counters(gateway.sandboxes, PRIMARY))["requests"] >= (
            requests_before + 3  # every attempt was made, and each one gave up
        )
        error = await eventually(lambda: _feed_error(gateway, "ecb"), timeout=10)  # its commit
        assert error.startswith("failed: ecb: no answer within 0.3s"), error
        checks = await _sources_ready(gateway)
        assert (checks["ecb"]["fresh"], checks["ecb"]["rate_set"]) == (True, held)
        quote = await _quote(gateway)  # while the feed keeps hanging
        assert quote.status == 201, quote.body
        assert (quote.body["rate_source"], quote.body["rate_set"]) == ("ecb", held)
    finally:
        await _switch(gateway.sandboxes, PRIMARY, "normal")


async def _fetches(gateway: Gateway, source: str, outcome: str) -> float:
    """`gateway_fx_fetches_total` of this source and outcome on `/metrics` (0 if none yet)."""
    async with gateway.session.get(gateway.url + "/metrics") as answer:
        text = await answer.text()
    sample = f'gateway_fx_fetches_total{{outcome="{outcome}",source="{source}"}} '
    for line in text.splitlines():
        if line.startswith(sample):
            return float(line.removeprefix(sample))
    return 0.0


async def _feed_error(gateway: Gateway, source: str) -> str | None:
    """The error the last fetch of `source` left on its schedule row."""
    db = open_database(gateway.settings.database.url)
    try:
        async with db.reader.connect() as conn:
            rows = await conn.execute(
                sa.text("SELECT error FROM rate_feeds WHERE source = :source"), {"source": source}
            )
            error: str | None = rows.scalar_one()
            return error
    finally:
        await db.dispose()


async def test_a_refresh_leaves_an_outstanding_quote_and_its_payment_untouched(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(max_move_bps=5000)  # the jump is accepted here
    before = (await _quote(gateway)).body
    await _switch(gateway.sandboxes, PRIMARY, "jump")
    await eventually(lambda: _set_changed(gateway, "ecb", before["rate_set"]), timeout=10)
    after = (await _quote(gateway)).body
    assert after["rate_set"] != before["rate_set"]
    assert Decimal(after["mid_rate"]) > Decimal(before["mid_rate"])  # CNY up 25 %
    again = await gateway.read(f"/v1/fx/quotes/{before['id']}")
    assert again == before
    paid = await gateway.pay(code("28", "0000"), 125050, quote_id=before["id"])
    assert paid.status == 201, paid.body
    assert paid.body["payer_amount"] == before["payer_amount"]
    assert paid.body["quote"]["id"] == before["id"]


async def _set_changed(gateway: Gateway, source: str, old: str) -> bool:
    held = (await _sources_ready(gateway))[source]["rate_set"]
    return held is not None and held != old


async def test_two_processes_fetch_once_per_interval(
    sandboxes_and_env: tuple[Settings, dict[str, str], RunningSandboxes],
) -> None:
    """Two refreshers, each with its own engines (as two processes have), on one database."""
    settings, _env, running = sandboxes_and_env
    configured = _with_fx(settings, _sources(running)[:1], refresh_interval=timedelta(hours=1))
    clock = _Clock(datetime.now(UTC))
    opened = []
    refreshers = []
    books = []
    async with new_http_client() as http:
        try:
            for owner in ("process-a", "process-b"):
                db = open_database(configured.database.url)
                writer = GroupCommitWriter(db.writer)
                await writer.start()
                opened.append((db, writer))
                books.append(rate_book(configured))
                refresher = RateRefresher(
                    settings=configured,
                    db=db,
                    writer=writer,
                    book=books[-1],
                    http=http,
                    clock=clock,
                    metrics=Metrics(),
                    owner=owner,
                )
                await refresher.prepare()
                refreshers.append(refresher)
            start = (await _feed_counters(running, PRIMARY))["requests"]
            for _ in range(5):
                reports = [await r.refresh() for r in refreshers]
                assert sum(len(r) for r in reports) <= 1
            assert (await _feed_counters(running, PRIMARY))["requests"] == start + 1
            clock.now_value += timedelta(minutes=59)
            for r in refreshers:
                assert await r.refresh() == []
            assert (await _feed_counters(running, PRIMARY))["requests"] == start + 1
            clock.now_value += timedelta(minutes=2)
            reports = [await r.refresh() for r in refreshers]
            assert [len(r) for r in reports] in ([1, 0], [0, 1])
            [report] = reports[0] or reports[1]
            assert report.outcome == "unchanged"  # a conditional request: 304
            counters = await _feed_counters(running, PRIMARY)
            assert counters["requests"] == start + 2 and counters["not_modified"] >= 1
            # both books hold the one stored set, whichever process fetched it
            held = {book.current("ecb") for book in books}
            assert len(held) == 1 and None not in held
        finally:
            for db, writer in opened:
                await writer.stop()
                await db.dispose()


class _Clock(SystemClock):
    def __init__(self, now: datetime) -> None:
        self.now_value = now

    def now(self) -> datetime:
        return self.now_value


async def test_a_partners_own_rates_price_and_a_wrong_signature_is_refused(
    sandboxes_and_env: tuple[Settings, dict[str, str], RunningSandboxes],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An ECB feed gone stale, then th-siampay's own rates (its `fx_rates`) as the fallback."""
    caplog.set_level(logging.INFO, logger="gateway.rates.refresher")
    settings, env, running = sandboxes_and_env
    await _switch(running, FALLBACK, "stale")
    sources = [
        RateSourceSettings(name="ecb", kind="ecb_xml", url=running.urls[FALLBACK] + FEED),
        RateSourceSettings(name="siampay", kind="partner", partner=PRIMARY, base="THB"),
    ]
    configured = _with_fx(settings, sources)
    seeded = await seed(configured.database.url, SHOPS)
    runner, url = await start_gateway_app(configured, env)
    try:
        async with aiohttp.ClientSession() as session:
            gateway = Gateway(url, configured, env, session, running, seeded.keys, seeded.merchants)
            await eventually(lambda: _fresh(gateway, "siampay"), timeout=10)
            quote = (await _quote(gateway)).body
            assert quote["rate_source"] == "siampay"
            shipped = fx.parse_ecb_xml(fx.default_ecb_file().read_bytes())
            assert Decimal(quote["mid_rate"]) == shipped.mid_rate("THB", "CNY").rate
            held = quote["rate_set"]
            await _switch(running, PRIMARY, "bad_signature")
            await eventually(
                lambda: any(
                    "rate source siampay: failed" in r.getMessage()
                    and "th-siampay" in r.getMessage()
                    for r in caplog.records
                ),
                timeout=10,
            )
            assert (await _sources_ready(gateway))["siampay"]["rate_set"] == held
            again = (await _quote(gateway)).body
            assert (again["rate_source"], again["rate_set"]) == ("siampay", held)
    finally:
        await runner.cleanup()
