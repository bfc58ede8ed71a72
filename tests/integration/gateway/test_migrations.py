"""The Alembic migrations build exactly the schema the SQLModel tables describe, on both
databases: a model change without its migration fails here. And data migrations keep what
was stored before them."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.quotes.model import QuoteUse
from gateway.storage import rows
from gateway.storage.db import open_database
from gateway.storage.migrate import upgrade, upgrade_async
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, POSTGRES_SERVER, _admin_sql
from tests.support.seeding import Shop, create_merchant


def _diff(connection: sa.Connection) -> list[Any]:
    differences: list[Any] = compare_metadata(MigrationContext.configure(connection), metadata)
    return differences


async def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


@pytest.fixture(params=DATABASES)
def at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, migrated only up to revision 0006."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        upgrade(url, "0006")
        yield url
        return
    request.getfixturevalue("postgresql_url")  # skips (or fails in CI) without a server
    name = f"gw_test_{secrets.token_hex(6)}"
    asyncio.run(_admin_sql(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_SERVER.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url, "0006")
    yield url
    asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)
PUBLISHED = datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


async def test_0007_gives_stored_payments_and_refunds_their_quote_terms(at_0006: str) -> None:
    """Payments and refunds made before 0007 get their quote's terms from the quote row."""
    db = open_database(at_0006)
    try:
        merchant_id = await create_merchant(db, Shop("Old Shop", "TH", "THB", "Asia/Bangkok"))
        quote = {
            "id": "qt_old", "merchant_id": merchant_id, "wallet": "alipay_cn",
            "amount_value": 125050, "amount_currency": "THB", "payer_value": 23253,
            "payer_currency": "CNY", "rate": "0.185948", "mid_rate": "0.1832", "markup_bps": 150,
            "rate_source": "ecb", "rate_as_of": PUBLISHED, "rate_set_id": None,
            "markup_rule": "default (150 bps)", "created_at": NOW,
            "expires_at": NOW + timedelta(minutes=5),
        }  # fmt: skip
        payments = [
            {
                "id": f"pay_{n}", "merchant_id": merchant_id, "merchant_reference": f"R{n}",
                "idempotency_key": f"K{n}", "status": "succeeded", "amount_value": value,
                "currency": "THB", "payer_value": payer, "payer_currency": currency,
                "wallet": wallet, "partner": "th-siampay", "route_reason": "test",
                "quote_id": quote_id, "rate": quote_id and "0.185948",
                "mid_rate": quote_id and "0.1832",
                "quote_expires_at": quote_id and quote["expires_at"], "code_mask": "28****0000",
                "code_hash": f"{n}" * 64, "created_at": NOW, "updated_at": NOW, "version": 0,
            }
            for n, value, payer, currency, wallet, quote_id in (
                (1, 125050, 23253, "CNY", "alipay_cn", "qt_old"),
                (2, 5000, 5000, "THB", "truemoney", None),
            )
        ]  # fmt: skip
        refunds = [
            {
                "id": f"rf_{n}", "payment_id": f"pay_{n}", "merchant_id": merchant_id,
                "kind": "merchant", "status": "succeeded", "amount_value": 1000,
                "currency": "THB", "payer_value": payer, "payer_currency": currency,
                "partner": "th-siampay", "partner_request_id": f"rf_{n}", "created_at": NOW,
                "updated_at": NOW, "version": 0, "refund_calls": 0, "inquiries": 0,
            }
            for n, payer, currency in ((1, 186, "CNY"), (2, 1000, "THB"))
        ]  # fmt: skip
        async with db.writer.begin() as conn:
            # The tables as revision 0006 has them (the models' have later columns, defaults).
            old = await conn.run_sync(_tables_as_they_are, ("quotes", "payments", "refunds"))
            await conn.execute(sa.insert(old["quotes"]).values(**quote))
            await conn.execute(sa.insert(old["payments"]), payments)
            await conn.execute(sa.insert(old["refunds"]), refunds)
    finally:
        await db.dispose()

    await upgrade_async(at_0006)

    db = open_database(at_0006)
    try:
        async with db.reader.connect() as conn:
            loaded = {
                row["id"]: rows.payment(row)
                for row in (await conn.execute(sa.select(metadata.tables["payments"]))).mappings()
            }
            refunded = {
                row["id"]: rows.refund(row)
                for row in (await conn.execute(sa.select(metadata.tables["refunds"]))).mappings()
            }
    finally:
        await db.dispose()
    expected = QuoteUse(
        id="qt_old", rate="0.185948", mid_rate="0.1832", markup_bps=150, rate_source="ecb",
        rate_set=None, rate_as_of=PUBLISHED, expires_at=NOW + timedelta(minutes=5),
    )  # fmt: skip
    assert loaded["pay_1"].quote == expected and refunded["rf_1"].quote == expected
    assert loaded["pay_2"].quote is None and refunded["rf_2"].quote is None


def _tables_as_they_are(conn: sa.Connection, names: tuple[str, ...]) -> dict[str, sa.Table]:
    reflected = sa.MetaData()
    return {name: sa.Table(name, reflected, autoload_with=conn) for name in names}
