"""Units of work for refunds and cancels (see `storage/payments.py` for what a unit is).

Each unit locks the payment row it decides on (`FOR UPDATE` on PostgreSQL; SQLite has one writer),
so concurrent refunds and cancels of one payment are decided one after another: succeeded plus
processing refunds never exceed the payment, and a refund and a cancel never both win.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import fx
from gateway.ledger.model import FEE_TERM_COLUMNS, PAYMENT
from gateway.payments.model import Attempt, CancelStatus, Payment, PaymentStatus
from gateway.refunds.model import (
    Refund,
    RefundBasis,
    RefundKind,
    RefundStatus,
    payer_verdict,
)
from gateway.storage import rows as _rows
from gateway.storage.db import Database
from gateway.storage.idempotency import (
    IdempotencyOutcome,
    claim_key,
    complete_answer,
    idempotency,
)
from gateway.storage.open_days import move_to_open_days
from gateway.storage.payments import Rows, attempts, payments
from gateway.storage.raw import ConnectionStatements
from gateway.storage.settlement import is_closed
from gateway.storage.tables import metadata
from gateway.storage.writer import Unit, in_own_transaction

__all__ = [
    "CancelRefused",
    "CancelWrite",
    "RefundRefused",
    "RefundWrite",
    "begin_refund",
    "claim_refund_lease",
    "commit_cancel",
    "commit_refund",
    "get_refund",
    "list_refunds",
    "mark_cancel",
    "open_cancel_refund",
    "payment_lines",
    "refund_basis",
    "refunds",
    "resumable_refunds",
]

refunds = metadata.tables["refunds"]
journal_entries = metadata.tables["journal_entries"]
journal_lines = metadata.tables["journal_lines"]
_TABLES = {t: metadata.tables[t] for t in ("refunds", "journal_entries", "journal_lines", "events")}


@dataclasses.dataclass(frozen=True, slots=True)
class RefundRefused:
    reason: str  # "not_found" | "not_refundable" | "exceeds" | "too_small" | "in_flight"
    remaining: int = 0


@dataclasses.dataclass(frozen=True, slots=True)
class CancelRefused:
    reason: str  # "not_found" | "not_cancellable" | "window"
    message: str


# --- reads ------------------------------------------------------------------------------------


async def get_refund(db: Database, refund_id: str) -> Refund | None:
    async with db.reader.connect() as conn:
        row = (
            (await conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)))
            .mappings()
            .first()
        )
    return None if row is None else _rows.refund(row)


async def list_refunds(db: Database, payment_id: str) -> list[Refund]:
    stmt = (
        sa.select(refunds)
        .where(refunds.c.payment_id == payment_id, refunds.c.kind == RefundKind.MERCHANT.value)
        .order_by(refunds.c.id.desc())
    )
    async with db.reader.connect() as conn:
        return [_rows.refund(r) for r in (await conn.execute(stmt)).mappings()]


async def open_cancel_refund(db: Database, payment_id: str) -> Refund | None:
    """The full refund a refused cancel started, while it is still unknown."""
    stmt = sa.select(refunds).where(
        refunds.c.payment_id == payment_id,
        refunds.c.kind == RefundKind.CANCEL.value,
        refunds.c.status == RefundStatus.PROCESSING.value,
    )
    async with db.reader.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else _rows.refund(row)


async def resumable_refunds(db: Database, now: datetime, limit: int) -> list[str]:
    """Merchant refunds still unknown, due for a look, whose lease is free or expired."""
    stmt = (
        sa.select(refunds.c.id)
        .where(
            refunds.c.status == RefundStatus.PROCESSING.value,
            refunds.c.kind == RefundKind.MERCHANT.value,
            refunds.c.next_action_at <= now,
            sa.or_(refunds.c.lease_expires_at.is_(None), refunds.c.lease_expires_at < now),
        )
        .order_by(refunds.c.next_action_at)
        .limit(limit)
    )
    async with db.reader.connect() as conn:
        return [r[0] for r in await conn.execute(stmt)]


async def payment_lines(conn: AsyncConnection, payment_id: str) -> list[dict[str, Any]]:
    """The lines of a payment's own entry (what a cancel reverses)."""
    stmt = (
        sa.select(journal_lines)
        .join(journal_entries, journal_entries.c.id == journal_lines.c.entry_id)
        .where(journal_entries.c.payment_id == payment_id, journal_entries.c.kind == "payment")
        .order_by(journal_lines.c.id)
    )
    return [dict(r) for r in (await conn.execute(stmt)).mappings()]


async def refund_basis(conn: AsyncConnection, payment_id: str) -> RefundBasis:
    """What a refund of the payment returns its fees from (`RefundBasis`): the fee terms stored
    on its `payment` entry, and the sums of its succeeded merchant refunds. Read inside the
    transaction that holds the payment row locked."""
    e, r = journal_entries.c, refunds.c
    terms_row = (
        (
            await conn.execute(
                sa.select(*(e[name] for name in FEE_TERM_COLUMNS)).where(
                    e.payment_id == payment_id, e.kind == PAYMENT
                )
            )
        )
        .mappings()
        .first()
    )
    sums = (
        await conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(r.payer_value), 0),
                sa.func.coalesce(sa.func.sum(r.merchant_fee), 0),
                sa.func.coalesce(sa.func.sum(r.partner_fee), 0),
            ).where(
                r.payment_id == payment_id,
                r.kind == RefundKind.MERCHANT.value,
                r.status == RefundStatus.SUCCEEDED.value,
            )
        )
    ).one()
    return RefundBasis(
        terms=None if terms_row is None else dict(terms_row),
        payer_refunded=int(sums[0]),
        merchant_returned=int(sums[1]),
        partner_returned=int(sums[2]),
    )


# --- helpers ----------------------------------------------------------------------------------


async def _locked_payment(conn: AsyncConnection, payment_id: str) -> Payment | None:
    stmt = sa.select(payments).where(payments.c.id == payment_id).with_for_update()
    row = (await conn.execute(stmt)).mappings().first()
    return None if row is None else _rows.payment(row)


async def _write_payment(conn: AsyncConnection, before: Payment, after: Payment) -> Payment:
    """Take the locked row from `before` to `after`; returns it as written."""
    changes = _rows.payment_changes(before, after)
    await conn.execute(
        sa.update(payments)
        .where(payments.c.id == before.id)
        .values(**changes, version=payments.c.version + 1)
    )
    return after.next_version() if after.version == before.version else after


async def _insert_rows(conn: AsyncConnection, rows: Rows) -> None:
    order = list(_TABLES)
    for table, row in sorted(rows, key=lambda item: order.index(item[0])):
        await conn.execute(sa.insert(_TABLES[table]).values(**row))


async def _batch_closed(conn: AsyncConnection, payment: Payment) -> bool:
    """Whether the payment's merchant or partner batch has closed (a cancel is too late)."""
    sides = _rows.payment_sides(payment)
    statements = ConnectionStatements(conn)
    if payment.merchant_business_date and await is_closed(
        statements, "merchant", sides.merchant_id, sides.currency, payment.merchant_business_date
    ):
        return True
    partner_day = payment.partner_business_date
    return bool(partner_day) and await is_closed(
        statements, "partner", sides.partner, sides.payer_currency, partner_day or ""
    )


# --- refunds ----------------------------------------------------------------------------------


def begin_refund(
    *,
    claim: dict[str, Any],
    payment_id: str,
    merchant_id: str,
    refund: Refund,
    payer_value_for: Callable[[Payment, int], int],
    now: datetime,
    book_residue: Callable[[Payment, Refund, RefundBasis], RefundWrite] | None = None,
) -> Unit[IdempotencyOutcome | RefundRefused | Refund]:
    """Reserve `refund.amount` on the payment and write the processing refund, priced.

    `payer_value_for(payment, reserved_after)` prices the refund cumulatively from the locked
    payment row. A refund priced at 0 in the payer currency is refused (`too_small`), unless
    the tourist already has every payer unit back (succeeded refunds return the whole payer
    amount, none in flight): such a residue needs no partner, and `book_residue(payment, refund,
    basis)` books it at once, succeeded, in this same commit (API.md, Business days and fees).
    Refusals write nothing (the key stays free for a corrected request)."""

    async def unit(conn: AsyncConnection) -> IdempotencyOutcome | RefundRefused | Refund:
        verdict = await claim_key(conn, claim, now)
        if verdict is not None:
            return verdict
        payment = await _locked_payment(conn, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return RefundRefused("not_found")
        if payment.status is not PaymentStatus.SUCCEEDED or payment.cancel_status:
            return RefundRefused("not_refundable")
        amount = refund.amount.value
        reserved_after = payment.reserved_value + amount
        if reserved_after > payment.amount.value:
            return RefundRefused("exceeds", payment.amount.value - payment.reserved_value)
        payer_value = payer_value_for(payment, reserved_after)
        pricing = payer_verdict(payment, payer_value)
        if pricing == "residue" and book_residue is not None:
            return await _book_residue(conn, claim, payment, refund, book_residue)
        if pricing != "priced":
            return RefundRefused("too_small" if pricing == "residue" else pricing)
        reserved = dataclasses.replace(
            payment,
            reserved_value=reserved_after,
            reserved_payer_value=payment.reserved_payer_value + payer_value,
            updated_at=now,
        )
        await _write_payment(conn, payment, reserved)
        priced = dataclasses.replace(
            refund, payer_amount=fx.Money(payer_value, refund.payer_amount.currency)
        )
        await conn.execute(sa.insert(idempotency).values(**claim))
        await conn.execute(sa.insert(refunds).values(**_rows.refund_row(priced)))
        return priced

    return in_own_transaction(unit)


async def _book_residue(
    conn: AsyncConnection,
    claim: dict[str, Any],
    payment: Payment,
    refund: Refund,
    book: Callable[[Payment, Refund, RefundBasis], RefundWrite],
) -> Refund:
    """Write a residue refund (payer amount 0) succeeded, booked, its key answered."""
    priced = dataclasses.replace(refund, payer_amount=fx.Money(0, refund.payer_amount.currency))
    write = book(payment, priced, await refund_basis(conn, payment.id))
    assert write.payment is not None and write.refund.status is RefundStatus.SUCCEEDED
    row = _rows.refund_row(write.refund)
    await move_to_open_days(
        ConnectionStatements(conn), [(_rows.refund_sides(write.refund), row, write.rows)]
    )
    await _write_payment(conn, payment, write.payment)
    await conn.execute(sa.insert(idempotency).values(**claim))
    await conn.execute(sa.insert(refunds).values(**row))
    await _insert_rows(conn, write.rows)
    if write.answer is not None:
        await complete_answer(conn, refund.merchant_id, refund.id, *write.answer)
    return _rows.refund(row)


def claim_refund_lease(
    *, refund_id: str, owner: str, now: datetime, until: datetime
) -> Unit[Refund | None]:
    async def unit(conn: AsyncConnection) -> Refund | None:
        result = await conn.execute(
            sa.update(refunds)
            .where(
                refunds.c.id == refund_id,
                refunds.c.status == RefundStatus.PROCESSING.value,
                # Not "ours": a POS request of this process may still be refunding it.
                sa.or_(refunds.c.lease_owner.is_(None), refunds.c.lease_expires_at < now),
            )
            .values(lease_owner=owner, lease_expires_at=until, version=refunds.c.version + 1)
        )
        if result.rowcount != 1:
            return None
        row = (
            (await conn.execute(sa.select(refunds).where(refunds.c.id == refund_id)))
            .mappings()
            .one()
        )
        return _rows.refund(row)

    return unit


@dataclasses.dataclass(slots=True)
class RefundWrite:
    """What a refund's outcome writes, decided on the locked payment."""

    refund: Refund
    """The refund's new state."""
    payment: Payment | None = None
    """The locked payment's new state, if the outcome changes it."""
    rows: Rows = dataclasses.field(default_factory=list)
    answer: tuple[int, str] | None = None
    """(status, body) completing the request's Idempotency-Key, if it is still open."""


@dataclasses.dataclass(slots=True)
class CancelWrite:
    """What a cancel's progress or end writes, decided on the locked payment."""

    payment: Payment
    """The locked payment's new state."""
    attempt: tuple[Attempt, Attempt] | None = None
    """The payment's open attempt: (as last read, with the cancel calls made since)."""
    refund: tuple[Refund, Refund] | None = None
    """The cancel's full refund: (as last read, its new state)."""
    new_refund: Refund | None = None
    """A full refund the cancel starts (the partner refused to cancel)."""
    rows: Rows = dataclasses.field(default_factory=list)
    answer: tuple[int, str] | None = None


def commit_refund(
    *,
    refund_id: str,
    owner: str,
    decide: Callable[[Payment, Refund, RefundBasis], RefundWrite],
) -> Unit[Refund | None]:
    """Write a refund's outcome while `owner` holds its lease, deciding on the locked payment.

    `decide(payment, refund, basis)` says what to write; `basis` is what the payment's earlier
    refunds returned and its fee terms (`refund_basis`), read under the same lock. None: the
    lease was lost, nothing written."""

    async def unit(conn: AsyncConnection) -> Refund | None:
        current = (
            (
                await conn.execute(
                    sa.select(refunds).where(
                        refunds.c.id == refund_id, refunds.c.lease_owner == owner
                    )
                )
            )
            .mappings()
            .first()
        )
        if current is None:
            return None
        refund = _rows.refund(current)
        payment = await _locked_payment(conn, refund.payment_id)
        assert payment is not None
        write = decide(payment, refund, await refund_basis(conn, payment.id))
        changes = _rows.refund_changes(refund, write.refund)
        dated = [(_rows.refund_sides(refund), changes, write.rows)]
        await move_to_open_days(ConnectionStatements(conn), dated)
        await conn.execute(
            sa.update(refunds)
            .where(refunds.c.id == refund_id)
            .values(**changes, version=refunds.c.version + 1)
        )
        if write.payment is not None:
            await _write_payment(conn, payment, write.payment)
        await _insert_rows(conn, write.rows)
        if write.answer is not None:
            await complete_answer(conn, refund.merchant_id, refund_id, *write.answer)
        written = {**_rows.refund_row(refund), **changes, "version": refund.version + 1}
        return _rows.refund(written)

    return in_own_transaction(unit)


# --- cancels ----------------------------------------------------------------------------------


def mark_cancel(
    *,
    claim: dict[str, Any],
    payment_id: str,
    merchant_id: str,
    owner: str,
    now: datetime,
    until: datetime,
) -> Unit[IdempotencyOutcome | CancelRefused | tuple[Payment, bool]]:
    """Mark the payment's cancel as pending (irrevocable) and take its lease if it is free.

    Returns the payment row and whether we hold its lease. A payment already cancelled, or
    with its cancel pending, comes back as it is: repeating a cancel is harmless."""

    async def unit(
        conn: AsyncConnection,
    ) -> IdempotencyOutcome | CancelRefused | tuple[Payment, bool]:
        verdict = await claim_key(conn, claim, now)
        if verdict is not None:
            return verdict
        payment = await _locked_payment(conn, payment_id)
        if payment is None or payment.merchant_id != merchant_id:
            return CancelRefused("not_found", "No such payment.")
        if payment.status is PaymentStatus.FAILED:
            return CancelRefused("not_cancellable", "The payment failed: nothing to cancel.")
        if payment.cancel_status is None and await _batch_closed(conn, payment):
            return CancelRefused(
                "window", "The payment's business day is closed; refund it instead."
            )
        if payment.cancel_status is None and payment.reserved_value > 0:
            return CancelRefused(
                "not_cancellable", "The payment has refunds; refund the rest instead."
            )
        if payment.status is PaymentStatus.CANCELLED and payment.cancel_status is None:
            return CancelRefused("not_cancellable", "The payment is already closed.")
        marked = payment
        if payment.cancel_status is None:
            marked = dataclasses.replace(
                marked, cancel_status=CancelStatus.PENDING, cancel_requested_at=now, updated_at=now
            )
        # A held lease (a POS request still paying, the resolver) is not taken: the cancel
        # then waits for its holder (202) and the resolver carries it on.
        leased = payment.cancel_status is not CancelStatus.CONFIRMED and (
            payment.lease_owner is None
            or (payment.lease_expires_at is not None and payment.lease_expires_at < now)
        )
        if leased:
            marked = dataclasses.replace(marked, lease_owner=owner, lease_expires_at=until)
        if marked != payment:
            marked = await _write_payment(conn, payment, marked)
        await conn.execute(sa.insert(idempotency).values(**claim))
        return marked, leased

    return in_own_transaction(unit)


def commit_cancel(
    *,
    payment_id: str,
    owner: str,
    decide: Callable[[Payment, list[dict[str, Any]]], CancelWrite],
) -> Unit[Payment | None]:
    """Write a cancel's progress or end while `owner` holds the payment's lease.

    `decide(payment, lines)` says what to write; `lines` are the journal lines of the payment's
    own entry if it succeeded (what a cancel reverses), else none.
    None: the lease was lost and nothing was written."""

    async def unit(conn: AsyncConnection) -> Payment | None:
        payment = await _locked_payment(conn, payment_id)
        if payment is None or payment.lease_owner != owner:
            return None
        lines = (
            await payment_lines(conn, payment.id)
            if payment.status is PaymentStatus.SUCCEEDED
            else []
        )
        write = decide(payment, lines)
        changes = _rows.payment_changes(payment, write.payment)
        dated = [(_rows.payment_sides(payment), changes, write.rows)]
        await move_to_open_days(ConnectionStatements(conn), dated)
        await conn.execute(
            sa.update(payments)
            .where(payments.c.id == payment_id)
            .values(**changes, version=payments.c.version + 1)
        )
        if write.attempt is not None:
            counted = _rows.attempt_changes(*write.attempt)
            await conn.execute(
                sa.update(attempts).where(attempts.c.id == counted.pop("id")).values(**counted)
            )
        if write.refund is not None:
            before, after = write.refund
            await conn.execute(
                sa.update(refunds)
                .where(refunds.c.id == before.id)
                .values(**_rows.refund_changes(before, after))
            )
        if write.new_refund is not None:  # before the rows: its entry refers to it
            await conn.execute(sa.insert(refunds).values(**_rows.refund_row(write.new_refund)))
        await _insert_rows(conn, write.rows)
        answer = write.answer
        if answer is not None:
            await complete_answer(conn, payment.merchant_id, f"cancel:{payment_id}", *answer)
            # A pay request killed mid-flight never stored its answer: its retry gets this one.
            await conn.execute(
                sa.update(idempotency)
                .where(
                    idempotency.c.merchant_id == payment.merchant_id,
                    idempotency.c.key == payment.idempotency_key,
                    idempotency.c.state == "in_progress",
                )
                .values(state="completed", response_status=201, response_body=answer[1])
            )
        written = {**_rows.payment_row(payment), **changes, "version": payment.version + 1}
        return _rows.payment(written)

    return in_own_transaction(unit)
