"""Merchant cancels (API.md, Payments): irrevocable, for processing or succeeded payments.

    mark `cancellation.status = pending` (one commit, with the key claim and, if free, the lease)
    → cancel at the partner within the POS wait budget → `cancelled` (200) or still pending (202)

A cancel during processing wins: a late success is reversed. If the partner refuses the cancel
(its window closed, say), the gateway refunds in full instead and the payment still ends
`cancelled`. A succeeded payment's journal entry is reversed line for line, with the same
business dates, so a cancelled payment nets to nothing and carries no fee. The resolver carries on
with pending cancels after the budget, and after a crash.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from adapters import CancelRequest, InquiryRequest, Outcome, OutcomeStatus
from gateway import idempotency
from gateway.context import Context
from gateway.core.errors import CancelWindowExceeded, GatewayError, NotFound, PaymentNotCancellable
from gateway.core.ids import new_id
from gateway.core.render import dumps
from gateway.idempotency import Answer
from gateway.merchants.model import Merchant
from gateway.payments.booking import book_payment, payment_body, reverse_payment
from gateway.payments.budget import MIN_CALL_SECONDS, answer_deadline
from gateway.payments.model import Attempt, Failure, Payment, PaymentStatus
from gateway.payments.service import gateway_error_note, hand_over
from gateway.payments.views import payment_view
from gateway.refunds.model import Refund, RefundKind, RefundStatus
from gateway.refunds.service import drive_refund
from gateway.storage import hand_over as net
from gateway.storage import idempotency as records
from gateway.storage import leases
from gateway.storage import payments as repo
from gateway.storage import reversals as lifecycle
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyReplay
from gateway.storage.payments import Rows
from gateway.storage.reversals import CancelRefused, CancelWrite

__all__ = ["cancel_payment", "drive_cancel"]

log = logging.getLogger(__name__)


async def cancel_payment(
    ctx: Context,
    *,
    merchant: Merchant,
    key: str,
    request_hash: str,
    payment_id: str,
    started_at: float,
) -> Answer:
    now = ctx.clock.now()
    durations = ctx.settings.durations
    resource = f"cancel:{payment_id}"
    claim = {
        **idempotency.claim(
            merchant_id=merchant.id, key=key, request_hash=request_hash, now=now, ctx=ctx
        ),
        "resource_id": resource,
    }
    lease = leases.lease_name(ctx.owner)
    marked = await ctx.writer.run(
        lifecycle.mark_cancel(
            claim=claim,
            payment_id=payment_id,
            merchant_id=merchant.id,
            owner=lease,
            now=now,
            until=now + durations.pos_wait_budget + durations.lease_duration,
        )
    )
    if isinstance(marked, IdempotencyReplay):
        return Answer(marked.status, marked.body, replayed=True)
    if isinstance(marked, IdempotencyConflict):
        idempotency.raise_conflict(marked)
    if isinstance(marked, CancelRefused):
        if marked.reason == "not_found":
            raise NotFound(marked.message)
        if marked.reason == "window":
            raise CancelWindowExceeded(marked.message)
        raise PaymentNotCancellable(marked.message)
    assert isinstance(marked, tuple)
    payment, leased = marked
    expires_at = payment.lease_expires_at
    own_lease = (lease, expires_at) if leased and expires_at is not None else None
    loop = asyncio.get_running_loop()
    partner_started = loop.time()
    try:
        if leased:
            payment = await drive_cancel(ctx, payment, merchant, answer_deadline(ctx, started_at))
        status = _cancel_status(payment)
        body = dumps(payment_view(payment))
        await ctx.writer.run(records.store_answer(merchant.id, resource, status, body))
        if status == 202:
            ctx.kick(payment_id)
        log.info("payment %s: cancel %s", payment_id, "confirmed" if status == 200 else "pending")
        return Answer(status, body, partner_seconds=loop.time() - partner_started)
    except GatewayError:
        raise
    except Exception as exc:
        # A pending cancel is irrevocable: the resolver carries it on, and its final commit
        # completes this request's key. Our lease, if we took it, is freed at once. A cancel no
        # longer pending has nobody to finish it: its answer is stored here.
        unit = net.hand_over_cancel(
            payment_id=payment_id,
            lease=own_lease,
            note=f"{gateway_error_note(exc)} on cancel",
            now=ctx.clock.now(),
            resource_id=resource,
            answer=lambda stored: (_cancel_status(stored), payment_body(stored)),
        )
        _written, stored = await hand_over(
            ctx, f"cancel of payment {payment_id}", payment_id, exc, unit
        )
        known = stored or payment
        return Answer(
            _cancel_status(known),
            payment_body(known),
            partner_seconds=loop.time() - partner_started,
        )


def _cancel_status(payment: Payment) -> int:
    return 200 if payment.status is PaymentStatus.CANCELLED else 202


async def drive_cancel(
    ctx: Context,
    payment: Payment,
    merchant: Merchant,
    deadline: float | None,
) -> Payment:
    """Work on a pending cancel whose lease we hold, until it ends or `deadline` (loop time;
    None: a few calls, then back to the resolver's schedule). Returns the payment as written;
    the lease is released either way."""
    loop = asyncio.get_running_loop()
    attempt = (await repo.get_attempts(ctx.db, payment.id))[-1]
    counts = attempt.counts()
    partner = attempt.partner
    refund = await lifecycle.open_cancel_refund(ctx.db, payment.id)
    calls = 0
    while True:
        if refund is not None:
            counts = refund.counts()
            outcome = await drive_refund(
                ctx,
                refund,
                payment,
                attempt,
                deadline,
                counts=counts,
                ask_first=counts["refund_calls"] > 0,
            )
            refund_now = refund.counted(counts)
            if outcome.status is OutcomeStatus.SUCCEEDED:
                return await _write(
                    ctx, payment, _cancelled(ctx, merchant, outcome, (refund, refund_now))
                )
            if outcome.status is OutcomeStatus.FAILED:
                log.error(
                    "payment %s: the partner refused both the cancel and the full refund (%s);"
                    " retrying later, an operator may need to look",
                    payment.id,
                    outcome.partner_code,
                )
                return await _write(
                    ctx, payment, _refund_declined(ctx, outcome, (refund, refund_now))
                )
            return await _write(ctx, payment, _later(ctx, 1, refund=(refund, refund_now)))
        calls += 1
        cancel = CancelRequest(attempt.partner_request_id)
        outcome = await ctx.partners.cancel(partner, cancel, tally=counts, deadline=deadline)
        if outcome.status is OutcomeStatus.SUCCEEDED:
            return await _write(
                ctx, payment, _cancelled(ctx, merchant, outcome), (attempt, attempt.counted(counts))
            )
        if outcome.status is OutcomeStatus.FAILED:
            # The partner keeps the payment: its own record decides what undoing it takes.
            inquiry = InquiryRequest(attempt.partner_request_id, payment.payer_amount)
            known = await ctx.partners.inquire(partner, inquiry, tally=counts)
            if known.status is OutcomeStatus.FAILED or (
                known.status is OutcomeStatus.UNKNOWN and known.not_found
            ):
                return await _write(
                    ctx,
                    payment,
                    _cancelled(ctx, merchant, known),
                    (attempt, attempt.counted(counts)),
                )
            if known.status is OutcomeStatus.SUCCEEDED or payment.status is PaymentStatus.SUCCEEDED:
                payment, refund = await _start_refund(
                    ctx, payment, merchant, known, (attempt, attempt.counted(counts))
                )
                if refund is None:
                    return payment
                continue
        pause = ctx.backoff(calls)
        if deadline is None and calls >= 2:
            return await _write(
                ctx, payment, _later(ctx, calls), (attempt, attempt.counted(counts))
            )
        if deadline is not None and deadline - loop.time() - pause <= MIN_CALL_SECONDS:
            return await _write(
                ctx, payment, _later(ctx, calls), (attempt, attempt.counted(counts))
            )
        await ctx.sleep(pause)


Decide = Callable[[Payment, list[dict[str, Any]]], CancelWrite]
"""What a cancel writes, decided on the locked payment and its journal lines (if it succeeded)."""

AttemptStates = tuple[Attempt, Attempt]
"""The payment's open attempt: as last read, and with the cancel's calls counted."""


async def _commit(
    ctx: Context, held: Payment, decide: Decide, attempt: AttemptStates | None
) -> Payment | None:
    """Write what `decide` says (and the attempt's cancel count) while the lease `held` was
    taken under is still ours; None if it is gone."""
    assert held.lease_owner is not None

    def with_attempt(locked: Payment, lines: list[dict[str, Any]]) -> CancelWrite:
        write = decide(locked, lines)
        write.attempt = attempt
        return write

    written = await ctx.writer.run(
        lifecycle.commit_cancel(payment_id=held.id, owner=held.lease_owner, decide=with_attempt)
    )
    if written is not None:
        ctx.kick_webhooks()  # a cancel or a success may have been booked with its event
    return written


async def _write(
    ctx: Context,
    payment: Payment,
    decide: Decide,
    attempt: AttemptStates | None = None,
) -> Payment:
    """`_commit`, then the payment as stored (someone else's, if our lease expired meanwhile)."""
    written = await _commit(ctx, payment, decide, attempt)
    if written is not None:
        return written
    stored = await repo.get_payment(ctx.db, payment.id)
    assert stored is not None
    return stored


RefundStates = tuple[Refund, Refund]
"""The cancel's full refund: as last read, and with the calls made since."""


def _cancelled(
    ctx: Context, merchant: Merchant, outcome: Outcome, refund: RefundStates | None = None
) -> Decide:
    """The end: `cancelled`, the success reversed if there was one, the event; the full refund
    that undid it (if the partner refused the cancel itself) succeeded."""

    def decide(payment: Payment, lines: list[dict[str, Any]]) -> CancelWrite:
        now = ctx.clock.now()
        rows: Rows = []
        if payment.status is PaymentStatus.SUCCEEDED:
            rows += reverse_payment(lines, now)
        booked = book_payment(ctx, payment.cancelled(now), merchant, now)
        write = CancelWrite(booked.payment, rows=rows + booked.rows)
        if refund is not None:
            read, counted = refund
            done = dataclasses.replace(
                counted.succeeded(outcome, now),
                merchant_business_date=payment.merchant_business_date,
                partner_business_date=payment.partner_business_date,
            )
            write.refund = (read, done)
        # Rendered so that it cannot stop the final state (the resolver writes it too).
        write.answer = (200, payment_body(booked.payment))
        return write

    return decide


def _later(ctx: Context, calls: int, *, refund: RefundStates | None = None) -> Decide:
    """Still pending: release the lease and come back on the cancel schedule."""
    durations = ctx.settings.durations
    seconds = min(
        durations.cancel_max_interval.total_seconds(),
        durations.cancel_initial_interval.total_seconds() * 2 ** min(calls, 16),
    )

    def decide(payment: Payment, _lines: list[dict[str, Any]]) -> CancelWrite:
        now = ctx.clock.now()
        write = CancelWrite(payment.released(due=now + timedelta(seconds=seconds), now=now))
        if refund is not None:
            read, counted = refund
            write.refund = (read, counted.released(due=counted.next_action_at, now=now))
        return write

    return decide


def _refund_declined(ctx: Context, outcome: Outcome, refund: RefundStates) -> Decide:
    """The full refund was declined: release it and try the cancel again later."""
    later = _later(ctx, 8)
    read, counted = refund

    def decide(payment: Payment, lines: list[dict[str, Any]]) -> CancelWrite:
        now = ctx.clock.now()
        write = later(payment, lines)
        write.payment = dataclasses.replace(
            write.payment,
            reserved_value=payment.reserved_value - counted.amount.value,
            reserved_payer_value=payment.reserved_payer_value - counted.payer_amount.value,
        )
        code = outcome.failure_code
        declined = dataclasses.replace(
            counted.released(due=counted.next_action_at, now=now),
            status=RefundStatus.FAILED,
            failure=None if code is None else Failure(code.value, ""),
            next_action_at=None,
        )
        write.refund = (read, declined)
        return write

    return decide


async def _start_refund(
    ctx: Context,
    payment: Payment,
    merchant: Merchant,
    known: Outcome,
    attempt: AttemptStates,
) -> tuple[Payment, Refund | None]:
    """The partner refused to cancel a payment it charged: book the success if it is news, and
    reserve a full refund (kind `cancel`) in the same commit. We keep the lease: the refund
    goes on at once."""
    refund_id = new_id("rf")
    started: dict[str, Refund] = {}

    def decide(locked: Payment, _lines: list[dict[str, Any]]) -> CancelWrite:
        now = ctx.clock.now()
        after = dataclasses.replace(locked, updated_at=now)
        rows: Rows = []
        if not locked.is_final:
            booked = book_payment(ctx, locked.finished(known, now), merchant, now)
            # We keep the lease (and the resolver's schedule): the refund goes on at once.
            after = dataclasses.replace(
                booked.payment,
                lease_owner=locked.lease_owner,
                lease_expires_at=locked.lease_expires_at,
                next_action_at=locked.next_action_at,
            )
            rows = list(booked.rows)
        refund = Refund(
            id=refund_id,
            payment_id=locked.id,
            merchant_id=locked.merchant_id,
            kind=RefundKind.CANCEL,
            status=RefundStatus.PROCESSING,
            amount=locked.amount,
            payer_amount=locked.payer_amount,
            quote=locked.quote,
            partner=locked.partner,
            partner_request_id=refund_id,
            reason="cancel refused by the partner",
            created_at=now,
            updated_at=now,
            lease_owner=locked.lease_owner,  # the cancel's own lease name: it goes on at once
            lease_expires_at=locked.lease_expires_at,
        )
        after = dataclasses.replace(
            after,
            reserved_value=locked.amount.value,
            reserved_payer_value=locked.payer_amount.value,
        )
        started["refund"] = refund
        return CancelWrite(after, new_refund=refund, rows=rows)

    written = await _commit(ctx, payment, decide, attempt)
    if written is None:
        stored = await repo.get_payment(ctx.db, payment.id)
        assert stored is not None
        return stored, None
    log.info("payment %s: the partner refused the cancel; refunding in full", payment.id)
    return written, started["refund"]
