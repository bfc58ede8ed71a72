"""A gateway process dies mid-pay; the next one resolves the payment by inquiry, never a new pay.

A real crash: gateway #1 is `gateway --profile test serve` in its own process, SIGKILLed while its
pay call is open (the sandbox holds 0091/0092 answers for 3 s here, past the gateway's pay
timeout of 1 s; the kill follows the pay's arrival within milliseconds), so neither commit #2 nor
any cleanup runs and the POS never gets an answer. Gateway #2, a fresh process on the same
database, must wait for #1's lease to expire (pos_wait_budget + lease_duration after creation),
inquire, and then:

- 0091 (charged, answer lost): the inquiry finds SUCCESS -> `succeeded`, exactly one charge, no
  pay call after the crash, no reversal;
- 0092 (never recorded): the inquiry says not found, the deadline is past -> cancel ->
  `failed` / `cancelled_after_timeout`, no charge, the cancel recorded at the partner.

Both then check that the POS's retry of the lost request (same Idempotency-Key) is answered with
the final payment, as a replay. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e._subprocess_gateway import Reply, Stack, call, running_stack
from tests.e2e.conftest import code
from tests.support.waiting import eventually

PARTNER = "th-siampay"


@dataclasses.dataclass(frozen=True)
class Crash:
    payment_id: str
    partner_request_id: str
    pay_calls_at_kill: int  # the sandbox's count for that request id
    killed_at: datetime
    body: dict[str, Any]  # the POS request that never got an answer
    idempotency_key: str


async def _crash_mid_pay(stack: Stack, session: aiohttp.ClientSession, last4: str) -> Crash:
    """Start gateway #1, send a POS payment, SIGKILL #1 while its pay call is open."""
    gw1 = stack.gateway("gw1")
    await gw1.start()
    reference = f"CRASH-{last4}-{secrets.token_hex(4)}"
    body = {
        "merchant_reference": reference,
        "amount": {"currency": "THB", "value": 125050},
        "payment_method": {"type": "wallet_code", "code": code("28", last4)},
    }
    idempotency_key = secrets.token_hex(12)
    post = asyncio.create_task(
        call(
            session,
            gw1,
            "POST",
            "/v1/payments",
            key=stack.keys["th_pos"],
            json_body=body,
            idempotency_key=idempotency_key,
        )
    )
    try:
        # The pay reached the partner (0091: and was charged); the gateway is waiting for it.
        async def pay_arrived() -> str | None:
            if post.done():
                raise AssertionError(f"gateway #1 answered before the crash: {post.result()}")
            ids = stack.calls.pay_request_ids(PARTNER)
            if not ids:
                return None
            (rid,) = ids
            assert rid is not None
            if last4 == "0091":
                record = stack.ledger(PARTNER).get(rid)
                if record is None or not record.charged or record.pay_calls < 1:
                    return None
            return rid

        partner_request_id = await eventually(pay_arrived, timeout=5.0, interval=0.002)
        record = stack.ledger(PARTNER).get(partner_request_id)
        pay_calls_at_kill = record.pay_calls if record is not None else 0
        pays_logged_at_kill = len(stack.calls.of(partner_request_id, "pay"))
        assert pays_logged_at_kill == 1
        killed_at = datetime.now(UTC)
        gw1.kill()
        assert not gw1.alive
        # The POS never gets an answer from the dead process.
        with pytest.raises(aiohttp.ClientError):
            reply: Reply = await asyncio.wait_for(post, timeout=5.0)
            pytest.fail(f"gateway #1 answered: {reply}")
    finally:
        post.cancel()
        gw1.kill()

    # Commit #1 happened before the partner call: the payment exists, processing, leased by #1.
    rows = await stack.payments_by_reference(reference)
    assert len(rows) == 1, rows
    payment = rows[0]
    assert payment["status"] == "processing"
    assert payment["lease_owner"] is not None
    durations = stack.settings.durations
    assert payment["next_action_at"] - payment["created_at"] == durations.pos_wait_budget
    assert (
        payment["lease_expires_at"] - payment["created_at"]
        == durations.pos_wait_budget + durations.lease_duration
    )
    stored, attempts = await stack.payment_and_attempts(payment["id"])
    assert stored is not None
    assert [a["partner_request_id"] for a in attempts] == [partner_request_id]
    assert attempts[0]["partner"] == PARTNER
    return Crash(
        payment["id"], partner_request_id, pay_calls_at_kill, killed_at, body, idempotency_key
    )


async def _resolved_by_restart(
    stack: Stack, session: aiohttp.ClientSession, payment_id: str
) -> tuple[dict[str, Any], datetime]:
    """Start gateway #2 and wait until it makes the payment final; returns (payment, lease end)."""
    before, _ = await stack.payment_and_attempts(payment_id)
    assert before is not None
    lease_expires_at: datetime = before["lease_expires_at"]
    gw2 = stack.gateway("gw2")
    await gw2.start()

    # Bounded: the lease must run out first, then one inquiry (and for 0092 a cancel) follows.
    bound = (lease_expires_at - datetime.now(UTC)).total_seconds() + 5.0
    payment = await stack.wait_final(session, gw2, f"/v1/payments/{payment_id}", timeout=bound)
    await asyncio.sleep(0.3)  # anything late (a stray pay) would arrive now
    return payment, lease_expires_at


def _check_resumed_after_the_lease(
    stack: Stack, partner_request_id: str, killed_at: datetime, lease_expires_at: datetime
) -> list[str]:
    """Operations the partner saw after the crash, in order; no pay among them."""
    after = stack.calls.of(partner_request_id, after=killed_at)
    operations = [c.operation for c in after]
    assert "pay" not in operations, operations
    assert len(stack.calls.of(partner_request_id, "pay")) == 1  # the one gateway #1 sent
    assert operations and operations[0] == "inquiryPayment", operations  # always ask first
    # Nobody touched the payment while gateway #1's lease was still running.
    assert after[0].at >= lease_expires_at, (after[0].at, lease_expires_at)
    return operations


async def _retry_after_restart(
    stack: Stack, session: aiohttp.ClientSession, crash: Crash, resolved: dict[str, Any]
) -> None:
    """The POS lost its answer in the crash and retries with the same Idempotency-Key.

    Once the payment is final it gets that payment as a replay, never a new pay, and not
    `idempotency_key_in_use` for the 48 h the key is kept (in use is only "while the first
    request is still running"). Regression: the resolver once left the key `in_progress`.
    """
    [gw2] = [p for p in stack.processes if p.name == "gw2"]
    retry = await call(
        session,
        gw2,
        "POST",
        "/v1/payments",
        key=stack.keys["th_pos"],
        json_body=crash.body,
        idempotency_key=crash.idempotency_key,
    )
    assert (retry.status, retry.error) == (201, None), retry
    assert retry.replayed, retry.headers
    assert retry.body == resolved
    assert len(stack.calls.of(crash.partner_request_id, "pay")) == 1  # still one pay, ever


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> Any:
    # The crash must land while gateway #1 waits on its pay: the sandbox holds 0091/0092 answers
    # for 3 s and the pay timeout is 1 s (test profile: 0.8 s, 0.4 s), so the kill has a wide
    # window before any re-sent pay. The rest of the test profile is unchanged.
    overrides = {"hold": "3s", "pay": "1s"}
    async with running_stack(tmp_path, database_url, profile_overrides=overrides) as running:
        yield running


async def test_restart_resolves_a_charged_payment_by_inquiry_without_a_second_pay(
    stack: Stack,
) -> None:
    async with aiohttp.ClientSession() as session:
        crash = await _crash_mid_pay(stack, session, "0091")
        payment_id, rid = crash.payment_id, crash.partner_request_id
        assert crash.pay_calls_at_kill == 1
        payment, lease_end = await _resolved_by_restart(stack, session, payment_id)
        await _retry_after_restart(stack, session, crash, payment)

    assert payment["status"] == "succeeded", payment
    assert payment["failure"] is None
    ledger = stack.ledger(PARTNER)
    record = ledger.get(rid)
    assert record is not None and record.charged and not record.reversed
    assert payment["partner_reference"] == record.payment_id
    assert ledger.charges_for(rid) == 1
    assert ledger.reversals_for(rid) == 0
    assert record.pay_calls == crash.pay_calls_at_kill  # no pay after the crash
    operations = _check_resumed_after_the_lease(stack, rid, crash.killed_at, lease_end)
    assert "cancel" not in operations, operations
    # The only money that moved is one charge, of this payment's payer amount.
    [charge] = [e for e in ledger.entries if e.payment_request_id == rid]
    assert charge.kind == "charge"
    assert (charge.amount.currency, int(charge.amount.value)) == (
        payment["payer_amount"]["currency"],
        payment["payer_amount"]["value"],
    )
    stored, _attempts = await stack.payment_and_attempts(payment_id)
    assert stored is not None and stored["lease_owner"] is None
    assert stored["next_action_at"] is None


async def test_restart_cancels_a_payment_the_partner_never_recorded(stack: Stack) -> None:
    async with aiohttp.ClientSession() as session:
        crash = await _crash_mid_pay(stack, session, "0092")
        payment_id, rid = crash.payment_id, crash.partner_request_id
        assert crash.pay_calls_at_kill == 0  # 0092 is never recorded
        payment, lease_end = await _resolved_by_restart(stack, session, payment_id)
        await _retry_after_restart(stack, session, crash, payment)

    assert payment["status"] == "failed", payment
    assert payment["failure"]["code"] == "cancelled_after_timeout"
    ledger = stack.ledger(PARTNER)
    assert ledger.charges_for(rid) == 0
    assert ledger.reversals_for(rid) == 0
    record = ledger.get(rid)  # the cancel left a marker that refuses any late pay
    assert record is not None and record.status == "CANCELLED" and not record.charged
    assert record.pay_calls == 0
    operations = _check_resumed_after_the_lease(stack, rid, crash.killed_at, lease_end)
    assert "cancel" in operations, operations
    assert operations.index("inquiryPayment") < operations.index("cancel")
    stored, _attempts = await stack.payment_and_attempts(payment_id)
    assert stored is not None and stored["lease_owner"] is None
