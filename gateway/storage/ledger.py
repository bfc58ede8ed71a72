"""SQL of `gateway ledger verify`: one read-only snapshot, and the sums and rows its checks
compare (the checks done wholly in SQL are `ledger_offenders.py`).

Every sum is done by the database (GROUP BY); rows that need Python (Decimal rates, partner fee
schedules) come in keyset-paged batches, so memory stays flat however big the tables. All reads
share one snapshot (REPEATABLE READ on PostgreSQL, one read transaction on SQLite), so writes
committing meanwhile cannot show up as false mismatches.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.storage.db import Database
from gateway.storage.tables import metadata

__all__ = [
    "Counts",
    "FxAccountSums",
    "LedgerSnapshot",
    "Offenders",
    "fx_account_sums",
    "journal_balances",
    "ledger_snapshot",
    "merchant_refund_sums",
    "payment_fee_rows",
    "refund_fee_rows",
    "refund_fx_per_payment",
    "succeeded_payment_sums",
    "table_counts",
]

_PAGE = 1000
"""Rows per keyset page of the row-by-row checks."""

_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_merchants = metadata.tables["merchants"]
_entries = metadata.tables["journal_entries"]
_lines = metadata.tables["journal_lines"]

_SUCCEEDED = "succeeded"
_MERCHANT_REFUND = "merchant"
_PAYMENT_ENTRY = "payment"
_REFUND_ENTRY = "refund"


class LedgerSnapshot:
    """The read-only connection every query of one verification runs on (`ledger_snapshot`)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def count(self, stmt: sa.Select[Any]) -> int:
        return int(await self.conn.scalar(stmt) or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class Offenders:
    """The rows a check found wrong: how many, and the first few in a stable order."""

    count: int
    first: list[Mapping[str, Any]]


@dataclasses.dataclass(frozen=True, slots=True)
class Counts:
    entries: int
    lines: int
    payments: int
    refunds: int


@contextlib.asynccontextmanager
async def ledger_snapshot(db: Database) -> AsyncIterator[LedgerSnapshot]:
    """One consistent snapshot of the database, rolled back (nothing is written) on exit."""
    async with db.reader.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        elif conn.dialect.name == "sqlite":
            # The reader runs in autocommit (one WAL snapshot per statement): hold one snapshot
            # for all the reads; closing the connection rolls it back.
            await conn.exec_driver_sql("BEGIN")
        try:
            yield LedgerSnapshot(conn)
        finally:
            await conn.rollback()


async def table_counts(snap: LedgerSnapshot) -> Counts:
    def rows(table: sa.Table) -> sa.Select[Any]:
        return sa.select(sa.func.count()).select_from(table)

    return Counts(
        entries=await snap.count(rows(_entries)),
        lines=await snap.count(rows(_lines)),
        payments=await snap.count(rows(_payments)),
        refunds=await snap.count(rows(_refunds)),
    )


async def _pages(
    snap: LedgerSnapshot, query: sa.Select[Any], key: sa.ColumnElement[Any], label: str
) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """The query's rows in keyset-paged batches ordered by `key` (selected as `label`)."""
    last: Any = None
    while True:
        stmt = query if last is None else query.where(key > last)
        rows = (await snap.conn.execute(stmt.order_by(key).limit(_PAGE))).mappings().all()
        if not rows:
            return
        yield rows
        last = rows[-1][label]


# --- balances --------------------------------------------------------------------------------


async def journal_balances(snap: LedgerSnapshot) -> list[Mapping[str, Any]]:
    """The journal's balance per (account, merchant_id, partner, currency), as `total`."""
    c = _lines.c
    stmt = sa.select(
        c.account, c.merchant_id, c.partner, c.currency, sa.func.sum(c.amount).label("total")
    ).group_by(c.account, c.merchant_id, c.partner, c.currency)
    return [dict(row) for row in (await snap.conn.execute(stmt)).mappings()]


def _sums(table: sa.Table) -> sa.Select[Any]:
    c = table.c
    return sa.select(
        c.merchant_id,
        c.partner,
        c.currency,
        c.payer_currency,
        sa.func.sum(c.amount_value).label("amount"),
        sa.func.sum(c.payer_value).label("payer"),
        sa.func.sum(sa.func.coalesce(c.merchant_fee, 0)).label("merchant_fee"),
        sa.func.sum(sa.func.coalesce(c.partner_fee, 0)).label("partner_fee"),
        sa.func.sum(sa.func.coalesce(c.fx_revenue, 0)).label("fx_revenue"),
    ).group_by(c.merchant_id, c.partner, c.currency, c.payer_currency)


def _unindexed(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`column` as an expression no index covers: the keyset pages below must walk their key's
    index (a page then stops at its limit), not the status index (which SQLite otherwise picks,
    reading every succeeded row again for each page: quadratic at a million)."""
    return sa.func.coalesce(column, "")


def _paged_merchant_refunds() -> sa.ColumnElement[bool]:
    return sa.and_(
        _unindexed(_refunds.c.status) == _SUCCEEDED,
        _unindexed(_refunds.c.kind) == _MERCHANT_REFUND,
    )


def _merchant_refunds() -> sa.ColumnElement[bool]:
    return sa.and_(_refunds.c.status == _SUCCEEDED, _refunds.c.kind == _MERCHANT_REFUND)


async def succeeded_payment_sums(snap: LedgerSnapshot) -> list[Mapping[str, Any]]:
    """Succeeded payments summed per (merchant_id, partner, currency, payer_currency): amount,
    payer, merchant_fee, partner_fee, fx_revenue."""
    stmt = _sums(_payments).where(_payments.c.status == _SUCCEEDED)
    return [dict(row) for row in (await snap.conn.execute(stmt)).mappings()]


async def merchant_refund_sums(snap: LedgerSnapshot) -> list[Mapping[str, Any]]:
    """Succeeded merchant refunds summed like `succeeded_payment_sums`."""
    stmt = _sums(_refunds).where(_merchant_refunds())
    return [dict(row) for row in (await snap.conn.execute(stmt)).mappings()]


# --- rows whose fees are recomputed in Python ------------------------------------------------


_pe = _entries.alias("payment_entry")
"""A payment's own entry (kind `payment`): the fee terms it was booked under."""
_re = _entries.alias("refund_entry")
"""A refund's entry (kind `refund`): the terms its cumulative returns used (none: before 0010)."""


def _payment_entry_of(payment_id: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(_pe.c.payment_id == payment_id, _pe.c.kind == _PAYMENT_ENTRY)


def _refund_entry_of(refund: sa.Table) -> sa.ColumnElement[bool]:
    # Found through the payment (`journal_entries.payment_id` is indexed; `refund_id` is not).
    return sa.and_(
        _re.c.payment_id == refund.c.payment_id,
        _re.c.refund_id == refund.c.id,
        _re.c.kind == _REFUND_ENTRY,
    )


def payment_fee_rows(snap: LedgerSnapshot) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """Succeeded payments with their stored fees and the fee terms they were booked under, by
    id: `mdr_bps`/`fixed_fee` from their entry (the merchant's current ones for an entry without:
    none is written so since 0010, which backfilled them), `partner_fee_bps`/`partner_fee_fixed`
    from their entry (None: booked before 0010, judged by the partner's configuration)."""
    p, m = _payments.c, _merchants.c
    query = (
        sa.select(
            p.id,
            p.amount_value,
            p.currency,
            p.payer_value,
            p.payer_currency,
            p.partner,
            p.mid_rate,
            p.merchant_fee,
            p.partner_fee,
            p.fx_revenue,
            sa.func.coalesce(_pe.c.mdr_bps, m.mdr_bps).label("mdr_bps"),
            sa.func.coalesce(_pe.c.fixed_fee, m.fixed_fee).label("fixed_fee"),
            _pe.c.partner_fee_bps,
            _pe.c.partner_fee_fixed,
        )
        .join(_merchants, m.id == p.merchant_id)
        .outerjoin(_pe, _payment_entry_of(p.id))
        .where(_unindexed(p.status) == _SUCCEEDED)
    )
    return _pages(snap, query, p.id, "id")


def refund_fee_rows(snap: LedgerSnapshot) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """Succeeded merchant refunds booked one line at a time (before 0010: their entry records no
    fee terms), with their stored fees and their payment's mdr_bps, by id."""
    r, m = _refunds.c, _merchants.c
    query = (
        sa.select(r.id, r.amount_value, r.payer_value, r.partner, r.merchant_fee, r.partner_fee)
        .add_columns(sa.func.coalesce(_pe.c.mdr_bps, m.mdr_bps).label("mdr_bps"))
        .join(_merchants, m.id == r.merchant_id)
        .outerjoin(_re, _refund_entry_of(_refunds))
        .outerjoin(_pe, _payment_entry_of(r.payment_id))
        .where(_paged_merchant_refunds(), _re.c.mdr_bps.is_(None))
    )
    return _pages(snap, query, r.id, "id")


def refund_fx_per_payment(snap: LedgerSnapshot) -> AsyncIterator[Sequence[Mapping[str, Any]]]:
    """Per payment with succeeded merchant refunds, by payment id: what they refunded
    (`refunded`, and `payer_refunded` in the payer currency), the FX revenue they reversed
    (`reversed`), how many store one (`stored`) of how many (`refunds`), the fees they returned
    (`merchant_returned`, `partner_returned`; `partner_returned_cumulative` by those booked
    under the cumulative rule, `cumulative` of them), the fee terms their entries recorded
    (`refund_mdr_min`/`_max`, `refund_partner_bps`, `refund_partner_returned`), and the
    payment's `amount_value`, `payer_value`, `fx_revenue` and stored terms (`mdr_bps`,
    `partner_fee_bps`, `partner_fee_returned`: its entry's, None where not stored)."""
    r, p = _refunds.c, _payments.c
    cumulative = _re.c.mdr_bps.is_not(None)
    returned = sa.cast(_re.c.partner_fee_returned, sa.Integer)
    query = (
        sa.select(
            r.payment_id,
            sa.func.sum(r.amount_value).label("refunded"),
            sa.func.sum(r.payer_value).label("payer_refunded"),
            sa.func.sum(sa.func.coalesce(r.fx_revenue, 0)).label("reversed"),
            sa.func.count(r.fx_revenue).label("stored"),
            sa.func.count().label("refunds"),
            sa.func.sum(sa.func.coalesce(r.merchant_fee, 0)).label("merchant_returned"),
            sa.func.sum(sa.func.coalesce(r.partner_fee, 0)).label("partner_returned"),
            sa.func.sum(sa.case((cumulative, sa.func.coalesce(r.partner_fee, 0)), else_=0)).label(
                "partner_returned_cumulative"
            ),
            sa.func.sum(sa.case((cumulative, 1), else_=0)).label("cumulative"),
            sa.func.min(_re.c.mdr_bps).label("refund_mdr_min"),
            sa.func.max(_re.c.mdr_bps).label("refund_mdr_max"),
            sa.func.max(_re.c.partner_fee_bps).label("refund_partner_bps"),
            sa.func.max(returned).label("refund_partner_returned"),
            # One value per payment: grouped by its id alone, so that a page is read in the
            # order of the refunds' payment_id index and stops at its limit.
            sa.func.max(p.amount_value).label("amount_value"),
            sa.func.max(p.payer_value).label("payer_value"),
            sa.func.max(p.fx_revenue).label("fx_revenue"),
            sa.func.max(_pe.c.mdr_bps).label("mdr_bps"),
            sa.func.max(_pe.c.partner_fee_bps).label("partner_fee_bps"),
            sa.func.max(sa.cast(_pe.c.partner_fee_returned, sa.Integer)).label(
                "partner_fee_returned"
            ),
        )
        .join(_payments, p.id == r.payment_id)
        .outerjoin(_re, _refund_entry_of(_refunds))
        .outerjoin(_pe, _payment_entry_of(r.payment_id))
        .where(_paged_merchant_refunds())
        .group_by(r.payment_id)
    )
    return _pages(snap, query, r.payment_id, "payment_id")


@dataclasses.dataclass(frozen=True, slots=True)
class FxAccountSums:
    """One FX account in one currency: the sum of its lines booked before `end`, and of those
    booked in [`start`, `end`) (a line's time is its entry's `created_at`)."""

    account: str
    currency: str
    total: int
    day: int


async def fx_account_sums(
    db: Database, accounts: Sequence[str], start: datetime, end: datetime
) -> list[FxAccountSums]:
    in_day = sa.case((_entries.c.created_at >= start, _lines.c.amount), else_=0)
    stmt = (
        sa.select(
            _lines.c.account,
            _lines.c.currency,
            sa.func.sum(_lines.c.amount),
            sa.func.sum(in_day),
        )
        .select_from(_lines.join(_entries, _lines.c.entry_id == _entries.c.id))
        .where(_lines.c.account.in_(accounts), _entries.c.created_at < end)
        .group_by(_lines.c.account, _lines.c.currency)
        .order_by(_lines.c.account, _lines.c.currency)
    )
    async with db.reader.connect() as conn:
        rows = (await conn.execute(stmt)).all()
    return [FxAccountSums(a, c, int(total), int(day)) for a, c, total, day in rows]
