"""One injectable clock for the gateway, its workers and the sandboxes.

Timeouts and sleeps use the event loop's monotonic time; business time (quote expiry, business
dates, signature freshness) reads `Clock.now()`, which a test can move forward without waiting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

__all__ = ["Clock", "SystemClock"]


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        raise NotImplementedError


class SystemClock(Clock):
    """The system clock, shifted by an offset that tests may advance (it never goes back)."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the clock never goes back")
        self._offset += delta
