"""Merchant-presented payments end to end (issue #15), once per protocol family and database,
over real HTTP: the gateway asks the sandbox partner for an order code, the test plays the
tourist (`POST /_sandbox/scan` on the sandbox that issued it), and the sandbox notifies the
gateway, signed, at the URL the order code carried.

The test profile inquires every 50-200 ms, so a result may reach the gateway by inquiry first;
the notifications' own handling shows in `gateway_partner_notifications_total` (and is tested
rule by rule in tests/unit/gateway/services/test_service_presented.py)."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Answer, Gateway
from tests.support.families import MERCHANT_FAMILIES

pytestmark = pytest.mark.usefixtures("protocol_family")

WALLET = "alipay_cn"  # the tourist pays in CNY


async def _present(gateway: Gateway, family: str, value: int = 125050) -> dict[str, Any]:
    merchant = MERCHANT_FAMILIES[family]
    answer = await gateway.request(
        "POST",
        "/v1/payments",
        key=merchant.key,
        json={
            "merchant_reference": f"QR-{secrets.token_hex(6)}",
            "amount": {"currency": merchant.currency, "value": value},
            "payment_method": {"type": "merchant_qr", "wallet": WALLET},
        },
        idempotency_key=secrets.token_hex(12),
    )
    assert answer.status == 201, answer.body
    shown: dict[str, Any] = answer.body
    assert shown["status"] == "requires_customer", shown
    assert shown["payment_method"] == {"type": "merchant_qr", "wallet": WALLET}
    assert shown["partner"] == merchant.partner
    return shown


async def _scan(gateway: Gateway, payment: dict[str, Any], **options: Any) -> Answer:
    """The tourist scans the till's code with their wallet (the sandbox that issued it)."""
    code = payment["next_action"]["qr_code"]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(code))
    body = {"code": code, **options}
    async with gateway.session.post(origin + "/_sandbox/scan", json=body) as answer:
        return Answer(answer.status, await answer.json(content_type=None), dict(answer.headers))


async def _final(gateway: Gateway, family: str, payment_id: str) -> dict[str, Any]:
    key = MERCHANT_FAMILIES[family].key
    return await gateway.wait_final(payment_id, key=key, timeout=15.0)


async def _notifications(gateway: Gateway, partner: str) -> dict[str, float]:
    async with gateway.session.get(gateway.url + "/metrics") as answer:
        text = await answer.text()
    found: dict[str, float] = {}
    pattern = rf'gateway_partner_notifications_total{{partner="{partner}",verdict="(\w+)"}} (\S+)'
    for verdict, value in re.findall(pattern, text):
        found[verdict] = float(value)
    return found


async def test_paid_declined_and_notified_once(gateway: Gateway, protocol_family: str) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    shown = await _present(gateway, protocol_family)
    auth = {"Authorization": f"Bearer {gateway.keys[family.key]}"}
    for kind, magic in (("svg", b"<?xml"), ("png", b"\x89PNG")):
        path = f"{gateway.url}/v1/payments/{shown['id']}/qr.{kind}"
        async with gateway.session.get(path, headers=auth) as image:
            assert image.status == 200 and (await image.read()).startswith(magic), kind
    scanned = await _scan(gateway, shown, suffix="0000", notify="twice")
    assert scanned.status == 200, scanned.body
    paid = await _final(gateway, protocol_family, shown["id"])
    assert paid["status"] == "succeeded" and paid["next_action"] is None
    assert paid["payer_amount"] == shown["payer_amount"] and paid["quote"] == shown["quote"]
    again = await _scan(gateway, shown, suffix="0000")
    assert again.status == 409, again.body  # paid once: a second scan charges nothing
    events = await gateway.read("/v1/events?limit=100", key=family.key)
    told = [e for e in events["data"] if e["data"]["id"] == shown["id"]]
    assert [e["type"] for e in told] == ["payment.succeeded"]

    declined = await _present(gateway, protocol_family)
    assert (await _scan(gateway, declined, suffix="0051")).status == 200
    failed = await _final(gateway, protocol_family, declined["id"])
    assert failed["status"] == "failed" and failed["failure"]["code"] == "insufficient_funds"

    async def accepted() -> float:
        counts = await _notifications(gateway, family.partner)
        return counts.get("booked", 0) + counts.get("already", 0)

    for _ in range(100):  # the sandbox has sent three notifications; each is acknowledged
        if await accepted() >= 3:
            break
        await asyncio.sleep(0.05)
    assert await accepted() >= 3


async def test_forged_and_wrong_amount_notifications_are_refused(
    gateway: Gateway, protocol_family: str
) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    before = await _notifications(gateway, family.partner)
    forged = await _present(gateway, protocol_family)
    assert (await _scan(gateway, forged, notify="bad_signature", max_attempts=1)).status == 200
    wrong = await _present(gateway, protocol_family)
    assert (await _scan(gateway, wrong, amount_delta=1, max_attempts=1)).status == 200
    for shown in (forged, wrong):  # the charge is found by inquiry, signed and checked
        assert (await _final(gateway, protocol_family, shown["id"]))["status"] == "succeeded"
    after = await _notifications(gateway, family.partner)
    assert after.get("refused_signature", 0) > before.get("refused_signature", 0)
    assert after.get("amount_mismatch", 0) > before.get("amount_mismatch", 0)


async def test_cancelled_while_shown_then_scanned(gateway: Gateway, protocol_family: str) -> None:
    family = MERCHANT_FAMILIES[protocol_family]
    shown = await _present(gateway, protocol_family)
    cancelled = await gateway.request(
        "POST",
        f"/v1/payments/{shown['id']}/cancel",
        key=family.key,
        json={},
        idempotency_key=secrets.token_hex(12),
    )
    assert cancelled.status in (200, 202), cancelled.body
    final = await _final(gateway, protocol_family, shown["id"])
    assert final["status"] == "cancelled"
    late = await _scan(gateway, shown)
    assert late.status == 409, late.body  # closed at the partner: nothing charged


async def test_an_unpaid_code_expires_and_a_late_scan_charges_nothing(
    gateway: Gateway, protocol_family: str
) -> None:
    shown = await _present(gateway, protocol_family)
    expired = await _final(gateway, protocol_family, shown["id"])  # 3 s in the test profile
    assert expired["status"] == "failed" and expired["failure"]["code"] == "code_expired"
    late = await _scan(gateway, shown)
    assert late.status == 409, late.body
    assert (
        await gateway.read(
            f"/v1/payments/{shown['id']}", key=MERCHANT_FAMILIES[protocol_family].key
        )
    )["status"] == "failed"
