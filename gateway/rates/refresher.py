"""Keeps the rate book current: sources read at start-up, fetched sources on a shared schedule.

At start, the sets of `ecb_file` and `static` sources are built from the configuration and
stored (every quote references a stored set), and each source's latest stored set is put in the
book. Then, every poll (a tenth of `fx.refresh_interval`, between 50 ms and a minute):

1. for each fetched source whose shared schedule is due, the process that takes its lease
   (`storage/rates.claim_feed`) fetches it (conditionally), checks the answer and stores it with
   the next due time, in one commit: processes sharing a database fetch once per interval;
2. every process reloads each source's latest stored set into its book.

A fetched set is refused (logged, counted, the error kept on the schedule row; the book keeps
what it had) when it does not parse, is published in the future, or moves a rate more than
`fx.max_move_bps` against the source's previous set. A set published before the one held is
not an error (a feed behind a cache) and is not used; one published at the same time with other
rates is a correction, used once it passes the same checks. Staleness is the book's business
(`fx.RateBook`): a source that stops answering goes stale on its calendar, and quotes fall back
or are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import httpx

import fx
from adapters import Clock, RatesRequest, RatesUnavailable
from gateway.core.config import Settings
from gateway.core.config.sections import RateSourceSettings
from gateway.core.metrics import Metrics
from gateway.partners.calls import PartnerCalls
from gateway.rates.feeds import FeedError, Fetched, fetch_ecb_xml
from gateway.storage import rates as repo
from gateway.storage.db import Database
from gateway.storage.writer import GroupCommitWriter

__all__ = ["FetchReport", "RateRefresher", "configured_sets", "rate_book"]

log = logging.getLogger(__name__)

_BPS = Decimal(10_000)
_FUTURE = timedelta(days=1)  # more than clock skew: a set "published" later is a broken feed


def _calendar(source: RateSourceSettings) -> fx.PublicationCalendar | None:
    match source.stale_after:
        case "ecb":
            return fx.EcbCalendar(grace=source.grace)
        case "fixed":
            assert source.max_age is not None  # checked by the settings
            return fx.FixedAge(source.max_age)
        case "never":
            return None


def rate_book(settings: Settings) -> fx.RateBook:
    """An empty book with the configured sources, in priority order, and their calendars."""
    return fx.RateBook((source.name, _calendar(source)) for source in settings.fx.sources)


def configured_sets(settings: Settings) -> list[fx.RateSet]:
    """The sets of the sources read from the configuration (`ecb_file`, `static`)."""
    sets: list[fx.RateSet] = []
    for source in settings.fx.sources:
        if source.kind == "ecb_file":
            assert source.file is not None
            sets.append(fx.parse_ecb_xml(source.file.read_bytes(), source=source.name))
        elif source.kind == "static":
            assert source.rates is not None and source.as_of is not None
            eur = fx.get_currency("EUR")
            sets.append(fx.RateSet(source.name, eur, source.rates, source.as_of))
    return sets


@dataclass(frozen=True, slots=True)
class FetchReport:
    """What one fetch of one source did: `new`, `unchanged`, `older`, `refused` or `failed`
    (or `skipped`: not fetched here)."""

    source: str
    outcome: str
    rate_set: fx.RateSet | None = None
    detail: str = ""


_NO_PARTNERS = "a partner's rates are fetched by the running gateways (they hold its credentials)"


class RateRefresher:
    """Background task of the running gateway (`bootstrap.running_context`); `gateway fx
    refresh` calls `prepare()` and `refresh(force=True)` once. `owner` names this process in
    the feeds' leases; `partners` answers `partner` sources (without it, as on the command
    line, which has no partner credentials, they are left to the running gateways: `refresh`
    reports them `skipped` and takes no lease); `sleep` waits between a failed fetch's
    attempts."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        writer: GroupCommitWriter,
        book: fx.RateBook,
        http: httpx.AsyncClient,
        clock: Clock,
        metrics: Metrics,
        owner: str,
        partners: PartnerCalls | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._db = db
        self._writer = writer
        self._book = book
        self._http = http
        self._clock = clock
        self._metrics = metrics
        self._owner = owner
        self._sleep = sleep
        self._partners = partners
        self._fetched = [s for s in settings.fx.sources if s.fetched]
        self._task: asyncio.Task[None] | None = None

    async def prepare(self) -> None:
        """Store the configured sets, schedule the fetched sources, fill the book."""
        now = self._clock.now()
        for rate_set in configured_sets(self._settings):
            await self._writer.run(repo.save_rate_set(rate_set, now))
        if self._fetched:
            await self._writer.run(repo.ensure_feeds([s.name for s in self._fetched], now))
        await self.reload()

    async def start(self) -> None:
        await self.prepare()
        self._task = asyncio.create_task(self._poll_forever(), name="rate-refresher")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _poll_forever(self) -> None:
        interval = self._settings.fx.refresh_interval.total_seconds()
        poll = min(max(interval / 10, 0.05), 60.0)
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive a database hiccup
                log.exception("rate refresher: refresh failed")
            await asyncio.sleep(poll)

    async def reload(self) -> None:
        """Put each source's latest stored set in the book (another process may have fetched)."""
        for rate_set in (await repo.latest_rate_sets(self._db, self._book.sources)).values():
            self._book.install(rate_set)

    async def refresh(self, *, force: bool = False) -> list[FetchReport]:
        """Fetch every fetched source that is due (any, with `force`) and whose lease this
        process takes; then reload the book. The reports of the fetches this process made."""
        reports: list[FetchReport] = []
        for source in self._fetched:
            if source.kind == "partner" and self._partners is None:
                if force:
                    reports.append(FetchReport(source.name, "skipped", detail=_NO_PARTNERS))
                continue
            report = await self._refresh_one(source, force)
            if report is not None:
                reports.append(report)
        await self.reload()
        return reports

    async def _refresh_one(self, source: RateSourceSettings, force: bool) -> FetchReport | None:
        fx_cfg = self._settings.fx
        timeout = fx_cfg.fetch_timeout.total_seconds()
        now = self._clock.now()
        lease = now + fx_cfg.fetch_timeout * 4  # three attempts and their backoff
        claim = await self._writer.run(
            repo.claim_feed(source.name, owner=self._owner, now=now, lease_until=lease, force=force)
        )
        if claim is None:
            return None
        try:
            fetched = await self._fetch(source, claim, timeout)
            report = self._check(source.name, fetched.rate_set, self._clock.now())
        except FeedError as exc:
            report = FetchReport(source.name, "failed", detail=str(exc))
            fetched = None
        done = self._clock.now()
        failed = report.outcome in ("failed", "refused")
        if failed:
            log.error("rate source %s: %s: %s", source.name, report.outcome, report.detail)
        else:
            log.info("rate source %s: %s %s", source.name, report.outcome, report.detail)
        self._metrics.rate_fetches.labels(source.name, report.outcome).inc()
        await self._writer.run(
            repo.finish_feed(
                claim,
                owner=self._owner,
                now=done,
                next_fetch_at=done + fetch_interval(source, fx_cfg.refresh_interval),
                etag=None if fetched is None else fetched.etag,
                last_modified=None if fetched is None else fetched.last_modified,
                error=f"{report.outcome}: {report.detail}" if failed else None,
                rate_set=report.rate_set if report.outcome == "new" else None,
            )
        )
        return report

    async def _fetch(
        self, source: RateSourceSettings, claim: repo.FeedClaim, timeout: float
    ) -> Fetched:
        if source.kind == "partner":
            return await self._fetch_partner(source)
        assert source.url is not None
        return await fetch_ecb_xml(
            self._http,
            source.url,
            source=source.name,
            timeout=timeout,
            etag=claim.etag,
            last_modified=claim.last_modified,
            sleep=self._sleep,
        )

    async def _fetch_partner(self, source: RateSourceSettings) -> Fetched:
        """A partner's `fx_rates` for 1 `base` in its wallets' other currencies, as a set."""
        assert source.partner is not None and source.base is not None
        if self._partners is None or source.partner not in self._partners:
            raise FeedError(f"no adapter for partner {source.partner} in this process")
        quotes = sorted({c for c in self._settings.partner(source.partner).wallets.values()})
        request = RatesRequest(source.base, tuple(c for c in quotes if c != source.base))
        try:
            answer = await self._partners.rates(source.partner, request)
        except RatesUnavailable as exc:
            raise FeedError(f"partner {source.partner}: {exc.message}") from exc
        try:
            base = fx.get_currency(answer.base)
            rate_set = fx.RateSet(source.name, base, answer.rates, answer.published_at)
        except (fx.FXError, ValueError) as exc:
            raise FeedError(f"partner {source.partner}: unusable rates: {exc}") from exc
        return Fetched(rate_set, None, None)

    def _check(self, source: str, rate_set: fx.RateSet | None, now: datetime) -> FetchReport:
        held = self._book.current(source)
        if rate_set is None:
            return FetchReport(source, "unchanged", held, "304 not modified")
        if rate_set.published_at > now + _FUTURE:
            return FetchReport(
                source, "refused", detail=f"published in the future: {rate_set.published_at}"
            )
        if held is not None and rate_set.id == held.id:
            return FetchReport(source, "unchanged", held, f"{rate_set.id}")
        if held is not None and rate_set.published_at < held.published_at:
            return FetchReport(
                source, "older", detail=f"{rate_set.published_at} is before {held.published_at}"
            )
        if held is not None:
            move = fx.largest_move(held, rate_set)
            limit = Decimal(self._settings.fx.max_move_bps) / _BPS
            if move is not None and move[1] > limit:
                code, size = move
                return FetchReport(
                    source,
                    "refused",
                    detail=f"{code} moved {size * 100:.2f} % against {held.id} "
                    f"(limit {limit * 100:.2f} %)",
                )
        return FetchReport(source, "new", rate_set, f"{rate_set.id} of {rate_set.published_at}")


def fetch_interval(source: RateSourceSettings, refresh_interval: timedelta) -> timedelta:
    """How long after a fetch `source` is fetched again: `fx.refresh_interval`, but at least
    twice within a fixed `max_age` (a partner's 10-minute rates fetched every 15 minutes
    would be stale a third of the time)."""
    if source.max_age is None:
        return refresh_interval
    return min(refresh_interval, source.max_age / 2)
