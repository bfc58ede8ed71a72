"""Merchant-presented payments: how each payment is paid, the code a till shows, and room in
`payments.status` for `requires_customer`; settlement lines say how each payment was paid.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=16),
            type_=sa.String(length=24),
            existing_nullable=False,
        )
        batch_op.add_column(
            sa.Column(
                "payment_method",
                sa.String(length=16),
                server_default="wallet_code",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("qr_code", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("qr_expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payment_method", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("settlement_lines", schema=None) as batch_op:
        batch_op.drop_column("payment_method")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_column("qr_expires_at")
        batch_op.drop_column("qr_code")
        batch_op.drop_column("payment_method")
        batch_op.alter_column(
            "status",
            existing_type=sa.String(length=24),
            type_=sa.String(length=16),
            existing_nullable=False,
        )
