"""`PartnerCalls` for entry codes (issue #15): a store's registration is bounded, recorded in
the breaker, timed and never raises; a confirmation the adapter cannot make answers "send it
again" instead of failing the request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters import (
    Acknowledgment,
    Delivery,
    EntryCode,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    InboundRequest,
    MerchantInfo,
    Operation,
    Outcome,
    OutcomeStatus,
    StoreRegistration,
)
from fx import Money
from gateway.core.metrics import Metrics
from gateway.partners.calls import BUDGET_RAN_OUT, PartnerCalls
from gateway.partners.health import Health

PARTNER = "xx-partner"
REGISTRATION = StoreRegistration(
    merchant=MerchantInfo(id="mer_1", name="Shop", country="TH", store_id="sto_1"),
    name="Shop, Silom",
    currency="THB",
    notify_url="http://gateway.test/partners/xx-partner/notify",
)
REQUEST = InboundRequest("POST", "/partners/xx-partner/notify", {}, b"order")
CONFIRMED = EntryOrderConfirmation(
    partner_order_id="po-1",
    partner_request_id="att_1",
    payer_amount=Money.of(23253, "CNY"),
    expires_at=datetime(2026, 11, 26, 3, 5, tzinfo=UTC),
)


class Registrar:
    """An adapter whose registrations answer `answer`, raise `error` or hang (neither)."""

    partner_id = PARTNER
    capabilities = frozenset({Operation.ENTRY_CODE})

    def __init__(self, answer: EntryCode | Outcome | None = None, error: Exception | None = None):
        self.answer = answer
        self.error = error
        self.confirmed: list[EntryOrderConfirmation] = []

    async def register_store(self, request: StoreRegistration) -> EntryCode | Outcome:
        if self.error is not None:
            raise self.error
        if self.answer is None:
            await asyncio.sleep(3600)
        assert self.answer is not None
        return self.answer

    def confirm_entry_order(
        self, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        if self.error is not None:
            raise self.error
        self.confirmed.append(confirmation)
        return Acknowledgment(200, {}, b"confirmed")

    def acknowledge(self, request: InboundRequest, accepted: bool) -> Acknowledgment:
        return Acknowledgment(200 if accepted else 503, {}, b"again")


def _calls(adapter: Registrar, failures: int = 2) -> tuple[PartnerCalls, Health, Metrics]:
    health = Health([PARTNER], failures=failures, cooldown=60)
    metrics = Metrics()
    calls = PartnerCalls({PARTNER: adapter}, health=health, metrics=metrics)  # type: ignore[dict-item]
    return calls, health, metrics


def _observed(metrics: Metrics, operation: str, outcome: str) -> Any:
    return metrics.registry.get_sample_value(
        "gateway_partner_call_seconds_count",
        {"partner": PARTNER, "operation": operation, "outcome": outcome},
    )


async def test_a_code_is_given_back_and_timed() -> None:
    code = EntryCode("00020101021129...", "ps-1")
    calls, _, metrics = _calls(Registrar(code))
    assert await calls.register_store(PARTNER, REGISTRATION) == code
    assert _observed(metrics, "entry_code", "succeeded") == 1


async def test_unanswered_registrations_feed_the_breaker() -> None:
    unreachable = Outcome.unknown(Delivery.NOT_SENT, "connection refused")
    calls, health, metrics = _calls(Registrar(unreachable))
    for _ in range(2):
        outcome = await calls.register_store(PARTNER, REGISTRATION)
        assert isinstance(outcome, Outcome) and outcome.status is OutcomeStatus.UNKNOWN
    assert not health.allows(PARTNER)  # recorded in the breaker like any call
    assert _observed(metrics, "entry_code", "unknown_not_sent") == 2


@pytest.mark.parametrize("error", [RuntimeError("bug"), TimeoutError()])
async def test_an_exception_or_the_budget_is_unknown(error: Exception) -> None:
    calls, _, _ = _calls(Registrar(error=error))
    outcome = await calls.register_store(PARTNER, REGISTRATION)
    assert isinstance(outcome, Outcome)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    hanging, _, _ = _calls(Registrar())
    deadline = asyncio.get_running_loop().time() + 0.01
    late = await hanging.register_store(PARTNER, REGISTRATION, deadline=deadline)
    assert isinstance(late, Outcome) and late.message == BUDGET_RAN_OUT


def test_a_confirmation_is_the_adapters_answer() -> None:
    adapter = Registrar()
    calls, _, metrics = _calls(adapter)
    assert calls.confirm_entry_order(PARTNER, REQUEST, CONFIRMED).body == b"confirmed"
    refusal = EntryOrderConfirmation.refused("po-2", EntryOrderRefusal.UNKNOWN_STORE, "no store")
    assert calls.confirm_entry_order(PARTNER, REQUEST, refusal).status == 200
    assert adapter.confirmed == [CONFIRMED, refusal]
    assert _observed(metrics, "confirm_entry_order", "succeeded") == 1
    assert _observed(metrics, "confirm_entry_order", "refused") == 1


def test_a_confirmation_the_adapter_cannot_make_asks_for_the_order_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, _, metrics = _calls(Registrar(error=ValueError("cannot sign")))
    ack = calls.confirm_entry_order(PARTNER, REQUEST, CONFIRMED)
    assert ack.status == 503  # "not processed": the partner asks again, and is answered the same
    assert any("ALERT adapter xx-partner: confirming" in r.getMessage() for r in caplog.records)
    assert _observed(metrics, "confirm_entry_order", "failed") == 1
