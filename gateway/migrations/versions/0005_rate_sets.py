"""Rate sets as fetched, the fetched sources' shared schedule, and each quote's rate set.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_sets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("base", sa.CHAR(length=3), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("rates", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("rate_sets", schema=None) as batch_op:
        batch_op.create_index(
            "ix_rate_sets_source_published", ["source", "published_at"], unique=False
        )
    op.create_table(
        "rate_feeds",
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("next_fetch_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("last_modified", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rate_set_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            "fk_quotes_rate_set_id_rate_sets", "rate_sets", ["rate_set_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("quotes", schema=None) as batch_op:
        batch_op.drop_constraint("fk_quotes_rate_set_id_rate_sets", type_="foreignkey")
        batch_op.drop_column("rate_set_id")
    op.drop_table("rate_feeds")
    with op.batch_alter_table("rate_sets", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_sets_source_published")
    op.drop_table("rate_sets")
