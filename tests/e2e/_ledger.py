"""Prove the books after a test: `gateway ledger verify` over the test's database."""

from __future__ import annotations

from gateway.ledger.verify import verify_ledger
from gateway.storage.db import open_database
from tests.e2e.conftest import Gateway


async def assert_books_balance(gateway: Gateway) -> None:
    db = open_database(gateway.settings.database.url)
    try:
        report = await verify_ledger(db, gateway.settings)
    finally:
        await db.dispose()
    assert report.ok, report.summary()
