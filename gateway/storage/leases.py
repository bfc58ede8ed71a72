"""The resolver's side of a payment: which ones are due, and taking (or renewing) their lease.

A lease (owner, expiry, version) on the payment row says who works on it; a payment left behind
by a dead process is picked up once its lease expires, by any process sharing the database.

The owner is a name made for one taking of the lease (`lease_name`: the process and a random
part), never the process's name alone: every write checks it exactly, so a piece of work that
lost its lease cannot write, even when whoever took it over runs in the same process.
"""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.payments.model import CancelStatus, Payment, PaymentStatus
from gateway.storage import rows
from gateway.storage.db import Database
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "NOTIFIED",
    "claim_lease",
    "lease_name",
    "resumable_payments",
    "seize_lease",
]

payments = metadata.tables["payments"]
_OPEN = (PaymentStatus.PROCESSING.value, PaymentStatus.REQUIRES_CUSTOMER.value)
"""Not final: a partner may still charge (or the tourist still scan)."""


NOTIFIED = ":notify:"
"""Marks the owner name of a lease taken for a partner's notification (`seize_lease`)."""


def lease_name(process: str, *, notified: bool = False) -> str:
    """A new owner name for one taking of a payment's lease by `process` (`Context.owner`);
    bounded to fit the column (64) whatever the host's name."""
    return f"{process[:44]}{NOTIFIED if notified else '/'}{secrets.token_hex(4)}"


async def resumable_payments(db: Database, now: datetime, limit: int) -> list[str]:
    """Open payments (processing, or showing a code) and pending cancels due for a look,
    whose lease is free or expired."""
    stmt = (
        sa.select(payments.c.id)
        .where(
            sa.or_(
                sa.and_(
                    payments.c.status.in_(_OPEN),
                    payments.c.next_action_at <= now,
                ),
                sa.and_(
                    payments.c.cancel_status == CancelStatus.PENDING.value,
                    sa.or_(payments.c.next_action_at.is_(None), payments.c.next_action_at <= now),
                ),
            ),
            sa.or_(payments.c.lease_expires_at.is_(None), payments.c.lease_expires_at < now),
        )
        .order_by(payments.c.next_action_at)
        .limit(limit)
    )
    async with db.reader.connect() as conn:
        return [r[0] for r in await conn.execute(stmt)]


def claim_lease(
    *, payment_id: str, owner: str, now: datetime, until: datetime, renew: bool = False
) -> Unit[Payment | None]:
    """Take an open payment (or a pending cancel) whose lease is free or expired, or
    (`renew`) extend our own (`owner`: the name we took it under)."""

    async def unit(conn: AsyncConnection) -> Payment | None:
        result = await conn.execute(
            sa.update(payments)
            .where(
                payments.c.id == payment_id,
                sa.or_(
                    payments.c.status.in_(_OPEN),
                    payments.c.cancel_status == CancelStatus.PENDING.value,
                ),
                sa.or_(
                    payments.c.lease_owner.is_(None),
                    payments.c.lease_owner == owner if renew else sa.false(),
                    payments.c.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=until, version=payments.c.version + 1)
        )
        return await _taken(conn, payment_id, result.rowcount)

    return unit


def seize_lease(
    *, payment_id: str, owner: str, now: datetime, until: datetime
) -> Unit[Payment | None]:
    """Take an open payment's lease from whoever holds it, unless another notification does
    (its lease still running): a partner's signed notification of the outcome outranks the
    resolver's inquiries and a POS request's (the holder's next renewal or write fails, and it
    lets go), while notifications of one payment take turns instead of taking it from each
    other. `owner` is a `lease_name(..., notified=True)`. None when the payment is no longer
    open, or another notification holds it."""
    assert NOTIFIED in owner, owner

    async def unit(conn: AsyncConnection) -> Payment | None:
        result = await conn.execute(
            sa.update(payments)
            .where(
                payments.c.id == payment_id,
                payments.c.status.in_(_OPEN),
                sa.or_(
                    payments.c.lease_owner.is_(None),
                    ~payments.c.lease_owner.contains(NOTIFIED, autoescape=True),
                    payments.c.lease_expires_at < now,
                ),
            )
            .values(lease_owner=owner, lease_expires_at=until, version=payments.c.version + 1)
        )
        return await _taken(conn, payment_id, result.rowcount)

    return unit


async def _taken(conn: AsyncConnection, payment_id: str, rowcount: int) -> Payment | None:
    """The payment as the lease update left it, if it took (one row)."""
    if rowcount != 1:
        return None
    row = (
        (await conn.execute(sa.select(payments).where(payments.c.id == payment_id)))
        .mappings()
        .one()
    )
    return rows.payment(row)
