"""A gateway process dies with payments, refunds and cancels in flight; the next one finishes them.

A real crash: gateway #1 is `gateway --profile test serve` in its own process, SIGKILLed while

- payments wait on their partner: 0091 (charged at once, the pay answer held past the pay
  timeout) and 0093 ("in process" until `confirm`), one of each plain and one with a merchant
  cancel already marked pending (202: the POS request still holds the payment's lease);
- refunds of 0095 payments wait on their partner (each refund is made at once, its answer held
  past the refund timeout), so they are `processing`, leased by #1, when it dies;
- a cancel of a succeeded payment races the kill (it may not have started, be pending at the
  partner, or be done).

Gateway #2, a fresh process on the same database, must take everything over once #1's leases run
out, and in the end every payment and refund is final, the partner's books show no code charged
twice, no refund made twice and never more refunded than charged, the gateway's states match the
partner's books, and `verify_ledger` passes. The POS retries of the lost requests (same
Idempotency-Key, same body) get an answer (a replay of the final state), not
`idempotency_key_in_use` for the 48 h a key is kept; the refund reservations survive the crash
(the rest of a payment can still be refunded, not a unit more). Runs on SQLite and PostgreSQL.

The second test: the POS retry of a pay killed after its cancel was marked pending gets the
cancelled payment (the cancel's final commit completes the pay's Idempotency-Key too).

`assert_money_moved_once` and the request helpers are shared with `test_lifecycle_processes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa

from gateway.ledger.verify import verify_ledger
from gateway.storage.db import open_database
from gateway.storage.payments import attempts as attempts_table
from gateway.storage.payments import payments as payments_table
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e._subprocess_gateway import (
    GatewayProcess,
    Reply,
    Stack,
    call,
    running_stack,
)
from tests.e2e.conftest import code
from tests.support.waiting import FINAL, FINAL_REFUND, eventually

PARTNER = "th-siampay"
refunds_table = metadata.tables["refunds"]


# --- POS requests that can be re-sent -----------------------------------------------------------


@dataclasses.dataclass
class Pos:
    """One POS request as sent, so that it can be retried byte for byte (same key, same body)."""

    label: str
    method: str
    path: str
    body: Any
    idempotency_key: str = dataclasses.field(default_factory=lambda: secrets.token_hex(12))

    async def send(
        self, session: aiohttp.ClientSession, stack: Stack, gateway: GatewayProcess
    ) -> Reply:
        return await call(
            session,
            gateway,
            self.method,
            self.path,
            key=stack.keys["th_pos"],
            json_body=self.body,
            idempotency_key=self.idempotency_key,
        )


def pay_request(last4: str, value: int = 100_000, *, label: str = "") -> Pos:
    reference = f"LC-{last4}-{secrets.token_hex(5)}"
    body = {
        "merchant_reference": reference,
        "amount": {"currency": "THB", "value": value},
        "payment_method": {"type": "wallet_code", "code": code("28", last4)},
    }
    return Pos(label or f"pay {last4}", "POST", "/v1/payments", body)


def refund_request(payment_id: str, value: int, *, label: str = "") -> Pos:
    body = {"amount": {"currency": "THB", "value": value}}
    return Pos(label or f"refund {value}", "POST", f"/v1/payments/{payment_id}/refunds", body)


def cancel_request(payment_id: str, *, label: str = "") -> Pos:
    return Pos(label or "cancel", "POST", f"/v1/payments/{payment_id}/cancel", {})


async def paid(
    session: aiohttp.ClientSession, stack: Stack, gateway: GatewayProcess, last4: str
) -> dict[str, Any]:
    """A payment that succeeds at once (0000, 0095, 0096, 0097)."""
    reply = await pay_request(last4).send(session, stack, gateway)
    assert reply.status == 201 and reply.body["status"] == "succeeded", reply
    body: dict[str, Any] = reply.body
    return body


async def answered(
    session: aiohttp.ClientSession,
    stack: Stack,
    gateway: GatewayProcess,
    pos: Pos,
    *,
    timeout: float,
) -> Reply:
    """Retry `pos` until it is no longer `idempotency_key_in_use` (that is only "while the first
    request is still running"); returns the first other answer."""

    async def probe() -> Reply | None:
        reply = await pos.send(session, stack, gateway)
        if (reply.status, reply.error) == (409, "idempotency_key_in_use"):
            return None
        return reply

    return await eventually(
        probe,
        timeout=timeout,
        interval=0.1,
        failure=lambda: (
            f"{pos.label}: still idempotency_key_in_use after {timeout} s\n" + stack.logs()
        ),
    )


# --- reading the database -----------------------------------------------------------------------


async def _select(stack: Stack, stmt: Any) -> list[dict[str, Any]]:
    db = open_database(stack.database_url)
    try:
        async with db.reader.connect() as conn:
            return [dict(r) for r in (await conn.execute(stmt)).mappings()]
    finally:
        await db.dispose()


async def payment_rows(stack: Stack, payment_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(payment_ids)
    rows = await _select(stack, sa.select(payments_table).where(payments_table.c.id.in_(ids)))
    return {r["id"]: r for r in rows}


async def refund_rows(stack: Stack, payment_ids: Iterable[str]) -> list[dict[str, Any]]:
    """Every refund of these payments, of both kinds (merchant, and a cancel's full refund)."""
    ids = list(payment_ids)
    stmt = sa.select(refunds_table).where(refunds_table.c.payment_id.in_(ids))
    return await _select(stack, stmt.order_by(refunds_table.c.created_at))


async def attempt_rows(stack: Stack, payment_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = list(payment_ids)
    return await _select(
        stack, sa.select(attempts_table).where(attempts_table.c.payment_id.in_(ids))
    )


async def located(stack: Stack, reference: str) -> tuple[str, str]:
    """(payment id, partner request id) of the payment with `reference`, once committed."""

    async def probe() -> tuple[str, str] | None:
        rows = await stack.payments_by_reference(reference)
        if not rows:
            return None
        _payment, attempts = await stack.payment_and_attempts(rows[0]["id"])
        if not attempts:
            return None
        return rows[0]["id"], attempts[-1]["partner_request_id"]

    return await eventually(probe, timeout=5.0, interval=0.005)


# --- the money: what the partner's books say, against the gateway's ------------------------------


async def assert_money_moved_once(stack: Stack, payment_ids: Iterable[str]) -> None:
    """Every payment and refund final; per the partner's books no wallet code and no partner
    request id charged twice, no refund request id paid twice, never more refunded than charged,
    nothing the gateway does not know of; the gateway's states and amounts agree with those books;
    and `verify_ledger` passes on the database."""
    ids = sorted(set(payment_ids))
    payments = await payment_rows(stack, ids)
    assert set(payments) == set(ids)
    attempts = await attempt_rows(stack, ids)
    refunds = await refund_rows(stack, ids)
    ledger = stack.ledger(PARTNER)
    entries = ledger.entries
    records = ledger.payments

    # The partner's books on their own: one charge per request id and per wallet code (every code
    # here is drawn at random, so a second charge of one is a second pay), one reversal at most,
    # one refund entry per refund request id.
    charges = Counter(e.payment_request_id for e in entries if e.kind == "charge")
    assert max(charges.values(), default=0) <= 1, charges
    reversals = Counter(e.payment_request_id for e in entries if e.kind == "reversal")
    assert max(reversals.values(), default=0) <= 1, reversals
    assert all(charges[rid] == 1 for rid in reversals), (charges, reversals)
    per_code = Counter(r.code_sha256 for r in records.values() if r.charged)
    assert max(per_code.values(), default=0) <= 1, "a wallet code was charged twice"
    refund_entries = [e for e in entries if e.kind == "refund"]
    per_refund = Counter(e.refund_request_id for e in refund_entries)
    assert max(per_refund.values(), default=0) <= 1, per_refund

    # Against the gateway: every partner request id the sandbox saw is one of our attempts, and
    # every refund made one of our refunds. (Only other tests' leftovers in the shared session
    # database, unknown to this stack's sandbox, may show up: as uncharged cancel markers.)
    by_rid = {a["partner_request_id"]: a for a in attempts}
    strangers = [r for rid, r in records.items() if rid not in by_rid]
    known = await _select(
        stack,
        sa.select(attempts_table.c.partner_request_id).where(
            attempts_table.c.partner_request_id.in_([r.payment_request_id for r in strangers])
        ),
    )
    assert len(known) == len(strangers), "the sandbox saw a request id the gateway never made"
    assert all(r.amount is None and not r.charged for r in strangers), strangers
    refunds_by_rid = {r["partner_request_id"]: r for r in refunds}
    assert set(per_refund) <= set(refunds_by_rid), set(per_refund) - set(refunds_by_rid)

    problems: list[str] = []
    for payment_id in ids:
        payment = payments[payment_id]
        status = payment["status"]
        assert status in FINAL, payment
        assert payment["partner"] == PARTNER, payment
        assert payment["lease_owner"] is None, payment
        assert payment["cancel_status"] in (None, "confirmed"), payment
        rids = [a["partner_request_id"] for a in attempts if a["payment_id"] == payment_id]
        charged = sum(charges[rid] for rid in rids)
        reversed_ = sum(reversals[rid] for rid in rids)
        mine = [r for r in refunds if r["payment_id"] == payment_id]
        assert all(r["status"] in ("succeeded", "failed") for r in mine), mine
        assert all(r["lease_owner"] is None for r in mine), mine
        # Refund entries of this payment at the partner, each tied to one of its refunds.
        paid_back = [e for e in refund_entries if e.payment_request_id in rids]
        for entry in paid_back:
            refund = refunds_by_rid[entry.refund_request_id]
            assert refund["payment_id"] == payment_id, (refund, entry)
        refunded_payer = sum(int(e.amount.value) for e in paid_back)
        assert refunded_payer <= payment["payer_value"], (payment, paid_back)
        for refund in mine:
            made = [e for e in paid_back if e.refund_request_id == refund["partner_request_id"]]
            if refund["status"] == "succeeded":
                assert len(made) == 1, (refund, made)
                assert int(made[0].amount.value) == refund["payer_value"], (refund, made)
            else:
                assert made == [], (refund, made)
        merchant_refunded = sum(
            r["amount_value"]
            for r in mine
            if r["kind"] == "merchant" and r["status"] == "succeeded"
        )
        assert payment["refunded_value"] == merchant_refunded, (payment, mine)
        assert merchant_refunded <= payment["amount_value"], payment
        cancel_refunds = [r for r in mine if r["kind"] == "cancel" and r["status"] == "succeeded"]

        if status == "succeeded":
            if (charged, reversed_) != (1, 0):
                problems.append(f"{payment_id} succeeded but charged {charged}, rev {reversed_}")
        elif status == "failed":
            if charged != reversed_ or paid_back:
                problems.append(f"{payment_id} failed but charged {charged}, rev {reversed_}")
        else:  # cancelled: nothing kept, by a reversal or (cancel refused) one full refund
            assert merchant_refunded == 0, payment
            if cancel_refunds:
                assert len(cancel_refunds) == 1 and reversed_ == 0, (payment, mine)
                if refunded_payer != payment["payer_value"] or charged != 1:
                    problems.append(f"{payment_id} cancelled by a refund of {refunded_payer}")
            elif charged != reversed_ or paid_back:
                problems.append(f"{payment_id} cancelled but charged {charged}, rev {reversed_}")
    assert not problems, problems

    db = open_database(stack.database_url)
    try:
        report = await verify_ledger(db, stack.settings)
    finally:
        await db.dispose()
    assert report.ok, report.summary()


# --- the crash ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this module's own: `ledger verify` reads every payment, and the session's
    databases hold other tests' payments through partners not configured here."""
    yield from own_database(request)


@pytest.fixture
async def stack(database_url: str, tmp_path: Path) -> AsyncIterator[Stack]:
    # Wide windows for the kill: 0091 pay and 0095 refund answers are held 3 s against 1 s
    # timeouts (a re-send or an inquiry would otherwise end them within 0.4 s), and 0093 stays
    # "in process" for 2 s (under the 2.5 s inquiry deadline). The rest of the test profile is
    # unchanged: the POS budget is 1.5 s, a lease 2.5 s more.
    overrides = {"hold": "3s", "pay": "1s", "refund": "1s", "confirm": "2s"}
    async with running_stack(tmp_path, database_url, profile_overrides=overrides) as running:
        yield running


@dataclasses.dataclass
class InFlight:
    pos: Pos
    task: asyncio.Task[Reply]
    payment_id: str = ""
    request_id: str = ""  # the partner request id (a payment's attempt, or a refund)


def _start(
    session: aiohttp.ClientSession, stack: Stack, gateway: GatewayProcess, pos: Pos
) -> InFlight:
    return InFlight(pos, asyncio.create_task(pos.send(session, stack, gateway)))


async def test_crash_with_payments_refunds_and_cancels_in_flight(stack: Stack) -> None:
    ledger = stack.ledger(PARTNER)
    async with aiohttp.ClientSession() as session:
        gw1 = stack.gateway("gw1")
        await gw1.start()
        # Before the crash, answered in full: payments to refund and to cancel.
        refundable = [await paid(session, stack, gw1, "0095") for _ in range(2)]
        to_cancel = await paid(session, stack, gw1, "0000")

        in_flight: list[InFlight] = []
        try:
            # 1. Payments waiting on the partner.
            pays = {
                label: _start(session, stack, gw1, pay_request(last4, label=label))
                for label, last4 in [
                    ("0091", "0091"),
                    ("0091+cancel", "0091"),
                    ("0093", "0093"),
                    ("0093+cancel", "0093"),
                ]
            }
            in_flight += pays.values()
            for flight in pays.values():
                reference = flight.pos.body["merchant_reference"]
                flight.payment_id, flight.request_id = await located(stack, reference)

            async def at_the_partner() -> bool | None:
                for flight in pays.values():
                    record = ledger.get(flight.request_id)
                    if record is None or (
                        flight.pos.label.startswith("0091") and not record.charged
                    ):
                        return None
                return True

            await eventually(at_the_partner, timeout=5.0, interval=0.005)

            # 2. Merchant cancels of two of them: marked pending, answered 202 at once (the POS
            # request still holds the payment's lease).
            cancels = {
                label: cancel_request(pays[label].payment_id, label=f"cancel {label}")
                for label in ("0091+cancel", "0093+cancel")
            }
            for pos in cancels.values():
                reply = await pos.send(session, stack, gw1)
                assert reply.status == 202, reply
                assert reply.body["cancellation"]["status"] == "pending", reply.body

            # 3. Refunds waiting on the partner: made there at once, their answers held.
            a, b = (p["id"] for p in refundable)
            refunds = [
                _start(session, stack, gw1, refund_request(a, 30_000, label="refund A 30%")),
                _start(session, stack, gw1, refund_request(a, 50_000, label="refund A 50%")),
                _start(session, stack, gw1, refund_request(b, 100_000, label="refund B 100%")),
            ]
            in_flight += refunds

            async def refunds_made() -> bool | None:
                return True if len(ledger.refunds) == len(refunds) else None

            await eventually(refunds_made, timeout=5.0, interval=0.002)

            # 4. A cancel of a succeeded payment, racing the kill.
            racing = cancel_request(to_cancel["id"], label="cancel racing the kill")
            racing_task = asyncio.create_task(racing.send(session, stack, gw1))
            await asyncio.sleep(0.01)

            answered_early = [f.pos.label for f in in_flight if f.task.done()]
            assert not answered_early, f"answered before the crash: {answered_early}"
            killed_at = datetime.now(UTC)
            gw1.kill()
            for flight in in_flight:
                with pytest.raises(aiohttp.ClientError):
                    reply = await asyncio.wait_for(flight.task, timeout=5.0)
                    pytest.fail(f"{flight.pos.label} answered by a dead gateway: {reply}")
            racing_reply: Reply | None = None
            with contextlib.suppress(aiohttp.ClientError):
                racing_reply = await asyncio.wait_for(racing_task, timeout=5.0)
        finally:
            for flight in in_flight:
                flight.task.cancel()
            gw1.kill()

        # The refunds were processing, leased by the dead process, and made at the partner.
        stored_refunds = await refund_rows(stack, [a, b])
        assert len(stored_refunds) == 3, stored_refunds
        assert {r["status"] for r in stored_refunds} == {"processing"}, stored_refunds
        assert all(r["lease_owner"] is not None for r in stored_refunds), stored_refunds
        assert {r["partner_request_id"] for r in stored_refunds} == set(ledger.refunds)
        for refund in stored_refunds:
            [flight] = [
                f
                for f in refunds
                if f.pos.path == f"/v1/payments/{refund['payment_id']}/refunds"
                and f.pos.body["amount"]["value"] == refund["amount_value"]
            ]
            flight.payment_id, flight.request_id = refund["payment_id"], refund["id"]
        pays_at_kill = {
            f.request_id: len(stack.calls.of(f.request_id, "pay")) for f in pays.values()
        }
        assert set(pays_at_kill.values()) == {1}, pays_at_kill

        # Gateway #2 on the same database.
        gw2 = stack.gateway("gw2")
        await gw2.start()
        lease_end = max(r["lease_expires_at"] for r in stored_refunds)
        bound = (lease_end - datetime.now(UTC)).total_seconds() + 8.0

        # A retry while #1's lease still runs is "in use" (or, if #2 was quick, the replay); it
        # never starts a second refund.
        early = await refunds[0].pos.send(session, stack, gw2)
        assert (early.status, early.error) in {(409, "idempotency_key_in_use"), (201, None)}, early
        assert early.status == 409 or early.replayed, early

        # Everything ends.
        final_payments = {
            label: await stack.wait_final(
                session, gw2, f"/v1/payments/{f.payment_id}", timeout=bound
            )
            for label, f in pays.items()
        }
        final_refunds = {
            f.pos.label: await stack.wait_final(
                session,
                gw2,
                f"/v1/refunds/{f.request_id}",
                timeout=bound,
                final=FINAL_REFUND,
            )
            for f in refunds
        }

        # The POS retries of every lost request get the final state, as a replay.
        for flight in refunds:
            retry = await answered(session, stack, gw2, flight.pos, timeout=bound)
            assert (retry.status, retry.error) == (201, None), retry
            assert retry.replayed, (flight.pos.label, retry.headers)
            assert retry.body == final_refunds[flight.pos.label], retry.body
        # (The two cancelled while in flight: see the next test.)
        for label in ("0091", "0093"):
            retry = await answered(session, stack, gw2, pays[label].pos, timeout=bound)
            assert (retry.status, retry.error) == (201, None), retry
            assert retry.replayed, (label, retry.headers)
            assert retry.body == final_payments[label], retry.body
        for pos in cancels.values():  # answered 202 before the crash: that answer
            retry = await answered(session, stack, gw2, pos, timeout=bound)
            assert (retry.status, retry.replayed) == (202, True), retry
        # The racing cancel: whatever the crash cut, its retry is answered and the payment ends
        # cancelled (a cancel cut before its first commit is simply run by the retry).
        retry = await answered(session, stack, gw2, racing, timeout=bound)
        assert retry.status in (200, 202) and retry.error is None, retry
        if racing_reply is not None:  # answered before the kill: the retry replays that
            assert retry.replayed and retry.text == racing_reply.text, (retry, racing_reply)
        cancelled = await stack.wait_final(
            session, gw2, f"/v1/payments/{to_cancel['id']}", timeout=bound
        )
        assert cancelled["status"] == "cancelled", cancelled

        # The reservations survived the crash: payment A has 20 % left, B nothing.
        after_a = await stack.read(session, gw2, f"/v1/payments/{a}")
        assert after_a["amount_refunded"] == {"currency": "THB", "value": 80_000}, after_a
        after_b = await stack.read(session, gw2, f"/v1/payments/{b}")
        assert after_b["amount_refunded"] == {"currency": "THB", "value": 100_000}, after_b
        too_much = await refund_request(a, 20_001).send(session, stack, gw2)
        assert (too_much.status, too_much.error) == (409, "refund_exceeds_payment"), too_much
        nothing_left = await refund_request(b, 1).send(session, stack, gw2)
        assert (nothing_left.status, nothing_left.error) == (409, "refund_exceeds_payment")
        rest = await refund_request(a, 20_000).send(session, stack, gw2)
        assert rest.status == 201, rest
        rest_final = await stack.wait_final(
            session, gw2, f"/v1/refunds/{rest.body['id']}", timeout=10.0, final=FINAL_REFUND
        )
        assert rest_final["status"] == "succeeded", rest_final

        await asyncio.sleep(0.3)  # anything late (a stray pay or refund) would arrive now

    # What each in-flight item became; A's refunds add up to exactly what the tourist paid.
    record_a = ledger.find(payment_request_id=None, payment_id=refundable[0]["partner_reference"])
    assert record_a is not None
    paid_a = refundable[0]["payer_amount"]["value"]
    assert ledger.refunded_for(record_a.payment_request_id) == paid_a
    assert final_payments["0091"]["status"] == "succeeded", final_payments
    assert final_payments["0093"]["status"] == "succeeded", final_payments
    assert final_payments["0091+cancel"]["status"] == "cancelled", final_payments
    assert final_payments["0093+cancel"]["status"] == "cancelled", final_payments
    assert {r["status"] for r in final_refunds.values()} == {"succeeded"}, final_refunds
    # No pay after the crash (the resolver never pays), no refund re-sent (each had reached the
    # partner: an inquiry finds it).
    for flight in pays.values():
        assert not stack.calls.of(flight.request_id, "pay", after=killed_at), flight.pos.label
    for flight in refunds:
        record = ledger.get_refund(flight.request_id)
        assert record is not None and record.succeeded and record.calls == 1, record
    ids = [f.payment_id for f in pays.values()] + [a, b, to_cancel["id"]]
    await assert_money_moved_once(stack, ids)


async def test_pos_retry_of_a_killed_pay_that_was_then_cancelled_gets_an_answer(
    stack: Stack,
) -> None:
    """The pay's POS request died with gateway #1 after a cancel was marked pending (202). Gateway
    #2's resolver carries the cancel out; the POS's retry of the lost pay (same key, same body)
    must then get the cancelled payment as a replay, like a pay resolved by inquiry does, not
    `idempotency_key_in_use` for the 48 h the key is kept."""
    async with aiohttp.ClientSession() as session:
        gw1 = stack.gateway("gw1")
        await gw1.start()
        pay = pay_request("0091")
        task = asyncio.create_task(pay.send(session, stack, gw1))
        try:
            payment_id, rid = await located(stack, pay.body["merchant_reference"])

            async def charged() -> bool | None:
                record = stack.ledger(PARTNER).get(rid)
                return True if record is not None and record.charged else None

            await eventually(charged, timeout=5.0, interval=0.005)
            cancel = await cancel_request(payment_id).send(session, stack, gw1)
            assert cancel.status == 202, cancel
            assert not task.done()
            gw1.kill()
            with pytest.raises(aiohttp.ClientError):
                await asyncio.wait_for(task, timeout=5.0)
        finally:
            task.cancel()
            gw1.kill()
        stored, _ = await stack.payment_and_attempts(payment_id)
        assert stored is not None
        gw2 = stack.gateway("gw2")
        await gw2.start()
        bound = (stored["lease_expires_at"] - datetime.now(UTC)).total_seconds() + 8.0
        final = await stack.wait_final(session, gw2, f"/v1/payments/{payment_id}", timeout=bound)
        assert final["status"] == "cancelled", final
        # The final state and the stored answer are written together: one retry is enough.
        retry = await pay.send(session, stack, gw2)
        assert (retry.status, retry.error) == (201, None), retry
        assert retry.replayed and retry.body == final, retry
    await assert_money_moved_once(stack, [payment_id])
