"""Circuit breakers: open on consecutive failures, half-open after the cool-down, one trial."""

from __future__ import annotations

from adapters import Delivery, FailureCode, Outcome
from gateway.partners.health import Breaker, BreakerState, Health

REFUSED = Outcome.unknown(Delivery.NOT_SENT, "connection refused")
HTTP_500 = Outcome.unknown(Delivery.MAYBE_SENT, "HTTP 500", http_status=500)
READ_TIMEOUT = Outcome.unknown(Delivery.MAYBE_SENT, "read timeout")
NOT_ACCEPTED = Outcome.unknown(Delivery.NOT_SENT, "signed not accepted", http_status=200)
DECLINED = Outcome.failed(FailureCode.INSUFFICIENT_FUNDS)
APPROVED = Outcome.succeeded(partner_reference="P1")


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_consecutive_failures_only() -> None:
    breaker = Breaker(failures=3, cooldown=10, clock=FakeTime())
    for outcome in (REFUSED, HTTP_500, APPROVED, REFUSED, HTTP_500):
        breaker.record(outcome)
    assert breaker.state is BreakerState.CLOSED and breaker.allows()
    breaker.record(REFUSED)
    assert breaker.state is BreakerState.OPEN and not breaker.allows()


def test_answers_keep_it_closed() -> None:
    """A decline, a signed refusal, even a read timeout are not proof the partner is down."""
    breaker = Breaker(failures=1, cooldown=10, clock=FakeTime())
    for outcome in (DECLINED, NOT_ACCEPTED, READ_TIMEOUT):
        breaker.record(outcome)
        assert breaker.state is BreakerState.CLOSED


def test_half_open_lets_one_trial_through_then_closes_or_reopens() -> None:
    clock = FakeTime()
    breaker = Breaker(failures=1, cooldown=10, clock=clock)
    breaker.record(REFUSED)
    clock.now += 9.9
    assert not breaker.allows()
    assert breaker.retry_after() > 0
    clock.now += 0.2
    assert breaker.allows() and breaker.state is BreakerState.HALF_OPEN
    breaker.begin_call()
    assert not breaker.allows()  # one trial at a time
    breaker.record(REFUSED)
    assert breaker.state is BreakerState.OPEN and not breaker.allows()
    clock.now += 10
    assert breaker.allows()
    breaker.begin_call()
    breaker.record(APPROVED)
    assert breaker.state is BreakerState.CLOSED and breaker.allows()


def test_health_reports_and_computes_retry_after() -> None:
    clock = FakeTime()
    health = Health(["a", "b"], failures=1, cooldown=30, clock=clock)
    assert health.retry_after(["a", "b"]) is None  # nothing open: the caller's default
    health.record("a", REFUSED)
    health.record("b", HTTP_500)
    clock.now += 12
    assert health.retry_after(["a", "b"]) == 18
    assert health.snapshot()["a"]["breaker"] == "open"
