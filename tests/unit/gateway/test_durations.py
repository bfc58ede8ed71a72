"""Duration strings as configuration writes them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.core.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("1.5s", timedelta(milliseconds=1500)),
        ("10s", timedelta(seconds=10)),
        ("5m", timedelta(minutes=5)),
        ("24h", timedelta(hours=24)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d2h3m4s5ms6us", timedelta(days=1, hours=2, minutes=3, seconds=4, microseconds=5006)),
        ("0.1s", timedelta(microseconds=100_000)),  # exact: Decimal, not binary floating point
        ("0.000001s", timedelta(microseconds=1)),
        ("1.25m", timedelta(seconds=75)),
        (" 10s ", timedelta(seconds=10)),
        ("0s", timedelta(0)),
    ],
)
def test_parses(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["off", "OFF", " off "])
def test_off_is_none(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10 seconds", "no spaces"),
        ("10 s", "no spaces"),
        ("", "empty"),
        ("10", "unit"),
        ("s", "unit"),
        ("1.5.2s", "unit"),
        ("10S", "unit"),
        ("1e3s", "unit"),
        ("nan", "unit"),
        ("-5s", "negative"),
        ("30m1h", "largest first"),
        ("1h1h", "largest first"),
        ("0.0000001s", "microsecond"),
        ("999999999999d", "too long"),
    ],
)
def test_rejects_malformed_strings(text: str, fragment: str) -> None:
    with pytest.raises(DurationError, match=fragment):
        parse_duration(text)


@pytest.mark.parametrize(("number", "hint"), [(10, '"10s"'), (1.5, '"1.5s"'), (0.25, '"0.25s"')])
def test_rejects_numbers_with_a_hint(number: float, hint: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(number)  # type: ignore[arg-type]
    assert "bare number" in str(caught.value)
    assert hint in str(caught.value)


@pytest.mark.parametrize("value", [True, None, ["10s"]])
def test_rejects_other_types(value: object) -> None:
    with pytest.raises(DurationError, match="not a duration string"):
        parse_duration(value)  # type: ignore[arg-type]


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "off"),
        (timedelta(0), "0s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(milliseconds=1500), "1.5s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(microseconds=7), "7us"),
        (timedelta(days=1, seconds=1, microseconds=500_000), "1d1.5s"),
    ],
)
def test_format_round_trips(value: timedelta | None, text: str) -> None:
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_format_rejects_negative() -> None:
    with pytest.raises(DurationError):
        format_duration(timedelta(seconds=-1))
