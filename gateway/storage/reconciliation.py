"""SQL of reconciliation: what we booked with a partner on given days (our side of the match),
and the stored runs (their counts and CSV report) that the API lists and serves.

Our side is what moved money at the partner, by partner business date: succeeded payments, and
cancelled ones whose refused cancel the gateway undid with a full refund (a charge and a refund
at the partner, nothing in our batches); and every succeeded refund. Matching and the report are
`gateway.reconciliation.service`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from gateway.storage.db import Database
from gateway.storage.tables import metadata

__all__ = [
    "Booked",
    "booked_with_partner",
    "get_reconciliation",
    "get_report",
    "insert_reconciliation",
    "list_reconciliations",
]

_payments = metadata.tables["payments"]
_refunds = metadata.tables["refunds"]
_attempts = metadata.tables["payment_attempts"]
_runs = metadata.tables["reconciliations"]
_SUMMARY = [c for c in _runs.c if c.name != "report"]
"""A run without its report, which may be large and is served on its own."""

Booked = tuple[list[dict[str, Any]], list[dict[str, Any]]]
"""(payment rows, each with the `request_id` of its last attempt; refund rows)."""


async def booked_with_partner(db: Database, partner: str, days: Sequence[date]) -> Booked:
    """The payments and refunds that moved money at `partner` on `days` (partner business
    dates); a payment carries the partner request id of its last attempt as `request_id`."""
    texts = [d.isoformat() for d in days]
    last_attempt = (
        sa.select(_attempts.c.payment_id, sa.func.max(_attempts.c.seq).label("seq"))
        .group_by(_attempts.c.payment_id)
        .subquery()
    )
    charged = sa.exists().where(
        _refunds.c.payment_id == _payments.c.id,
        _refunds.c.kind == "cancel",
        _refunds.c.status == "succeeded",
    )
    pay_stmt = (
        sa.select(_payments, _attempts.c.partner_request_id.label("request_id"))
        .join(last_attempt, last_attempt.c.payment_id == _payments.c.id)
        .join(
            _attempts,
            sa.and_(
                _attempts.c.payment_id == _payments.c.id, _attempts.c.seq == last_attempt.c.seq
            ),
        )
        .where(
            _payments.c.partner == partner,
            _payments.c.partner_business_date.in_(texts),
            sa.or_(
                _payments.c.status == "succeeded",
                sa.and_(_payments.c.status == "cancelled", charged),
            ),
        )
    )
    refund_stmt = sa.select(_refunds).where(
        _refunds.c.partner == partner,
        _refunds.c.partner_business_date.in_(texts),
        _refunds.c.status == "succeeded",
    )
    async with db.reader.connect() as conn:
        payments = [dict(row) for row in (await conn.execute(pay_stmt)).mappings()]
        refunds = [dict(row) for row in (await conn.execute(refund_stmt)).mappings()]
    return payments, refunds


async def insert_reconciliation(db: Database, row: Mapping[str, Any]) -> None:
    async with db.writer.begin() as conn:
        await conn.execute(sa.insert(_runs).values(**row))


async def list_reconciliations(
    db: Database,
    *,
    partner: str | None,
    day: date | None,
    limit: int,
    starting_after: str | None,
) -> list[dict[str, Any]]:
    """Runs without their reports, newest first (ids sort by creation), at most `limit`."""
    stmt = sa.select(*_SUMMARY)
    if partner is not None:
        stmt = stmt.where(_runs.c.partner == partner)
    if day is not None:
        stmt = stmt.where(_runs.c.business_date == day.isoformat())
    if starting_after is not None:
        stmt = stmt.where(_runs.c.id < starting_after)
    stmt = stmt.order_by(_runs.c.id.desc()).limit(limit)
    async with db.reader.connect() as conn:
        return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def _one(db: Database, run_id: str, *columns: sa.ColumnElement[Any]) -> dict[str, Any] | None:
    stmt = sa.select(*columns).where(_runs.c.id == run_id)
    async with db.reader.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else dict(row)


async def get_reconciliation(db: Database, run_id: str) -> dict[str, Any] | None:
    """The run without its report, or None."""
    return await _one(db, run_id, *_SUMMARY)


async def get_report(db: Database, run_id: str) -> dict[str, Any] | None:
    """The run's `id` and `report` (its CSV), or None."""
    return await _one(db, run_id, _runs.c.id, _runs.c.report)
