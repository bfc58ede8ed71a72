"""Publication calendars: when a published rate set stops being current."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fx import EcbCalendar, FixedAge, PublicationCalendar, easter_sunday, is_target_holiday

BERLIN = ZoneInfo("Europe/Berlin")


def at(day: str, hhmm: str = "16:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2019, "2019-04-21"), (2024, "2024-03-31"), (2025, "2025-04-20"), (2026, "2026-04-05"),
     (2027, "2027-03-28"), (2038, "2038-04-25"), (2285, "2285-03-22")],
)  # fmt: skip
def test_easter_sunday(year: int, easter: str) -> None:
    assert easter_sunday(year) == date.fromisoformat(easter)


@given(st.integers(1583, 4099))
def test_easter_is_a_sunday_between_march_22_and_april_25(year: int) -> None:
    easter = easter_sunday(year)
    assert easter.weekday() == 6
    assert date(year, 3, 22) <= easter <= date(year, 4, 25)


def test_target_closing_days_of_2026() -> None:
    closed = [d for d in _days(date(2026, 1, 1), date(2027, 1, 1)) if is_target_holiday(d)]
    assert [d.isoformat() for d in closed] == [
        "2026-01-01", "2026-04-03", "2026-04-06", "2026-05-01", "2026-12-25", "2026-12-26",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("published", "next_due"),
    [
        (at("2026-12-03"), at("2026-12-04")),  # Thursday's until Friday's
        (at("2026-12-04"), at("2026-12-07")),  # Friday's until Monday's
        (at("2026-04-02"), at("2026-04-07")),  # Maundy Thursday's: over Easter to Tuesday
        (at("2026-12-24"), at("2026-12-28")),  # Christmas Eve's: over 25, 26 (Sat), 27
        (at("2026-12-31"), at("2027-01-04")),  # New Year's Eve's: 1 Jan, then the weekend
        (at("2026-12-04", "09:00"), at("2026-12-04")),  # fetched before the day's publication
        (at("2026-07-03"), at("2026-07-06")),  # summer time (CEST) the same 16:00 local
    ],
)
def test_an_ecb_set_is_current_until_the_next_publication_plus_grace(
    published: datetime, next_due: datetime
) -> None:
    calendar = EcbCalendar(grace=timedelta(hours=2))
    assert calendar.next_publication(published) == next_due
    assert calendar.current_until(published) == next_due + timedelta(hours=2)
    assert isinstance(calendar, PublicationCalendar)


def test_the_instant_counts_not_its_zone() -> None:
    friday = at("2026-12-04")
    assert EcbCalendar().current_until(friday) == EcbCalendar().current_until(
        friday.astimezone(UTC)
    )


@given(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_the_next_publication_is_later_on_a_publication_day_with_none_skipped(
    after: datetime,
) -> None:
    calendar = EcbCalendar()
    due = calendar.next_publication(after)
    assert due > after
    assert calendar.is_publication_day(due.date()) and due.time().hour == 16
    skipped = _days(after.astimezone(BERLIN).date() + timedelta(days=1), due.date())
    assert not any(calendar.is_publication_day(d) for d in skipped)


@pytest.mark.parametrize(
    ("now", "published"),
    [
        (at("2026-12-04", "21:30"), at("2026-12-04")),  # Friday evening: that Friday's
        (at("2026-12-07", "10:00"), at("2026-12-04")),  # Monday morning: still Friday's
        (at("2026-12-03"), at("2026-12-03")),  # 16:00 on a business day: its own
        (at("2026-12-03", "15:59"), at("2026-12-02")),  # a minute before: the day before's
        (at("2026-04-06", "18:00"), at("2026-04-02")),  # Easter Monday: Maundy Thursday's
        (at("2027-01-01", "12:00"), at("2026-12-31")),  # New Year's Day: New Year's Eve's
        (at("2026-07-06", "09:00"), at("2026-07-03")),  # summer time (CEST) the same 16:00 local
    ],
)
def test_the_last_publication_is_the_latest_at_or_before(
    now: datetime, published: datetime
) -> None:
    assert EcbCalendar().last_publication(now) == published
    assert EcbCalendar().last_publication(now.astimezone(UTC)) == published


def test_the_last_publication_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        EcbCalendar().last_publication(datetime(2026, 12, 4, 18, 0))


@given(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_the_last_publication_is_the_one_current_at_that_instant(now: datetime) -> None:
    calendar = EcbCalendar()
    published = calendar.last_publication(now)
    assert published <= now < calendar.next_publication(published)
    assert calendar.is_publication_day(published.date()) and published.time().hour == 16


def test_fixed_age() -> None:
    published = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    assert FixedAge(timedelta(minutes=30)).current_until(published) == published + timedelta(
        minutes=30
    )
    with pytest.raises(ValueError, match="positive"):
        FixedAge(timedelta(0))
    with pytest.raises(ValueError, match="timezone-aware"):
        FixedAge(timedelta(minutes=1)).current_until(datetime(2026, 12, 4))


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]
