"""The safety net: the gateway itself fails after a partner call, and the money still ends right.

A failure is injected (monkeypatched) at each step after the partner charged: booking the outcome,
rendering the answer, the commit of the outcome (commit #2), the log line after it; for refunds
the booking of their outcome and the answer after it; for a cancel its final commit. Each time:

- the POS gets 201 with the payment (or refund) as stored: `processing`, the documented
  unknown-outcome answer, when the outcome was not committed; the final state when it was
  (a cancel: 202 pending, or 200);
- the item ends final (the resolver takes it over at once: no lease to wait for), the partner's
  books show one charge (one refund, one reversal), `ledger verify` passes;
- the payment's attempt carries a `gateway_error: RuntimeError` note, and one ALERT line is logged;
- the POS's retry with the same Idempotency-Key replays the final answer (never a 409 in use).

When the rendering fails every time (as a bug in a view would), the resolver still
ends the payment; its event and stored answer carry a minimal view (id, status, amounts). When
the net's own write fails too, the request's lease expiry hands the payment to the resolver.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import pytest

from adapters import mask_code
from adapters.alipayplus.client import AlipayPlusAdapter
from gateway.core.render import dumps
from gateway.payments.booking import book_outcome, book_refund, reverse_payment
from gateway.payments.views import payment_view
from gateway.refunds.views import refund_view
from gateway.storage import idempotency as records
from gateway.storage.payments import CommitOutcome
from gateway.storage.raw import OneStatement, RawTransaction
from tests.conftest import DATABASES, own_database
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Answer, Gateway, code
from tests.support.waiting import FINAL_REFUND, wait_final

APPROVE = "0000"


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


class Fault:
    """Raises RuntimeError on the first `times` calls (None: on every call)."""

    def __init__(self, times: int | None = 1) -> None:
        self.times = times
        self.fired = 0

    def fire(self) -> bool:
        if self.times is None or self.fired < self.times:
            self.fired += 1
            return True
        return False

    def wrap(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def failing(*args: Any, **kwargs: Any) -> Any:
            if self.fire():
                raise RuntimeError("injected after the partner call")
            return real(*args, **kwargs)

        return failing


def _fail_commit(monkeypatch: pytest.MonkeyPatch, fault: Fault) -> None:
    """Commit #2 of the POS request fails (rolled back), each time the writer tries it: alone or
    in a batch with others (their rerun piece by piece fails it again). The resolver's commit,
    which counts no pay calls, goes through."""
    real: Callable[[RawTransaction, Sequence[CommitOutcome]], Awaitable[list[bool]]]
    real = CommitOutcome.run_batch
    real_in_one = CommitOutcome.run_in_one_statement

    def fail_if_commit_2(commands: Sequence[CommitOutcome]) -> None:
        if any("pay_calls" in a for c in commands for a in c.attempt_changes):
            fault.fired += 1
            raise RuntimeError("injected: commit #2 fails")

    async def failing(
        cls: type[CommitOutcome], tx: RawTransaction, commands: Sequence[CommitOutcome]
    ) -> list[bool]:
        fail_if_commit_2(commands)
        return await real(tx, commands)

    async def failing_in_one(
        cls: type[CommitOutcome], db: OneStatement, commands: Sequence[CommitOutcome]
    ) -> list[bool] | None:
        fail_if_commit_2(commands)  # PostgreSQL tries the commit as one statement first
        return await real_in_one(db, commands)

    monkeypatch.setattr(CommitOutcome, "run_batch", classmethod(failing))
    monkeypatch.setattr(CommitOutcome, "run_in_one_statement", classmethod(failing_in_one))


def _alerts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("ALERT gateway_error")
    ]


async def _charges(gateway: Gateway, payment_id: str, partner: str) -> int:
    ledger = gateway.ledger(partner)
    return sum(
        ledger.charges_for(a["partner_request_id"]) for a in await gateway.attempts(payment_id)
    )


def _at_once(gateway: Gateway) -> float:
    """How long the resolver may take: under a lease (the POS request's expires later still),
    so the item was handed over, not found once the request's lease ran out."""
    return gateway.settings.durations.lease_duration.total_seconds()


async def _retry_pay(gateway: Gateway, wallet_code: str, key: str, reference: str) -> Answer:
    return await gateway.pay(wallet_code, 100_000, idempotency_key=key, reference=reference)


# Where the failure is injected, and what the POS is answered then (what is stored).
STEPS = {
    "booking": "processing",
    "rendering": "processing",
    "commit": "processing",
    "log_after_commit": "succeeded",
}


@pytest.mark.parametrize("step", list(STEPS))
async def test_a_failure_after_the_charge_still_ends_the_payment_once(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    step: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    fault = Fault()
    if step == "booking":
        monkeypatch.setattr("gateway.payments.service.book_outcome", fault.wrap(book_outcome))
    elif step == "rendering":  # the answer's JSON (its view comes from the booking)
        monkeypatch.setattr("gateway.payments.service.dumps", fault.wrap(dumps))
    elif step == "commit":
        _fail_commit(monkeypatch, fault)
    else:
        monkeypatch.setattr("gateway.payments.service.mask_code", fault.wrap(mask_code))

    wallet_code, key, reference = code("28", APPROVE), secrets.token_hex(12), f"AC-{step}"
    answer = await _retry_pay(gateway, wallet_code, key, reference)
    assert fault.fired >= 1, "the failure was not injected"
    assert answer.status == 201, answer.body
    assert answer.body["status"] == STEPS[step], answer.body
    assert "Idempotent-Replayed" not in answer.headers
    payment_id = answer.body["id"]

    final = await gateway.wait_final(payment_id, timeout=_at_once(gateway))
    assert final["status"] == "succeeded", final
    assert await _charges(gateway, payment_id, final["partner"]) == 1
    [attempt] = await gateway.attempts(payment_id)
    assert attempt["message"].startswith("gateway_error: RuntimeError"), attempt
    assert len(_alerts(caplog)) == 1, _alerts(caplog)
    assert payment_id in _alerts(caplog)[0]

    retry = await _retry_pay(gateway, wallet_code, key, reference)
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (201, "true"), retry
    assert retry.body == final, retry.body
    await assert_books_balance(gateway)


async def test_rendering_that_always_fails_still_ends_the_payment(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every rendering of this payment in the service layer fails (the POS answer, the event, the
    resolver's stored answer); GET, which the test reads with, still works."""
    caplog.set_level(logging.INFO, logger="gateway")
    fault = Fault(times=None)
    monkeypatch.setattr("gateway.payments.service.payment_view", fault.wrap(payment_view))
    monkeypatch.setattr("gateway.payments.booking.payment_view", fault.wrap(payment_view))

    wallet_code, key, reference = code("28", APPROVE), secrets.token_hex(12), "AC-always"
    answer = await _retry_pay(gateway, wallet_code, key, reference)
    assert answer.status == 201, answer.body
    # A minimal view: enough to poll with.
    assert answer.body["status"] == "processing", answer.body
    assert answer.body["amount"] == {"currency": "THB", "value": 100_000}
    payment_id = answer.body["id"]

    final = await gateway.wait_final(payment_id, timeout=_at_once(gateway))
    assert final["status"] == "succeeded", final
    assert await _charges(gateway, payment_id, final["partner"]) == 1
    [attempt] = await gateway.attempts(payment_id)
    assert attempt["message"].startswith("gateway_error: RuntimeError"), attempt
    assert len(_alerts(caplog)) == 1, _alerts(caplog)

    retry = await _retry_pay(gateway, wallet_code, key, reference)
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (201, "true"), retry
    assert retry.body["id"] == payment_id and retry.body["status"] == "succeeded", retry.body
    assert retry.body["merchant_reference"] == reference
    events = await gateway.request("GET", "/v1/events?limit=100")
    mine = [e for e in events.body["data"] if e["data"]["id"] == payment_id]
    assert [(e["type"], e["data"]["status"]) for e in mine] == [("payment.succeeded", "succeeded")]
    await assert_books_balance(gateway)


async def test_when_the_safety_nets_own_write_fails_the_lease_expiry_hands_it_over(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Commit #2 fails, and so does the net's note (the database is down, say): the POS still
    gets `processing`, and the resolver finds the payment when the request's lease runs out."""
    caplog.set_level(logging.INFO, logger="gateway")
    fault = Fault()
    _fail_commit(monkeypatch, fault)

    def unwritable(**_kwargs: Any) -> Callable[[Any], Awaitable[None]]:
        async def unit(_conn: Any) -> None:
            raise RuntimeError("injected: the note cannot be written either")

        return unit

    monkeypatch.setattr("gateway.storage.hand_over.hand_over_payment", unwritable)
    wallet_code, key, reference = code("28", APPROVE), secrets.token_hex(12), "AC-net-fails"
    answer = await _retry_pay(gateway, wallet_code, key, reference)
    assert fault.fired >= 1, "the failure was not injected"
    assert (answer.status, answer.body["status"]) == (201, "processing"), answer.body
    payment_id = answer.body["id"]

    durations = gateway.settings.durations
    lease = (durations.pos_wait_budget + durations.lease_duration).total_seconds()
    final = await gateway.wait_final(payment_id, timeout=lease + 5.0)
    assert final["status"] == "succeeded", final
    assert await _charges(gateway, payment_id, final["partner"]) == 1
    assert len(_alerts(caplog)) == 1, _alerts(caplog)
    retry = await _retry_pay(gateway, wallet_code, key, reference)
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (201, "true"), retry
    assert retry.body == final, retry.body
    await assert_books_balance(gateway)


REFUND_STEPS = {"booking": "processing", "answer_after_commit": "succeeded"}


@pytest.mark.parametrize("step", list(REFUND_STEPS))
async def test_a_failure_after_the_refund_call_still_ends_the_refund_once(
    gateway: Gateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    step: str,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway")
    paid = await gateway.pay(code("28", APPROVE), 100_000)
    assert paid.body["status"] == "succeeded", paid.body
    payment_id, partner = paid.body["id"], paid.body["partner"]
    fault = Fault()
    if step == "booking":
        monkeypatch.setattr("gateway.refunds.service.book_refund", fault.wrap(book_refund))
    else:
        monkeypatch.setattr("gateway.refunds.service.refund_view", fault.wrap(refund_view))

    key = secrets.token_hex(12)

    async def refund() -> Answer:
        return await gateway.request(
            "POST",
            f"/v1/payments/{payment_id}/refunds",
            json={"amount": {"currency": "THB", "value": 40_000}},
            idempotency_key=key,
        )

    answer = await refund()
    assert fault.fired >= 1, "the failure was not injected"
    assert answer.status == 201, answer.body
    assert answer.body["status"] == REFUND_STEPS[step], answer.body
    refund_id = answer.body["id"]

    final = await wait_final(
        lambda: gateway.read(f"/v1/refunds/{refund_id}"),
        final=FINAL_REFUND,
        timeout=_at_once(gateway),
    )
    assert final["status"] == "succeeded", final
    ledger = gateway.ledger(partner)
    [attempt] = await gateway.attempts(payment_id)
    assert ledger.refunds_for(attempt["partner_request_id"]) == 1
    assert ledger.charges_for(attempt["partner_request_id"]) == 1
    assert attempt["message"].startswith(f"gateway_error: RuntimeError on refund {refund_id}")
    assert len(_alerts(caplog)) == 1, _alerts(caplog)
    assert refund_id in _alerts(caplog)[0]

    retry = await refund()
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (201, "true"), retry
    assert retry.body == final, retry.body
    after = await gateway.request("GET", f"/v1/payments/{payment_id}")
    assert after.body["amount_refunded"] == {"currency": "THB", "value": 40_000}, after.body
    await assert_books_balance(gateway)


async def test_a_failure_in_a_cancels_final_commit_still_cancels_once(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The partner reversed the payment, then the commit of `cancelled` fails: the POS gets the
    pending cancel (202), the resolver asks again (a repeated cancel is harmless) and ends it."""
    caplog.set_level(logging.INFO, logger="gateway")
    paid = await gateway.pay(code("28", APPROVE), 100_000)
    assert paid.body["status"] == "succeeded", paid.body
    payment_id, partner = paid.body["id"], paid.body["partner"]
    fault = Fault()
    monkeypatch.setattr("gateway.payments.cancels.reverse_payment", fault.wrap(reverse_payment))
    key = secrets.token_hex(12)

    async def cancel() -> Answer:
        return await gateway.request(
            "POST", f"/v1/payments/{payment_id}/cancel", json={}, idempotency_key=key
        )

    answer = await cancel()
    assert fault.fired >= 1, "the failure was not injected"
    assert answer.status == 202, answer.body
    assert answer.body["cancellation"]["status"] == "pending", answer.body

    final = await wait_final(
        lambda: gateway.read(f"/v1/payments/{payment_id}"),
        final={"cancelled"},
        timeout=_at_once(gateway),
    )
    assert final["status"] == "cancelled", final
    [attempt] = await gateway.attempts(payment_id)
    kinds = [
        e.kind
        for e in gateway.ledger(partner).entries
        if e.payment_request_id == attempt["partner_request_id"]
    ]
    assert kinds == ["charge", "reversal"], kinds
    assert attempt["message"].startswith("gateway_error: RuntimeError on cancel"), attempt
    assert len(_alerts(caplog)) == 1, _alerts(caplog)

    retry = await cancel()
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (200, "true"), retry
    assert retry.body == final, retry.body
    await assert_books_balance(gateway)


async def test_a_second_cancels_lost_answer_is_still_stored(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Cancelling a payment already cancelled: nothing is pending, so no resolver will complete
    the key. When storing the answer fails, the net stores it, and the retry replays it."""
    caplog.set_level(logging.INFO, logger="gateway")
    paid = await gateway.pay(code("28", APPROVE), 100_000)
    payment_id = paid.body["id"]
    first = await gateway.request(
        "POST", f"/v1/payments/{payment_id}/cancel", json={}, idempotency_key=secrets.token_hex(8)
    )
    assert first.status == 200, first.body
    fault = Fault()
    monkeypatch.setattr(
        "gateway.storage.idempotency.complete_answer",
        _failing_once(fault, records.complete_answer),
    )
    key = secrets.token_hex(12)

    async def cancel() -> Answer:
        return await gateway.request(
            "POST", f"/v1/payments/{payment_id}/cancel", json={}, idempotency_key=key
        )

    answer = await cancel()
    assert fault.fired == 1, "the failure was not injected"
    assert answer.status == 200 and answer.body["status"] == "cancelled", answer.body
    assert len(_alerts(caplog)) == 1, _alerts(caplog)
    retry = await cancel()
    assert (retry.status, retry.headers.get("Idempotent-Replayed")) == (200, "true"), retry.body


def _failing_once(
    fault: Fault, real: Callable[..., Awaitable[None]]
) -> Callable[..., Awaitable[None]]:
    async def failing(*args: Any, **kwargs: Any) -> None:
        if fault.fire():
            raise RuntimeError("injected: storing the answer fails")
        await real(*args, **kwargs)

    return failing


async def test_an_adapter_that_raises_at_every_inquiry_still_ends_the_payment(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A pay that times out (0091), then inquiries whose adapter raises every time (a bug, or a
    signed answer it cannot read): each is an unknown outcome, so the schedule runs on to its
    deadline and cancels. At e0798dc the resolver failed at every sweep, `processing` for good."""
    caplog.set_level(logging.INFO, logger="gateway")

    async def raising(self: AlipayPlusAdapter, request: Any) -> Any:
        raise RuntimeError("injected: the adapter cannot read the answer")

    monkeypatch.setattr(AlipayPlusAdapter, "inquire", raising)
    key, reference = secrets.token_hex(12), f"AR-{secrets.token_hex(4)}"
    wallet_code = code("28", "0091")
    answer = await gateway.pay(wallet_code, 100_000, idempotency_key=key, reference=reference)
    assert answer.status == 201 and answer.body["status"] == "processing", answer.body
    durations = gateway.settings.durations
    wait = (durations.inquiry_deadline + durations.cancel_deadline).total_seconds()
    final = await gateway.wait_final(answer.body["id"], timeout=wait)
    assert final["status"] == "failed", final
    assert final["failure"]["code"] == "cancelled_after_timeout", final
    [attempt] = await gateway.attempts(final["id"])
    ledger = gateway.ledger(final["partner"])
    assert ledger.reversals_for(attempt["partner_request_id"]) == ledger.charges_for(
        attempt["partner_request_id"]
    )
    assert any("ALERT adapter th-siampay: inquire raised" in m for m in _messages(caplog))
    # The answer (`processing`) was stored: a retry replays it, and never pays again.
    retry = await gateway.pay(wallet_code, 100_000, idempotency_key=key, reference=reference)
    assert retry.headers.get("Idempotent-Replayed") == "true", retry.body
    assert retry.body == answer.body, retry.body
    await assert_books_balance(gateway)


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]
