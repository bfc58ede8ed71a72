"""Partner health: one circuit breaker per partner, in this process.

A breaker counts *consecutive* calls that say the partner is unreachable or broken: not sent
(connection refused, connect timeout) or an HTTP 5xx. After `failures` of them it opens, and
routing skips the partner. After `cooldown` it half-opens: one trial call goes through; an answer
closes it, another failure opens it again. Any trustworthy answer — a success, a decline, even
"in process" — proves the partner alive and resets the count.

Breakers decide *eligibility* only. They never turn a maybe-sent call into a fail-over: a
partner that may have charged is resolved with that partner (DESIGN.md, The adapter contract).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from adapters import Delivery, Outcome, OutcomeStatus

__all__ = ["Breaker", "BreakerState", "Health"]


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _is_failure(outcome: Outcome) -> bool:
    if outcome.status is not OutcomeStatus.UNKNOWN:
        return False
    if outcome.delivery is Delivery.NOT_SENT and outcome.http_status is None:
        return True  # never reached the partner
    return outcome.http_status is not None and outcome.http_status >= 500


@dataclass
class Breaker:
    failures: int
    cooldown: float
    clock: Callable[[], float] = time.monotonic
    state: BreakerState = BreakerState.CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    trial_in_flight: bool = False

    def allows(self) -> bool:
        """May a new payment be routed to this partner now? (A half-open breaker lets one
        trial through at a time; `begin_call` marks it taken.)"""
        if self.state is BreakerState.OPEN and self.clock() - self.opened_at >= self.cooldown:
            self.state = BreakerState.HALF_OPEN
            self.trial_in_flight = False
        if self.state is BreakerState.HALF_OPEN:
            return not self.trial_in_flight
        return self.state is BreakerState.CLOSED

    def begin_call(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self.trial_in_flight = True

    def record(self, outcome: Outcome) -> None:
        if _is_failure(outcome):
            self.consecutive += 1
            if self.state is BreakerState.HALF_OPEN or self.consecutive >= self.failures:
                self.state = BreakerState.OPEN
                self.opened_at = self.clock()
                self.trial_in_flight = False
            return
        if outcome.in_process or outcome.is_final or outcome.http_status is not None:
            # The partner answered: it is alive, whatever it said.
            self.state = BreakerState.CLOSED
            self.consecutive = 0
            self.trial_in_flight = False

    def retry_after(self) -> float:
        """Seconds until this breaker lets a trial through (0 when closed)."""
        if self.state is BreakerState.CLOSED:
            return 0.0
        return max(0.0, self.cooldown - (self.clock() - self.opened_at))


class Health:
    """The breakers of every configured partner."""

    def __init__(
        self,
        partners: Iterable[str],
        *,
        failures: int,
        cooldown: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._breakers = {p: Breaker(failures, cooldown, clock) for p in partners}

    def allows(self, partner: str) -> bool:
        return self._breakers[partner].allows()

    def begin_call(self, partner: str) -> None:
        self._breakers[partner].begin_call()

    def record(self, partner: str, outcome: Outcome) -> None:
        self._breakers[partner].record(outcome)

    def retry_after(self, partners: Iterable[str]) -> int | None:
        """Whole seconds until the first of `partners` takes traffic again (at least 1), or
        None when none of their breakers is open (the caller's default applies)."""
        breakers = [self._breakers[p] for p in partners]
        if not any(b.state is not BreakerState.CLOSED for b in breakers):
            return None
        return max(1, int(min(b.retry_after() for b in breakers) + 0.999))

    def snapshot(self) -> dict[str, dict[str, object]]:
        return {
            partner: {
                "breaker": breaker.state.value,
                "consecutive_failures": breaker.consecutive,
                "retry_after_seconds": round(breaker.retry_after(), 3),
            }
            for partner, breaker in sorted(self._breakers.items())
        }
