"""Durations as configuration writes them: `"250ms"`, `"1.5s"`, `"5m"`, `"1h30m"`, `"2d"`, `"off"`.

Durations are strings in TOML, always with a unit, so `10` (seconds? milliseconds?) is never
guessed at: a bare number is rejected. Parsing goes through `Decimal`, so `"0.1s"` is exactly
100 000 µs; a value finer than a microsecond (what `timedelta` can hold) is rejected, not rounded.

Units, largest first, each at most once: `d`, `h`, `m`, `s`, `ms`, `us`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

__all__ = ["DurationError", "format_duration", "parse_duration"]

EXAMPLES = '"250ms", "1.5s", "10s", "5m", "1h30m", "24h", "2d"'

# Microseconds per unit, largest first: the order a duration must be written in.
_UNITS: dict[str, int] = {
    "d": 86_400_000_000,
    "h": 3_600_000_000,
    "m": 60_000_000,
    "s": 1_000_000,
    "ms": 1_000,
    "us": 1,
}
_PART = re.compile(r"(\d{1,12}(?:\.\d{1,12})?)(ms|us|d|h|m|s)")
_OFF = "off"


class DurationError(ValueError):
    """A duration string that cannot be read; the message says what to write instead."""


def parse_duration(text: str) -> timedelta | None:
    """Read a duration such as `"1h30m"`; `"off"` gives `None`.

    Raises `DurationError` for numbers (TOML integers or floats), negative values, unknown units,
    units out of order or repeated, spaces, and precision below one microsecond.
    """
    if isinstance(text, bool) or not isinstance(text, str):
        if isinstance(text, int | float) and not isinstance(text, bool):
            raise DurationError(
                f"{text!r} is a bare number; durations are strings with a unit "
                f'(write "{_number_hint(text)}", not {text!r})'
            )
        raise DurationError(f"{text!r} is not a duration string (e.g. {EXAMPLES})")
    source = text.strip()
    if source.lower() == _OFF:
        return None
    if not source:
        raise DurationError(f"an empty string is not a duration (e.g. {EXAMPLES})")
    if source.startswith("-"):
        raise DurationError(f"{text!r}: durations cannot be negative")
    total = Decimal(0)
    position = 0
    last_rank = -1
    ranks = list(_UNITS)
    for match in _PART.finditer(source):
        if match.start() != position:
            break
        number, unit = match.groups()
        rank = ranks.index(unit)
        if rank <= last_rank:
            raise DurationError(
                f'{text!r}: write each unit once, largest first (e.g. "1h30m", not "30m1h")'
            )
        last_rank = rank
        total += Decimal(number) * _UNITS[unit]
        position = match.end()
    if position != len(source) or position == 0:
        raise DurationError(
            f"{text!r} is not a duration: use a number followed by a unit "
            f'(d, h, m, s, ms, us) and no spaces, e.g. {EXAMPLES}, or "off"'
        )
    if total != total.to_integral_value():
        raise DurationError(f"{text!r} is finer than one microsecond")
    try:
        return timedelta(microseconds=int(total))
    except OverflowError:
        raise DurationError(f"{text!r} is too long a duration") from None


def format_duration(value: timedelta | None) -> str:
    """The shortest string `parse_duration` reads back to `value` (`None` is `"off"`)."""
    if value is None:
        return _OFF
    remaining = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if remaining < 0:
        raise DurationError(f"{value!r} is negative")
    if remaining == 0:
        return "0s"
    parts: list[str] = []
    for unit in ("d", "h", "m"):
        count, remaining = divmod(remaining, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    if remaining:
        if remaining % 1_000 == 0 and remaining < 1_000_000:
            parts.append(f"{remaining // 1_000}ms")
        elif remaining < 1_000:
            parts.append(f"{remaining}us")
        else:
            seconds = Decimal(remaining) / _UNITS["s"]
            parts.append(f"{seconds.normalize():f}s")
    return "".join(parts)


def _number_hint(number: int | float) -> str:
    return f"{Decimal(str(number)).normalize():f}s"
