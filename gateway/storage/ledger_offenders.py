"""The checks of `gateway ledger verify` that SQL answers alone: each query selects the offending
rows, counts them and returns the first few (`Offenders`); `gateway.ledger.verify` words them.

They run on the verification's snapshot (`ledger.py`), never on live data, so a commit landing
meanwhile is not an offender.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from gateway.ledger import model as ledger
from gateway.storage.ledger import LedgerSnapshot, Offenders
from gateway.storage.tables import metadata

__all__ = [
    "cancelled_not_zero",
    "entry_count_offenders",
    "malformed_entries",
    "missing_business_dates",
    "unbalanced_entries",
]

_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_entries = metadata.tables["journal_entries"]
_lines = metadata.tables["journal_lines"]

_SUCCEEDED, _FAILED, _CANCELLED = "succeeded", "failed", "cancelled"
_FINAL_PAYMENT = (_SUCCEEDED, _FAILED, _CANCELLED)
_FINAL_REFUND = (_SUCCEEDED, _FAILED)
_MERCHANT_REFUND = "merchant"


async def _offenders(
    snap: LedgerSnapshot,
    offenders: sa.Subquery,
    order_by: Sequence[sa.ColumnElement[Any]],
    examples: int,
) -> Offenders:
    """Count the rows of an offenders subquery in SQL and read its first few."""
    count = await snap.count(sa.select(sa.func.count()).select_from(offenders))
    if not count:
        return Offenders(0, [])
    rows = await snap.conn.execute(sa.select(offenders).order_by(*order_by).limit(examples))
    return Offenders(count, [dict(row) for row in rows.mappings()])


async def unbalanced_entries(snap: LedgerSnapshot, examples: int) -> Offenders:
    """(entry_id, currency, total) of each entry and currency whose lines do not sum to 0."""
    total = sa.func.sum(_lines.c.amount)
    offenders = (
        sa.select(_lines.c.entry_id, _lines.c.currency, total.label("total"))
        .group_by(_lines.c.entry_id, _lines.c.currency)
        .having(total != 0)
        .subquery()
    )
    order = [offenders.c.entry_id, offenders.c.currency]
    return await _offenders(snap, offenders, order, examples)


async def cancelled_not_zero(snap: LedgerSnapshot, examples: int) -> Offenders:
    """(payment_id, account, accounts) of each cancelled payment whose lines do not net to 0:
    how many accounts are off, and the first of them."""
    c = _lines.c
    total = sa.func.sum(c.amount)
    nonzero = (
        sa.select(c.payment_id, c.account, c.currency, total.label("total"))
        .join(_payments, _payments.c.id == c.payment_id)
        .where(_payments.c.status == _CANCELLED)
        .group_by(c.payment_id, c.account, c.merchant_id, c.partner, c.currency)
        .having(total != 0)
        .subquery()
    )
    per_payment = (
        sa.select(
            nonzero.c.payment_id,
            sa.func.min(nonzero.c.account).label("account"),
            sa.func.count().label("accounts"),
        )
        .group_by(nonzero.c.payment_id)
        .subquery()
    )
    return await _offenders(snap, per_payment, [per_payment.c.payment_id], examples)


def _kinds(kind: str) -> sa.ColumnElement[Any]:
    return sa.func.sum(sa.case((_entries.c.kind == kind, 1), else_=0))


async def entry_count_offenders(snap: LedgerSnapshot, examples: int) -> Offenders:
    """(id, record, status, payment_entries, reversals) of each payment and refund without
    exactly the entries its status calls for. For a refund (`record` "refund"),
    `payment_entries` counts its refund entries and `reversals` its entries of any other kind."""
    p, r, e = _payments.c, _refunds.c, _entries.c
    n_pay, n_rev = _kinds(ledger.PAYMENT), _kinds(ledger.REVERSAL)
    payments = (
        sa.select(
            p.id.label("id"),
            sa.literal("payment", sa.String).label("record"),
            p.status.label("status"),
            n_pay.label("payment_entries"),
            n_rev.label("reversals"),
        )
        .select_from(
            _payments.outerjoin(
                _entries,
                sa.and_(e.payment_id == p.id, e.kind.in_([ledger.PAYMENT, ledger.REVERSAL])),
            )
        )
        .group_by(p.id, p.status)
        .having(
            sa.not_(
                sa.or_(
                    sa.and_(p.status == _SUCCEEDED, n_pay == 1, n_rev == 0),
                    sa.and_(p.status == _CANCELLED, n_pay == n_rev, n_pay <= 1),
                    sa.and_(p.status.not_in([_SUCCEEDED, _CANCELLED]), n_pay == 0, n_rev == 0),
                )
            )
        )
    )
    n_any, n_refund = sa.func.count(e.id), _kinds(ledger.REFUND)
    booked = sa.and_(r.status == _SUCCEEDED, r.kind == _MERCHANT_REFUND)
    refunds = (
        sa.select(
            r.id.label("id"),
            sa.literal("refund", sa.String).label("record"),
            r.status.label("status"),
            n_refund.label("payment_entries"),  # the refund entries, in the same column
            (n_any - n_refund).label("reversals"),  # entries of any other kind
        )
        .select_from(_refunds.outerjoin(_entries, e.refund_id == r.id))
        .group_by(r.id, r.status, r.kind)
        .having(
            sa.or_(
                sa.and_(booked, sa.or_(n_refund != 1, n_any != 1)),
                sa.and_(sa.not_(booked), n_any != 0),
            )
        )
    )
    offenders = sa.union_all(payments, refunds).subquery()
    return await _offenders(snap, offenders, [offenders.c.id], examples)


async def malformed_entries(snap: LedgerSnapshot, examples: int) -> Offenders:
    """(id, what) of each entry whose kind and refund id disagree (`what` "kind"), and each
    line whose payment or refund id is not its entry's or whose account is unknown ("ids")."""
    e, c = _entries.c, _lines.c
    bad_entries = sa.select(e.id.label("id"), sa.literal("kind", sa.String).label("what")).where(
        sa.not_(
            sa.or_(
                sa.and_(e.kind.in_([ledger.PAYMENT, ledger.REVERSAL]), e.refund_id.is_(None)),
                sa.and_(e.kind == ledger.REFUND, e.refund_id.is_not(None)),
            )
        )
    )
    bad_lines = (
        sa.select(c.id.label("id"), sa.literal("ids", sa.String).label("what"))
        .join(_entries, e.id == c.entry_id)
        .where(
            sa.or_(
                c.payment_id.is_distinct_from(e.payment_id),
                c.refund_id.is_distinct_from(e.refund_id),
                c.account.not_in(sorted(ledger.ACCOUNTS)),
            )
        )
    )
    offenders = sa.union_all(bad_entries, bad_lines).subquery()
    return await _offenders(snap, offenders, [offenders.c.id], examples)


async def missing_business_dates(snap: LedgerSnapshot, examples: int) -> Offenders:
    """(id) of each final payment or refund without both business dates, and each journal line
    without one."""

    def missing(table: sa.Table, final: Sequence[str]) -> sa.Select[Any]:
        return sa.select(table.c.id.label("id")).where(
            table.c.status.in_(final),
            sa.or_(
                table.c.merchant_business_date.is_(None),
                table.c.partner_business_date.is_(None),
            ),
        )

    offenders = sa.union_all(
        missing(_payments, _FINAL_PAYMENT),
        missing(_refunds, _FINAL_REFUND),
        sa.select(_lines.c.id.label("id")).where(_lines.c.business_date.is_(None)),
    ).subquery()
    return await _offenders(snap, offenders, [offenders.c.id], examples)
