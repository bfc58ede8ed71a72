"""A partner's own rates as a rate source (`[[fx.sources]] kind = "partner"`), its `fx_rates`
scripted: what the refresher asks, how an answer becomes the source's set, and how a failure
leaves the held set in the book until it goes stale (`max_age`, 10 minutes by default).

The refresher is the gateway's own (`gateway/rates/refresher.py`) over the services' database,
writer and `PartnerCalls`, with th-siampay's rates as the only source, in virtual time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

import fx
from adapters import Operation, PartnerRates, RatesRequest, RatesUnavailable
from gateway.core.config.sections import RateSourceSettings
from gateway.rates.refresher import RateRefresher, fetch_interval, rate_book
from tests.support.services import Services

PARTNER = "th-siampay"


@pytest.fixture
async def no_http() -> AsyncIterator[httpx.AsyncClient]:
    """The refresher's HTTP client: a partner source never uses it (its adapter does)."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"a partner source fetched {request.url} over plain HTTP")

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        yield http


def _refresher(
    services: Services, http: httpx.AsyncClient, *, with_partners: bool = True
) -> tuple[RateRefresher, fx.RateBook]:
    ctx = services.ctx
    source = RateSourceSettings(name="siampay", kind="partner", partner=PARTNER, base="THB")
    settings = ctx.settings.model_copy(
        update={"fx": ctx.settings.fx.model_copy(update={"sources": [source]})}
    )
    book = rate_book(settings)
    refresher = RateRefresher(
        settings=settings,
        db=ctx.db,
        writer=ctx.writer,
        book=book,
        http=http,
        clock=ctx.clock,
        metrics=ctx.metrics,
        owner=ctx.owner,
        partners=ctx.partners if with_partners else None,
    )
    return refresher, book


def _rates(services: Services, **rates: str) -> PartnerRates:
    published = services.ctx.clock.now() - timedelta(seconds=30)
    return PartnerRates(
        partner_id=PARTNER,
        base="THB",
        rates={code: Decimal(rate) for code, rate in rates.items()},
        published_at=published,
        expires_at=published + timedelta(minutes=10),
        raw=b"{}",
    )


async def test_a_partners_rates_become_the_sources_set(
    services: Services, no_http: httpx.AsyncClient
) -> None:
    partner = services.partner(PARTNER)
    answer = _rates(services, CNY="0.1861", KRW="36.11")
    partner.on(Operation.FX_RATES, answer)
    refresher, book = _refresher(services, no_http)
    await refresher.prepare()

    [report] = await refresher.refresh(force=True)

    assert (report.source, report.outcome) == ("siampay", "new")
    # 1 THB in each of th-siampay's wallets' other currencies (truemoney pays in THB)
    [call] = partner.asked(Operation.FX_RATES)
    assert call.request == RatesRequest("THB", ("CNY", "KRW"))
    assert call.at == services.time.clock.now()
    now = services.ctx.clock.now()
    mid = book.mid_rate("THB", "CNY", now)
    assert (mid.rate, mid.source, mid.as_of) == (Decimal("0.1861"), "siampay", answer.published_at)
    assert report.rate_set is not None and mid.rate_set == report.rate_set.id
    # a cross rate between two quotes of the partner's base
    assert book.mid_rate("CNY", "KRW", now).rate == fx.round_significant(
        Decimal("36.11") / Decimal("0.1861"), 10
    )


async def test_unavailable_rates_fail_the_fetch_and_the_held_set_prices_until_stale(
    services: Services, no_http: httpx.AsyncClient
) -> None:
    partner = services.partner(PARTNER)
    partner.on(
        Operation.FX_RATES,
        _rates(services, CNY="0.1861", KRW="36.11"),
        RatesUnavailable("HTTP 503 from the partner", http_status=503),
    )
    refresher, book = _refresher(services, no_http)
    await refresher.prepare()
    [first] = await refresher.refresh(force=True)
    held = book.current("siampay")
    assert first.outcome == "new" and held is not None

    services.time.advance(60)
    [failed] = await refresher.refresh(force=True)
    [again] = await refresher.refresh(force=True)  # the last answer repeats

    for report in (failed, again):
        assert (report.outcome, report.rate_set) == ("failed", None)
        assert report.detail == "partner th-siampay: HTTP 503 from the partner"
    assert partner.operations() == ["fx_rates"] * 3
    assert book.current("siampay") == held
    assert book.mid_rate("THB", "CNY", services.ctx.clock.now()).rate_set == held.id
    # the held set goes stale on its calendar: then no rate, and the reason says so
    services.time.advance(10 * 60)
    with pytest.raises(fx.RateUnavailable, match=r"siampay: rates published .* went stale"):
        book.mid_rate("THB", "CNY", services.ctx.clock.now())


def test_a_fixed_age_source_is_fetched_twice_within_its_max_age() -> None:
    fifteen = timedelta(minutes=15)
    partner = RateSourceSettings(name="siampay", kind="partner", partner=PARTNER, base="THB")
    assert partner.max_age == timedelta(minutes=10)
    assert fetch_interval(partner, fifteen) == timedelta(minutes=5)
    assert fetch_interval(partner, timedelta(minutes=1)) == timedelta(minutes=1)
    feed = RateSourceSettings(name="ecb", kind="ecb_xml", url="https://example.test/feed.xml")
    assert fetch_interval(feed, fifteen) == fifteen  # its calendar says when it is stale


async def test_without_partner_credentials_a_partner_source_is_left_to_the_gateways(
    services: Services, no_http: httpx.AsyncClient
) -> None:
    """`gateway fx refresh` has no adapters: it reports the source skipped, calls no partner
    and takes no lease, so a running gateway's next fetch is not pushed back."""
    partner = services.partner(PARTNER)
    partner.on(Operation.FX_RATES, _rates(services, CNY="0.1861"))
    gateway, _ = _refresher(services, no_http)
    cli, _ = _refresher(services, no_http, with_partners=False)
    await gateway.prepare()
    [report] = await cli.refresh(force=True)
    assert (report.outcome, report.source) == ("skipped", "siampay")
    assert await cli.refresh() == [] and partner.asked(Operation.FX_RATES) == []
    [fetched] = await gateway.refresh()  # due now: the skip left the schedule alone
    assert fetched.outcome == "new"
