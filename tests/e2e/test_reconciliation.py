"""Reconciliation over real HTTP, on both databases: a day of mixed traffic reconciles clean
against each sandbox's own settlement file, and every injected discrepancy is found, by kind."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters import SystemClock, new_http_client
from gateway.bootstrap import one_partner_calls
from gateway.cli import main
from gateway.reconciliation.service import ReconciliationResult, reconcile
from gateway.storage.db import open_database
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e.conftest import Gateway, code

PARTNER = "th-siampay"


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


async def _day_of_traffic(gateway: Gateway) -> dict[str, Any]:
    """Successes, a decline, a partial refund, a cancel (reversed), a refused cancel (refunded
    in full): what the partner's file must show, and what it must not."""
    paid = [(await gateway.pay(code("28", "0000"), 10_000 + i)).body for i in range(4)]
    assert all(p["status"] == "succeeded" for p in paid), paid
    declined = await gateway.pay(code("28", "0051"))
    assert declined.body["status"] == "failed"
    refund = await gateway.request(
        "POST",
        f"/v1/payments/{paid[0]['id']}/refunds",
        json={"amount": {"currency": "THB", "value": 2_500}},
        idempotency_key=secrets.token_hex(8),
    )
    assert refund.body["status"] == "succeeded", refund.body
    cancelled = await gateway.request(
        "POST", f"/v1/payments/{paid[1]['id']}/cancel", json={}, idempotency_key="c1"
    )
    assert cancelled.status == 200, cancelled.body
    refused = (await gateway.pay(code("28", "0097"))).body
    undone = await gateway.request(
        "POST", f"/v1/payments/{refused['id']}/cancel", json={}, idempotency_key="c2"
    )
    assert undone.status in (200, 202), undone.body
    await gateway.wait_final(refused["id"])
    return {"paid": paid, "refund": refund.body, "refused": refused}


async def _partner_day(gateway: Gateway, payment_id: str) -> date:
    payments = metadata.tables["payments"]
    db = open_database(gateway.settings.database.url)
    try:
        async with db.reader.connect() as conn:
            day = await conn.scalar(
                sa.select(payments.c.partner_business_date).where(payments.c.id == payment_id)
            )
    finally:
        await db.dispose()
    return date.fromisoformat(day)


async def _request_id(gateway: Gateway, payment_id: str) -> str:
    attempts = await gateway.attempts(payment_id)
    return str(attempts[-1]["partner_request_id"])


async def _reconcile(gateway: Gateway, day: date) -> list[ReconciliationResult]:
    db = open_database(gateway.settings.database.url)
    try:
        async with new_http_client() as http:
            calls = one_partner_calls(
                gateway.settings, PARTNER, http=http, clock=SystemClock(), env=gateway.env
            )
            return await reconcile(
                db, gateway.settings, calls, partner=PARTNER, day=day, now=datetime.now(UTC)
            )
    finally:
        await db.dispose()


async def _tamper(gateway: Gateway, body: dict[str, Any]) -> None:
    url = gateway.sandboxes.urls[PARTNER] + "/_sandbox/settlement_tamper"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as answer:
        assert answer.status == 200, await answer.text()


async def test_a_clean_day_then_every_kind_of_discrepancy(gateway: Gateway) -> None:
    traffic = await _day_of_traffic(gateway)
    day = await _partner_day(gateway, traffic["paid"][0]["id"])

    clean = await _reconcile(gateway, day)
    assert len(clean) == 1 and clean[0].row["currency"] == "CNY"
    counts = clean[0].counts
    # 3 successes not cancelled + the refused-cancel payment and its full refund + 1 refund.
    assert counts["matched"] == 6, clean[0].row["report"]
    assert sum(counts.values()) == counts["matched"]

    ids = [await _request_id(gateway, p["id"]) for p in traffic["paid"]]
    await _tamper(
        gateway,
        {
            "business_date": day.isoformat(),
            "drop": [ids[0]],
            "add": [
                {
                    "record_type": "payment",
                    "partner_request_id": "att_not_ours",
                    "amount": 1234,
                    "currency": "CNY",
                }
            ],
            "alter": [
                {"partner_request_id": ids[2], "amount": 999},
                {"partner_request_id": ids[3], "fee": 1},
                {"partner_request_id": traffic["refund"]["id"], "fx_rate": "0.5"},
            ],
        },
    )
    found = await _reconcile(gateway, day)
    by_key = {f.key: f.category.value for f in found[0].findings}
    assert by_key[ids[0]] == "missing_at_partner"
    assert by_key["att_not_ours"] == "missing_at_gateway"
    assert by_key[ids[2]] == "amount_mismatch"
    assert by_key[ids[3]] == "fee_mismatch"
    assert by_key[traffic["refund"]["id"]] == "fx_mismatch"
    assert found[0].counts["matched"] == 2
    report = found[0].row["report"].splitlines()
    assert report[0].startswith("category,record_type,partner_request_id")
    assert len(report) == 1 + len(found[0].findings)

    # The API shows them to operators only.
    listed = await gateway.request(
        "GET", f"/v1/reconciliations?partner={PARTNER}&business_date={day}", key="operator"
    )
    assert listed.status == 200 and len(listed.body["data"]) == 2
    newest = listed.body["data"][0]
    assert newest["id"] == found[0].row["id"] and newest["counts"] == found[0].counts
    async with gateway.session.get(
        gateway.url + newest["report_url"],
        headers={"Authorization": f"Bearer {gateway.keys['operator']}"},
    ) as answer:
        assert answer.status == 200 and answer.content_type == "text/csv"
        assert await answer.text() == found[0].row["report"]
    denied = await gateway.request("GET", "/v1/reconciliations", key="th_finance")
    assert denied.status == 403
    missing = await gateway.request("GET", "/v1/reconciliations/rec_nope", key="operator")
    assert missing.status == 404

    # The command line does the same, and says so in its exit status.
    await _tamper(gateway, {"business_date": day.isoformat(), "drop": [], "add": [], "alter": []})
    result = await asyncio.to_thread(
        CliRunner(env=gateway.env).invoke,
        main,
        ["reconcile", "--partner", PARTNER, "--date", day.isoformat()],
        obj={"settings": gateway.settings},  # the test's sandboxes listen on ports of their own
    )
    assert result.exit_code == 0, result.output
    assert "matched 6, missing_at_partner 0" in result.output, result.output
