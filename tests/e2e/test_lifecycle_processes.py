"""Refunds and cancels driven through two gateway processes sharing one PostgreSQL database.

Each gateway is its own operating-system process (`gateway --profile test serve`) with its own
engine, writer and resolver, so only the database decides between racing requests: the refund
and cancel units lock the payment row (`FOR UPDATE`), and leases decide which process works on
an unfinished payment or refund. Driven concurrently, every request alternating between the two:

- payments of every kind (0000, 0091 answered late, 0093 "in process", 0095, 0096, 0097), two
  0093 ones cancelled through the *other* process while the first still pays (the cancel waits,
  202, and whichever process frees the lease first carries it out);
- twenty 10 % refunds of one payment: exactly ten accepted, the rest `refund_exceeds_payment`;
- three 40 % refunds of an 0095 payment (answers held: unknown, then found by inquiry): exactly
  two accepted; two refunds of an 0096 payment: both declined, nothing reserved afterwards;
- six cancels (six keys) of one payment, six cancels with one key of another, two cancels of an
  0097 payment (the partner refuses: one full refund instead), and refunds racing a cancel of one
  payment (a refund and a cancel never both win).

Then everything is final, nothing is charged or refunded twice per the partner's books, refunds
never exceed the payment, the states match those books, and `verify_ledger` passes
(`assert_money_moved_once`, shared with `test_lifecycle_recovery.py`). SQLite serves one process,
so this runs on PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import own_database
from tests.e2e._subprocess_gateway import (
    GatewayProcess,
    Reply,
    Stack,
    running_stack,
)
from tests.e2e.test_lifecycle_recovery import (
    PARTNER,
    Pos,
    assert_money_moved_once,
    attempt_rows,
    cancel_request,
    located,
    pay_request,
    payment_rows,
    refund_request,
    refund_rows,
)
from tests.support.waiting import FINAL_REFUND

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module", params=["postgresql"])
def own_postgresql_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of this module's own: its checks run `ledger verify` over every payment, and
    the session's database holds other tests' payments through partners not configured here."""
    yield from own_database(request)


@pytest.fixture
async def two_gateways(
    own_postgresql_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, list[GatewayProcess]]]:
    async with running_stack(tmp_path, own_postgresql_url) as stack:
        gateways = [stack.gateway("gw-a"), stack.gateway("gw-b")]
        await asyncio.gather(*(g.start() for g in gateways))
        try:
            yield stack, gateways
        finally:
            await asyncio.gather(*(g.stop() for g in gateways))


async def _all_at_once(
    session: aiohttp.ClientSession,
    stack: Stack,
    sends: list[tuple[Pos, GatewayProcess]],
) -> list[Reply]:
    """Every request released at once; the replies in the order given."""
    start = asyncio.Event()

    async def one(pos: Pos, gateway: GatewayProcess) -> Reply:
        await start.wait()
        return await pos.send(session, stack, gateway)

    tasks = [asyncio.create_task(one(pos, gateway)) for pos, gateway in sends]
    await asyncio.sleep(0)
    start.set()
    return await asyncio.gather(*tasks)


def _no_server_errors(stack: Stack, replies: list[Reply]) -> None:
    errors = [r for r in replies if r.status >= 500]
    assert not errors, f"{errors}\n{stack.logs()}"


def _counts(replies: list[Reply]) -> Counter[tuple[int, str | None]]:
    return Counter((r.status, r.error) for r in replies)


async def test_two_processes_drive_payments_refunds_and_cancels(
    two_gateways: tuple[Stack, list[GatewayProcess]],
) -> None:
    stack, gateways = two_gateways
    ledger = stack.ledger(PARTNER)
    async with aiohttp.ClientSession() as session:
        # --- payments of every kind, across both processes; two 0093s cancelled meanwhile ------
        kinds = {
            "split": "0000",
            "race": "0000",
            "cancel many keys": "0000",
            "cancel one key": "0000",
            "held refunds": "0095",
            "declined refunds": "0096",
            "refused cancel": "0097",
            "late 1": "0091",
            "late 2": "0091",
            "plain 1": "0000",
            "plain 2": "0000",
            "in process 1": "0093",
            "in process 2": "0093",
            "cancelled in process 1": "0093",
            "cancelled in process 2": "0093",
        }
        pays = {label: pay_request(last4, label=label) for label, last4 in kinds.items()}
        pay_sends = [(pos, gateways[i % 2]) for i, pos in enumerate(pays.values())]
        paying = asyncio.create_task(_all_at_once(session, stack, pay_sends))
        # A cancel through the other process while the 0093 payment is still "in process".
        early_cancels: dict[str, Pos] = {}
        early_replies: list[Reply] = []
        for label in ("cancelled in process 1", "cancelled in process 2"):
            payment_id, _rid = await located(stack, pays[label].body["merchant_reference"])
            index = list(pays).index(label)
            other = gateways[(index + 1) % 2]
            early_cancels[label] = cancel_request(payment_id, label=f"cancel {label}")
            early_replies.append(await early_cancels[label].send(session, stack, other))
        pay_replies = await paying
        _no_server_errors(stack, pay_replies + early_replies)
        assert {r.status for r in pay_replies} == {201}, _counts(pay_replies)
        for reply in early_replies:
            assert reply.status in (200, 202), reply
            assert reply.body["cancellation"] is not None, reply.body
        payment_ids = {
            label: reply.body["id"] for label, reply in zip(pays, pay_replies, strict=True)
        }
        payment_bodies = {label: reply.body for label, reply in zip(pays, pay_replies, strict=True)}
        for label, last4 in kinds.items():
            if last4 in ("0000", "0095", "0096", "0097") and not label.startswith("cancelled"):
                assert payment_bodies[label]["status"] == "succeeded", payment_bodies[label]

        # --- refunds and cancels, all at once, alternating between the processes ----------------
        split = [
            refund_request(payment_ids["split"], 10_000, label=f"split {i}") for i in range(20)
        ]
        held = [
            refund_request(payment_ids["held refunds"], 40_000, label=f"held {i}") for i in range(3)
        ]
        declined = [
            refund_request(payment_ids["declined refunds"], 50_000, label=f"declined {i}")
            for i in range(2)
        ]
        many_keys = [
            cancel_request(payment_ids["cancel many keys"], label=f"cancel {i}") for i in range(6)
        ]
        one_key = cancel_request(payment_ids["cancel one key"], label="cancel one key")
        refused = [
            cancel_request(payment_ids["refused cancel"], label=f"refused {i}") for i in range(2)
        ]
        race_refunds = [
            refund_request(payment_ids["race"], 10_000, label=f"race refund {i}") for i in range(5)
        ]
        race_cancel = cancel_request(payment_ids["race"], label="race cancel")
        groups: dict[str, list[Pos]] = {
            "split": split,
            "held": held,
            "declined": declined,
            "many keys": many_keys,
            "one key": [one_key] * 6,
            "refused": refused,
            "race": [*race_refunds[:3], race_cancel, *race_refunds[3:]],
        }
        # Interleave the groups so that they overlap in time, each alternating processes.
        columns = [
            [(pos, gateways[i % 2], group) for i, pos in enumerate(requests)]
            for group, requests in groups.items()
        ]
        sends = [s for row in itertools.zip_longest(*columns) for s in row if s is not None]
        replies = await _all_at_once(session, stack, [(p, g) for p, g, _ in sends])
        _no_server_errors(stack, replies)
        by_group: dict[str, list[tuple[Pos, Reply]]] = {}
        for (pos, _gateway, group), reply in zip(sends, replies, strict=True):
            by_group.setdefault(group, []).append((pos, reply))
        assert {r.gateway for r in replies} == {"gw-a", "gw-b"}

        # Twenty 10 % refunds: exactly ten accepted, ten refused. The partner answers at once,
        # but an answer may still come back `processing` if the POS budget (1.5 s here) ran out
        # first, e.g. while a write batch waited on a row lock: such a refund must end succeeded.
        got = [r for _p, r in by_group["split"]]
        won = [r for r in got if r.status == 201]
        assert len(won) == 10, _counts(got)
        lost = [r for r in got if r.status != 201]
        assert all(r.error == "refund_exceeds_payment" for r in lost), _counts(got)
        assert {r.body["status"] for r in won} <= {"succeeded", "processing"}, won
        accepted = {"split": [r.body["id"] for r in won]}

        # Three 40 % refunds of the 0095 payment: two accepted (unknown at first, maybe).
        got = [r for _p, r in by_group["held"]]
        assert _counts(got) == {(201, None): 2, (409, "refund_exceeds_payment"): 1}, _counts(got)
        accepted["held"] = [r.body["id"] for r in got if r.status == 201]
        # The 0096 payment's refunds are declined for good (both fit: each reserves 50 %).
        got = [r for _p, r in by_group["declined"]]
        assert _counts(got) == {(201, None): 2}, _counts(got)
        assert {r.body["status"] for r in got} <= {"failed", "processing"}, got
        accepted["declined"] = [r.body["id"] for r in got]

        # Cancels with six keys: every one answered as a cancel (done, or waiting on another).
        got = [r for _p, r in by_group["many keys"]]
        assert all(r.status in (200, 202) and r.error is None for r in got), _counts(got)
        assert all(r.body["cancellation"] is not None for r in got)
        # Six cancels with one key: one ran; the others saw it running or replay its answer.
        got = [r for _p, r in by_group["one key"]]
        fresh = [r for r in got if r.status in (200, 202) and not r.replayed]
        assert len(fresh) == 1, [(r.status, r.error, r.replayed) for r in got]
        for reply in got:
            if reply is not fresh[0]:
                in_use = (reply.status, reply.error) == (409, "idempotency_key_in_use")
                assert in_use or (reply.replayed and reply.text == fresh[0].text), reply
        # The 0097 payment's cancels: answered as cancels; the partner refuses, a refund follows.
        got = [r for _p, r in by_group["refused"]]
        assert all(r.status in (200, 202) and r.error is None for r in got), _counts(got)

        # Refunds racing a cancel: a refund and a cancel never both win.
        race = {pos.label: reply for pos, reply in by_group["race"]}
        cancel_reply = race.pop("race cancel")
        refund_replies = list(race.values())
        race_won = [r for r in refund_replies if r.status == 201]
        if cancel_reply.status in (200, 202):
            assert not race_won, (cancel_reply, _counts(refund_replies))
            assert _counts(refund_replies) == {(409, "payment_not_refundable"): 5}
        else:
            assert (cancel_reply.status, cancel_reply.error) == (409, "payment_not_cancellable")
            assert race_won, _counts(refund_replies)
            assert all(
                r.error == "payment_not_refundable" for r in refund_replies if r.status != 201
            )

        # --- everything ends ---------------------------------------------------------------------
        finals = {}
        for i, (label, payment_id) in enumerate(payment_ids.items()):
            finals[label] = await stack.wait_final(
                session, gateways[i % 2], f"/v1/payments/{payment_id}", timeout=10.0
            )
        refunds = await refund_rows(stack, payment_ids.values())
        refund_finals = {}
        for i, refund in enumerate(refunds):
            path = f"/v1/refunds/{refund['id']}"
            if refund["kind"] == "merchant":
                refund_finals[refund["id"]] = await stack.wait_final(
                    session, gateways[i % 2], path, timeout=10.0, final=FINAL_REFUND
                )
        # Read again once the refunds are final (a payment is final before its refunds are).
        for i, (label, payment_id) in enumerate(payment_ids.items()):
            finals[label] = await stack.read(session, gateways[i % 2], f"/v1/payments/{payment_id}")

    statuses = {label: body["status"] for label, body in finals.items()}
    expected = {
        "split": "succeeded",
        "cancel many keys": "cancelled",
        "cancel one key": "cancelled",
        "held refunds": "succeeded",
        "declined refunds": "succeeded",
        "refused cancel": "cancelled",
        "late 1": "succeeded",
        "late 2": "succeeded",
        "plain 1": "succeeded",
        "plain 2": "succeeded",
        "in process 1": "succeeded",
        "in process 2": "succeeded",
        "cancelled in process 1": "cancelled",
        "cancelled in process 2": "cancelled",
        "race": "cancelled" if cancel_reply.status in (200, 202) else "succeeded",
    }
    assert statuses == expected, statuses

    # What the partner returned, payment by payment.
    attempts = await attempt_rows(stack, payment_ids.values())
    rids: dict[str, str] = {a["payment_id"]: a["partner_request_id"] for a in attempts}
    assert len(rids) == len(attempts)  # one attempt each: no second pay anywhere

    def rid(label: str) -> str:
        return rids[payment_ids[label]]

    split_payer = payment_bodies["split"]["payer_amount"]["value"]
    assert ledger.refunded_for(rid("split")) == split_payer  # ten cumulative 10 %: exactly all
    assert finals["split"]["amount_refunded"]["value"] == 100_000
    assert ledger.refunds_for(rid("held refunds")) == 2
    assert finals["held refunds"]["amount_refunded"]["value"] == 80_000
    assert ledger.refunds_for(rid("declined refunds")) == 0
    assert finals["declined refunds"]["amount_refunded"]["value"] == 0
    for label in ("cancel many keys", "cancel one key"):
        assert ledger.reversals_for(rid(label)) == 1, label
    refused_rid = rid("refused cancel")
    assert ledger.reversals_for(refused_rid) == 0
    assert ledger.refunds_for(refused_rid) == 1
    assert (
        ledger.refunded_for(refused_rid)
        == payment_bodies["refused cancel"]["payer_amount"]["value"]
    )
    assert all(f["status"] in FINAL_REFUND for f in refund_finals.values())
    assert {refund_finals[i]["status"] for i in accepted["split"]} == {"succeeded"}
    assert {refund_finals[i]["status"] for i in accepted["held"]} == {"succeeded"}
    assert {refund_finals[i]["status"] for i in accepted["declined"]} == {"failed"}
    # The 0096 payment's declines released what they reserved; the others hold what they paid.
    rows = await payment_rows(stack, payment_ids.values())
    assert rows[payment_ids["declined refunds"]]["reserved_value"] == 0
    assert rows[payment_ids["split"]]["reserved_value"] == 100_000
    assert rows[payment_ids["held refunds"]]["reserved_value"] == 80_000
    stored_declined = [r for r in refunds if r["payment_id"] == payment_ids["declined refunds"]]
    assert [r["status"] for r in stored_declined] == ["failed", "failed"]
    await assert_money_moved_once(stack, payment_ids.values())


async def test_refund_replays_and_reads_agree_across_processes(
    two_gateways: tuple[Stack, list[GatewayProcess]],
) -> None:
    """A refund made through one process is read, listed and replayed the same through the
    other; a cancel answered by one is replayed by the other."""
    stack, (gw_a, gw_b) = two_gateways
    async with aiohttp.ClientSession() as session:
        paid = await pay_request("0095").send(session, stack, gw_a)
        assert paid.status == 201 and paid.body["status"] == "succeeded", paid
        payment_id = paid.body["id"]
        refund = refund_request(payment_id, 25_000)
        first = await refund.send(session, stack, gw_a)
        assert first.status == 201, first
        again = await refund.send(session, stack, gw_b)
        assert again.status == 201 and again.replayed and again.text == first.text, again
        final = await stack.wait_final(
            session,
            gw_b,
            f"/v1/refunds/{first.body['id']}",
            timeout=10.0,
            final=FINAL_REFUND,
        )
        assert final["status"] == "succeeded", final
        listed = await stack.read(session, gw_a, f"/v1/payments/{payment_id}/refunds")
        assert [r["id"] for r in listed["data"]] == [final["id"]]
        assert listed["data"][0] == final

        plain = await pay_request("0000").send(session, stack, gw_b)
        cancel = cancel_request(plain.body["id"])
        done = await cancel.send(session, stack, gw_b)
        assert done.status == 200 and done.body["status"] == "cancelled", done
        replayed = await cancel.send(session, stack, gw_a)
        assert replayed.replayed and replayed.text == done.text, replayed
    await assert_money_moved_once(stack, [payment_id, plain.body["id"]])
