"""A tourist pays at a POS: the gateway and the sandbox partner over real HTTP, per database."""

from __future__ import annotations

import asyncio
import secrets
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.e2e.conftest import Gateway, code


def _expected_payer_value(value: int, rate: str, e_merchant: int, e_payer: int) -> int:
    exact = Decimal(value) * Decimal(rate) * Decimal(10) ** (e_payer - e_merchant)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def test_success_records_the_money_and_the_quote(gateway: Gateway) -> None:
    answer = await gateway.pay(code("28", "0000"), 125050)
    assert answer.status == 201, answer.body
    payment = answer.body
    assert payment["status"] == "succeeded"
    assert payment["amount"] == {"currency": "THB", "value": 125050}
    assert payment["wallet"] == "alipay_cn" and payment["partner"] == "th-siampay"
    assert payment["payer_amount"]["currency"] == "CNY"
    quote = payment["quote"]
    assert quote is not None and quote["id"].startswith("qt_")
    assert payment["payer_amount"]["value"] == _expected_payer_value(125050, quote["rate"], 2, 2)
    assert payment["partner_reference"]
    assert payment["failure"] is None
    assert payment["routing"]["reason"].startswith("licensed in TH, serves alipay_cn")
    assert "Request-Id" in answer.headers and "Server-Timing" in answer.headers
    # What the partner charged is exactly the payer amount, once.
    ledger = gateway.ledger()
    charges = [e for e in ledger.entries if e.kind == "charge"]
    assert [(e.amount.currency, e.amount.value) for e in charges] == [
        ("CNY", str(payment["payer_amount"]["value"]))
    ]
    # GET shows the same payment.
    got = await gateway.request("GET", f"/v1/payments/{payment['id']}")
    assert got.status == 200 and got.body == payment


@pytest.mark.parametrize(
    ("last4", "failure"),
    [("0051", "insufficient_funds"), ("0059", "risk_rejected"), ("0054", "code_expired")],
)
async def test_declines_are_final_and_normalised(
    gateway: Gateway, last4: str, failure: str
) -> None:
    answer = await gateway.pay(code("28", last4))
    assert answer.status == 201, answer.body
    assert answer.body["status"] == "failed"
    assert answer.body["failure"]["code"] == failure
    assert answer.body["failure"]["message"]
    assert not [e for e in gateway.ledger().entries if e.kind == "charge"]


@pytest.mark.parametrize("last4", ["0091", "0093"])
async def test_unknown_outcomes_are_resolved_by_inquiry(gateway: Gateway, last4: str) -> None:
    answer = await gateway.pay(code("28", last4))
    assert answer.status == 201, answer.body
    assert answer.body["status"] in {"processing", "succeeded"}
    final = await gateway.wait_final(answer.body["id"])
    assert final["status"] == "succeeded", final
    records = gateway.ledger().payments
    charged = [r for r in records.values() if r.charged]
    assert len(charged) == 1 and not charged[0].reversed


async def test_payment_never_confirmed_expires(gateway: Gateway) -> None:
    answer = await gateway.pay(code("28", "0094"))
    final = await gateway.wait_final(answer.body["id"])
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "payment_expired"


async def test_lost_payment_is_cancelled_after_the_deadline(gateway: Gateway) -> None:
    answer = await gateway.pay(code("28", "0092"))
    assert answer.status == 201 and answer.body["status"] == "processing"
    final = await gateway.wait_final(answer.body["id"])
    assert final["status"] == "failed"
    assert final["failure"]["code"] == "cancelled_after_timeout"
    assert not [e for e in gateway.ledger().entries if e.kind == "charge"]


async def test_partner_5xx_is_retried_with_the_same_request_and_charged_once(
    gateway: Gateway,
) -> None:
    answer = await gateway.pay(code("28", "0500"))
    assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
    attempts = await gateway.attempts(answer.body["id"])
    assert len(attempts) == 1 and attempts[0]["pay_calls"] == 2  # the 500, then the retry
    assert gateway.ledger().charges_for(attempts[0]["partner_request_id"]) == 1
    assert len([e for e in gateway.ledger().entries if e.kind == "charge"]) == 1


async def test_partner_not_accepting_gives_503_and_keeps_nothing(gateway: Gateway) -> None:
    reference = f"R-{secrets.token_hex(4)}"
    answer = await gateway.pay(code("28", "0503"), reference=reference)
    assert answer.status == 503 and answer.error == "partner_unavailable"
    assert "Retry-After" in answer.headers
    listed = await gateway.request("GET", f"/v1/payments?merchant_reference={reference}")
    assert listed.body["data"] == []
    # The reference is not used up: the sale can be retried (here with a good code).
    again = await gateway.pay(code("28", "0000"), reference=reference)
    assert again.status == 201 and again.body["status"] == "succeeded"


async def test_same_currency_wallet_has_no_quote(gateway: Gateway) -> None:
    answer = await gateway.pay(code("66", "0000"), 9900)
    assert answer.status == 201, answer.body
    assert answer.body["quote"] is None
    assert answer.body["payer_amount"] == {"currency": "THB", "value": 9900}


@pytest.mark.parametrize(
    ("wallet_prefix", "merchant_currency", "value", "payer_currency"),
    [("81", "JPY", 1234, "KRW"), ("28", "JPY", 1, "CNY"), ("63", "JPY", 99999, "PHP")],
)
async def test_zero_decimal_amounts_round_trip(
    gateway: Gateway, wallet_prefix: str, merchant_currency: str, value: int, payer_currency: str
) -> None:
    answer = await gateway.pay(code(wallet_prefix, "0000"), value, merchant_currency, key="jp_pos")
    assert answer.status == 201, answer.body
    body = answer.body
    assert body["amount"] == {"currency": merchant_currency, "value": value}
    assert body["payer_amount"]["currency"] == payer_currency
    exponents = {"JPY": 0, "KRW": 0, "CNY": 2, "PHP": 2}
    assert body["payer_amount"]["value"] == _expected_payer_value(
        value, body["quote"]["rate"], exponents[merchant_currency], exponents[payer_currency]
    )


async def test_quote_then_payment_uses_the_locked_rate(gateway: Gateway) -> None:
    quote = await gateway.request(
        "POST",
        "/v1/fx/quotes",
        json={"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"},
        idempotency_key=secrets.token_hex(8),
    )
    assert quote.status == 201, quote.body
    q = quote.body
    assert q["payer_amount"]["value"] == _expected_payer_value(125050, q["rate"], 2, 2)
    assert Decimal(q["rate"]) > Decimal(q["mid_rate"])
    got = await gateway.request("GET", f"/v1/fx/quotes/{q['id']}")
    assert got.body == q
    paid = await gateway.pay(code("28", "0000"), 125050, quote_id=q["id"])
    assert paid.status == 201, paid.body
    assert paid.body["quote"]["id"] == q["id"]
    assert paid.body["payer_amount"] == q["payer_amount"]
    other_amount = await gateway.pay(code("28", "0000"), 125051, quote_id=q["id"])
    assert other_amount.status == 409 and other_amount.error == "quote_mismatch"


async def test_idempotent_replay_never_calls_the_partner_again(gateway: Gateway) -> None:
    key = secrets.token_hex(8)
    wallet_code = code("28", "0000")
    first = await gateway.pay(wallet_code, 5000, idempotency_key=key, reference="REF-IDEM-1")
    second = await gateway.pay(wallet_code, 5000, idempotency_key=key, reference="REF-IDEM-1")
    assert first.status == second.status == 201
    assert second.body == first.body
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert sum(r.pay_calls for r in gateway.ledger().payments.values()) == 1
    other = await gateway.pay(wallet_code, 5001, idempotency_key=key, reference="REF-IDEM-1")
    assert other.status == 409 and other.error == "idempotency_key_reused"


async def test_concurrent_requests_with_one_key_make_one_payment(gateway: Gateway) -> None:
    key = secrets.token_hex(8)
    wallet_code = code("28", "0093")  # slow: the first is still running when the others land
    answers = await asyncio.gather(
        *(
            gateway.pay(wallet_code, 7000, idempotency_key=key, reference="REF-RACE")
            for _ in range(5)
        )
    )
    created = [a for a in answers if a.status == 201 and "Idempotent-Replayed" not in a.headers]
    assert len(created) == 1
    for answer in answers:
        assert answer.status == 201 or answer.error == "idempotency_key_in_use", answer.body
    listed = await gateway.request("GET", "/v1/payments?merchant_reference=REF-RACE")
    assert len(listed.body["data"]) == 1
    assert len(gateway.ledger().payments) == 1


async def test_duplicate_reference_points_at_the_first_payment(gateway: Gateway) -> None:
    first = await gateway.pay(code("28", "0000"), reference="REF-DUP")
    second = await gateway.pay(code("28", "0000"), reference="REF-DUP")
    assert second.status == 409 and second.error == "duplicate_merchant_reference"
    assert second.body["error"]["payment_id"] == first.body["id"]


async def test_another_merchants_payment_is_not_found(gateway: Gateway) -> None:
    paid = await gateway.pay(code("28", "0000"))
    seen = await gateway.request("GET", f"/v1/payments/{paid.body['id']}", key="jp_pos")
    assert seen.status == 404 and seen.error == "not_found"
    finance = await gateway.request("GET", f"/v1/payments/{paid.body['id']}", key="th_finance")
    assert finance.status == 200
    operator = await gateway.request("GET", f"/v1/payments/{paid.body['id']}", key="operator")
    assert operator.status == 200
    forbidden = await gateway.pay(code("28", "0000"), key="th_finance")
    assert forbidden.status == 403 and forbidden.error == "forbidden"


async def test_no_partner_in_market_is_no_route(gateway: Gateway) -> None:
    answer = await gateway.pay(code("66", "0000"), 100, "JPY", key="jp_pos")  # truemoney in JP
    assert answer.status == 422 and answer.error == "no_route"


async def test_health_and_readiness(gateway: Gateway) -> None:
    health = await gateway.request("GET", "/healthz", key=None)
    ready = await gateway.request("GET", "/readyz", key=None)
    assert health.status == 200 and ready.status == 200
    assert ready.body["checks"]["database"] == "ok"


async def test_metrics_count_payments_and_partner_calls(gateway: Gateway) -> None:
    await gateway.pay(code("28", "0000"))
    await gateway.pay(code("28", "0051"))
    answer = await gateway.session.get(gateway.url + "/metrics")
    text = await answer.text()
    assert answer.status == 200 and answer.content_type == "text/plain"
    assert 'gateway_payments_total{status="succeeded"} 1.0' in text
    assert 'gateway_payments_total{status="failed"} 1.0' in text
    assert 'gateway_partner_call_seconds_count{operation="pay",outcome="succeeded",' in text
    assert 'gateway_partner_breaker{partner="th-siampay",state="closed"} 1.0' in text
