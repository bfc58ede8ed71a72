"""`gateway ledger verify` on real databases: a clean book passes; each kind of damage is reported
as exactly that damage.

Each test gets a freshly migrated database of its own (the verifier reads whole tables, so rows
other tests leave in the shared session database must not count).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import fx
from gateway.cli import main
from gateway.core.config import Settings, load_settings
from gateway.core.ids import new_id
from gateway.ledger import postings as ledger
from gateway.ledger.verify import LedgerReport, verify_ledger
from gateway.partners.routing import partner_fee
from gateway.storage.db import Database, open_database
from gateway.storage.migrate import upgrade, upgrade_async
from gateway.storage.tables import metadata
from tests.support.seeding import Shop, create_merchant

payments = metadata.tables["payments"]
refunds = metadata.tables["refunds"]
entries = metadata.tables["journal_entries"]
lines = metadata.tables["journal_lines"]

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
M_DATE, P_DATE = "2026-11-26", "2026-11-26"
MID, RATE = Decimal("0.2"), Decimal("0.203")
PARTNER = "th-siampay"  # 60 bps + 10 CNY fen fixed; serves alipay_cn (CNY) and truemoney (THB)


async def _admin_sql(server_url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    if database_url.startswith("sqlite"):
        url, name = f"sqlite+aiosqlite:///{tmp_path / 'ledger.db'}", None
    else:
        name = f"gw_ledger_{secrets.token_hex(6)}"
        await _admin_sql(database_url, f'CREATE DATABASE "{name}"')
        url = database_url.rsplit("/", 1)[0] + f"/{name}"
    await upgrade_async(url)
    database = open_database(url)
    try:
        yield database
    finally:
        await database.dispose()
        if name is not None:
            await _admin_sql(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(profile="test", env={})


class Book:
    """Writes payments, refunds and their journal the way the services will (merchants are
    made the operator's way, `tests/support/seeding.py`)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self.partner = settings.partner(PARTNER)
        self.entries: dict[str, ledger.JournalEntry] = {}  # by payment or refund id

    async def insert(self, *rows: tuple[sa.Table, dict[str, Any]]) -> None:
        async with self.db.writer.begin() as conn:
            for table, row in rows:
                await conn.execute(table.insert(), row)

    async def post(self, posted: ledger.JournalEntry) -> None:
        async with self.db.writer.begin() as conn:
            await conn.execute(entries.insert(), posted.entry)
            await conn.execute(lines.insert(), posted.lines)

    async def execute(self, stmt: sa.Executable) -> None:
        async with self.db.writer.begin() as conn:
            await conn.execute(stmt)

    async def merchant(self, mdr_bps: int = 150, fixed_fee: int = 100) -> str:
        shop = Shop(
            "Ledger Test Store", "TH", "THB", "Asia/Bangkok", mdr_bps=mdr_bps, fixed_fee=fixed_fee
        )
        return await create_merchant(self.db, shop)

    async def payment(
        self,
        merchant: str,
        value: int,
        *,
        status: str = "succeeded",
        fx_payment: bool = True,
        mdr: tuple[int, int] = (150, 100),
        post: bool = True,
        dates: bool = True,
    ) -> str:
        payment_id = new_id("pay")
        amount = fx.Money.of(value, "THB")
        payer = (
            fx.Money.of(
                fx.convert_minor(value, RATE, amount.currency, fx.get_currency("CNY")), "CNY"
            )
            if fx_payment
            else amount
        )
        mid = MID if fx_payment else None
        fees = {
            "merchant_fee": ledger.merchant_fee(value, *mdr),
            "partner_fee": partner_fee(self.partner, payer),
            "fx_revenue": ledger.fx_revenue(amount, payer, mid),
        }
        final = status != "processing"
        await self.insert(
            (
                payments,
                {
                    "id": payment_id,
                    "merchant_id": merchant,
                    "merchant_reference": payment_id,
                    "idempotency_key": payment_id,
                    "status": status,
                    "amount_value": value,
                    "currency": "THB",
                    "payer_value": payer.value,
                    "payer_currency": payer.currency.code,
                    "wallet": "alipay_cn" if fx_payment else "truemoney",
                    "partner": PARTNER,
                    "route_reason": "test",
                    "rate": str(RATE) if fx_payment else None,
                    "mid_rate": str(mid) if mid is not None else None,
                    "code_mask": "28**************00",
                    "code_hash": "0" * 64,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "version": 0,
                    **(fees if status in ("succeeded", "cancelled") else {}),
                    "merchant_business_date": M_DATE if final and dates else None,
                    "partner_business_date": P_DATE if final and dates else None,
                },
            )
        )
        if post:
            posted = ledger.payment_entry(
                payment_id=payment_id,
                merchant_id=merchant,
                partner=PARTNER,
                amount=amount,
                payer_amount=payer,
                merchant_date=M_DATE,
                partner_date=P_DATE,
                now=NOW,
                **fees,
            )
            await self.post(posted)
            self.entries[payment_id] = posted
        return payment_id

    async def refund(
        self,
        payment_id: str,
        value: int,
        *,
        refunded_before: int = 0,
        payer_before: int = 0,
        status: str = "succeeded",
        kind: str = "merchant",
        fx_fudge: int = 0,
    ) -> str:
        async with self.db.reader.connect() as conn:
            payment = (
                (await conn.execute(sa.select(payments).where(payments.c.id == payment_id)))
                .mappings()
                .one()
            )
        refund_id = new_id("rf")
        m, p = fx.get_currency(payment["currency"]), fx.get_currency(payment["payer_currency"])
        rate = Decimal(payment["rate"]) if payment["rate"] else Decimal(1)
        total = refunded_before + value
        cumulative = (
            payment["payer_value"]
            if total == payment["amount_value"]
            else fx.convert_minor(total, rate, m, p)
        )
        amount, payer = fx.Money(value, m), fx.Money(cumulative - payer_before, p)
        fees = {
            "merchant_fee": ledger.merchant_refund_fee(value, 150),
            "partner_fee": ledger.partner_refund_fee(payer.value, self.partner.fees.bps),
            "fx_revenue": ledger.fx_revenue_reversed(
                payment["fx_revenue"], payment["amount_value"], refunded_before, value
            )
            + fx_fudge,
        }
        final = status != "processing"
        await self.insert(
            (
                refunds,
                {
                    "id": refund_id,
                    "payment_id": payment_id,
                    "merchant_id": payment["merchant_id"],
                    "kind": kind,
                    "status": status,
                    "amount_value": value,
                    "currency": m.code,
                    "payer_value": payer.value,
                    "payer_currency": p.code,
                    "partner": PARTNER,
                    "partner_request_id": refund_id,
                    "refund_calls": 1,
                    "inquiries": 0,
                    "created_at": NOW,
                    "updated_at": NOW,
                    "version": 0,
                    **(fees if status == "succeeded" else {}),
                    "merchant_business_date": "2026-11-27" if final else None,
                    "partner_business_date": "2026-11-27" if final else None,
                },
            )
        )
        if status == "succeeded" and kind == "merchant":
            posted = ledger.refund_entry(
                payment_id=payment_id,
                refund_id=refund_id,
                merchant_id=payment["merchant_id"],
                partner=PARTNER,
                amount=amount,
                payer_amount=payer,
                merchant_date="2026-11-27",
                partner_date="2026-11-27",
                now=NOW,
                **fees,
            )
            await self.post(posted)
            self.entries[refund_id] = posted
        return refund_id

    async def cancel(self, payment_id: str) -> None:
        """A succeeded payment cancelled: status, then the reversal of its entry."""
        await self.execute(
            payments.update().where(payments.c.id == payment_id).values(status="cancelled")
        )
        await self.post(ledger.reversal_entry(self.entries[payment_id].lines, now=NOW))


@pytest.fixture
async def book(db: Database, settings: Settings) -> Book:
    return Book(db, settings)


async def _scenario(book: Book) -> dict[str, str]:
    """One of everything: FX and domestic payments, partial refunds, cancels, failures."""
    merchant = await book.merchant()
    fx_paid = await book.payment(merchant, 125050)
    first = await book.refund(fx_paid, 50000)
    second = await book.refund(fx_paid, 33333, refunded_before=50000, payer_before=10150)
    await book.refund(fx_paid, 1000, status="processing")
    await book.refund(fx_paid, 1000, status="failed")
    full = await book.payment(merchant, 9999)
    await book.refund(full, 9999)
    domestic = await book.payment(merchant, 20000, fx_payment=False)
    cancelled = await book.payment(merchant, 30000)
    await book.cancel(cancelled)
    refused = await book.payment(merchant, 40000)  # the partner refused the cancel: gateway refund
    await book.cancel(refused)
    await book.refund(refused, 40000, kind="cancel")
    await book.payment(merchant, 500, status="failed", post=False)
    await book.payment(merchant, 600, status="cancelled", post=False)  # cancelled in processing
    await book.payment(merchant, 700, status="processing", post=False)
    return {
        "merchant": merchant,
        "fx_paid": fx_paid,
        "first": first,
        "second": second,
        "domestic": domestic,
        "cancelled": cancelled,
    }


def _checks(report: LedgerReport) -> dict[str, tuple[int, tuple[str, ...]]]:
    return {f.check: (f.count, f.examples) for f in report.problems}


async def test_a_clean_book_verifies(book: Book, db: Database, settings: Settings) -> None:
    await _scenario(book)
    report = await verify_ledger(db, settings)
    assert report.problems == (), report.summary()
    assert report.ok
    assert report.entries == 5 + 3 + 2  # payments, merchant refunds, reversals of cancels
    assert report.payments == 8 and report.refunds == 6
    assert report.lines > 0 and report.accounts >= 7
    assert "ledger OK" in report.summary()


async def test_an_empty_database_verifies(db: Database, settings: Settings) -> None:
    report = await verify_ledger(db, settings)
    assert report.ok and report.entries == 0 and report.accounts == 0


async def test_a_corrupted_line_unbalances_its_entry_and_account(
    book: Book, db: Database, settings: Settings
) -> None:
    ids = await _scenario(book)
    line = next(
        line for line in book.entries[ids["first"]].lines if line["account"] == "merchant_fees"
    )
    await book.execute(
        lines.update().where(lines.c.id == line["id"]).values(amount=lines.c.amount + 1)
    )
    checks = _checks(await verify_ledger(db, settings))
    assert set(checks) == {"unbalanced_entries", "account_mismatches"}
    assert checks["unbalanced_entries"] == (1, (f"{line['entry_id']}: THB +1",))
    count, (example,) = checks["account_mismatches"]
    assert count == 1 and example.startswith(f"merchant_fees {ids['merchant']} THB")


async def test_a_dropped_entry_is_missing_and_its_accounts_are_off(
    book: Book, db: Database, settings: Settings
) -> None:
    ids = await _scenario(book)
    entry_id = book.entries[ids["second"]].entry["id"]
    await book.execute(lines.delete().where(lines.c.entry_id == entry_id))
    await book.execute(entries.delete().where(entries.c.id == entry_id))
    report = await verify_ledger(db, settings)
    checks = _checks(report)
    assert set(checks) == {"entry_counts", "account_mismatches"}, report.summary()
    assert checks["entry_counts"] == (
        1,
        (f"{ids['second']} (succeeded): 0 refund entries, 0 others",),
    )
    assert checks["account_mismatches"][0] == len(book.entries[ids["second"]].lines)


async def test_an_altered_fee_is_reported_with_the_accounts_it_moves(
    book: Book, db: Database, settings: Settings
) -> None:
    ids = await _scenario(book)
    await book.execute(
        payments.update()
        .where(payments.c.id == ids["domestic"])
        .values(merchant_fee=payments.c.merchant_fee + 7)
    )
    checks = _checks(await verify_ledger(db, settings))
    assert set(checks) == {"payment_fees", "account_mismatches"}
    fee = ledger.merchant_fee(20000, 150, 100)
    assert checks["payment_fees"] == (
        1,
        (f"{ids['domestic']}: merchant_fee {fee + 7} (expected {fee})",),
    )
    count, examples = checks["account_mismatches"]
    assert count == 2
    assert [e.split(":")[0] for e in examples] == [
        f"merchant_fees {ids['merchant']} THB",
        f"merchant_payable {ids['merchant']} THB",
    ]


async def test_a_fee_off_the_schedule_is_reported_alone(
    book: Book, db: Database, settings: Settings
) -> None:
    """The journal agrees with the row, but both used the wrong merchant fee."""
    ids = await _scenario(book)
    wrong = await book.payment(ids["merchant"], 10000, mdr=(200, 100))
    checks = _checks(await verify_ledger(db, settings))
    assert checks == {
        "payment_fees": (1, (f"{wrong}: merchant_fee 300 (expected 250)",)),
    }


async def test_a_wrong_fx_reversal_is_reported_per_payment(
    book: Book, db: Database, settings: Settings
) -> None:
    merchant = await book.merchant()
    paid = await book.payment(merchant, 125050)
    await book.refund(paid, 50000, fx_fudge=1)
    checks = _checks(await verify_ledger(db, settings))
    assert set(checks) == {"refund_fees"}
    count, (example,) = checks["refund_fees"]
    assert count == 1 and example.startswith(f"{paid}: refunds reverse fx_revenue")


async def test_a_cancel_without_its_reversal(book: Book, db: Database, settings: Settings) -> None:
    merchant = await book.merchant()
    paid = await book.payment(merchant, 30000)
    await book.execute(payments.update().where(payments.c.id == paid).values(status="cancelled"))
    checks = _checks(await verify_ledger(db, settings))
    assert set(checks) == {"cancelled_not_zero", "entry_counts", "account_mismatches"}
    assert checks["cancelled_not_zero"][0] == 1
    assert checks["entry_counts"] == (1, (f"{paid} (cancelled): 1 payment entries, 0 reversals",))


async def test_missing_business_dates(book: Book, db: Database, settings: Settings) -> None:
    merchant = await book.merchant()
    failed = await book.payment(merchant, 500, status="failed", post=False, dates=False)
    checks = _checks(await verify_ledger(db, settings))
    assert checks == {"business_dates": (1, (failed,))}


def test_cli_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    upgrade(url)
    cli = CliRunner()
    clean = cli.invoke(main, ["ledger", "verify"])
    assert clean.exit_code == 0, clean.output
    assert "ledger OK" in clean.output

    async def damage() -> None:
        database = open_database(url)
        try:
            book = Book(database, load_settings(profile="test", env={}))
            merchant = await book.merchant()
            paid = await book.payment(merchant, 10000)
            await book.execute(
                lines.delete().where(lines.c.entry_id == book.entries[paid].entry["id"])
            )
            await book.execute(entries.delete().where(entries.c.payment_id == paid))
        finally:
            await database.dispose()

    asyncio.run(damage())
    broken = cli.invoke(main, ["ledger", "verify"])
    assert broken.exit_code == 1, broken.output
    assert "entry_counts: 1" in broken.output
