"""Closes settlement batches on schedule: each at its day's cut-off + grace in its owner's zone.

Every `durations.settlement_poll_interval` (by `ctx.clock`, so tests move days forward without
waiting) the worker looks for batches that became due since its last look, and closes them
(`closing.close_batch`):
- a **due look**: for each owner (every merchant in the database, every configured partner),
  the business dates whose cut-off + `durations.settlement_grace` passed since the last look
  (usually none; one day when the owner's zone passes its cut-off), and for each such day the
  owner's open batches: one indexed query per (owner, day), once a day per owner;
- a **full look** at start and every `durations.settlement_rescan_interval`: every open batch
  with lines among the business dates of the last `durations.settlement_lookback`, closing
  those that are due. It catches what no due look can see: batches left open while no gateway
  ran, and a line dated into a day that was already due (a late commit racing the cut-off).

Any number of gateway processes may run it against one PostgreSQL database: a batch closes once
whoever gets there first; the others find it closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.context import Context
from gateway.settlement.closing import Closed, OwnerClocks, close_batch
from gateway.settlement.model import BatchKey, BatchType, latest_closable_date, parse_cutoff
from gateway.storage import merchants as merchants_repo
from gateway.storage import settlement_lines as lines_repo

__all__ = ["SettlementWorker"]

log = logging.getLogger(__name__)


class SettlementWorker:
    """Background task of the running gateway (`bootstrap.running_context`)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._task: asyncio.Task[None] | None = None
        self._looked_at: datetime | None = None
        self._full_at: float | None = None
        self._unknown: set[str] = set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._poll_forever(), name="settlement-worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _poll_forever(self) -> None:
        interval = self._ctx.settings.durations.settlement_poll_interval.total_seconds()
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive a database hiccup
                log.exception("settlement worker: closing due batches failed")
            await asyncio.sleep(interval)

    async def run_once(self, *, full: bool | None = None) -> list[Closed]:
        """One look (a full one when due, or if `full`); the batches it closed."""
        ctx = self._ctx
        durations = ctx.settings.durations
        now = ctx.clock.now()
        monotonic = asyncio.get_running_loop().time()
        if full is None:
            full = self._full_at is None or monotonic >= self._full_at
        since = (now - durations.settlement_lookback).astimezone(UTC).date()
        if full:
            closed = await self._full_look(now, since)
            self._full_at = monotonic + durations.settlement_rescan_interval.total_seconds()
        else:
            assert self._looked_at is not None
            closed = await self._due_look(self._looked_at, now, since)
        self._looked_at = now
        if any(c.key.type is BatchType.MERCHANT for c in closed):
            ctx.kick_webhooks()
        return closed

    async def _full_look(self, now: datetime, since: date) -> list[Closed]:
        ctx = self._ctx
        clocks = OwnerClocks(ctx.db, ctx.settings)
        closed: list[Closed] = []
        for kind in (BatchType.MERCHANT, BatchType.PARTNER):
            for key in await lines_repo.open_keys(ctx.db, kind, lines_repo.LineFilter(since=since)):
                due = await clocks.closable_at(key, ctx.settings.durations.settlement_grace)
                if due is None:
                    self._warn_unknown(key)
                elif now >= due:
                    closed += await self._close([key], now)
        return closed

    async def _due_look(self, before: datetime, now: datetime, since: date) -> list[Closed]:
        """Close the batches of every (owner, day) that became due in (before, now]."""
        ctx = self._ctx
        grace = ctx.settings.durations.settlement_grace
        owners: dict[tuple[str, time], list[tuple[BatchType, str]]] = {}
        for merchant_id, timezone, hhmm in await merchants_repo.merchant_clocks(ctx.db):
            group = (timezone, parse_cutoff(hhmm))
            owners.setdefault(group, []).append((BatchType.MERCHANT, merchant_id))
        for partner in ctx.settings.partners:
            owners.setdefault((partner.timezone, partner.cutoff), []).append(
                (BatchType.PARTNER, partner.id)
            )
        closed: list[Closed] = []
        for (zone_name, cutoff), members in owners.items():
            zone = ZoneInfo(zone_name)
            first = latest_closable_date(before, zone, cutoff, grace) + timedelta(days=1)
            last = latest_closable_date(now, zone, cutoff, grace)
            day = max(first, since)
            while day <= last:
                for kind, owner in members:
                    flt = lines_repo.LineFilter(day=day, owner=owner)
                    keys = await lines_repo.open_keys(ctx.db, kind, flt)
                    closed += await self._close(keys, now)
                day += timedelta(days=1)
        return closed

    async def _close(self, keys: list[BatchKey], now: datetime) -> list[Closed]:
        ctx = self._ctx
        results = [await close_batch(ctx.db, key, now=now, closed_by=ctx.owner) for key in keys]
        return [result for result in results if result.newly]

    def _warn_unknown(self, key: BatchKey) -> None:
        if key.owner not in self._unknown:
            self._unknown.add(key.owner)
            log.warning(
                "settlement: %s has open batches but is not configured; close them with "
                "`gateway settle --force`",
                key.owner,
            )
