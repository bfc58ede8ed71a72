"""The safety net's writes (see `payments/service.py`, `hand_over`): after an unexpected error
following a partner call, note it on the attempt and free the request's own lease with the item
due now, so the resolver takes it over at once.

Small on purpose: they may run on the heels of the failure they record. A lease is matched
exactly (owner and expiry): someone else may hold the item by now (an item already final, or
leased anew, keeps its state; only the note is added).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.payments.model import CancelStatus, Payment
from gateway.refunds.model import Refund, RefundStatus
from gateway.storage import rows
from gateway.storage.idempotency import complete_answer
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit

__all__ = [
    "GATEWAY_ERROR",
    "hand_over_cancel",
    "hand_over_payment",
    "hand_over_refund",
    "note_on_attempt",
    "with_notes",
]

payments = metadata.tables["payments"]
attempts = metadata.tables["payment_attempts"]
refunds = metadata.tables["refunds"]


GATEWAY_ERROR = "gateway_error"
"""The head of an attempt note saying the gateway itself failed after a partner call."""


def with_notes(previous: str | None, message: str) -> str:
    """An attempt's new message, keeping the `gateway_error` notes that head its old one."""
    notes = []
    for part in (previous or "").split("; "):
        if not part.startswith(GATEWAY_ERROR):
            break
        notes.append(part)
    return "; ".join([*notes, message])[:500]


async def note_on_attempt(
    conn: AsyncConnection, payment_id: str, note: str, counters: dict[str, int] | None = None
) -> None:
    """Put `note` at the head of the payment's last attempt's message (the one that may have
    charged), before what the partner said; and its call `counters`, if given."""
    last = (
        (
            await conn.execute(
                sa.select(attempts.c.id, attempts.c.message)
                .where(attempts.c.payment_id == payment_id)
                .order_by(attempts.c.seq.desc())
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    if last is not None:
        message = f"{note}; {last['message']}" if last["message"] else note
        # Counters only grow: a resolver that has already called more must not be undercounted.
        grown = {
            name: sa.case((attempts.c[name] < value, value), else_=attempts.c[name])
            for name, value in (counters or {}).items()
        }
        await conn.execute(
            sa.update(attempts)
            .where(attempts.c.id == last["id"])
            .values(message=message[:500], **grown)
        )


def hand_over_payment(
    *,
    payment_id: str,
    lease: tuple[str, datetime] | None,
    note: str,
    now: datetime,
    counters: dict[str, int] | None = None,
) -> Unit[Payment | None]:
    """After an unexpected error: note it on the attempt, and free the request's own `lease`
    (owner, expiry) with the payment due now, so the resolver takes it over at once. Returns
    the payment as stored (None: there is no such payment).

    Small on purpose: it may run on the heels of the failure it records. The lease must match
    exactly: someone else (the resolver, a notification) may hold the payment by now (a
    payment already final, or leased anew, keeps its state; only the note is added)."""

    async def unit(conn: AsyncConnection) -> Payment | None:
        await note_on_attempt(conn, payment_id, note, counters)
        if lease is not None:
            owner, expires_at = lease
            await conn.execute(
                sa.update(payments)
                .where(
                    payments.c.id == payment_id,
                    payments.c.lease_owner == owner,
                    payments.c.lease_expires_at == expires_at,
                )
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    next_action_at=now,
                    updated_at=now,
                    version=payments.c.version + 1,
                )
            )
        row = (
            (await conn.execute(sa.select(payments).where(payments.c.id == payment_id)))
            .mappings()
            .first()
        )
        return None if row is None else rows.payment(row)

    return unit


def hand_over_refund(
    *,
    refund_id: str,
    payment_id: str,
    lease: tuple[str, datetime],
    note: str,
    now: datetime,
    counters: dict[str, int],
) -> Unit[Refund | None]:
    """After an unexpected error: note it on the payment's attempt, and free the request's own
    `lease` (owner, expiry: exactly, see `hand_over_payment`) on the refund, with its call
    `counters`, due now, so the resolver takes it over at once. Returns the refund as stored
    (a refund already final keeps its state)."""

    async def unit(conn: AsyncConnection) -> Refund | None:
        await note_on_attempt(conn, payment_id, note)
        owner, expires_at = lease
        await conn.execute(
            sa.update(refunds)
            .where(
                refunds.c.id == refund_id,
                refunds.c.lease_owner == owner,
                refunds.c.lease_expires_at == expires_at,
                refunds.c.status == RefundStatus.PROCESSING.value,
            )
            .values(
                **counters,
                lease_owner=None,
                lease_expires_at=None,
                next_action_at=now,
                updated_at=now,
                version=refunds.c.version + 1,
            )
        )
        row = (
            (await conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)))
            .mappings()
            .first()
        )
        return None if row is None else rows.refund(row)

    return unit


def hand_over_cancel(
    *,
    payment_id: str,
    lease: tuple[str, datetime] | None,
    note: str,
    now: datetime,
    resource_id: str,
    answer: Callable[[Payment], tuple[int, str]],
) -> Unit[Payment | None]:
    """`hand_over_payment` for a cancel request: and if the cancel is no longer pending (nobody
    will finish it), its answer `answer(payment)` is stored for its key in the same write."""
    hand = hand_over_payment(payment_id=payment_id, lease=lease, note=note, now=now)

    async def unit(conn: AsyncConnection) -> Payment | None:
        payment = await hand(conn)
        if payment is not None and payment.cancel_status is not CancelStatus.PENDING:
            await complete_answer(conn, payment.merchant_id, resource_id, *answer(payment))
        return payment

    return unit
