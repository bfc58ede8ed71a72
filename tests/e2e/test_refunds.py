"""Refunds over real HTTP, on both databases: partial, repeated, concurrent, cumulative pricing,
unknown outcomes resolved by inquiry, final declines; and what the partner's ledger returned."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from tests.conftest import DATABASES, own_database
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Gateway, code
from tests.support.waiting import FINAL_REFUND, wait_final


async def _paid(gateway: Gateway, last4: str = "0000", value: int = 100_000, **kw: Any) -> Any:
    answer = await gateway.pay(code(kw.pop("prefix", "28"), last4), value, **kw)
    assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
    return answer.body


async def _refund(
    gateway: Gateway, payment_id: str, value: int, currency: str = "THB", **kw: Any
) -> Any:
    return await gateway.request(
        "POST",
        f"/v1/payments/{payment_id}/refunds",
        json={"amount": {"currency": currency, "value": value}},
        idempotency_key=kw.pop("idempotency_key", None) or secrets.token_hex(8),
        **kw,
    )


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


def _refunded_payer_total(gateway: Gateway, partner: str = "th-siampay") -> int:
    return sum(int(e.amount.value) for e in gateway.ledger(partner).entries if e.kind == "refund")


async def test_partial_refunds_up_to_the_payment_then_refused(gateway: Gateway) -> None:
    payment = await _paid(gateway)
    first = await _refund(gateway, payment["id"], 30_000)
    assert first.status == 201, first.body
    assert first.body["status"] == "succeeded" and first.body["id"].startswith("rf_")
    assert first.body["amount"] == {"currency": "THB", "value": 30_000}
    second = await _refund(gateway, payment["id"], 70_000)
    assert second.status == 201 and second.body["status"] == "succeeded"
    # Cumulative pricing: the two together return exactly what the tourist paid.
    payer_sum = first.body["payer_amount"]["value"] + second.body["payer_amount"]["value"]
    assert payer_sum == payment["payer_amount"]["value"]
    assert _refunded_payer_total(gateway) == payer_sum
    over = await _refund(gateway, payment["id"], 1)
    assert over.status == 409 and over.error == "refund_exceeds_payment", over.body
    got = await gateway.request("GET", f"/v1/payments/{payment['id']}")
    assert got.body["amount_refunded"] == {"currency": "THB", "value": 100_000}
    assert got.body["status"] == "succeeded"
    fetched = await gateway.request("GET", f"/v1/refunds/{first.body['id']}", key="th_finance")
    assert fetched.status == 200 and fetched.body["status"] == "succeeded"
    listed = await gateway.request("GET", f"/v1/payments/{payment['id']}/refunds")
    assert [r["id"] for r in listed.body["data"]] == [second.body["id"], first.body["id"]]
    await assert_books_balance(gateway)


async def test_first_refund_payer_amount_follows_the_rate(gateway: Gateway) -> None:
    payment = await _paid(gateway, value=123_457)
    rate = Decimal(payment["quote"]["rate"])
    answer = await _refund(gateway, payment["id"], 10_001)
    assert answer.status == 201, answer.body
    expected = int((Decimal(10_001) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert answer.body["payer_amount"] == {"currency": "CNY", "value": expected}


async def test_concurrent_refunds_never_exceed_the_payment(gateway: Gateway) -> None:
    payment = await _paid(gateway)
    answers = await asyncio.gather(*(_refund(gateway, payment["id"], 10_000) for _ in range(20)))
    won = [a for a in answers if a.status == 201]
    lost = [a for a in answers if a.status != 201]
    assert len(won) == 10, [a.body for a in answers]
    assert all(a.status == 409 and a.error == "refund_exceeds_payment" for a in lost)
    assert all(a.body["status"] == "succeeded" for a in won)
    assert _refunded_payer_total(gateway) == payment["payer_amount"]["value"]
    await assert_books_balance(gateway)


async def test_a_hundred_one_percent_refunds_sum_to_the_payer_amount(gateway: Gateway) -> None:
    payment = await _paid(gateway, value=98_835)  # 1% = 988 THB satang, the last one 1,023
    one_percent = payment["amount"]["value"] // 100
    remainder = payment["amount"]["value"] - 99 * one_percent
    payer_total = 0
    for i in range(100):
        answer = await _refund(gateway, payment["id"], one_percent if i < 99 else remainder)
        assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
        payer_total += answer.body["payer_amount"]["value"]
    assert payer_total == payment["payer_amount"]["value"]
    assert _refunded_payer_total(gateway) == payer_total
    await assert_books_balance(gateway)


async def test_refund_replay_and_errors(gateway: Gateway) -> None:
    payment = await _paid(gateway)
    key = secrets.token_hex(8)
    first = await _refund(gateway, payment["id"], 5_000, idempotency_key=key)
    again = await _refund(gateway, payment["id"], 5_000, idempotency_key=key)
    assert again.status == 201 and again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = await _refund(gateway, payment["id"], 6_000, idempotency_key=key)
    assert other.status == 409 and other.error == "idempotency_key_reused"
    assert len([e for e in gateway.ledger().entries if e.kind == "refund"]) == 1
    wrong_currency = await _refund(gateway, payment["id"], 5_000, currency="JPY")
    assert wrong_currency.status == 400 and wrong_currency.error == "invalid_amount"
    unknown_field = await gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": {"currency": "THB", "value": 1}, "extra": 1},
        idempotency_key=secrets.token_hex(8),
    )
    assert unknown_field.status == 400 and unknown_field.error == "invalid_request"
    foreign = await _refund(gateway, payment["id"], 5_000, key="jp_pos", currency="JPY")
    assert foreign.status == 404 and foreign.error == "not_found"
    finance = await _refund(gateway, payment["id"], 5_000, key="th_finance")
    assert finance.status == 403
    missing = await gateway.request("GET", "/v1/refunds/rf_nope", key="th_pos")
    assert missing.status == 404


async def test_refund_of_a_failed_payment_is_refused(gateway: Gateway) -> None:
    answer = await gateway.pay(code("28", "0051"))
    assert answer.body["status"] == "failed"
    refused = await _refund(gateway, answer.body["id"], 100)
    assert refused.status == 409 and refused.error == "payment_not_refundable"


async def test_unknown_refund_is_resolved_by_inquiry(gateway: Gateway) -> None:
    payment = await _paid(gateway, "0095")
    answer = await _refund(gateway, payment["id"], 40_000)
    assert answer.status == 201, answer.body
    assert answer.body["status"] in ("processing", "succeeded")
    refund_id = answer.body["id"]
    got = await wait_final(lambda: gateway.read(f"/v1/refunds/{refund_id}"), final=FINAL_REFUND)
    assert got["status"] == "succeeded", got
    refunds = [e for e in gateway.ledger().entries if e.kind == "refund"]
    assert len(refunds) == 1 and int(refunds[0].amount.value) == got["payer_amount"]["value"]
    await assert_books_balance(gateway)


async def test_declined_refund_fails_and_releases_its_amount(gateway: Gateway) -> None:
    payment = await _paid(gateway, "0096")
    declined = await _refund(gateway, payment["id"], 100_000)
    assert declined.status == 201 and declined.body["status"] == "failed", declined.body
    assert declined.body["failure"]["code"]
    got = await gateway.request("GET", f"/v1/payments/{payment['id']}")
    assert got.body["amount_refunded"]["value"] == 0
    await assert_books_balance(gateway)


async def test_walletrest_refunds(gateway: Gateway) -> None:
    payment = await _paid(gateway, prefix="28", value=50_001, currency="PHP", key="ph_pos")
    assert payment["partner"] == "ph-bayadpay"
    parts = [
        await _refund(gateway, payment["id"], v, "PHP", key="ph_pos") for v in (20_000, 30_001)
    ]
    assert all(p.status == 201 and p.body["status"] == "succeeded" for p in parts), parts
    assert sum(p.body["payer_amount"]["value"] for p in parts) == payment["payer_amount"]["value"]
    entries = [e for e in gateway.ledger("ph-bayadpay").entries if e.kind == "refund"]
    assert len(entries) == 2
