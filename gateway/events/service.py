"""Reading the event outbox for the events API: one event, or a page of them.

Thin on purpose: the handlers decide who may see what; the rows come from
`gateway/storage/events.py`, and `model.event_view` makes them API objects. Asking for a
redelivery is `redeliver.py`.
"""

from __future__ import annotations

from typing import Any

from gateway.storage import events as repo
from gateway.storage.db import Database

__all__ = ["get_event", "list_events"]


async def get_event(db: Database, event_id: str) -> dict[str, Any] | None:
    """The stored event, or None."""
    return await repo.get_event(db, event_id)


async def list_events(
    db: Database,
    *,
    merchant_id: str | None,
    event_type: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[dict[str, Any]], bool]:
    """One merchant's events (all with `merchant_id` None), optionally of one type, newest
    first, a page of `limit`, and whether more follow."""
    return await repo.list_events(
        db,
        merchant_id=merchant_id,
        event_type=event_type,
        limit=limit,
        starting_after=starting_after,
    )
