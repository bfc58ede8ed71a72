"""SQL of settlement: batch lines from payments, refunds and the journal; closed batches and their
frozen lines; and the questions the lifecycle asks before it dates a line (is that day closed?).

Which lines a batch holds (API.md, Business days; `gateway/settlement/__init__.py`), for a key
(type, owner, currency, business date), on the merchant side (merchant id, merchant currency,
merchant business date) or the partner side (partner, payer currency, partner business date):
- `payment`: a payment with that side's business date that `succeeded` (a pending cancel
  included). A cancelled payment appears nowhere: its reversal entry carries the same dates, so
  it nets to zero in the same batch. Only if the reversal was dated into a later batch (the day
  had closed with the payment in it) does the payment stay a line of its own day...
- `reversal`: ...and the reversal becomes a line of the later batch: the payment's amount, payer
  amount and fee, negative.
- `refund`: a merchant refund (kind `merchant`) that `succeeded`, negative. The gateway's own
  full refund of a refused cancel (kind `cancel`) belongs to a cancelled payment: nowhere.
Amounts are the side's: the merchant amount and merchant fee in a merchant batch, the payer
amount and partner fee in a partner batch; `net = amount − fee` on every line. So a merchant
batch's net is minus the balance of `merchant_payable` for (merchant, currency, date) in the
journal, and a partner batch's net the balance of `partner_receivable` for its key.

Files list lines payments first, then refunds, then reversals, each by id (ids sort by creation).

Closing and a late line's commit are serialised per key: closing takes the key's exclusive
transaction-level advisory lock on PostgreSQL, and `next_open_date` (what the lifecycle asks at
commit) takes it shared, so a line is either committed before the close reads the lines (and is
in the batch) or sees the batch closed and moves to the next open day. SQLite has one writer.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger import postings as ledger
from gateway.settlement.model import BatchKey, BatchType, Totals
from gateway.storage.db import Database
from gateway.storage.raw import RawTransaction, any_of_rows
from gateway.storage.tables import metadata

__all__ = [
    "Executor",
    "LineFilter",
    "batches",
    "closed_through",
    "freeze_lines",
    "get_batch",
    "hold_open",
    "holding_open",
    "insert_batch",
    "is_closed",
    "list_closed",
    "live_batches",
    "lock_for_close",
    "next_open_date",
    "next_open_dates",
    "open_keys",
    "page_lines",
    "settlement_lines",
]

batches = metadata.tables["settlement_batches"]
settlement_lines = metadata.tables["settlement_lines"]
_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_entries = metadata.tables["journal_entries"]
_jl = metadata.tables["journal_lines"]

Executor = Database | AsyncConnection | RawTransaction
"""Where the lifecycle's questions run: a database (its reader), or the connection or raw
transaction of the write that dates the line (so the answer holds until that write commits)."""

_SUCCEEDED = "succeeded"
_CANCELLED = "cancelled"


# --- sides -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Side:
    type: BatchType
    pay_owner: sa.ColumnElement[Any]
    pay_currency: sa.ColumnElement[Any]
    pay_date: sa.ColumnElement[Any]
    pay_amount: sa.ColumnElement[Any]
    pay_fee: sa.ColumnElement[Any]
    ref_owner: sa.ColumnElement[Any]
    ref_currency: sa.ColumnElement[Any]
    ref_date: sa.ColumnElement[Any]
    ref_amount: sa.ColumnElement[Any]
    ref_fee: sa.ColumnElement[Any]
    line_owner: sa.ColumnElement[Any]
    accounts: tuple[str, str]


_p, _r = _payments.c, _refunds.c
_SIDES = {
    BatchType.MERCHANT: _Side(
        BatchType.MERCHANT,
        _p.merchant_id,
        _p.currency,
        _p.merchant_business_date,
        _p.amount_value,
        _p.merchant_fee,
        _r.merchant_id,
        _r.currency,
        _r.merchant_business_date,
        _r.amount_value,
        _r.merchant_fee,
        _jl.c.merchant_id,
        (ledger.MERCHANT_PAYABLE, ledger.MERCHANT_FEES),
    ),
    BatchType.PARTNER: _Side(
        BatchType.PARTNER,
        _p.partner,
        _p.payer_currency,
        _p.partner_business_date,
        _p.payer_value,
        _p.partner_fee,
        _r.partner,
        _r.payer_currency,
        _r.partner_business_date,
        _r.payer_value,
        _r.partner_fee,
        _jl.c.partner,
        (ledger.PARTNER_RECEIVABLE, ledger.PARTNER_FEES),
    ),
}


@dataclasses.dataclass(frozen=True, slots=True)
class LineFilter:
    """Which lines: one business date (`day`) or every date from `since` on; optionally one
    owner and currency."""

    day: date | None = None
    since: date | None = None
    owner: str | None = None
    currency: str | None = None

    @classmethod
    def of(cls, key: BatchKey) -> LineFilter:
        return cls(day=key.business_date, owner=key.owner, currency=key.currency)

    def where(
        self, day: sa.ColumnElement[Any], owner: sa.ColumnElement[Any], currency: Any
    ) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.day is not None:
            clauses.append(day == self.day.isoformat())
        elif self.since is not None:
            clauses.append(day >= self.since.isoformat())
        else:
            clauses.append(day.is_not(None))
        if self.owner is not None:
            clauses.append(owner == self.owner)
        if self.currency is not None:
            clauses.append(currency == self.currency)
        return clauses


def _const(value: str | int) -> sa.ColumnElement[Any]:
    return sa.literal_column(f"'{value}'" if isinstance(value, str) else str(value))


def _zero(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.func.coalesce(column, 0)


def _payment_lines(side: _Side, flt: LineFilter) -> sa.Select[Any]:
    reversed_elsewhere = sa.exists(
        sa.select(sa.literal(1))
        .select_from(_jl.join(_entries, _entries.c.id == _jl.c.entry_id))
        .where(
            _jl.c.payment_id == _p.id,
            _entries.c.kind == ledger.REVERSAL,
            _jl.c.account.in_(side.accounts),
            _jl.c.business_date != side.pay_date,
        )
    )
    amount, fee = side.pay_amount, _zero(side.pay_fee)
    return sa.select(
        side.pay_owner.label("owner"),
        side.pay_currency.label("currency"),
        side.pay_date.label("business_date"),
        _const(1).label("rank"),
        _const("payment").label("record_type"),
        _p.id.label("object_id"),
        _p.id.label("payment_id"),
        _p.merchant_reference.label("merchant_reference"),
        _p.partner.label("partner"),
        _p.wallet.label("wallet"),
        _p.partner_completed_at.label("succeeded_at"),
        _p.payer_currency.label("payer_currency"),
        _p.payer_value.label("payer_amount"),
        _p.rate.label("fx_rate"),
        amount.label("amount"),
        fee.label("fee"),
        (amount - fee).label("net"),
    ).where(
        *flt.where(side.pay_date, side.pay_owner, side.pay_currency),
        sa.or_(
            _p.status == _SUCCEEDED,
            sa.and_(_p.status == _CANCELLED, reversed_elsewhere),
        ),
    )


def _refund_lines(side: _Side, flt: LineFilter) -> sa.Select[Any]:
    amount, fee = -side.ref_amount, -_zero(side.ref_fee)
    return (
        sa.select(
            side.ref_owner.label("owner"),
            side.ref_currency.label("currency"),
            side.ref_date.label("business_date"),
            _const(2).label("rank"),
            _const("refund").label("record_type"),
            _r.id.label("object_id"),
            _r.payment_id.label("payment_id"),
            _p.merchant_reference.label("merchant_reference"),
            _r.partner.label("partner"),
            _p.wallet.label("wallet"),
            _r.partner_completed_at.label("succeeded_at"),
            _r.payer_currency.label("payer_currency"),
            (-_r.payer_value).label("payer_amount"),
            _p.rate.label("fx_rate"),
            amount.label("amount"),
            fee.label("fee"),
            (amount - fee).label("net"),
        )
        .select_from(_refunds.join(_payments, _p.id == _r.payment_id))
        .where(
            *flt.where(side.ref_date, side.ref_owner, side.ref_currency),
            _r.kind == "merchant",
            _r.status == _SUCCEEDED,
        )
    )


def _reversal_lines(side: _Side, flt: LineFilter) -> sa.Select[Any]:
    moved = (
        sa.select(
            _jl.c.entry_id.label("entry_id"),
            side.line_owner.label("owner"),
            _jl.c.currency.label("currency"),
            _jl.c.business_date.label("business_date"),
        )
        .distinct()
        .where(
            _jl.c.account.in_(side.accounts),
            *flt.where(_jl.c.business_date, side.line_owner, _jl.c.currency),
        )
        .subquery("moved")
    )
    amount, fee = -side.pay_amount, -_zero(side.pay_fee)
    return (
        sa.select(
            moved.c.owner.label("owner"),
            moved.c.currency.label("currency"),
            moved.c.business_date.label("business_date"),
            _const(3).label("rank"),
            _const("reversal").label("record_type"),
            _p.id.label("object_id"),
            _p.id.label("payment_id"),
            _p.merchant_reference.label("merchant_reference"),
            _p.partner.label("partner"),
            _p.wallet.label("wallet"),
            _entries.c.created_at.label("succeeded_at"),
            _p.payer_currency.label("payer_currency"),
            (-_p.payer_value).label("payer_amount"),
            _p.rate.label("fx_rate"),
            amount.label("amount"),
            fee.label("fee"),
            (amount - fee).label("net"),
        )
        .select_from(
            moved.join(_entries, _entries.c.id == moved.c.entry_id).join(
                _payments, _p.id == _entries.c.payment_id
            )
        )
        .where(_entries.c.kind == ledger.REVERSAL, side.pay_date != moved.c.business_date)
    )


def _lines(kind: BatchType, flt: LineFilter) -> sa.Subquery:
    side = _SIDES[kind]
    return sa.union_all(
        _payment_lines(side, flt), _refund_lines(side, flt), _reversal_lines(side, flt)
    ).subquery("src")


def _not_closed(kind: BatchType, src: sa.Subquery) -> sa.ColumnElement[bool]:
    return ~sa.exists(
        sa.select(sa.literal(1)).where(
            batches.c.type == str(kind),
            batches.c.owner == src.c.owner,
            batches.c.currency == src.c.currency,
            batches.c.business_date == src.c.business_date,
        )
    )


def _key(kind: BatchType, row: Any) -> BatchKey:
    return BatchKey(kind, row.owner, row.currency, date.fromisoformat(row.business_date))


# --- open batches ------------------------------------------------------------------------------


async def live_batches(
    db: Database | AsyncConnection, kind: BatchType, flt: LineFilter
) -> list[tuple[BatchKey, Totals]]:
    """Batches with lines that are not closed, and their totals as of now."""
    src = _lines(kind, flt)
    is_payment = src.c.record_type == "payment"
    stmt = (
        sa.select(
            src.c.owner,
            src.c.currency,
            src.c.business_date,
            sa.func.sum(sa.case((is_payment, 1), else_=0)).label("payments_count"),
            sa.func.sum(sa.case((is_payment, src.c.amount), else_=0)).label("payments_amount"),
            sa.func.sum(sa.case((is_payment, 0), else_=1)).label("refunds_count"),
            sa.func.sum(sa.case((is_payment, 0), else_=-src.c.amount)).label("refunds_amount"),
            sa.func.sum(src.c.fee).label("fees"),
            sa.func.sum(src.c.net).label("net"),
        )
        .where(_not_closed(kind, src))
        .group_by(src.c.owner, src.c.currency, src.c.business_date)
    )
    rows = await _fetch(db, stmt)
    return sorted(((_key(kind, row), Totals.of(row._mapping)) for row in rows), reverse=True)


async def open_keys(
    db: Database | AsyncConnection, kind: BatchType, flt: LineFilter
) -> list[BatchKey]:
    """The keys of batches with lines that are not closed, oldest day first."""
    src = _lines(kind, flt)
    stmt = (
        sa.select(src.c.owner, src.c.currency, src.c.business_date)
        .where(_not_closed(kind, src))
        .distinct()
    )
    return sorted((_key(kind, row) for row in await _fetch(db, stmt)), key=_by_day)


def _by_day(key: BatchKey) -> tuple[date, str, str, str]:
    return key.business_date, key.type, key.owner, key.currency


async def _fetch(db: Database | AsyncConnection, stmt: sa.Select[Any]) -> Sequence[sa.Row[Any]]:
    rows: Sequence[sa.Row[Any]]
    if isinstance(db, AsyncConnection):
        rows = (await db.execute(stmt)).all()
    else:
        async with db.reader.connect() as conn:
            rows = (await conn.execute(stmt)).all()
    return rows


# --- closed batches ----------------------------------------------------------------------------


async def get_batch(db: Database | AsyncConnection, batch_id: str) -> dict[str, Any] | None:
    stmt = sa.select(batches).where(batches.c.id == batch_id)
    rows = await _fetch(db, stmt)
    return dict(rows[0]._mapping) if rows else None


async def list_closed(
    db: Database,
    *,
    kind: BatchType | None,
    day: date | None,
    merchant_id: str | None,
    limit: int,
    starting_after: str | None,
) -> list[dict[str, Any]]:
    """Closed batches, newest day first (ids sort by day), at most `limit`."""
    stmt = sa.select(batches)
    if kind is not None:
        stmt = stmt.where(batches.c.type == str(kind))
    if day is not None:
        stmt = stmt.where(batches.c.business_date == day.isoformat())
    if merchant_id is not None:
        stmt = stmt.where(batches.c.merchant_id == merchant_id)
    if starting_after is not None:
        stmt = stmt.where(batches.c.id < starting_after)
    stmt = stmt.order_by(batches.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in await _fetch(db, stmt)]


async def page_lines(
    db: Database | AsyncConnection, batch_id: str, *, page_rows: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """A closed batch's frozen lines in file order, `page_rows` at a time: keyset pages on the
    primary key, one short query each, so memory stays flat however long the batch. With a
    `Database`, on one reader connection; with a connection, on it (the closing transaction)."""
    if isinstance(db, AsyncConnection):
        async for page in _pages(db, batch_id, page_rows):
            yield page
        return
    async with db.reader.connect() as conn:
        async for page in _pages(conn, batch_id, page_rows):
            yield page


async def _pages(
    conn: AsyncConnection, batch_id: str, page_rows: int
) -> AsyncIterator[list[dict[str, Any]]]:
    last = 0
    while True:
        stmt = (
            sa.select(settlement_lines)
            .where(settlement_lines.c.batch_id == batch_id, settlement_lines.c.seq > last)
            .order_by(settlement_lines.c.seq)
            .limit(page_rows)
        )
        result = await conn.execute(stmt)
        names = list(result.keys())
        page = [dict(zip(names, row, strict=True)) for row in result]
        if not page:
            return
        yield page
        last = page[-1]["seq"]
        if len(page) < page_rows:
            return


# --- closing (inside the closing transaction) --------------------------------------------------


def _lock_number(key: BatchKey) -> int:
    digest = hashlib.sha256(
        f"settlement\n{key.type}\n{key.owner}\n{key.currency}\n{key.day}".encode()
    )
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


async def lock_for_close(conn: AsyncConnection, key: BatchKey) -> None:
    """Take the key's advisory lock exclusively until the transaction ends (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_lock_number(key))))


async def insert_batch(conn: AsyncConnection, row: dict[str, Any]) -> bool:
    """Insert the batch's row unless its key (or id) is there already: False if it was (closed
    by someone else). On PostgreSQL a concurrent insert of the same key waits for the other
    transaction and then does nothing."""
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(batches).values(**row).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(batches).values(**row).on_conflict_do_nothing()
    result = await conn.execute(stmt)
    return bool(result.rowcount == 1)


_LINE_COLUMNS = (
    "record_type",
    "object_id",
    "payment_id",
    "merchant_reference",
    "partner",
    "wallet",
    "succeeded_at",
    "currency",
    "amount",
    "payer_currency",
    "payer_amount",
    "fx_rate",
    "fee",
    "net",
)


async def freeze_lines(conn: AsyncConnection, key: BatchKey, batch_id: str) -> Totals:
    """Copy the key's lines into `settlement_lines` (seq 1..n, file order) in one statement,
    append the `total` row (seq n + 1), and return the totals."""
    src = _lines(key.type, LineFilter.of(key))
    seq = sa.func.row_number().over(order_by=(src.c.rank, src.c.object_id))
    select = sa.select(
        sa.literal(batch_id, sa.String).label("batch_id"),
        seq.label("seq"),
        *(src.c[name] for name in _LINE_COLUMNS),
    )
    await conn.execute(
        sa.insert(settlement_lines).from_select(["batch_id", "seq", *_LINE_COLUMNS], select)
    )
    lines = settlement_lines.c
    is_payment = lines.record_type == "payment"
    sums = (
        (
            await conn.execute(
                sa.select(
                    sa.func.count().label("lines"),
                    sa.func.sum(sa.case((is_payment, 1), else_=0)).label("payments_count"),
                    sa.func.sum(sa.case((is_payment, lines.amount), else_=0)).label(
                        "payments_amount"
                    ),
                    sa.func.sum(sa.case((is_payment, 0), else_=1)).label("refunds_count"),
                    sa.func.sum(sa.case((is_payment, 0), else_=-lines.amount)).label(
                        "refunds_amount"
                    ),
                    sa.func.sum(lines.amount).label("amount"),
                    sa.func.sum(lines.fee).label("fees"),
                    sa.func.sum(lines.net).label("net"),
                ).where(lines.batch_id == batch_id)
            )
        )
        .one()
        ._mapping
    )
    count = int(sums["lines"])
    await conn.execute(
        sa.insert(settlement_lines).values(
            batch_id=batch_id,
            seq=count + 1,
            record_type="total",
            object_id=str(count),
            currency=key.currency,
            amount=int(sums["amount"] or 0),
            fee=int(sums["fees"] or 0),
            net=int(sums["net"] or 0),
        )
    )
    return Totals.of(sums)


# --- what the lifecycle asks -------------------------------------------------------------------


def _is_raw(executor: Executor) -> bool:
    return not isinstance(executor, Database | AsyncConnection)


def _raw_is_postgres(tx: RawTransaction) -> bool:
    return tx.dialect == "postgresql"


async def _fetch_sql(executor: Executor, sql: str, args: Sequence[Any]) -> list[dict[str, Any]]:
    """Plain SQL with `?` placeholders, through whichever executor the caller holds: these
    questions are asked in the hot path's writes, where building SQLAlchemy statements cost more
    than running them."""
    if _is_raw(executor):
        return await executor.fetch(sql, args)  # type: ignore[union-attr]
    parts = sql.split("?")
    text = sa.text("".join(f"{part}:p{i}" for i, part in enumerate(parts[:-1])) + parts[-1])
    params = {f"p{i}": value for i, value in enumerate(args)}
    if isinstance(executor, AsyncConnection):
        return [dict(r) for r in (await executor.execute(text, params)).mappings()]
    assert isinstance(executor, Database)
    async with executor.reader.connect() as conn:
        return [dict(r) for r in (await conn.execute(text, params)).mappings()]


async def closed_through(
    executor: Executor, type: BatchType | str, owner: str, currency: str
) -> date | None:
    """The latest closed business date of (type, owner, currency), None if none is closed.

    Days need not close in order (`gateway settle --date` may close a later one first, and days
    without lines never close): `next_open_date` answers "where does a line dated D go"."""
    rows = await _fetch_sql(
        executor,
        "SELECT MAX(business_date) AS d FROM settlement_batches"
        " WHERE type = ? AND owner = ? AND currency = ?",
        [str(BatchType(type)), owner, currency],
    )
    found = rows[0]["d"] if rows else None
    return date.fromisoformat(found) if found is not None else None


async def is_closed(
    executor: Executor, type: BatchType | str, owner: str, currency: str, business_date: date | str
) -> bool:
    """Whether the batch of (type, owner, currency, business date) is closed."""
    day = business_date if isinstance(business_date, str) else business_date.isoformat()
    rows = await _fetch_sql(
        executor,
        "SELECT id FROM settlement_batches"
        " WHERE type = ? AND owner = ? AND currency = ? AND business_date = ?",
        [str(BatchType(type)), owner, currency, day],
    )
    return bool(rows)


async def hold_open(executor: AsyncConnection | RawTransaction, *keys: BatchKey) -> None:
    """Take the keys' advisory locks shared until the transaction ends (PostgreSQL; SQLite has
    one writer): a close of those batches waits for this transaction, and this one waits for a
    close in progress. `next_open_date(s)` does this for every day it looks at. Shared locks
    never wait on each other, so their order does not matter."""
    if not keys:
        return
    if isinstance(executor, AsyncConnection):
        if executor.dialect.name == "postgresql":
            numbers = [_lock_number(key) for key in keys]
            values = ", ".join(["(CAST(? AS BIGINT))"] * len(numbers))
            sql = f"SELECT pg_advisory_xact_lock_shared(n) FROM (VALUES {values}) AS locks (n)"
            await _fetch_sql(executor, sql, numbers)
        return
    held, args = holding_open(executor, keys)
    if args:
        await executor.fetch(f"SELECT * FROM {held}", args)


def holding_open(tx: RawTransaction, keys: Iterable[BatchKey]) -> tuple[str, list[Any]]:
    """`hold_open` as a FROM item, to take the locks within a query the write asks anyway
    (one round trip fewer): `SELECT ... FROM {item} LEFT JOIN table ON ...`. The left side of
    a LEFT JOIN is always read, so the locks are taken whether the query finds rows or not.
    Locks the transaction holds already are left out; on SQLite the item is a constant row."""
    numbers = [n for n in dict.fromkeys(map(_lock_number, keys)) if n not in tx.held_locks]
    if not numbers or not _raw_is_postgres(tx):
        return "(SELECT 1 AS held) AS held", []
    # Marked before the query runs: if it fails, PostgreSQL aborts the whole transaction.
    tx.held_locks.update(numbers)
    return (
        "(SELECT count(pg_advisory_xact_lock_shared(n)) AS held"
        " FROM unnest(?::bigint[]) AS locks (n)) AS held",
        [numbers],
    )


async def next_open_date(
    executor: Executor,
    type: BatchType | str,
    owner: str,
    currency: str,
    business_date: date | str,
) -> date:
    """The business date a line dated `business_date` belongs to: that day, or if its batch is
    closed the next later day whose batch is not (API.md, Business days).

    Called with the connection (or raw transaction) of the write that dates the line, on
    PostgreSQL it also holds each day it looked at open (`hold_open`) until that write commits,
    so a close cannot slip in between the answer and the commit. With a `Database` it only
    answers (no lock can outlive the call)."""
    kind = BatchType(type)
    day = business_date if isinstance(business_date, date) else date.fromisoformat(business_date)
    while True:
        if not isinstance(executor, Database):
            await hold_open(executor, BatchKey(kind, owner, currency, day))
        rows = await _fetch_sql(
            executor,
            "SELECT business_date FROM settlement_batches WHERE type = ? AND owner = ?"
            " AND currency = ? AND business_date >= ?",
            [str(kind), owner, currency, day.isoformat()],
        )
        closed = {date.fromisoformat(r["business_date"]) for r in rows}
        if day not in closed:
            return day
        # Skip the closed run in one go, then look again under the lock of the new day.
        while day in closed:
            day += timedelta(days=1)


async def next_open_dates(
    executor: AsyncConnection | RawTransaction, keys: Sequence[BatchKey]
) -> dict[BatchKey, date]:
    """`next_open_date` of each key, with one lock statement and one query for all of them
    (a write dates the lines of a whole batch of payments at once); a key whose day is closed,
    which is rare, then takes its own turn."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    await hold_open(executor, *wanted)
    stored = [(str(k.type), k.owner, k.currency, k.day) for k in wanted]
    columns = ("type", "owner", "currency", "business_date")
    if isinstance(executor, AsyncConnection):
        match, args = any_of_rows(columns, stored)
    else:
        match, args = executor.matching(columns, stored)
    rows = await _fetch_sql(
        executor,
        f"SELECT type, owner, currency, business_date FROM settlement_batches WHERE {match}",
        args,
    )
    closed = {(r["type"], r["owner"], r["currency"], r["business_date"]) for r in rows}
    opened: dict[BatchKey, date] = {}
    for key in wanted:
        if (str(key.type), key.owner, key.currency, key.day) in closed:
            opened[key] = await next_open_date(
                executor, key.type, key.owner, key.currency, key.business_date
            )
        else:
            opened[key] = key.business_date
    return opened
