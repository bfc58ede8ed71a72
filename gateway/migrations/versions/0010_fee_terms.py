"""Fee terms kept with the journal (issue #17): each `payment` entry records the terms its fees were
computed under (merchant mdr_bps and fixed fee; the partner's bps, fixed fee and whether it returns
its fee on refunds), and each `refund` entry the terms its cumulative returns used, so that refunds
and `gateway ledger verify` never judge a payment by today's configuration.

Backfill, from the best source the database holds: a payment entry written before this revision
gets its merchant's terms as they stand at migration time (`merchants.mdr_bps`, `fixed_fee`: the
gateway kept no history of them). The partner's schedule lives in its config file, which a
migration cannot read: those columns stay NULL, and such a payment's partner fee is checked, and
its later refunds priced, against the partner's configuration (as before this revision). Refund
entries written before this revision stay without terms: they were booked one line at a time
(`ledger.postings.merchant_refund_fee`), and `ledger verify` judges them by that rule.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("mdr_bps", "fixed_fee", "partner_fee_bps", "partner_fee_fixed", "partner_fee_returned")


def upgrade() -> None:
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mdr_bps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("fixed_fee", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("partner_fee_bps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("partner_fee_fixed", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("partner_fee_returned", sa.Boolean(), nullable=True))

    # The merchant's current terms, for the payment entries already written (correlated
    # subqueries: the same SQL on both databases).
    entries = sa.table(
        "journal_entries", sa.column("kind"), sa.column("payment_id"), *map(sa.column, _COLUMNS)
    )
    payments = sa.table("payments", sa.column("id"), sa.column("merchant_id"))
    merchants = sa.table("merchants", sa.column("id"), sa.column("mdr_bps"), sa.column("fixed_fee"))

    def of_merchant(name: str) -> sa.ScalarSelect[object]:
        subquery = (
            sa.select(merchants.c[name])
            .select_from(merchants.join(payments, payments.c.merchant_id == merchants.c.id))
            .where(payments.c.id == entries.c.payment_id)
        )
        return subquery.correlate_except(merchants, payments).scalar_subquery()

    op.execute(
        entries.update()
        .where(entries.c.kind == "payment")
        .values(mdr_bps=of_merchant("mdr_bps"), fixed_fee=of_merchant("fixed_fee"))
    )


def downgrade() -> None:
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        for name in reversed(_COLUMNS):
            batch_op.drop_column(name)
