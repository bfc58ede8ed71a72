"""Closing settlement batches against real databases, from rows booked the way the lifecycle books
them (`gateway.ledger.postings`): frozen lines, totals equal to the journal, byte-identical files,
closing once (also from concurrent closers), reversals that moved to a later day, and the
questions the lifecycle asks (`next_open_date`, `closed_through`, the advisory lock on
PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

import fx
from gateway.core.config import Settings, load_settings
from gateway.core.ids import new_id
from gateway.ledger import postings as ledger
from gateway.settlement import closing, csvfile
from gateway.settlement.batches import file_chunks, find_batch, list_batches
from gateway.settlement.closing import close_batch, settle_day
from gateway.settlement.model import BatchKey, BatchType, ClosedBatch
from gateway.storage import settlement as stl
from gateway.storage import settlement_batches as closed_repo
from gateway.storage.db import Database, open_database
from gateway.storage.raw import ConnectionStatements
from gateway.storage.tables import metadata
from tests.support.seeding import Shop, create_merchant

T = TypeVar("T")

D = date(2031, 5, 14)
D1 = D + timedelta(days=1)
NOW = datetime(2031, 5, 20, 12, 0, tzinfo=UTC)
RATES_AS_OF = datetime(2031, 5, 13, 14, 0, tzinfo=UTC)
_T = metadata.tables


@dataclass
class Books:
    """A merchant (THB, 1.50 % + 5.00 THB) and a partner of its own, and helpers that book
    payments, refunds and cancels like `gateway/payments/booking.py` does."""

    db: Database
    merchant_id: str
    partner: str = field(default_factory=lambda: f"p-{secrets.token_hex(4)}")
    mdr_bps: int = 150
    fixed_fee: int = 500
    partner_bps: int = 40

    def merchant_key(self, day: date = D) -> BatchKey:
        return BatchKey(BatchType.MERCHANT, self.merchant_id, "THB", day)

    def partner_key(self, day: date = D) -> BatchKey:
        return BatchKey(BatchType.PARTNER, self.partner, "CNY", day)

    async def _insert(self, rows: list[tuple[str, dict[str, Any]]]) -> None:
        async with self.db.writer.begin() as conn:
            for table, row in rows:
                await conn.execute(sa.insert(_T[table]).values(**row))

    async def pay(
        self,
        value: int,
        *,
        day: date = D,
        partner_day: date | None = None,
        status: str = "succeeded",
        reference: str | None = None,
    ) -> dict[str, Any]:
        now = NOW
        rate, mid = Decimal("0.2"), Decimal("0.1951219512")  # mid + 250 bps
        payer = fx.convert_minor(value, rate, fx.get_currency("THB"), fx.get_currency("CNY"))
        payment: dict[str, Any] = {
            "id": new_id("pay"),
            "merchant_id": self.merchant_id,
            "merchant_reference": reference or f"R-{secrets.token_hex(5)}",
            "idempotency_key": secrets.token_hex(8),
            "status": status,
            "amount_value": value,
            "currency": "THB",
            "payer_value": payer,
            "payer_currency": "CNY",
            "wallet": "alipay_cn",
            "partner": self.partner,
            "route_reason": "test",
            "rate": str(rate),
            "mid_rate": str(mid),
            "markup_bps": 250,
            "rate_source": "ecb",
            "rate_set_id": "rs_test",
            "rate_as_of": RATES_AS_OF,
            "code_mask": "28****0000",
            "code_hash": secrets.token_hex(32),
            "partner_reference": secrets.token_hex(6),
            "partner_completed_at": now,
            "created_at": now,
            "updated_at": now,
            "merchant_business_date": day.isoformat(),
            "partner_business_date": (partner_day or day).isoformat(),
        }
        rows: list[tuple[str, dict[str, Any]]] = [("payments", payment)]
        if status == "succeeded":
            amount = fx.Money.of(value, "THB")
            payer_amount = fx.Money.of(payer, "CNY")
            fees = {
                "merchant_fee": ledger.merchant_fee(value, self.mdr_bps, self.fixed_fee),
                "partner_fee": ledger.partner_refund_fee(payer, self.partner_bps),
                "fx_revenue": ledger.fx_revenue(amount, payer_amount, mid),
            }
            payment.update(fees)
            entry = ledger.payment_entry(
                payment_id=payment["id"],
                merchant_id=self.merchant_id,
                partner=self.partner,
                amount=amount,
                payer_amount=payer_amount,
                merchant_date=payment["merchant_business_date"],
                partner_date=payment["partner_business_date"],
                now=now,
                **fees,
            )
            rows += [("journal_entries", entry.entry)] + [("journal_lines", x) for x in entry.lines]
        await self._insert(rows)
        return payment

    async def refund(
        self, payment: dict[str, Any], value: int, *, day: date = D, kind: str = "merchant"
    ) -> dict[str, Any]:
        payer = fx.convert_minor(
            value, Decimal(payment["rate"]), fx.get_currency("THB"), fx.get_currency("CNY")
        )
        fees = {
            "merchant_fee": ledger.merchant_refund_fee(value, self.mdr_bps),
            "partner_fee": ledger.partner_refund_fee(payer, self.partner_bps),
            "fx_revenue": ledger.fx_revenue_reversed(
                payment["fx_revenue"], payment["amount_value"], 0, value
            ),
        }
        refund = {
            "id": new_id("rf"),
            "payment_id": payment["id"],
            "merchant_id": self.merchant_id,
            "kind": kind,
            "status": "succeeded",
            "amount_value": value,
            "currency": "THB",
            "payer_value": payer,
            "payer_currency": "CNY",
            "partner": self.partner,
            "partner_request_id": secrets.token_hex(12),
            "partner_completed_at": NOW,
            "merchant_business_date": day.isoformat(),
            "partner_business_date": day.isoformat(),
            "created_at": NOW,
            "updated_at": NOW,
            **fees,
        }
        entry = ledger.refund_entry(
            payment_id=payment["id"],
            refund_id=refund["id"],
            merchant_id=self.merchant_id,
            partner=self.partner,
            amount=fx.Money.of(value, "THB"),
            payer_amount=fx.Money.of(payer, "CNY"),
            merchant_date=day.isoformat(),
            partner_date=day.isoformat(),
            now=NOW,
            **fees,
        )
        if kind == "cancel":  # a refused cancel's full refund: the payment's reversal books it
            await self._insert([("refunds", refund)])
            return refund
        await self._insert(
            [("refunds", refund), ("journal_entries", entry.entry)]
            + [("journal_lines", x) for x in entry.lines]
        )
        return refund

    async def cancel(self, payment: dict[str, Any], *, day: date | None = None) -> None:
        """The payment ends cancelled; its entry reversed (into `day`'s batches if given)."""
        async with self.db.writer.begin() as conn:
            lines = [
                dict(r)
                for r in (
                    await conn.execute(
                        sa.select(_T["journal_lines"])
                        .join(
                            _T["journal_entries"],
                            _T["journal_entries"].c.id == _T["journal_lines"].c.entry_id,
                        )
                        .where(
                            _T["journal_entries"].c.payment_id == payment["id"],
                            _T["journal_entries"].c.kind == "payment",
                        )
                    )
                ).mappings()
            ]
            moved = day.isoformat() if day else None
            entry = ledger.reversal_entry(lines, now=NOW, merchant_date=moved, partner_date=moved)
            await conn.execute(sa.insert(_T["journal_entries"]).values(**entry.entry))
            for line in entry.lines:
                await conn.execute(sa.insert(_T["journal_lines"]).values(**line))
            await conn.execute(
                sa.update(_T["payments"])
                .where(_T["payments"].c.id == payment["id"])
                .values(status="cancelled", cancel_status="confirmed")
            )

    async def balance(self, key: BatchKey) -> int:
        """The journal's balance for a batch: −merchant_payable, or partner_receivable."""
        lines = _T["journal_lines"]
        merchant = key.type is BatchType.MERCHANT
        account = ledger.MERCHANT_PAYABLE if merchant else ledger.PARTNER_RECEIVABLE
        owner = lines.c.merchant_id if merchant else lines.c.partner
        async with self.db.reader.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(lines.c.amount), 0)).where(
                    lines.c.account == account,
                    owner == key.owner,
                    lines.c.currency == key.currency,
                    lines.c.business_date == key.day,
                )
            )
        return -int(total) if merchant else int(total)


@pytest.fixture
async def books(database_url: str) -> AsyncIterator[Books]:
    db = open_database(database_url)
    merchant_id = await create_merchant(
        db, Shop("Settlement Test", "TH", "THB", "Asia/Bangkok", mdr_bps=150, fixed_fee=500)
    )
    try:
        yield Books(db, merchant_id)
    finally:
        await db.dispose()


async def _file(db: Database, batch: ClosedBatch) -> bytes:
    return b"".join([chunk async for chunk in file_chunks(db, batch, page_rows=2)])


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))


def _minor(text: str, currency: str) -> int:
    return fx.Money.parse(text, currency).value


def _check_file(data: bytes, batch: ClosedBatch) -> list[dict[str, str]]:
    """The file's own arithmetic: totals, net = amount − fee, the stored digest and size."""
    assert hashlib.sha256(data).hexdigest() == batch.file_sha256
    assert len(data) == batch.file_bytes
    assert data.startswith(csvfile.header(batch.file_format).encode()) and data.endswith(b"\n")
    assert b"\r" not in data
    rows = _rows(data)
    *lines, total = rows
    currency = batch.key.currency
    assert total["record_type"] == "total" and int(total["id"]) == len(lines)
    assert len(lines) == batch.line_count
    for name in ("amount", "fee", "net"):
        assert sum(_minor(r[name], currency) for r in lines) == _minor(total[name], currency)
    for r in lines:
        assert r["currency"] == currency
        assert _minor(r["net"], currency) == _minor(r["amount"], currency) - _minor(
            r["fee"], currency
        )
    assert _minor(total["net"], currency) == batch.totals.net
    return lines


async def test_close_freezes_the_day_and_matches_the_journal(books: Books) -> None:
    db = books.db
    first = await books.pay(100_000)
    second = await books.pay(25_050, reference='-=HYPHEN,"QUOTED"')
    await books.pay(33_333, status="failed")
    cancelled = await books.pay(70_000)
    await books.cancel(cancelled)  # reversed on the same day: nowhere
    partial = await books.refund(first, 40_000)
    next_day = await books.refund(second, 5_050, day=D1)
    await books.refund(second, 100, kind="cancel")  # the gateway's own: nowhere

    key = books.merchant_key()
    found = await find_batch(db, key.id, merchant_id=books.merchant_id)
    assert found is not None and found.closed is None and found.view["status"] == "open"
    live_net = found.view["net"]["value"]
    assert live_net == await books.balance(key)

    closed = await close_batch(db, key, now=NOW, closed_by="test")
    assert closed.newly and closed.view["status"] == "closed"
    batch = closed.batch
    assert (batch.totals.payments_count, batch.totals.refunds_count) == (2, 1)
    assert batch.totals.payments_amount == 125_050 and batch.totals.refunds_amount == 40_000
    assert batch.totals.net == live_net == await books.balance(key)
    assert (
        batch.totals.net
        == batch.totals.payments_amount - batch.totals.refunds_amount - batch.totals.fees
    )

    data = await _file(db, batch)
    lines = _check_file(data, batch)
    assert [r["id"] for r in lines] == [first["id"], second["id"], partial["id"]]
    assert lines[0]["record_type"] == "payment" and lines[0]["amount"] == "1000.00"
    assert lines[0]["fee"] == "20.00"  # 1.50 % of 1,000.00 + 5.00
    assert lines[1]["merchant_reference"] == '\'-=HYPHEN,"QUOTED"'  # guarded, then quoted
    assert '"\'-=HYPHEN,""QUOTED"""' in data.decode()
    refund = lines[2]
    assert refund["record_type"] == "refund" and refund["payment_id"] == first["id"]
    assert (refund["amount"], refund["fee"], refund["net"]) == ("-400.00", "-6.00", "-394.00")
    assert refund["payer_currency"] == "CNY" and refund["payer_amount"].startswith("-")
    assert refund["merchant_reference"] == first["merchant_reference"]
    assert cancelled["id"] not in data.decode() and next_day["id"] not in data.decode()
    for line in lines:  # where every fx_rate came from (a refund: its payment's terms)
        assert (line["fx_rate"], line["fx_mid_rate"], line["fx_markup_bps"]) == (
            "0.2",
            "0.1951219512",
            "250",
        )
        assert fx.quote_rate(Decimal(line["fx_mid_rate"]), 250) == Decimal(line["fx_rate"])
        assert (line["fx_rate_source"], line["fx_rate_set"]) == ("ecb", "rs_test")
        assert line["fx_rate_as_of"] == "2031-05-13T14:00:00.000Z"

    again = await close_batch(db, key, now=NOW + timedelta(hours=1), closed_by="test")
    assert not again.newly and again.batch == batch
    assert await _file(db, again.batch) == data  # byte-identical
    events = _T["events"]
    async with db.reader.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).where(
                events.c.object_id == key.id, events.c.type == "settlement.closed"
            )
        )
    assert count == 1

    partner = await close_batch(db, books.partner_key(), now=NOW, closed_by="test")
    pdata = await _file(db, partner.batch)
    plines = _check_file(pdata, partner.batch)
    assert partner.batch.totals.net == await books.balance(books.partner_key())
    assert all(r["currency"] == "CNY" for r in plines)
    assert plines[0]["amount"] == plines[0]["payer_amount"]
    async with db.reader.connect() as conn:  # partner batches notify no merchant
        assert not await conn.scalar(
            sa.select(sa.func.count()).where(events.c.object_id == partner.key.id)
        )

    later = await close_batch(db, books.merchant_key(D1), now=NOW, closed_by="test")
    later_lines = _check_file(await _file(db, later.batch), later.batch)
    assert [r["id"] for r in later_lines] == [next_day["id"]]
    assert later.batch.totals.net == await books.balance(books.merchant_key(D1))


async def test_a_cancel_completed_after_close_is_a_reversal_of_the_next_day(books: Books) -> None:
    db = books.db
    payment = await books.pay(50_000)
    closed = await close_batch(db, books.merchant_key(), now=NOW, closed_by="test")
    frozen = await _file(db, closed.batch)
    await books.cancel(payment, day=D1)  # the lifecycle dates the reversal into the open day

    assert await _file(db, closed.batch) == frozen  # a closed batch never changes
    for key in (books.merchant_key(D1), books.partner_key(D1)):
        batch = (await close_batch(db, key, now=NOW, closed_by="test")).batch
        (line,) = _check_file(await _file(db, batch), batch)
        assert line["record_type"] == "reversal" and line["id"] == payment["id"]
        assert line["amount"].startswith("-") and line["fee"].startswith("-")
        assert batch.totals.net == await books.balance(key) < 0
        assert batch.totals.refunds_count == 1 and batch.totals.payments_count == 0


async def test_a_batch_closed_as_format_1_keeps_its_layout_and_bytes(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches closed before the FX columns existed download as they closed: 14 columns, the
    stored digest; the next day's batch, closed now, has the FX columns after `net`."""
    db = books.db
    await books.pay(10_000)
    await books.pay(20_000, day=D1)
    with monkeypatch.context() as patch:
        patch.setattr(csvfile, "FORMAT", 1)
        old = (await close_batch(db, books.merchant_key(), now=NOW, closed_by="test")).batch
    new = (await close_batch(db, books.merchant_key(D1), now=NOW, closed_by="test")).batch
    assert (old.file_format, new.file_format) == (1, 2)
    old_rows = _check_file(await _file(db, old), old)
    new_rows = _check_file(await _file(db, new), new)
    assert list(old_rows[0]) == list(csvfile.columns(1))
    assert list(new_rows[0]) == [*csvfile.columns(1), *csvfile.columns(2)[14:]]
    assert new_rows[0]["fx_mid_rate"] == "0.1951219512"


async def test_the_file_is_stored_at_closing_and_streamed_as_stored(
    books: Books, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered once: the closing stores the file in parts, which every download streams; a
    batch closed before parts were stored renders the same bytes again from its lines."""
    db = books.db
    for value in range(10_000, 10_030):
        await books.pay(value)
    monkeypatch.setattr(closing, "FILE_PART_BYTES", 600)  # several parts from a small batch
    closed = await close_batch(db, books.merchant_key(), now=NOW, closed_by="test", page_rows=3)
    batch = closed.batch
    parts = [part async for part in closed_repo.file_parts(db, batch.id)]
    assert len(parts) > 2 and all(len(part) >= 600 for part in parts[:-1])
    stored = b"".join(parts)
    _check_file(stored, batch)
    assert len(_rows(stored)) == 31  # 30 payments and the total
    assert await _file(db, batch) == stored
    async with db.writer.begin() as conn:
        await conn.execute(sa.delete(_T["settlement_file_parts"]))
    assert [part async for part in closed_repo.file_parts(db, batch.id)] == []
    assert await _file(db, batch) == stored


async def _stored_for(db: Database, batch_id: str) -> tuple[int, ...]:
    """How many rows the batch has in each table the close writes (its row, lines, parts and
    event)."""
    counts = []
    async with db.reader.connect() as conn:
        for table, column in (
            ("settlement_batches", "id"),
            ("settlement_lines", "batch_id"),
            ("settlement_file_parts", "batch_id"),
            ("events", "object_id"),
        ):
            counts.append(
                int(
                    await conn.scalar(
                        sa.select(sa.func.count()).where(_T[table].c[column] == batch_id)
                    )
                    or 0
                )
            )
    return tuple(counts)


@pytest.mark.parametrize("failing", ["store_part", "freeze"])
async def test_a_close_that_fails_part_way_closes_nothing(
    books: Books, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """One transaction: a close that fails after some lines and parts were written (on
    PostgreSQL, in a write still running behind the rendering) leaves no trace, returns its
    connections, and the next close closes the batch whole."""
    db = books.db
    for value in range(10_000, 10_030):
        await books.pay(value)
    key = books.merchant_key()
    monkeypatch.setattr(closing, "FILE_PART_BYTES", 600)
    original = getattr(closed_repo.BatchClosing, failing)
    calls: list[int] = []

    async def fails_the_third_time(self: closed_repo.BatchClosing, *args: Any) -> None:
        calls.append(1)
        if len(calls) < 3:
            await original(self, *args)
            return

        async def broken() -> None:
            await asyncio.sleep(0.01)
            raise RuntimeError("the disk is full")

        if db.dialect == "postgresql":
            await self._behind(broken())  # fails behind the caller, seen at a later write
        else:
            await broken()

    with monkeypatch.context() as patch:
        patch.setattr(closed_repo.BatchClosing, failing, fails_the_third_time)
        with pytest.raises(RuntimeError, match="the disk is full"):
            await close_batch(db, key, now=NOW, closed_by="test", page_rows=3)
    assert len(calls) >= 3
    assert await _stored_for(db, key.id) == (0, 0, 0, 0)
    assert db.writer.pool.checkedout() == 0 and db.reader.pool.checkedout() == 0

    closed = await close_batch(db, key, now=NOW, closed_by="test", page_rows=3)
    assert closed.newly and closed.batch.line_count == 30
    _check_file(await _file(db, closed.batch), closed.batch)
    parts = len([part async for part in closed_repo.file_parts(db, key.id)])
    assert await _stored_for(db, key.id) == (1, 31, parts, 1)


async def _ask(db: Database, question: Callable[..., Awaitable[T]], *args: Any) -> T:
    """One of the lifecycle's settlement questions, on a reader connection of its own."""
    async with db.reader.connect() as conn:
        return await question(ConnectionStatements(conn), *args)


async def test_next_open_date_and_closed_through(books: Books) -> None:
    db = books.db
    kind, owner = BatchType.MERCHANT, books.merchant_id
    assert await _ask(db, stl.closed_through, kind, owner, "THB") is None
    assert await _ask(db, stl.next_open_date, kind, owner, "THB", D) == D
    for day in (D, D1, D1 + timedelta(days=2)):
        await books.pay(1_000, day=day)
        await close_batch(db, books.merchant_key(day), now=NOW, closed_by="test")
    assert await _ask(db, stl.closed_through, "merchant", owner, "THB") == D1 + timedelta(days=2)
    assert await _ask(db, stl.is_closed, kind, owner, "THB", D1)
    assert not await _ask(db, stl.is_closed, kind, owner, "THB", D1 + timedelta(days=1))
    assert await _ask(db, stl.next_open_date, kind, owner, "THB", D) == D1 + timedelta(days=1)
    last = D1 + timedelta(days=2)
    assert await _ask(db, stl.next_open_date, kind, owner, "THB", last) == last + timedelta(days=1)
    async with db.writer.begin() as conn:  # inside the write that dates the line
        in_write = ConnectionStatements(conn)
        dated = await stl.next_open_date(in_write, kind, owner, "THB", D.isoformat())
        assert dated == D1 + timedelta(days=1)
    assert await _ask(db, stl.next_open_date, kind, owner, "JPY", D) == D  # another currency


async def test_concurrent_closers_close_once(books: Books, database_url: str) -> None:
    for value in (1_000, 2_000, 3_000):
        await books.pay(value)
    key = books.merchant_key()
    others = [open_database(database_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(close_batch(db, key, now=NOW, closed_by=f"closer-{i}") for i, db in enumerate(others))
        )
    finally:
        for db in others:
            await db.dispose()
    assert sorted(r.newly for r in results) == [False, False, False, True]
    assert len({r.batch.file_sha256 for r in results}) == 1
    lines = _T["settlement_lines"]
    async with books.db.reader.connect() as conn:
        stored = await conn.scalar(sa.select(sa.func.count()).where(lines.c.batch_id == key.id))
        events = await conn.scalar(
            sa.select(sa.func.count()).where(_T["events"].c.object_id == key.id)
        )
    assert (stored, events) == (4, 1)  # three lines and the total, one event


@pytest.mark.postgres
async def test_a_late_line_and_a_close_wait_for_each_other(postgresql_url: str) -> None:
    db = open_database(postgresql_url)
    try:
        merchant_id = await create_merchant(db, Shop("Late", "TH", "THB", "Asia/Bangkok"))
        books = Books(db, merchant_id)
        key = books.merchant_key()
        await books.pay(1_000)
        # A commit that dates a line to D holds D open: the close waits for it, then has it.
        async with db.writer.connect() as late, late.begin():
            in_late = ConnectionStatements(late)
            assert await stl.next_open_date(in_late, key.type, key.owner, "THB", D) == D
            closing = asyncio.create_task(close_batch(db, key, now=NOW, closed_by="test"))
            await asyncio.sleep(0.3)
            assert not closing.done()
            payment_rows = await _late_payment(books, late)
        closed = await closing
        assert closed.batch.totals.payments_count == 2
        assert payment_rows["id"] in (await _file(db, closed.batch)).decode()
        # Once closed, the next line for D goes to D + 1.
        async with db.writer.connect() as late, late.begin():
            in_late = ConnectionStatements(late)
            assert await stl.next_open_date(in_late, key.type, key.owner, "THB", D) == D1
    finally:
        await db.dispose()


@pytest.mark.postgres
async def test_a_write_holds_its_days_open_from_its_first_read(postgresql_url: str) -> None:
    """`holding_open` takes the locks inside a read the write asks anyway (the settle's lease
    read), even when that read finds no row; a second ask within the transaction takes none."""
    from gateway.storage.raw import open_raw_store

    db = open_database(postgresql_url)
    raw = await open_raw_store(postgresql_url)
    try:
        merchant_id = await create_merchant(db, Shop("Held", "TH", "THB", "Asia/Bangkok"))
        books = Books(db, merchant_id)
        await books.pay(1_000)
        key = books.merchant_key()
        async with raw.transaction() as tx:
            held, args = stl.holding_open(tx, [key])
            rows = await tx.fetch(
                f"SELECT id FROM {held} LEFT JOIN payments ON id = ?", [*args, "pay_none"]
            )
            assert rows == [{"id": None}]
            closing = asyncio.create_task(close_batch(db, key, now=NOW, closed_by="test"))
            await asyncio.sleep(0.3)
            assert not closing.done()
            assert stl.holding_open(tx, [key]) == ("(SELECT 1 AS held) AS held", [])
        closed = await closing
        assert closed.batch.totals.payments_count == 1
    finally:
        await raw.close()
        await db.dispose()


async def _late_payment(books: Books, conn: Any) -> dict[str, Any]:
    """A succeeded payment dated D written on `conn` (like `Books.pay`, uncommitted)."""
    original = books._insert

    async def on_conn(rows: list[tuple[str, dict[str, Any]]]) -> None:
        for table, row in rows:
            await conn.execute(sa.insert(_T[table]).values(**row))

    books._insert = on_conn  # type: ignore[method-assign]
    try:
        return await books.pay(2_000)
    finally:
        books._insert = original  # type: ignore[method-assign]


def _settings(database_url: str) -> Settings:
    return load_settings(profile="test", env={"DATABASE_URL": database_url})


async def test_settle_day_waits_for_cut_off_and_grace_unless_forced(
    books: Books, database_url: str
) -> None:
    settings = _settings(database_url)
    await books.pay(1_000)
    # Bangkok's D ends at midnight local (17:00 UTC); the test grace is 100 ms.
    before = datetime(2031, 5, 14, 17, 0, 0, 50_000, tzinfo=UTC)
    results = await settle_day(
        books.db, settings, day=D, now=before, closed_by="t", merchant_id=books.merchant_id
    )
    assert [r.outcome for r in results] == ["not_due"]
    assert results[0].due_at == datetime(2031, 5, 14, 17, 0, 0, 100_000, tzinfo=UTC)
    after = before + timedelta(milliseconds=60)
    results = await settle_day(
        books.db, settings, day=D, now=after, closed_by="t", merchant_id=books.merchant_id
    )
    assert [r.outcome for r in results] == ["closed"] and not results[0].batch.forced
    again = await settle_day(
        books.db, settings, day=D, now=after, closed_by="t", merchant_id=books.merchant_id
    )
    assert [r.outcome for r in again] == ["already_closed"]
    assert "already closed" in again[0].describe()

    # A partner the configuration does not know: only --force closes its batches.
    results = await settle_day(
        books.db, settings, day=D, now=after, closed_by="t", partner=books.partner
    )
    assert [r.outcome for r in results] == ["unknown_owner"]
    results = await settle_day(
        books.db, settings, day=D, now=after, closed_by="t", partner=books.partner, force=True
    )
    assert [r.outcome for r in results] == ["closed"] and results[0].batch.forced


async def test_listing_mixes_closed_rows_and_open_batches(books: Books) -> None:
    db = books.db
    await books.pay(1_000)
    await books.pay(2_000, day=D1)
    await close_batch(db, books.merchant_key(), now=NOW, closed_by="test")
    views, has_more = await list_batches(
        db,
        merchant_id=books.merchant_id,
        kind=None,
        day=None,
        status=None,
        limit=10,
        starting_after=None,
        now=datetime(2031, 5, 16, tzinfo=UTC),
        lookback=timedelta(days=7),
    )
    assert [(v["business_date"], v["status"]) for v in views] == [
        (D1.isoformat(), "open"),
        (D.isoformat(), "closed"),
    ]
    assert not has_more and all(v["type"] == "merchant" for v in views)
    page, has_more = await list_batches(
        db,
        merchant_id=books.merchant_id,
        kind=None,
        day=None,
        status=None,
        limit=1,
        starting_after=None,
        now=datetime(2031, 5, 16, tzinfo=UTC),
        lookback=timedelta(days=7),
    )
    assert [v["id"] for v in page] == [views[0]["id"]] and has_more
    rest, has_more = await list_batches(
        db,
        merchant_id=books.merchant_id,
        kind=None,
        day=None,
        status=None,
        limit=1,
        starting_after=page[0]["id"],
        now=datetime(2031, 5, 16, tzinfo=UTC),
        lookback=timedelta(days=7),
    )
    assert [v["id"] for v in rest] == [views[1]["id"]] and not has_more
    # A partner's batches are not a finance key's, even by id.
    assert await find_batch(db, books.partner_key().id, merchant_id=books.merchant_id) is None
    assert await find_batch(db, books.partner_key().id, merchant_id=None) is not None
    assert await find_batch(db, "stl_nonsense", merchant_id=None) is None


async def test_the_worker_closes_what_is_due(books: Books, database_url: str) -> None:
    from types import SimpleNamespace
    from typing import cast

    from adapters import SystemClock
    from gateway.context import Context
    from gateway.settlement.worker import SettlementWorker

    settings = _settings(database_url)
    d2 = D + timedelta(days=2)
    clock = SystemClock(offset=datetime(2031, 5, 16, 3, 0, tzinfo=UTC) - datetime.now(UTC))
    kicked: list[bool] = []
    ctx = cast(
        Context,
        SimpleNamespace(
            settings=settings,
            db=books.db,
            clock=clock,
            owner="worker-test",
            kick_webhooks=lambda: kicked.append(True),
        ),
    )
    worker = SettlementWorker(ctx)

    def mine(closed: list[Any]) -> list[BatchKey]:
        return [c.key for c in closed if c.key.owner in {books.merchant_id, books.partner}]

    await books.pay(1_000)  # D: long due, left open while no gateway ran
    await books.pay(2_000, day=d2)  # today in Bangkok: not due
    # The first look is a full one: D closes; the partner is not configured, so it waits.
    assert mine(await worker.run_once()) == [books.merchant_key()]
    assert kicked == [True]
    assert mine(await worker.run_once()) == []
    # Bangkok's d2 ends at 17:00 UTC; 100 ms of grace later the due look closes it.
    clock.advance(datetime(2031, 5, 16, 17, 0, 0, 50_000, tzinfo=UTC) - clock.now())
    assert mine(await worker.run_once()) == []
    clock.advance(timedelta(milliseconds=60))
    assert mine(await worker.run_once()) == [books.merchant_key(d2)]
    # A line dated into a day that was already due is seen by the next full look.
    await books.pay(3_000, day=D1)
    assert mine(await worker.run_once()) == []
    assert mine(await worker.run_once(full=True)) == [books.merchant_key(D1)]


async def test_the_lifecycle_questions_on_the_writers_raw_transaction(
    books: Books, database_url: str
) -> None:
    from gateway.storage.raw import open_raw_store

    await books.pay(1_000)
    await close_batch(books.db, books.merchant_key(), now=NOW, closed_by="test")
    raw = await open_raw_store(database_url)
    try:
        async with raw.transaction() as tx:
            owner = books.merchant_id
            assert await stl.closed_through(tx, "merchant", owner, "THB") == D
            assert await stl.is_closed(tx, "merchant", owner, "THB", D)
            assert not await stl.is_closed(tx, "merchant", owner, "THB", D1)
            assert await stl.next_open_date(tx, "merchant", owner, "THB", D) == D1
            assert await stl.next_open_date(tx, "partner", books.partner, "CNY", D) == D
    finally:
        await raw.close()
