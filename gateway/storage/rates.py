"""SQL of rate sets and of the fetched sources' shared schedule.

A rate set row is written once (its id is a hash of its content: a second insert of the same
publication, from this process or another, does nothing). A fetched source's `rate_feeds` row
is its lease: the process that moves `next_fetch_at` past now is the one that fetches, so every
process sharing the database together fetches a source once per interval.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

import fx
from gateway.storage.db import Database
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "FeedClaim",
    "FeedRecord",
    "claim_feed",
    "ensure_feeds",
    "feed_records",
    "finish_feed",
    "get_rate_set",
    "latest_rate_sets",
    "save_rate_set",
]

rate_sets = metadata.tables["rate_sets"]
rate_feeds = metadata.tables["rate_feeds"]


@dataclass(frozen=True, slots=True)
class FeedClaim:
    """A fetch this process may make now, with the last answer's validators."""

    source: str
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class FeedRecord:
    source: str
    next_fetch_at: datetime
    fetched_at: datetime | None
    error: str | None
    error_at: datetime | None


def _insert_ignoring_duplicates(conn: AsyncConnection, table: sa.Table) -> sa.Insert:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]


def save_rate_set(rate_set: fx.RateSet, fetched_at: datetime) -> Unit[bool]:
    """Store `rate_set` unless it is stored already; True when this call stored it."""

    async def unit(conn: AsyncConnection) -> bool:
        rates = {code: fx.format_rate(rate) for code, rate in rate_set.rates.items()}
        result = await conn.execute(
            _insert_ignoring_duplicates(conn, rate_sets).values(
                id=rate_set.id,
                source=rate_set.source,
                base=rate_set.base.code,
                published_at=rate_set.published_at,
                fetched_at=fetched_at,
                content_sha256=_sha256(rate_set),
                rates=json.dumps(rates, separators=(",", ":")),
            )
        )
        return result.rowcount == 1

    return unit


def _sha256(rate_set: fx.RateSet) -> str:
    return hashlib.sha256(rate_set.canonical()).hexdigest()


def _rate_set(row: sa.RowMapping) -> fx.RateSet:
    """A stored set, checked: the id recomputed from the content must be the stored one."""
    rates = {code: Decimal(text) for code, text in json.loads(row["rates"]).items()}
    rate_set = fx.RateSet(row["source"], fx.get_currency(row["base"]), rates, row["published_at"])
    if rate_set.id != row["id"]:
        raise ValueError(f"rate set {row['id']} does not match its content ({rate_set.id})")
    return rate_set


async def get_rate_set(db: Database, rate_set_id: str) -> fx.RateSet | None:
    async with db.reader.connect() as conn:
        row = (
            (await conn.execute(sa.select(rate_sets).where(rate_sets.c.id == rate_set_id)))
            .mappings()
            .first()
        )
    return None if row is None else _rate_set(row)


async def latest_rate_sets(db: Database, sources: Iterable[str]) -> dict[str, fx.RateSet]:
    """Each source's most recently published stored set."""
    found: dict[str, fx.RateSet] = {}
    async with db.reader.connect() as conn:
        for source in sources:
            stmt = (
                sa.select(rate_sets)
                .where(rate_sets.c.source == source)
                .order_by(rate_sets.c.published_at.desc(), rate_sets.c.fetched_at.desc())
                .limit(1)
            )
            row = (await conn.execute(stmt)).mappings().first()
            if row is not None:
                found[source] = _rate_set(row)
    return found


def ensure_feeds(sources: Sequence[str], now: datetime) -> Unit[None]:
    """A schedule row for each fetched source, due now when new."""

    async def unit(conn: AsyncConnection) -> None:
        for source in sources:
            await conn.execute(
                _insert_ignoring_duplicates(conn, rate_feeds).values(
                    source=source, next_fetch_at=now
                )
            )

    return unit


def claim_feed(
    source: str, *, owner: str, now: datetime, lease_until: datetime, force: bool = False
) -> Unit[FeedClaim | None]:
    """Take the source's next fetch if it is due (or `force`) and nobody holds a live lease."""

    async def unit(conn: AsyncConnection) -> FeedClaim | None:
        due = sa.true() if force else rate_feeds.c.next_fetch_at <= now
        result = await conn.execute(
            sa.update(rate_feeds)
            .where(
                rate_feeds.c.source == source,
                due,
                sa.or_(
                    rate_feeds.c.lease_expires_at.is_(None), rate_feeds.c.lease_expires_at < now
                ),
            )
            .values(lease_owner=owner, lease_expires_at=lease_until)
        )
        if result.rowcount != 1:
            return None
        row = (
            (await conn.execute(sa.select(rate_feeds).where(rate_feeds.c.source == source)))
            .mappings()
            .one()
        )
        return FeedClaim(source, row["etag"], row["last_modified"])

    return unit


def finish_feed(
    claim: FeedClaim,
    *,
    owner: str,
    now: datetime,
    next_fetch_at: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    error: str | None = None,
    rate_set: fx.RateSet | None = None,
) -> Unit[bool]:
    """Release the lease and schedule the next fetch; store `rate_set` (if any) in the same
    commit. An error keeps the last validators, so the next fetch can still be conditional.
    False when the lease was lost meanwhile (another process took it after it expired)."""

    async def unit(conn: AsyncConnection) -> bool:
        values: dict[str, object] = {
            "lease_owner": None,
            "lease_expires_at": None,
            "next_fetch_at": next_fetch_at,
        }
        if error is None:
            values.update(etag=etag, last_modified=last_modified, fetched_at=now, error=None)
        else:
            values.update(error=error[:500], error_at=now)
        result = await conn.execute(
            sa.update(rate_feeds)
            .where(rate_feeds.c.source == claim.source, rate_feeds.c.lease_owner == owner)
            .values(**values)
        )
        if result.rowcount != 1:
            return False
        if rate_set is not None:
            await save_rate_set(rate_set, now)(conn)
        return True

    return unit


async def feed_records(db: Database) -> list[FeedRecord]:
    async with db.reader.connect() as conn:
        result = await conn.execute(sa.select(rate_feeds).order_by(rate_feeds.c.source))
        return [
            FeedRecord(
                row["source"],
                row["next_fetch_at"],
                row["fetched_at"],
                row["error"],
                row["error_at"],
            )
            for row in result.mappings()
        ]
