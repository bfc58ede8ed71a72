"""Every figure explained: payments and refunds keep their quote's terms (mid rate, markup,
source, rate set and its publication time), and settlement lines the columns of file format 2.

Payments and refunds written before this revision get the terms from their quote row (each
payment's quote is stored, spot quotes included); settlement lines of batches already closed
stay as they were (format 1 files do not show these columns).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TERMS = ("markup_bps", "rate_source", "rate_set_id", "rate_as_of")
_REFUND_TERMS = ("quote_id", "rate", "mid_rate", *_TERMS, "quote_expires_at")
_LINE_COLUMNS = ("fx_mid_rate", "fx_markup_bps", "fx_rate_source", "fx_rate_set", "fx_rate_as_of")


def _column(name: str) -> sa.Column[Any]:
    kinds: dict[str, sa.types.TypeEngine[Any]] = {
        "quote_id": sa.String(length=40),
        "rate": sa.String(length=40),
        "mid_rate": sa.String(length=40),
        "markup_bps": sa.Integer(),
        "rate_source": sa.String(length=32),
        "rate_set_id": sa.String(length=40),
        "rate_as_of": sa.DateTime(timezone=True),
        "quote_expires_at": sa.DateTime(timezone=True),
        "fx_mid_rate": sa.String(length=40),
        "fx_markup_bps": sa.Integer(),
        "fx_rate_source": sa.String(length=32),
        "fx_rate_set": sa.String(length=40),
        "fx_rate_as_of": sa.DateTime(timezone=True),
    }
    return sa.Column(name, kinds[name], nullable=True)


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for name in _TERMS:
            batch_op.add_column(_column(name))
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        for name in _REFUND_TERMS:
            batch_op.add_column(_column(name))
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        for name in _LINE_COLUMNS:
            batch_op.add_column(_column(name))

    # Backfill from the quotes (correlated subqueries: the same SQL on both databases).
    quotes = sa.table(
        "quotes",
        sa.column("id"),
        sa.column("rate"),
        sa.column("mid_rate"),
        sa.column("markup_bps"),
        sa.column("rate_source"),
        sa.column("rate_set_id"),
        sa.column("rate_as_of"),
        sa.column("expires_at"),
    )
    payments = sa.table("payments", sa.column("id"), sa.column("quote_id"),
                        *(sa.column(n) for n in _TERMS))  # fmt: skip
    refunds = sa.table("refunds", sa.column("payment_id"), *(sa.column(n) for n in _REFUND_TERMS))

    def of_quote(name: str, quote_id: sa.ColumnElement[object]) -> sa.ScalarSelect[object]:
        subquery = sa.select(quotes.c[name]).where(quotes.c.id == quote_id)
        return subquery.correlate_except(quotes).scalar_subquery()

    op.execute(
        payments.update()
        .where(payments.c.quote_id.is_not(None))
        .values({name: of_quote(name, payments.c.quote_id) for name in _TERMS})
    )
    payment_quote = (
        sa.select(payments.c.quote_id)
        .where(payments.c.id == refunds.c.payment_id)
        .correlate(refunds)
        .scalar_subquery()
    )
    op.execute(
        refunds.update().values(
            quote_id=payment_quote,
            **{name: of_quote(name, payment_quote) for name in ("rate", "mid_rate", *_TERMS)},
            quote_expires_at=of_quote("expires_at", payment_quote),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        for name in reversed(_LINE_COLUMNS):
            batch_op.drop_column(name)
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        for name in reversed(_REFUND_TERMS):
            batch_op.drop_column(name)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        for name in reversed(_TERMS):
            batch_op.drop_column(name)
