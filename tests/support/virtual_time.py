"""Virtual time for service tests: waits that take no time, deadlines that still pass.

The services read two clocks (`adapters/_clock.py`): the event loop's monotonic time for call
budgets and timeouts (the POS wait budget, `asyncio.timeout_at`), and `Context.clock` for
business time (leases, the inquiry and cancel deadlines, business dates). `VirtualTime.sleep` is
the `Context.sleep` a test passes: it records the pause, moves *both* clocks forward by it, and
returns at once. So a payment that stays "in process" runs through its whole POS budget, and the
resolver through its whole inquiry deadline, in a few milliseconds, with every decision the
services make on the way taken exactly as it would be in real time.

The loop must be a `VirtualTimeLoop` (the services tests' conftest makes every test's loop
one); the clock is a `ManualClock`, which moves only when told.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta

from adapters import Clock

__all__ = ["ManualClock", "VirtualTime", "VirtualTimeLoop"]


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose time can jump forward: `skip(s)` brings every timer and deadline `s`
    seconds nearer at once (a timer that comes due runs on the next turn of the loop)."""

    def __init__(self) -> None:
        super().__init__()
        self._skipped = 0.0

    def time(self) -> float:
        return super().time() + self._skipped

    def skip(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time never goes back")
        self._skipped += seconds


class ManualClock(Clock):
    """Business time that stands still until `advance`d: every `now()` of one step agrees."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the clock reads aware UTC times")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("the clock never goes back")
        self._now += delta


@dataclasses.dataclass
class VirtualTime:
    """The loop and the business clock of one test, moved together by `sleep`."""

    loop: VirtualTimeLoop
    clock: ManualClock
    pauses: list[float] = dataclasses.field(default_factory=list)
    """Every pause the services asked for, in order (seconds)."""

    @classmethod
    def here(cls, start: datetime) -> VirtualTime:
        """Virtual time on the running loop (which must be a `VirtualTimeLoop`), from `start`."""
        loop = asyncio.get_running_loop()
        if not isinstance(loop, VirtualTimeLoop):
            raise TypeError(f"virtual time needs a VirtualTimeLoop, not {type(loop).__name__}")
        return cls(loop, ManualClock(start))

    async def sleep(self, seconds: float) -> None:
        """`Context.sleep`: record the pause, jump both clocks past it, let others run once."""
        self.pauses.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move both clocks forward (a test's own "meanwhile")."""
        self.loop.skip(seconds)
        self.clock.advance(timedelta(seconds=seconds))

    @property
    def waited(self) -> float:
        """The virtual seconds the services slept."""
        return sum(self.pauses)
