"""Business dates: cut-offs, midnight, DST gaps and repeated hours, zones east of UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.core.business_days import business_date, business_date_str, cutoff_instant

BANGKOK = ZoneInfo("Asia/Bangkok")  # UTC+7, no DST
NEW_YORK = ZoneInfo("America/New_York")
AUCKLAND = ZoneInfo("Pacific/Auckland")  # UTC+13 in (southern) summer


def _local(
    zone: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, fold: int = 0
) -> datetime:
    """The UTC instant of a local wall time (fold=1: the second occurrence of a repeated hour)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=zone, fold=fold).astimezone(UTC)


def test_bangkok_cutoff_2300_splits_at_the_second() -> None:
    cutoff = time(23, 0)
    before = _local(BANGKOK, 2026, 11, 26, 22, 59, 59)
    at = _local(BANGKOK, 2026, 11, 26, 23, 0, 0)
    assert business_date(before, BANGKOK, cutoff) == date(2026, 11, 26)
    assert business_date(at, BANGKOK, cutoff) == date(2026, 11, 27)
    assert business_date(at - timedelta(microseconds=1), BANGKOK, cutoff) == date(2026, 11, 26)
    # After local midnight the local date itself has moved on, and it is before that day's cut-off.
    assert business_date(_local(BANGKOK, 2026, 11, 27, 0, 30), BANGKOK, cutoff) == date(
        2026, 11, 27
    )
    assert business_date_str(at, BANGKOK, cutoff) == "2026-11-27"


def test_midnight_cutoff_is_the_local_date() -> None:
    midnight = time(0, 0)
    assert business_date(_local(BANGKOK, 2026, 11, 26, 0, 0), BANGKOK, midnight) == date(
        2026, 11, 26
    )
    assert business_date(_local(BANGKOK, 2026, 11, 26, 23, 59, 59), BANGKOK, midnight) == date(
        2026, 11, 26
    )


def test_zone_east_of_utc_uses_the_local_date_not_the_utc_date() -> None:
    # 2026-01-10 11:30 UTC is 2026-01-11 00:30 in Auckland (NZDT, UTC+13).
    moment = datetime(2026, 1, 10, 11, 30, tzinfo=UTC)
    assert business_date(moment, AUCKLAND, time(0, 0)) == date(2026, 1, 11)
    assert business_date(moment, AUCKLAND, time(18, 0)) == date(2026, 1, 11)
    # 17:00 UTC on the 10th is 06:00 on the 11th local: past an 05:00 cut-off, so the 12th.
    assert business_date(datetime(2026, 1, 10, 17, tzinfo=UTC), AUCKLAND, time(5, 0)) == date(
        2026, 1, 12
    )
    # Bangkok: 2026-11-26 18:00 UTC is 01:00 on the 27th.
    assert business_date(datetime(2026, 11, 26, 18, tzinfo=UTC), BANGKOK, time(0)) == date(
        2026, 11, 27
    )


def test_cutoff_in_a_spring_forward_gap_moves_to_the_end_of_the_gap() -> None:
    # New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC); 02:30 never happens.
    cutoff = time(2, 30)
    assert cutoff_instant(date(2026, 3, 8), NEW_YORK, cutoff) == datetime(2026, 3, 8, 7, tzinfo=UTC)
    last_before = datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC)  # 01:59:59 EST
    first_after = datetime(2026, 3, 8, 7, 0, 0, tzinfo=UTC)  # 03:00:00 EDT
    assert business_date(last_before, NEW_YORK, cutoff) == date(2026, 3, 8)
    assert business_date(first_after, NEW_YORK, cutoff) == date(2026, 3, 9)
    # On an ordinary day the same cut-off is 02:30 local.
    assert cutoff_instant(date(2026, 3, 9), NEW_YORK, cutoff) == _local(NEW_YORK, 2026, 3, 9, 2, 30)


def test_cutoff_in_a_repeated_hour_is_its_first_occurrence() -> None:
    # New York, 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens twice.
    cutoff = time(1, 30)
    first = _local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0)  # 05:30 UTC (EDT)
    second = _local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)  # 06:30 UTC (EST)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert cutoff_instant(date(2026, 11, 1), NEW_YORK, cutoff) == first
    assert business_date(first - timedelta(seconds=1), NEW_YORK, cutoff) == date(2026, 11, 1)
    assert business_date(first, NEW_YORK, cutoff) == date(2026, 11, 2)
    # The repeat of 01:00-01:30 (EST) reads earlier on the wall clock but comes after the cut-off.
    assert business_date(_local(NEW_YORK, 2026, 11, 1, 1, 10, fold=1), NEW_YORK, cutoff) == date(
        2026, 11, 2
    )
    assert business_date(second, NEW_YORK, cutoff) == date(2026, 11, 2)


def test_naive_moment_or_zoned_cutoff_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        business_date(datetime(2026, 1, 1, 12), BANGKOK, time(0))
    with pytest.raises(ValueError, match="wall time"):
        business_date(datetime(2026, 1, 1, 12, tzinfo=UTC), BANGKOK, time(1, tzinfo=UTC))
