"""Which lines a settlement batch holds, in SQL, and the open batches computed live from them.

A batch is keyed (type, owner, currency, business date), on the merchant side (merchant id,
merchant currency, merchant business date) or the partner side (partner, payer currency, partner
business date) (API.md, Business days; `gateway/settlement/__init__.py`). Its lines:
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

Files list lines payments first, then refunds, then reversals, each by id (ids sort by creation):
`line_source` carries each line's `rank` and `object_id` for that order. Closing freezes these
lines (`settlement_batches.py`); until then a batch exists only as this query.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.ledger import model as ledger
from gateway.settlement.model import BatchKey, BatchType, Totals
from gateway.storage.db import Database
from gateway.storage.tables import metadata

__all__ = ["LineFilter", "fetch_all", "line_source", "live_batches", "open_keys", "without_jit"]

_batches = metadata.tables["settlement_batches"]
_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_entries = metadata.tables["journal_entries"]
_jl = metadata.tables["journal_lines"]

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


def _fx_terms() -> tuple[sa.ColumnElement[Any], ...]:
    """Where each line's `fx_rate` came from: its payment's quote terms (a refund or reversal
    is priced at its payment's rate); and how its payment was paid."""
    return (
        _p.mid_rate.label("fx_mid_rate"),
        _p.markup_bps.label("fx_markup_bps"),
        _p.rate_source.label("fx_rate_source"),
        _p.rate_set_id.label("fx_rate_set"),
        _p.rate_as_of.label("fx_rate_as_of"),
        _p.payment_method.label("payment_method"),
    )


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
        *_fx_terms(),
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
            *_fx_terms(),
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
            *_fx_terms(),
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


def line_source(kind: BatchType, flt: LineFilter) -> sa.Subquery:
    """Every line of `kind` that `flt` selects, closed or not: (owner, currency, business_date)
    of its batch, `rank` and `object_id` (file order), and the file's columns."""
    side = _SIDES[kind]
    return sa.union_all(
        _payment_lines(side, flt), _refund_lines(side, flt), _reversal_lines(side, flt)
    ).subquery("src")


def _not_closed(kind: BatchType, src: sa.Subquery) -> sa.ColumnElement[bool]:
    return ~sa.exists(
        sa.select(sa.literal(1)).where(
            _batches.c.type == str(kind),
            _batches.c.owner == src.c.owner,
            _batches.c.currency == src.c.currency,
            _batches.c.business_date == src.c.business_date,
        )
    )


def _key(kind: BatchType, row: Any) -> BatchKey:
    return BatchKey(kind, row.owner, row.currency, date.fromisoformat(row.business_date))


# --- open batches ------------------------------------------------------------------------------


async def live_batches(
    db: Database | AsyncConnection, kind: BatchType, flt: LineFilter
) -> list[tuple[BatchKey, Totals]]:
    """Batches with lines that are not closed, and their totals as of now."""
    src = line_source(kind, flt)
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
    rows = await fetch_all(db, stmt, jit=False)
    return sorted(((_key(kind, row), Totals.of(row._mapping)) for row in rows), reverse=True)


async def open_keys(
    db: Database | AsyncConnection, kind: BatchType, flt: LineFilter
) -> list[BatchKey]:
    """The keys of batches with lines that are not closed, oldest day first."""
    src = line_source(kind, flt)
    stmt = (
        sa.select(src.c.owner, src.c.currency, src.c.business_date)
        .where(_not_closed(kind, src))
        .distinct()
    )
    return sorted((_key(kind, row) for row in await fetch_all(db, stmt, jit=False)), key=_by_day)


def _by_day(key: BatchKey) -> tuple[date, str, str, str]:
    return key.business_date, key.type, key.owner, key.currency


async def fetch_all(
    db: Database | AsyncConnection, stmt: sa.Select[Any], *, jit: bool = True
) -> Sequence[sa.Row[Any]]:
    """Run a SELECT on the caller's connection, or on a reader connection of the database;
    `jit=False`: without PostgreSQL's JIT compilation (`without_jit`)."""
    rows: Sequence[sa.Row[Any]]
    if isinstance(db, AsyncConnection):
        if not jit:
            await without_jit(db)
        rows = (await db.execute(stmt)).all()
    else:
        async with db.reader.connect() as conn:
            if not jit:
                await without_jit(conn)
            rows = (await conn.execute(stmt)).all()
    return rows


async def without_jit(conn: AsyncConnection) -> None:
    """No JIT compilation for the rest of the connection's transaction (PostgreSQL). The line
    queries scan a day of payments: the planner's estimate of the reversal sub-plan (which never
    runs) is above `jit_above_cost`, and compiling took longer than running the query (~1 s of
    JIT at 1M lines, 0.7 s at 100k, for a query that runs in a fraction of that)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(sa.text("SELECT set_config('jit', 'off', true)"))
