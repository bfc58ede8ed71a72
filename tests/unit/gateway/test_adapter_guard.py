"""A partner call never raises into the gateway: an adapter's exception is an unknown outcome."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest

from adapters import (
    Delivery,
    InquiryRequest,
    Operation,
    Outcome,
    OutcomeStatus,
    SettlementFileRequest,
    SettlementFileUnavailable,
)
from fx import Money
from gateway.adapter_guard import GuardedAdapter


class Raising:
    """An adapter whose every call raises (`error`), or hangs (`None`)."""

    partner_id = "xx-raising"
    capabilities = frozenset({Operation.PAY, Operation.INQUIRE})

    def __init__(self, error: Exception | None) -> None:
        self.error = error

    async def _fail(self, *_args: Any) -> Any:
        if self.error is None:
            await asyncio.sleep(3600)
        raise self.error  # type: ignore[misc]

    pay = inquire = cancel = refund = inquire_refund = fetch_settlement_file = _fail


INQUIRY = InquiryRequest("att_1", Money.of(100, "CNY"))


@pytest.mark.parametrize("error", [RuntimeError("bug"), OverflowError("date"), TimeoutError()])
async def test_an_exception_is_an_unknown_outcome_that_may_have_been_sent(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    outcome = await GuardedAdapter(Raising(error)).inquire(INQUIRY)  # type: ignore[arg-type]
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert type(error).__name__ in outcome.message
    assert any("ALERT adapter xx-raising: inquire raised" in r.getMessage() for r in caplog.records)


async def test_the_callers_budget_still_cancels_the_call() -> None:
    guarded = GuardedAdapter(Raising(None))  # type: ignore[arg-type]
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await guarded.pay(None)  # type: ignore[arg-type]


async def test_a_settlement_file_failure_is_unavailable() -> None:
    guarded = GuardedAdapter(Raising(KeyError("x")))  # type: ignore[arg-type]
    with pytest.raises(SettlementFileUnavailable, match="KeyError"):
        await guarded.fetch_settlement_file(SettlementFileRequest(date(2026, 11, 26)))


def test_it_passes_identity_through() -> None:
    guarded = GuardedAdapter(Raising(None))  # type: ignore[arg-type]
    assert guarded.partner_id == "xx-raising"
    assert guarded.capabilities == frozenset({Operation.PAY, Operation.INQUIRE})
