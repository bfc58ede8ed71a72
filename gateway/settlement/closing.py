"""Closing settlement batches: atomically, once, with their lines frozen and their file hashed.

`close_batch` runs one transaction on the writer engine (`storage.settlement_batches`, not
through the group-commit writer: a large batch must not hold up payments queued behind it on
PostgreSQL; on SQLite the transaction is `BEGIN IMMEDIATE` like every write):
1. the key's advisory lock, exclusively (PostgreSQL): a late line being committed for that day
   either finishes first and is frozen with the rest, or waits and is dated to the next open day
   (`storage.settlement.next_open_dates`);
2. the batch row, inserted unless its unique (type, owner, currency, business date) is there:
   if it is, someone closed it first, and nothing else happens. Two processes closing the same
   batch at once: the second waits for the first's commit, then finds the row. So a batch
   closes exactly once;
3. its lines read once, in file order (one statement; on PostgreSQL a server-side cursor on a
   second connection that has the closing transaction's snapshot), a page at a time: each page
   rendered into the file (`csvfile.LineRenderer`) and frozen into `settlement_lines` (a binary
   `COPY` on PostgreSQL, run behind the rendering of the next page), then the `total` row after
   them, with the totals summed from the same lines;
4. the file, as it fills, stored in parts of about a mebibyte (`settlement_file_parts`), its
   SHA-256 and size on the row with the totals (memory: a few pages of lines and parts, however
   long the batch): rendered once, every download and export streams them;
5. for a merchant batch, the `settlement.closed` event (the Batch object, `file` included) in the
   outbox. Partner batches have no merchant to notify and emit none: operators list them.

`settle_day` is `gateway settle`: every open batch of a day (of one merchant or partner, or all),
each closed only once its cut-off + grace has passed in its owner's zone, unless forced.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from gateway.core.config import Settings
from gateway.events.model import EventType, event_row
from gateway.settlement import csvfile
from gateway.settlement.model import (
    BatchKey,
    BatchType,
    ClosedBatch,
    Totals,
    batch_view,
    closable_at,
    parse_cutoff,
)
from gateway.storage import merchants as merchants_repo
from gateway.storage import settlement_batches as closed_repo
from gateway.storage import settlement_lines as lines_repo
from gateway.storage.db import Database

if TYPE_CHECKING:
    from gateway.wire.settlements import SettlementBatch

__all__ = [
    "Closed",
    "OwnerClocks",
    "Settled",
    "claim_of",
    "close_batch",
    "settle_day",
]

log = logging.getLogger(__name__)

FILE_PART_BYTES = 1 << 20
"""The file is stored in parts of at least this many bytes (the last one may be shorter)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Closed:
    key: BatchKey
    batch: ClosedBatch
    """The batch as stored."""
    newly: bool
    """True if this call closed it; False if it was closed already."""

    @property
    def view(self) -> SettlementBatch:
        return batch_view(self.key, self.batch.totals, self.batch)


def claim_of(key: BatchKey, *, forced: bool, closed_by: str, now: datetime) -> ClosedBatch:
    """The row a close claims its batch with before it has read a line: no totals, no file yet
    (the close fills them in; a racing close that finds it returns it)."""
    return ClosedBatch(
        key=key,
        totals=Totals(),
        file_sha256="",
        file_bytes=0,
        file_format=csvfile.FORMAT,
        forced=forced,
        closed_by=closed_by,
        closed_at=now,
    )


async def close_batch(
    db: Database,
    key: BatchKey,
    *,
    now: datetime,
    closed_by: str,
    forced: bool = False,
    page_rows: int = 1000,
) -> Closed:
    """Close the batch of `key` (see the module's steps); idempotent, and safe to race."""
    merchant = key.type is BatchType.MERCHANT
    placeholder = claim_of(key, forced=forced, closed_by=closed_by, now=now)
    async with closed_repo.closing_batch(db, key) as closing:
        existing = await closing.claim(placeholder)
        if existing is not None:
            return Closed(key, existing, newly=False)
        renderer = csvfile.LineRenderer(placeholder.file_format)
        sums = _Sums()
        digest = csvfile.FileDigest()
        parts = 0
        part = bytearray(csvfile.header(placeholder.file_format).encode())
        async for page in closing.lines(page_rows=page_rows):
            part += renderer.render(page, closed_repo.FIELDS_FROM).encode()
            sums.add(page, closed_repo.FIELDS_FROM)
            await closing.freeze(page)
            if len(part) >= FILE_PART_BYTES:
                parts += 1
                await closing.store_part(parts, digest.feed(part))
        total = sums.total_line(key.currency)
        await closing.freeze_total(sums.lines + 1, total)
        part += csvfile.render_line(total, placeholder.file_format).encode()
        parts += 1
        await closing.store_part(parts, digest.feed(part))
        totals = sums.totals()
        batch = dataclasses.replace(
            placeholder, totals=totals, file_sha256=digest.hexdigest, file_bytes=digest.bytes
        )
        event = None
        if merchant:
            event = event_row(
                EventType.SETTLEMENT_CLOSED,
                merchant_id=key.owner,
                data=batch_view(key, totals, batch),
                now=now,
            )
        await closing.finish(batch, event)
    log.info(
        "settlement: closed %s as %s: %d lines, net %d, sha256 %s%s",
        key.describe(),
        key.id,
        totals.lines,
        totals.net,
        digest.hexdigest,
        " (forced before its cut-off + grace)" if forced else "",
    )
    return Closed(key, batch, newly=True)


_RECORD_TYPE = csvfile.LINE_FIELDS.index("record_type")
_AMOUNT = csvfile.LINE_FIELDS.index("amount")
_FEE = csvfile.LINE_FIELDS.index("fee")
_NET = csvfile.LINE_FIELDS.index("net")


class _Sums:
    """The batch's totals, summed page by page over the lines as they are frozen."""

    def __init__(self) -> None:
        self.lines = self.payments = self.payments_amount = 0
        self.amount = self.fees = self.net = 0

    def add(self, rows: Sequence[Sequence[Any]], start: int) -> None:
        types = [row[start + _RECORD_TYPE] for row in rows]
        amounts = [row[start + _AMOUNT] for row in rows]
        self.lines += len(rows)
        self.payments += types.count("payment")
        self.payments_amount += sum(
            amount for kind, amount in zip(types, amounts, strict=True) if kind == "payment"
        )
        self.amount += sum(amounts)
        self.fees += sum(row[start + _FEE] for row in rows)
        self.net += sum(row[start + _NET] for row in rows)

    def totals(self) -> Totals:
        return Totals(
            payments_count=self.payments,
            payments_amount=self.payments_amount,
            refunds_count=self.lines - self.payments,
            refunds_amount=self.payments_amount - self.amount,
            fees=self.fees,
            net=self.net,
        )

    def total_line(self, currency: str) -> dict[str, Any]:
        """The `total` row: its `id` is the number of lines above it, its amounts their sums."""
        line: dict[str, Any] = dict.fromkeys(csvfile.LINE_FIELDS)
        line.update(
            record_type="total",
            object_id=str(self.lines),
            currency=currency,
            amount=self.amount,
            fee=self.fees,
            net=self.net,
        )
        return line


# --- owners' business days ---------------------------------------------------------------------


class OwnerClocks:
    """Each owner's zone and cut-off: merchants from the database, partners from the config.
    Remembers what it read (one instance per pass)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        self._merchants: dict[str, tuple[ZoneInfo, time] | None] = {}

    async def of(self, key: BatchKey) -> tuple[ZoneInfo, time] | None:
        """None for a partner no longer configured (its batches wait for `settle --force`)."""
        if key.type is BatchType.PARTNER:
            try:
                partner = self._settings.partner(key.owner)
            except KeyError:
                return None
            return partner.zone, partner.cutoff
        if key.owner not in self._merchants:
            clock = await merchants_repo.merchant_clock(self._db, key.owner)
            self._merchants[key.owner] = (
                None if clock is None else (ZoneInfo(clock[0]), parse_cutoff(clock[1]))
            )
        return self._merchants[key.owner]

    async def closable_at(self, key: BatchKey, grace: timedelta) -> datetime | None:
        clock = await self.of(key)
        return None if clock is None else closable_at(key.business_date, *clock, grace)


# --- on demand ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Settled:
    """What `settle_day` did with one batch."""

    key: BatchKey
    outcome: Literal["closed", "already_closed", "not_due", "unknown_owner"]
    batch: ClosedBatch | None = None
    due_at: datetime | None = None

    def describe(self) -> str:
        what = f"{self.key.describe()} ({self.key.id})"
        if self.outcome == "not_due":
            assert self.due_at is not None
            return f"not yet due: {what}: cut-off + grace at {self.due_at.isoformat()}"
        if self.outcome == "unknown_owner":
            return f"skipped: {what}: its owner's zone is unknown (use --force)"
        assert self.batch is not None
        verb = "closed" if self.outcome == "closed" else "already closed"
        return (
            f"{verb}: {what}: {self.batch.line_count} lines, net {self.batch.totals.net} "
            f"(minor units), sha256 {self.batch.file_sha256}"
        )


async def settle_day(
    db: Database,
    settings: Settings,
    *,
    day: date,
    now: datetime,
    closed_by: str,
    merchant_id: str | None = None,
    partner: str | None = None,
    force: bool = False,
) -> list[Settled]:
    """Close every open batch of `day` (of one merchant's or partner's, if given) whose cut-off
    + grace has passed, or all of them with `force`; report those closed already too."""
    kinds = [BatchType.MERCHANT, BatchType.PARTNER]
    if merchant_id is not None:
        kinds, owner = [BatchType.MERCHANT], merchant_id
    elif partner is not None:
        kinds, owner = [BatchType.PARTNER], partner
    else:
        owner = None
    clocks = OwnerClocks(db, settings)
    grace = settings.durations.settlement_grace
    results: list[Settled] = []
    for kind in kinds:
        # Open batches first, closed ones after: a batch another process closes in between is
        # then either closed here ("already closed") or listed as closed, never missed.
        for key in await lines_repo.open_keys(
            db, kind, lines_repo.LineFilter(day=day, owner=owner)
        ):
            due = await clocks.closable_at(key, grace)
            if not force and due is None:
                results.append(Settled(key, "unknown_owner"))
                continue
            if not force and due is not None and now < due:
                results.append(Settled(key, "not_due", due_at=due))
                continue
            closed = await close_batch(
                db, key, now=now, closed_by=closed_by, forced=due is None or now < due
            )
            results.append(
                Settled(key, "closed" if closed.newly else "already_closed", closed.batch)
            )
        seen = {result.key for result in results}
        done = await closed_repo.list_closed(
            db,
            kind=kind,
            day=day,
            merchant_id=owner if kind is BatchType.MERCHANT else None,
            limit=1_000_000,
            starting_after=None,
        )
        for batch in done:
            if (owner is None or batch.key.owner == owner) and batch.key not in seen:
                results.append(Settled(batch.key, "already_closed", batch))
    return results
