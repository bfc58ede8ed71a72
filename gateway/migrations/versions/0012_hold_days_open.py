"""`gateway_hold_days_open` (PostgreSQL only; issue #16): a payment's state commits in one
statement, so that its commit is one round trip instead of five.

The write that dates a payment's lines must hold those days open (a shared advisory lock per
batch key, `storage/settlement.py`) and then look at the closed batches with a snapshot taken
*after* the locks: a close that committed while we waited for its lock must be seen. A single
statement's snapshot is taken when it starts, before any lock it takes; a VOLATILE function's
queries take a fresh one each (READ COMMITTED). So the one statement calls this function: it
takes the locks, then says whether every day is still open. When one is not (rare: a day closes
hours after its cut-off), the statement writes nothing and the writer takes the long way
(`storage/payments.py` `CommitOutcome`), which moves the lines to the next open day.

SQLite has one writer and no such function.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE = """
CREATE FUNCTION gateway_hold_days_open(
    locks BIGINT[], types TEXT[], owners TEXT[], currencies TEXT[], days TEXT[]
) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(n) FROM unnest(locks) AS held (n);
    -- A new snapshot, taken after the locks: a close that held one has committed by now.
    RETURN NOT EXISTS (
        SELECT 1 FROM settlement_batches AS b
        JOIN unnest(types, owners, currencies, days) AS d (type, owner, currency, day)
          ON b.type = d.type AND b.owner = d.owner AND b.currency = d.currency
         AND b.business_date = d.day
    );
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION gateway_hold_days_open(BIGINT[], TEXT[], TEXT[], TEXT[], TEXT[])")
