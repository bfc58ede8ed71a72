"""A closed batch's file stored as rendered at closing (issue #16): downloads and exports stream
these bytes instead of rendering the frozen lines again. Batches closed before this revision
have no parts and are still rendered from their lines (the same bytes, checked by their hash).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "settlement_file_parts",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["settlement_batches.id"]),
        sa.PrimaryKeyConstraint("batch_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("settlement_file_parts")
