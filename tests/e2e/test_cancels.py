"""Merchant cancels over real HTTP, on both databases: succeeded and processing payments, a
partner refusing the cancel (a full refund instead), and the cases that must be refused."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import DATABASES, own_database
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Gateway, code
from tests.support.waiting import eventually, wait_final


async def _cancel(gateway: Gateway, payment_id: str, **kw: Any) -> Any:
    return await gateway.request(
        "POST",
        f"/v1/payments/{payment_id}/cancel",
        json={},
        idempotency_key=kw.pop("idempotency_key", None) or secrets.token_hex(8),
        **kw,
    )


async def _until_cancelled(gateway: Gateway, payment_id: str) -> dict[str, Any]:
    return await wait_final(
        lambda: gateway.read(f"/v1/payments/{payment_id}"), final={"cancelled"}, timeout=15.0
    )


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


def _kinds(gateway: Gateway, partner: str = "th-siampay") -> list[str]:
    return [e.kind for e in gateway.ledger(partner).entries]


async def test_cancel_of_a_succeeded_payment_reverses_it(gateway: Gateway) -> None:
    paid = await gateway.pay(code("28", "0000"))
    assert paid.body["status"] == "succeeded"
    answer = await _cancel(gateway, paid.body["id"])
    assert answer.status == 200, answer.body
    assert answer.body["status"] == "cancelled"
    assert answer.body["cancellation"]["status"] == "confirmed"
    assert answer.body["cancellation"]["requested_at"]
    assert _kinds(gateway) == ["charge", "reversal"]
    again = await _cancel(gateway, paid.body["id"])
    assert again.status == 200 and again.body["status"] == "cancelled"
    assert _kinds(gateway) == ["charge", "reversal"]
    refund = await gateway.request(
        "POST",
        f"/v1/payments/{paid.body['id']}/refunds",
        json={"amount": {"currency": "THB", "value": 100}},
        idempotency_key=secrets.token_hex(8),
    )
    assert refund.status == 409 and refund.error == "payment_not_refundable"
    await assert_books_balance(gateway)


async def test_cancel_during_processing_wins_over_a_late_approval(gateway: Gateway) -> None:
    # 0093: "in process" for a while, then approved. The POS gives up and cancels meanwhile.
    pay = asyncio.create_task(gateway.pay(code("28", "0093"), reference="R-0093-cancel"))

    async def created() -> str | None:
        found = await gateway.read("/v1/payments?merchant_reference=R-0093-cancel")
        return str(found["data"][0]["id"]) if found["data"] else None

    payment_id = await eventually(created, timeout=2.0, interval=0.02)
    answer = await _cancel(gateway, payment_id)
    assert answer.status in (200, 202), answer.body
    assert answer.body["cancellation"] is not None
    await pay
    final = await _until_cancelled(gateway, payment_id)
    assert final["cancellation"]["status"] == "confirmed"
    kinds = _kinds(gateway)
    assert kinds.count("charge") == 1 and kinds.count("reversal") == 1, kinds
    await assert_books_balance(gateway)


async def test_a_refused_cancel_becomes_a_full_refund(gateway: Gateway) -> None:
    paid = await gateway.pay(code("28", "0097"))
    assert paid.body["status"] == "succeeded", paid.body
    answer = await _cancel(gateway, paid.body["id"])
    assert answer.status in (200, 202), answer.body
    final = await _until_cancelled(gateway, paid.body["id"])
    assert final["amount_refunded"]["value"] == 0  # a cancel, not a merchant refund
    refunds = [e for e in gateway.ledger().entries if e.kind == "refund"]
    assert len(refunds) == 1
    assert int(refunds[0].amount.value) == paid.body["payer_amount"]["value"]
    listed = await gateway.request("GET", f"/v1/payments/{paid.body['id']}/refunds")
    assert listed.body["data"] == []
    await assert_books_balance(gateway)


async def test_what_cannot_be_cancelled(gateway: Gateway) -> None:
    failed = await gateway.pay(code("28", "0051"))
    refused = await _cancel(gateway, failed.body["id"])
    assert refused.status == 409 and refused.error == "payment_not_cancellable"

    paid = await gateway.pay(code("28", "0000"))
    refunded = await gateway.request(
        "POST",
        f"/v1/payments/{paid.body['id']}/refunds",
        json={"amount": {"currency": "THB", "value": 100}},
        idempotency_key=secrets.token_hex(8),
    )
    assert refunded.status == 201
    with_refund = await _cancel(gateway, paid.body["id"])
    assert with_refund.status == 409 and with_refund.error == "payment_not_cancellable"

    foreign = await _cancel(gateway, paid.body["id"], key="jp_pos")
    assert foreign.status == 404
    body = await gateway.request(
        "POST",
        f"/v1/payments/{paid.body['id']}/cancel",
        json={"reason": "x"},
        idempotency_key=secrets.token_hex(8),
    )
    assert body.status == 400 and body.error == "invalid_request"
    blanks = await gateway.request(  # no body reads as {}; blanks are not JSON (schemathesis)
        "POST",
        f"/v1/payments/{paid.body['id']}/cancel",
        data=b" ",
        headers={"Content-Type": "application/json"},
        idempotency_key=secrets.token_hex(8),
    )
    assert blanks.status == 400 and blanks.error == "invalid_request", blanks.body
    no_key = await gateway.request("POST", f"/v1/payments/{paid.body['id']}/cancel", json={})
    assert no_key.status == 400 and no_key.error == "idempotency_key_missing"


async def test_walletrest_cancel(gateway: Gateway) -> None:
    paid = await gateway.pay(code("28", "0000"), 50_000, "PHP", key="ph_pos")
    assert paid.body["partner"] == "ph-bayadpay"
    answer = await _cancel(gateway, paid.body["id"], key="ph_pos")
    assert answer.status == 200 and answer.body["status"] == "cancelled", answer.body
    assert _kinds(gateway, "ph-bayadpay") == ["charge", "reversal"]
    await assert_books_balance(gateway)
