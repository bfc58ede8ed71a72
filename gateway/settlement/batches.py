"""Reading settlement batches: closed ones from their rows, open ones computed live, and the
file of a closed batch streamed from its frozen lines.

Who sees what: a finance key (`merchant_id` given) sees its merchant's merchant batches only;
an operator (`merchant_id` None) sees every merchant's and every partner's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from gateway.settlement import csvfile
from gateway.settlement.model import (
    BatchKey,
    BatchType,
    ClosedBatch,
    batch_view,
    parse_batch_id,
)
from gateway.storage import settlement_batches as closed_repo
from gateway.storage import settlement_lines as lines_repo
from gateway.storage.db import Database

if TYPE_CHECKING:
    from gateway.wire.settlements import SettlementBatch

__all__ = ["Found", "file_chunks", "find_batch", "list_batches"]


@dataclasses.dataclass(frozen=True, slots=True)
class Found:
    key: BatchKey
    view: SettlementBatch
    closed: ClosedBatch | None
    """The batch as stored once closed; None while it is open."""


async def find_batch(db: Database, batch_id: str, *, merchant_id: str | None) -> Found | None:
    """The batch with this id if the caller may see it (else None, like an unknown id). An open
    batch exists while it has lines."""
    parsed = parse_batch_id(batch_id)
    if parsed is None:
        return None
    kind, day = parsed
    if merchant_id is not None and kind is not BatchType.MERCHANT:
        return None
    found = await _closed(db, batch_id, merchant_id)
    if found is not None:
        return found
    flt = lines_repo.LineFilter(day=day, owner=merchant_id)
    for key, totals in await lines_repo.live_batches(db, kind, flt):
        if key.id == batch_id:
            return Found(key, batch_view(key, totals, None), None)
    # It may have closed between the two reads (the live one leaves closed batches out).
    return await _closed(db, batch_id, merchant_id)


async def _closed(db: Database, batch_id: str, merchant_id: str | None) -> Found | None:
    closed = await closed_repo.get_batch(db, batch_id)
    if closed is None or (merchant_id is not None and closed.merchant_id != merchant_id):
        return None
    return Found(closed.key, batch_view(closed.key, closed.totals, closed), closed)


async def list_batches(
    db: Database,
    *,
    merchant_id: str | None,
    kind: BatchType | None,
    day: date | None,
    status: str | None,
    limit: int,
    starting_after: str | None,
    now: datetime,
    lookback: timedelta,
) -> tuple[list[SettlementBatch], bool]:
    """Batches newest day first (by id), a page of `limit`, and whether more follow.

    Open batches are those of `day`, or without one those of the last `lookback` days (older
    ones exist only while nobody closes them: ask for their day)."""
    kinds = [kind] if kind is not None else [BatchType.PARTNER, BatchType.MERCHANT]
    if merchant_id is not None:
        kinds = [k for k in kinds if k is BatchType.MERCHANT]
    # Live first, rows second: a batch closing in between shows up twice, and its row wins.
    views: dict[str, SettlementBatch] = {}
    if status != "closed":
        since = (now - lookback).astimezone(UTC).date()
        flt = lines_repo.LineFilter(day=day, since=None if day else since, owner=merchant_id)
        for kind_ in kinds:
            for key, totals in await lines_repo.live_batches(db, kind_, flt):
                if starting_after is None or key.id < starting_after:
                    views[key.id] = batch_view(key, totals, None)
    if status != "open":
        for closed in await closed_repo.list_closed(
            db,
            kind=kind,
            day=day,
            merchant_id=merchant_id,
            limit=limit + 1,
            starting_after=starting_after,
        ):
            if closed.key.type in kinds:
                views[closed.id] = batch_view(closed.key, closed.totals, closed)
    ordered = [views[i] for i in sorted(views, reverse=True)]
    return ordered[:limit], len(ordered) > limit


async def file_chunks(
    db: Database, batch: ClosedBatch, *, page_rows: int = 1000
) -> AsyncIterator[bytes]:
    """The closed batch's CSV as stored at closing, or (a batch closed before files were stored)
    rendered again: the header, then one chunk per page of frozen lines (the last
    page ends with the `total` row), in the layout it was closed with. The same bytes on every
    call, in any process."""
    stored = False
    async for part in closed_repo.file_parts(db, batch.id):
        stored = True
        yield part
    if stored:
        return
    # Closed before files were stored: rendered again from the frozen lines (the same bytes).
    layout = batch.file_format
    yield csvfile.header(layout).encode()  # ValueError for a layout this code does not know
    async for page in closed_repo.page_lines(db, batch.id, page_rows=page_rows):
        yield "".join(csvfile.render_line(line, layout) for line in page).encode()
