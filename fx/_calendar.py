"""When a published rate set stops being current: its source's publication calendar.

A rate set is current until its source's *next* publication is due (plus a grace for a late
one), not for a fixed age: the ECB publishes once per TARGET business day around 16:00 CET, so
Friday's rates are current until Monday's, and the rates of the Thursday before Easter until
the Tuesday after. A source that publishes continuously (a partner's dealing rates) is current
for a fixed maximum age instead.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from ._rates import ECB_PUBLISHED, ECB_ZONE, require_aware

__all__ = [
    "EcbCalendar",
    "FixedAge",
    "PublicationCalendar",
    "easter_sunday",
    "is_target_holiday",
]

_ECB_ZONE = ZoneInfo(ECB_ZONE)
_SEARCH_DAYS = 10  # no run of TARGET closing days and weekends is longer than this


@runtime_checkable
class PublicationCalendar(Protocol):
    """How long a rate set published at some instant stays current."""

    def current_until(self, published_at: datetime) -> datetime:
        """The instant after which a set published at `published_at` is stale."""
        ...


@dataclass(frozen=True, slots=True)
class FixedAge:
    """Current for `max_age` after publication (partners' rates, static tables)."""

    max_age: timedelta

    def __post_init__(self) -> None:
        if not isinstance(self.max_age, timedelta) or self.max_age <= timedelta(0):
            raise ValueError(f"max_age must be a positive timedelta, got {self.max_age!r}")

    def current_until(self, published_at: datetime) -> datetime:
        return require_aware(published_at, "published_at") + self.max_age


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm of Meeus, Jones and Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def is_target_holiday(day: date) -> bool:
    """A TARGET closing day on a weekday: New Year's Day, Good Friday, Easter Monday, Labour
    Day, Christmas Day and 26 December (the ECB publishes no reference rates on them)."""
    if (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)}:
        return True
    easter = easter_sunday(day.year)
    return day in (easter - timedelta(days=2), easter + timedelta(days=1))


@dataclass(frozen=True, slots=True)
class EcbCalendar:
    """The ECB's: a publication at 16:00 CET on every TARGET business day.

    A set is current until the next publication is due plus `grace` (the ECB is sometimes
    late, and a feed is fetched a little after it changes).
    """

    grace: timedelta = timedelta(hours=2)

    def __post_init__(self) -> None:
        if not isinstance(self.grace, timedelta) or self.grace < timedelta(0):
            raise ValueError(f"grace must be a non-negative timedelta, got {self.grace!r}")

    def is_publication_day(self, day: date) -> bool:
        return day.weekday() < 5 and not is_target_holiday(day)

    def next_publication(self, after: datetime) -> datetime:
        """The first publication instant strictly after `after`."""
        local = require_aware(after, "after").astimezone(_ECB_ZONE)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            at = datetime.combine(day, ECB_PUBLISHED, tzinfo=_ECB_ZONE)
            if at > local and self.is_publication_day(day):
                return at
            day += timedelta(days=1)
        raise AssertionError(f"no ECB publication day within {_SEARCH_DAYS} days of {after}")

    def last_publication(self, at: datetime) -> datetime:
        """The latest publication instant at or before `at` (the set a live feed serves then)."""
        local = require_aware(at, "at").astimezone(_ECB_ZONE)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            published = datetime.combine(day, ECB_PUBLISHED, tzinfo=_ECB_ZONE)
            if published <= local and self.is_publication_day(day):
                return published
            day -= timedelta(days=1)
        raise AssertionError(f"no ECB publication day within {_SEARCH_DAYS} days before {at}")

    def current_until(self, published_at: datetime) -> datetime:
        return self.next_publication(published_at) + self.grace
