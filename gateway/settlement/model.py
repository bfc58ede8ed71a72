"""Settlement batches as values: their keys, ids, business-day ends, totals and API view.

Pure: no I/O, no clock (callers pass `now`).

A batch is keyed by (type, owner, currency, business date):
- `merchant` batches: what the gateway owes a merchant, per (merchant id, merchant currency,
  merchant business date);
- `partner` batches: what a partner owes the gateway, per (partner id, payer currency, partner
  business date).

Ids are deterministic, so an open batch (computed live, no row yet) and the row written when it
closes answer to the same id: `stl_` + the business date (`YYYYMMDD`) + `m`/`p` + 23 characters of
SHA-256 over the key, 36 characters in all. Treat them as opaque; they sort newest day first.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import hashlib
import re
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from gateway.core.business_days import business_date, cutoff_instant
from gateway.core.render import rfc3339

if TYPE_CHECKING:
    from gateway.wire.common import Money
    from gateway.wire.settlements import SettlementBatch

__all__ = [
    "BatchKey",
    "BatchType",
    "ClosedBatch",
    "Totals",
    "batch_id",
    "batch_view",
    "closable_at",
    "day_end",
    "latest_closable_date",
    "parse_batch_id",
    "parse_business_date",
    "parse_cutoff",
]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_STANDARD.encode(), _ALPHABET.encode())
_ID = re.compile(r"stl_(\d{8})([mp])([0-9a-z]{23})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIDNIGHT = time(0, 0)


class BatchType(enum.StrEnum):
    MERCHANT = "merchant"
    PARTNER = "partner"


_LETTER = {BatchType.MERCHANT: "m", BatchType.PARTNER: "p"}


@dataclasses.dataclass(frozen=True, slots=True, order=True)
class BatchKey:
    """What a batch groups: its type, owner (merchant or partner id), currency and day."""

    type: BatchType
    owner: str
    currency: str
    business_date: date

    @property
    def id(self) -> str:
        return batch_id(self)

    @property
    def day(self) -> str:
        """The business date as stored (`YYYY-MM-DD`)."""
        return self.business_date.isoformat()

    def describe(self) -> str:
        return f"{self.type} {self.owner} {self.currency} {self.day}"


def batch_id(key: BatchKey) -> str:
    text = f"{key.type}\n{key.owner}\n{key.currency}\n{key.day}".encode()
    digest = base64.b32encode(hashlib.sha256(text).digest()).translate(_TO_CROCKFORD)
    return f"stl_{key.business_date:%Y%m%d}{_LETTER[key.type]}{digest[:23].decode()}"


def parse_batch_id(value: str) -> tuple[BatchType, date] | None:
    """The type and business date an id was made for; None if it cannot be a batch id."""
    match = _ID.fullmatch(value)
    if match is None:
        return None
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None
    kind = BatchType.MERCHANT if match.group(2) == "m" else BatchType.PARTNER
    return kind, day


def parse_business_date(text: str) -> date:
    """`YYYY-MM-DD`, strictly (`ValueError` otherwise)."""
    if not _DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date in the form YYYY-MM-DD")
    return date.fromisoformat(text)


# --- time --------------------------------------------------------------------------------------


def parse_cutoff(text: str) -> time:
    """A merchant's stored cut-off, `HH:MM` local wall time."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def day_end(day: date, zone: ZoneInfo, cutoff: time) -> datetime:
    """The instant business date `day` ends in a zone with a local cut-off (`business_days`):
    the cut-off on `day` itself, or for a 00:00 cut-off the midnight that starts the next day."""
    if cutoff == _MIDNIGHT:
        return cutoff_instant(day + timedelta(days=1), zone, cutoff)
    return cutoff_instant(day, zone, cutoff)


def closable_at(day: date, zone: ZoneInfo, cutoff: time, grace: timedelta) -> datetime:
    """When the batches of business date `day` may close: its end plus the grace."""
    return day_end(day, zone, cutoff) + grace


def latest_closable_date(now: datetime, zone: ZoneInfo, cutoff: time, grace: timedelta) -> date:
    """The last business date whose cut-off + grace has passed at `now`."""
    return business_date(now - grace, zone, cutoff) - timedelta(days=1)


# --- totals and the API object -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Totals:
    """A batch's sums in minor units of its currency. `refunds_*` covers refund and reversal
    lines, as positive amounts; `fees` and `net` are sums over the lines (refund fees given back
    are negative), so `net = payments_amount − refunds_amount − fees` and may be negative."""

    payments_count: int = 0
    payments_amount: int = 0
    refunds_count: int = 0
    refunds_amount: int = 0
    fees: int = 0
    net: int = 0

    @property
    def lines(self) -> int:
        return self.payments_count + self.refunds_count

    @classmethod
    def of(cls, row: Any) -> Totals:
        """From a mapping with these names (a batch row, or a live aggregate: PostgreSQL sums
        come back as `Decimal`, exact integers all the same)."""
        return cls(**{f.name: int(row[f.name] or 0) for f in dataclasses.fields(cls)})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClosedBatch:
    """A closed batch as stored: its lines, totals and file are frozen for good."""

    key: BatchKey
    totals: Totals
    file_sha256: str
    file_bytes: int
    file_format: int
    forced: bool
    """Closed before its cut-off + grace (`gateway settle --force`)."""
    closed_by: str
    closed_at: datetime

    @property
    def id(self) -> str:
        return self.key.id

    @property
    def line_count(self) -> int:
        return self.totals.lines

    @property
    def merchant_id(self) -> str | None:
        return self.key.owner if self.key.type is BatchType.MERCHANT else None

    @property
    def partner(self) -> str | None:
        return None if self.key.type is BatchType.MERCHANT else self.key.owner

    @property
    def file_name(self) -> str:
        """Its file's name, as downloaded and exported."""
        key = self.key
        return f"{key.type}_{key.owner}_{key.currency}_{key.day}.csv"


def batch_view(key: BatchKey, totals: Totals, closed: ClosedBatch | None) -> SettlementBatch:
    """The Batch object of API.md; `closed` once it is closed."""

    def money(value: int) -> Money:
        return {"currency": key.currency, "value": value}

    merchant = key.type is BatchType.MERCHANT
    return {
        "id": key.id,
        "object": "settlement_batch",
        "type": str(key.type),
        "merchant_id": key.owner if merchant else None,
        "partner": None if merchant else key.owner,
        "business_date": key.day,
        "currency": key.currency,
        "status": "closed" if closed is not None else "open",
        "payments": {"count": totals.payments_count, "amount": money(totals.payments_amount)},
        "refunds": {"count": totals.refunds_count, "amount": money(totals.refunds_amount)},
        "fees": money(totals.fees),
        "net": money(totals.net),
        "closed_at": rfc3339(closed.closed_at) if closed is not None else None,
        "file": (
            {
                "sha256": closed.file_sha256,
                "rows": closed.line_count,
                "bytes": closed.file_bytes,
                "url": f"/v1/settlements/{key.id}/file",
            }
            if closed is not None
            else None
        ),
    }
