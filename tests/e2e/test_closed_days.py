"""After a day's batch closes: a cancel is too late (`cancel_window_exceeded`) and a refund that
completes then goes to the next open day, journal lines included; the books still balance."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from gateway.settlement.closing import close_batch
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage.db import open_database
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Gateway, code


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


async def _close(gateway: Gateway, key: BatchKey) -> None:
    db = open_database(gateway.settings.database.url)
    try:
        await close_batch(db, key, now=datetime.now(UTC), closed_by="test", forced=True)
    finally:
        await db.dispose()


async def _dates(gateway: Gateway, refund_id: str) -> tuple[str, str, set[str]]:
    refunds = metadata.tables["refunds"]
    lines = metadata.tables["journal_lines"]
    db = open_database(gateway.settings.database.url)
    try:
        async with db.reader.connect() as conn:
            row = (
                (await conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)))
                .mappings()
                .one()
            )
            days = set(
                (
                    await conn.execute(
                        sa.select(lines.c.business_date).where(lines.c.refund_id == refund_id)
                    )
                ).scalars()
            )
    finally:
        await db.dispose()
    return row["merchant_business_date"], row["partner_business_date"], days


async def test_after_close_cancel_is_refused_and_a_refund_moves_on(gateway: Gateway) -> None:
    paid = await gateway.pay(code("28", "0000"))
    assert paid.status == 201 and paid.body["status"] == "succeeded", paid.body
    payment = paid.body
    got = await gateway.request("GET", f"/v1/payments/{payment['id']}")
    assert got.status == 200
    db = open_database(gateway.settings.database.url)
    try:
        async with db.reader.connect() as conn:
            payments = metadata.tables["payments"]
            row = (
                (await conn.execute(sa.select(payments).where(payments.c.id == payment["id"])))
                .mappings()
                .one()
            )
    finally:
        await db.dispose()
    merchant_day = date.fromisoformat(row["merchant_business_date"])
    partner_day = date.fromisoformat(row["partner_business_date"])
    await _close(gateway, BatchKey(BatchType.MERCHANT, row["merchant_id"], "THB", merchant_day))
    await _close(gateway, BatchKey(BatchType.PARTNER, row["partner"], "CNY", partner_day))

    late_cancel = await gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/cancel",
        json={},
        idempotency_key=secrets.token_hex(8),
    )
    assert late_cancel.status == 409 and late_cancel.error == "cancel_window_exceeded"

    refund = await gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        json={"amount": {"currency": "THB", "value": 10_000}},
        idempotency_key=secrets.token_hex(8),
    )
    assert refund.status == 201 and refund.body["status"] == "succeeded", refund.body
    merchant_date, partner_date, line_days = await _dates(gateway, refund.body["id"])
    # The clock still says the closed day: the refund moves to the next one, lines with it.
    assert merchant_date == (merchant_day + timedelta(days=1)).isoformat()
    assert partner_date == (partner_day + timedelta(days=1)).isoformat()
    assert line_days <= {merchant_date, partner_date}
    await assert_books_balance(gateway)
