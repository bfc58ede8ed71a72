"""Business dates: which settlement day a final state belongs to (API.md, Business days and fees).

A moment belongs to the local date of its zone, or to the next one if it is at or after the day's
cut-off, so a 23:00 cut-off sends a 23:30 sale to tomorrow's batch. A cut-off of 00:00 means the
day simply ends at midnight.

Daylight saving makes the wall clock skip or repeat an hour, so "the cut-off" is defined as an
instant: the first moment of the local day whose wall clock reads at or after the cut-off.
- Spring forward: a cut-off inside the gap (02:30 in New York on 2026-03-08) acts at the first
  local time that exists after the gap (03:00 EDT).
- Fall back: a cut-off inside the repeated hour acts at its first occurrence (fold=0); the repeat
  of that hour already belongs to the next business date.

Pure: no clock reads, no I/O. The caller passes the commit moment.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = ["business_date", "business_date_str", "cutoff_instant", "parse_cutoff"]

_MIDNIGHT = time(0, 0)


def parse_cutoff(text: str) -> time:
    """A stored cut-off, `HH:MM` local wall time (validated when its owner was configured)."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def business_date(moment: datetime, zone: ZoneInfo, cutoff: time) -> date:
    """The business date of `moment` (aware) for a zone and a local cut-off (naive wall time)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"moment must be timezone-aware, got {moment!r}")
    if cutoff.tzinfo is not None:
        raise ValueError(f"cutoff is a local wall time without a zone, got {cutoff!r}")
    day = moment.astimezone(zone).date()
    if cutoff == _MIDNIGHT:
        return day
    return day + timedelta(days=1) if moment >= cutoff_instant(day, zone, cutoff) else day


def business_date_str(moment: datetime, zone: ZoneInfo, cutoff: time) -> str:
    """`business_date` as `YYYY-MM-DD`, the form the tables store (it sorts as it compares)."""
    return business_date(moment, zone, cutoff).isoformat()


def cutoff_instant(day: date, zone: ZoneInfo, cutoff: time) -> datetime:
    """The UTC instant at which local `day` reaches `cutoff`: the first moment whose local wall
    clock on that day reads at or after it (moved past a DST gap; first of a repeated hour)."""
    wall = datetime.combine(day, cutoff)
    first = wall.replace(tzinfo=zone, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant  # it exists; fold=0 is the first occurrence if the hour repeats
    # In a gap, fold=0 reads the wall time with the offset before the jump and fold=1 with the one
    # after: the jump lies between those two instants. Tz transitions fall on whole seconds, so a
    # search over seconds finds the first instant whose wall clock has passed the cut-off.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())  # wall clock still before the gap
    high = int(first.timestamp())  # wall clock already past it
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
