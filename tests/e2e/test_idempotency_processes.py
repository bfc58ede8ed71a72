"""Idempotency races across two gateway processes sharing one PostgreSQL database.

Each gateway is its own operating-system process (`gateway --profile test serve`) with its own
engine and group-commit writer, so nothing in memory serialises the racing requests: only the
database's constraints (the idempotency key's primary key, `uq_payments_reference`) decide, and
the writer must turn the loser's IntegrityError into a business answer, never a 500.

- One Idempotency-Key, ten identical concurrent POSTs alternating between the processes: one
  payment, one partner request, one fresh 201; the others 409 `idempotency_key_in_use` or a
  replay; afterwards either process replays the first answer byte for byte.
- Ten different keys with one merchant_reference: one payment; the others 409
  `duplicate_merchant_reference` naming it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e._subprocess_gateway import (
    GatewayProcess,
    Reply,
    Stack,
    call,
    running_stack,
)
from tests.e2e.conftest import code

pytestmark = pytest.mark.postgres

N = 10
PARTNER = "th-siampay"


@pytest.fixture
async def two_gateways(
    postgresql_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Stack, list[GatewayProcess]]]:
    async with running_stack(tmp_path, postgresql_url) as stack:
        gateways = [stack.gateway("gw-a"), stack.gateway("gw-b")]
        await asyncio.gather(*(g.start() for g in gateways))
        try:
            yield stack, gateways
        finally:
            await asyncio.gather(*(g.stop() for g in gateways))


def _body(reference: str, wallet_code: str) -> dict[str, Any]:
    return {
        "merchant_reference": reference,
        "amount": {"currency": "THB", "value": 125050},
        "payment_method": {"type": "wallet_code", "code": wallet_code},
    }


async def _race(
    stack: Stack,
    session: aiohttp.ClientSession,
    gateways: list[GatewayProcess],
    bodies_and_keys: list[tuple[dict[str, Any], str]],
) -> list[Reply]:
    """All POSTs at once, request i to gateway i % 2."""
    start = asyncio.Event()

    async def one(i: int, body: dict[str, Any], key: str) -> Reply:
        await start.wait()
        return await call(
            session,
            gateways[i % len(gateways)],
            "POST",
            "/v1/payments",
            key=stack.keys["th_pos"],
            json_body=body,
            idempotency_key=key,
        )

    tasks = [asyncio.create_task(one(i, b, k)) for i, (b, k) in enumerate(bodies_and_keys)]
    await asyncio.sleep(0)  # every task is waiting at the start line
    start.set()
    return await asyncio.gather(*tasks)


def _no_server_errors(stack: Stack, replies: list[Reply]) -> None:
    errors = [r for r in replies if r.status >= 500]
    assert not errors, f"{errors}\n{stack.logs()}"


async def test_one_key_across_two_processes_makes_one_payment(
    two_gateways: tuple[Stack, list[GatewayProcess]],
) -> None:
    stack, gateways = two_gateways
    reference = f"IDEM-{secrets.token_hex(4)}"
    body = _body(reference, code("28", "0093"))  # "in process" ~0.5 s: the first is still running
    key = f"key-{secrets.token_hex(8)}"
    async with aiohttp.ClientSession() as session:
        replies = await _race(stack, session, gateways, [(body, key)] * N)
        _no_server_errors(stack, replies)

        fresh = [r for r in replies if r.status == 201 and not r.replayed]
        assert len(fresh) == 1, Counter((r.status, r.replayed, r.error) for r in replies)
        first = fresh[0]
        payment_id = first.body["id"]
        for reply in replies:
            if reply is first:
                continue
            if reply.status == 201:  # arrived after the first finished: its answer, replayed
                assert reply.replayed and reply.text == first.text, reply
            else:
                assert (reply.status, reply.error) == (409, "idempotency_key_in_use"), reply
        # Both processes took part in the race.
        assert {r.gateway for r in replies} == {"gw-a", "gw-b"}

        # One payment row, one partner request, charged once.
        rows = await stack.payments_by_reference(reference)
        assert [r["id"] for r in rows] == [payment_id]
        _payment, attempts = await stack.payment_and_attempts(payment_id)
        assert len(attempts) == 1
        rid = attempts[0]["partner_request_id"]
        assert stack.calls.pay_request_ids(PARTNER) == {rid}

        final = await stack.wait_final(
            session, gateways[0], f"/v1/payments/{payment_id}", timeout=10.0
        )
        assert final["status"] == "succeeded", final
        assert stack.ledger(PARTNER).charges_for(rid) == 1
        pays_before = len(stack.calls.of(rid, "pay"))

        # Once final, the same key on either process replays the first answer, not the state.
        for gateway in gateways:
            again = await call(
                session,
                gateway,
                "POST",
                "/v1/payments",
                key=stack.keys["th_pos"],
                json_body=body,
                idempotency_key=key,
            )
            assert again.status == 201, again
            assert again.replayed, again.headers
            assert again.text == first.text
        # A replay never reaches the partner.
        assert len(stack.calls.of(rid, "pay")) == pays_before
        assert stack.calls.pay_request_ids(PARTNER) == {rid}
        assert stack.ledger(PARTNER).charges_for(rid) == 1


async def test_one_reference_with_many_keys_across_two_processes_makes_one_payment(
    two_gateways: tuple[Stack, list[GatewayProcess]],
) -> None:
    stack, gateways = two_gateways
    reference = f"REF-{secrets.token_hex(4)}"
    body = _body(reference, code("28", "0093"))
    keys = [f"key-{i}-{secrets.token_hex(6)}" for i in range(N)]
    async with aiohttp.ClientSession() as session:
        replies = await _race(stack, session, gateways, [(body, k) for k in keys])
        _no_server_errors(stack, replies)

        created = [r for r in replies if r.status == 201]
        assert len(created) == 1, Counter((r.status, r.error) for r in replies)
        assert not created[0].replayed
        payment_id = created[0].body["id"]
        for reply in replies:
            if reply is created[0]:
                continue
            assert (reply.status, reply.error) == (409, "duplicate_merchant_reference"), reply
            assert reply.body["error"]["payment_id"] == payment_id, reply.body
        assert {r.gateway for r in replies} == {"gw-a", "gw-b"}

        rows = await stack.payments_by_reference(reference)
        assert [r["id"] for r in rows] == [payment_id]
        _payment, attempts = await stack.payment_and_attempts(payment_id)
        assert len(attempts) == 1
        rid = attempts[0]["partner_request_id"]
        assert stack.calls.pay_request_ids(PARTNER) == {rid}
        final = await stack.wait_final(
            session, gateways[1], f"/v1/payments/{payment_id}", timeout=10.0
        )
        assert final["status"] == "succeeded", final
        assert stack.ledger(PARTNER).charges_for(rid) == 1
