"""Revision 0010 (issue #17): journal entries keep the fee terms they were booked under (a service
test for the refund made after the migration, in virtual time).

A payment booked before it gets its merchant's terms as they stand at migration time (the only
record the database holds); its partner's terms stay unknown (they live in config files) and its
refunds stay without terms: `ledger verify` then judges those refunds one line at a time, as they
were booked, and still finds the old books clean. A refund booked after the migration returns fees
cumulatively, making up for the rounding of the earlier ones.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import fx
from adapters import Operation, Outcome
from gateway.core.config import load_settings
from gateway.ledger import postings as ledger
from gateway.ledger.verify import verify_ledger
from gateway.partners.routing import partner_fee
from gateway.payments.model import AttemptStatus, PaymentStatus
from gateway.quotes.model import QuoteUse
from gateway.refunds.service import create_refund
from gateway.storage import rows
from gateway.storage.db import open_database
from gateway.storage.migrate import upgrade, upgrade_async
from gateway.storage.payments import get_merchant
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, POSTGRES_SERVER, _admin_sql
from tests.factories import make_attempt, make_payment
from tests.support.seeding import SIAM_SOUVENIRS, create_merchant
from tests.support.services import body, running_services

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
DAY = "2026-12-04"


@pytest.fixture(params=DATABASES)
def at_0009(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated only up to revision 0009."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0009")
        yield url
        return
    request.getfixturevalue("postgresql_url")  # skips (or fails in CI) without a server
    name = f"gw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url, "0009")
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _only(row: dict[str, Any], table: sa.Table) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k in table.c}


async def test_0010_keeps_old_books_clean_and_later_refunds_cumulative(at_0009: str) -> None:
    settings = load_settings(profile="test", env={"DATABASE_URL": at_0009})
    siampay = settings.partner("th-siampay")
    db = open_database(at_0009)
    try:
        merchant_id = await create_merchant(db, SIAM_SOUVENIRS)  # 150 bps, no fixed fee
        thb, cny = fx.get_currency("THB"), fx.get_currency("CNY")
        amount = fx.Money(100_000, thb)
        quote = QuoteUse(
            id="qt_old", rate="0.2030000000", mid_rate="0.2000000000", markup_bps=150,
            rate_source="ecb", rate_set=None, rate_as_of=NOW, expires_at=NOW,
        )  # fmt: skip
        payer = fx.Money(fx.convert_minor(amount.value, quote.rate_value, thb, cny), cny)
        fees = {
            "merchant_fee": ledger.merchant_fee(amount.value, 150, 0),
            "partner_fee": partner_fee(siampay, payer),
            "fx_revenue": ledger.fx_revenue(amount, payer, Decimal(quote.mid_rate)),
        }
        payment = make_payment(
            id="pay_old", merchant_id=merchant_id, partner="th-siampay",
            status=PaymentStatus.SUCCEEDED, amount=amount, payer_amount=payer, quote=quote,
            merchant_business_date=DAY, partner_business_date=DAY, refunded_value=333,
            reserved_value=333, **fees,
        )  # fmt: skip
        common = {"payment_id": "pay_old", "merchant_id": merchant_id, "partner": "th-siampay",
                  "merchant_date": DAY, "partner_date": DAY, "now": NOW}  # fmt: skip
        paid = ledger.payment_entry(amount=amount, payer_amount=payer, **fees, **common)
        # Booked before 0010: a refund of 3.33 THB returning its own round_half_up(4.995) = 5.
        refund_payer = fx.convert_minor(333, quote.rate_value, thb, cny)
        old_fees = {
            "merchant_fee": ledger.merchant_refund_fee(333, 150),
            "partner_fee": ledger.partner_refund_fee(refund_payer, siampay.fees.bps),
            "fx_revenue": ledger.fx_revenue_reversed(fees["fx_revenue"], amount.value, 0, 333),
        }
        refund_row = {
            "id": "rf_old", "payment_id": "pay_old", "merchant_id": merchant_id,
            "kind": "merchant", "status": "succeeded", "amount_value": 333, "currency": "THB",
            "payer_value": refund_payer, "payer_currency": "CNY", "partner": "th-siampay",
            "partner_request_id": "rf_old", "created_at": NOW, "updated_at": NOW,
            "merchant_business_date": DAY, "partner_business_date": DAY, "version": 0,
            "refund_calls": 1, "inquiries": 0, **old_fees,
        }  # fmt: skip
        refunded = ledger.refund_entry(
            refund_id="rf_old",
            amount=fx.Money(333, thb),
            payer_amount=fx.Money(refund_payer, cny),
            **old_fees,
            **common,
        )
        payment_row = rows.payment_row(payment) | {"reserved_payer_value": refund_payer}
        async with db.writer.begin() as conn:
            old = await conn.run_sync(_tables_as_they_are)
            await conn.execute(
                sa.insert(old["quotes"]).values(
                    id="qt_old", merchant_id=merchant_id, wallet="alipay_cn",
                    amount_value=amount.value, amount_currency="THB", payer_value=payer.value,
                    payer_currency="CNY", rate=quote.rate, mid_rate=quote.mid_rate,
                    markup_bps=150, rate_source="ecb", rate_as_of=NOW, created_at=NOW,
                    expires_at=NOW,
                )
            )  # fmt: skip
            await conn.execute(
                sa.insert(old["payments"]).values(_only(payment_row, old["payments"]))
            )
            await conn.execute(sa.insert(old["refunds"]).values(_only(refund_row, old["refunds"])))
            attempt = make_attempt(
                id="att_old",
                payment_id="pay_old",
                partner="th-siampay",
                partner_request_id="att_old",
                status=AttemptStatus.SUCCEEDED,
            )
            await conn.execute(sa.insert(old["payment_attempts"]).values(
                _only(rows.attempt_row(attempt), old["payment_attempts"])))  # fmt: skip
            for entry in (paid, refunded):
                await conn.execute(sa.insert(old["journal_entries"]).values(entry.entry))
                await conn.execute(sa.insert(old["journal_lines"]), entry.lines)
    finally:
        await db.dispose()

    await upgrade_async(at_0009)

    db = open_database(at_0009)
    try:
        entries = metadata.tables["journal_entries"]
        async with db.reader.connect() as conn:
            stored = {
                row["kind"]: dict(row)
                for row in (await conn.execute(sa.select(entries))).mappings()
            }
        assert (stored["payment"]["mdr_bps"], stored["payment"]["fixed_fee"]) == (150, 0)
        for name in ("partner_fee_bps", "partner_fee_fixed", "partner_fee_returned"):
            assert stored["payment"][name] is None, name  # not in the database: unknown
        assert stored["refund"]["mdr_bps"] is None  # booked line by line
        report = await verify_ledger(db, settings)
        assert report.ok, report.summary()
        assert old_fees["merchant_fee"] == 5  # round_half_up(4.995): more than its 4.995 share
    finally:
        await db.dispose()

    # The rest refunded after the migration: the cumulative return makes up for the old one.
    async with running_services(at_0009) as services:
        services.partner("th-siampay").on(Operation.REFUND, Outcome.succeeded())
        merchant = await get_merchant(services.ctx.db, merchant_id)
        assert merchant is not None
        answer = await create_refund(
            services.ctx, merchant=merchant, key="k-rest", request_hash="h", payment_id="pay_old",
            amount=fx.Money(amount.value - 333, thb), reason=None,
            started_at=asyncio.get_running_loop().time(),
        )  # fmt: skip
        assert body(answer)["status"] == "succeeded"
        refunds = await services.refunds("pay_old")
        assert sum(r.merchant_fee or 0 for r in refunds) == fees["merchant_fee"] == 1500
        assert sum(r.payer_amount.value for r in refunds) == payer.value
        partner_variable = fees["partner_fee"] - siampay.fees.fixed["CNY"]
        assert sum(r.partner_fee or 0 for r in refunds) == partner_variable
        await services.assert_books_balance()


def _tables_as_they_are(conn: sa.Connection) -> dict[str, sa.Table]:
    reflected = sa.MetaData()
    names = ("quotes", "payments", "payment_attempts", "refunds", "journal_entries",
             "journal_lines")  # fmt: skip
    return {name: sa.Table(name, reflected, autoload_with=conn) for name in names}
