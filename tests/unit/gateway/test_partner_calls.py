"""Every partner call is counted, bounded, recorded, timed, and never raises into the gateway."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from adapters import (
    CancelRequest,
    Delivery,
    InquiryRequest,
    Operation,
    Outcome,
    OutcomeStatus,
    SettlementFileRequest,
    SettlementFileUnavailable,
)
from fx import Money
from gateway.core.metrics import Metrics
from gateway.partners.calls import BUDGET_RAN_OUT, PartnerCalls
from gateway.partners.health import Health

PARTNER = "xx-partner"
INQUIRY = InquiryRequest("att_1", Money.of(100, "CNY"))


class Scripted:
    """An adapter whose calls answer `outcome`, raise `error`, or hang (neither given)."""

    partner_id = PARTNER
    capabilities = frozenset({Operation.PAY, Operation.INQUIRE})

    def __init__(self, outcome: Outcome | None = None, error: Exception | None = None) -> None:
        self.outcome = outcome
        self.error = error
        self.calls = 0

    async def _answer(self, *_args: Any) -> Any:
        self.calls += 1
        if self.error is not None:
            raise self.error
        if self.outcome is None:
            await asyncio.sleep(3600)
        return self.outcome

    pay = inquire = cancel = refund = inquire_refund = fetch_settlement_file = _answer


def _calls(adapter: Scripted, failures: int = 2) -> tuple[PartnerCalls, Health, Metrics]:
    health = Health([PARTNER], failures=failures, cooldown=60)
    metrics = Metrics()
    calls = PartnerCalls({PARTNER: adapter}, health=health, metrics=metrics)
    return calls, health, metrics


def _observed(metrics: Metrics, operation: str, outcome: str) -> float | None:
    return metrics.registry.get_sample_value(
        "gateway_partner_call_seconds_count",
        {"partner": PARTNER, "operation": operation, "outcome": outcome},
    )


@pytest.mark.parametrize("error", [RuntimeError("bug"), OverflowError("date"), TimeoutError()])
async def test_an_exception_is_an_unknown_outcome_that_may_have_been_sent(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    calls, _, _ = _calls(Scripted(error=error))
    outcome = await calls.inquire(PARTNER, INQUIRY, tally={"inquiries": 0})
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert type(error).__name__ in outcome.message
    assert any("ALERT adapter xx-partner: inquire raised" in r.getMessage() for r in caplog.records)


async def test_the_budget_ends_a_hanging_call_as_maybe_sent() -> None:
    calls, _, metrics = _calls(Scripted())
    deadline = asyncio.get_running_loop().time() + 0.01
    outcome = await calls.pay(PARTNER, None, tally={"pay_calls": 0}, deadline=deadline)  # type: ignore[arg-type]
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.message == BUDGET_RAN_OUT
    assert _observed(metrics, "pay", "unknown_maybe_sent") == 1


async def test_each_call_counts_itself_on_its_row_before_it_is_sent() -> None:
    adapter = Scripted(Outcome.unknown(Delivery.MAYBE_SENT, "slow"))
    calls, _, _ = _calls(adapter)
    attempt = {"pay_calls": 0, "inquiries": 0, "cancel_calls": 0}
    refund = {"refund_calls": 0, "inquiries": 0}
    await calls.pay(PARTNER, None, tally=attempt)  # type: ignore[arg-type]
    await calls.pay(PARTNER, None, tally=attempt)  # type: ignore[arg-type]
    await calls.inquire(PARTNER, INQUIRY, tally=attempt)
    await calls.cancel(PARTNER, CancelRequest("att_1"), tally=attempt)
    await calls.refund(PARTNER, None, tally=refund)  # type: ignore[arg-type]
    await calls.inquire_refund(PARTNER, None, tally=refund)  # type: ignore[arg-type]
    assert attempt == {"pay_calls": 2, "inquiries": 1, "cancel_calls": 1}
    assert refund == {"refund_calls": 1, "inquiries": 1}
    assert adapter.calls == 6


async def test_answers_feed_the_breaker_and_the_histogram() -> None:
    unreachable = Outcome.unknown(Delivery.NOT_SENT, "connection refused")
    calls, health, metrics = _calls(Scripted(unreachable), failures=2)
    for _ in range(2):
        await calls.inquire(PARTNER, INQUIRY, tally={"inquiries": 0})
    assert not health.allows(PARTNER)  # two consecutive unreachable answers opened it
    assert _observed(metrics, "inquire", "unknown_not_sent") == 2


async def test_a_settlement_file_failure_is_unavailable_and_timed() -> None:
    calls, _, metrics = _calls(Scripted(error=KeyError("x")))
    with pytest.raises(SettlementFileUnavailable, match="KeyError"):
        await calls.settlement_file(PARTNER, SettlementFileRequest(date(2026, 11, 26)))
    assert _observed(metrics, "fetch_settlement_file", "unavailable") == 1


def test_it_knows_its_partners() -> None:
    calls, _, _ = _calls(Scripted())
    assert PARTNER in calls and "other" not in calls
    assert calls.capabilities(PARTNER) == frozenset({Operation.PAY, Operation.INQUIRE})
