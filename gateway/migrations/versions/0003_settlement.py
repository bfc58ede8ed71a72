"""Settlement: closed batches and their frozen lines; indexes on the business dates of payments
and refunds, which the batches group by.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_batches",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=True),
        sa.Column("partner", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("business_date", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payments_count", sa.Integer(), nullable=False),
        sa.Column("payments_amount", sa.BigInteger(), nullable=False),
        sa.Column("refunds_count", sa.Integer(), nullable=False),
        sa.Column("refunds_amount", sa.BigInteger(), nullable=False),
        sa.Column("fees", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_format", sa.Integer(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("closed_by", sa.String(length=120), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "type", "owner", "currency", "business_date", name="uq_settlement_batches_key"
        ),
    )
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_batches_date", ["business_date", "type"], unique=False)
        batch_op.create_index("ix_settlement_batches_merchant", ["merchant_id", "id"], unique=False)

    op.create_table(
        "settlement_lines",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record_type", sa.String(length=16), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("merchant_reference", sa.String(length=64), nullable=True),
        sa.Column("partner", sa.String(length=64), nullable=True),
        sa.Column("wallet", sa.String(length=32), nullable=True),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("currency", sa.CHAR(length=3), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("payer_currency", sa.CHAR(length=3), nullable=True),
        sa.Column("payer_amount", sa.BigInteger(), nullable=True),
        sa.Column("fx_rate", sa.String(length=40), nullable=True),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("net", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["settlement_batches.id"],
        ),
        sa.PrimaryKeyConstraint("batch_id", "seq"),
    )
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.create_index("ix_settlement_lines_object", ["object_id"], unique=False)

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_payments_merchant_day", ["merchant_business_date", "merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_payments_partner_day", ["partner_business_date", "partner"], unique=False
        )

    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_refunds_merchant_day", ["merchant_business_date", "merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_refunds_partner_day", ["partner_business_date", "partner"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_refunds_partner_day")
        batch_op.drop_index("ix_refunds_merchant_day")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_partner_day")
        batch_op.drop_index("ix_payments_merchant_day")

    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_lines_object")

    op.drop_table("settlement_lines")
    with op.batch_alter_table("settlement_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_settlement_batches_merchant")
        batch_op.drop_index("ix_settlement_batches_date")

    op.drop_table("settlement_batches")
