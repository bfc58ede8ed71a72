"""A partner's signed notification of a merchant-presented payment's result (issue #15).

    verify (the adapter: signature and time, before anything is read) → the payment of its
    request id → the amount → take the payment's lease from whoever holds it → book the
    outcome as the resolver would → the protocol's acknowledgment

Idempotent: a payment already final with the same outcome is acknowledged again and changes
nothing, whatever the order notifications and inquiries arrive in; two gateways receiving the
same notification at once write one outcome (one takes the lease, the other waits its turn and
finds it final).
Anything that does not add up is refused loudly (an `ALERT` log line and a metric) and never
booked: a forged, stale or unreadable notification, an unknown request id, another amount, or
an outcome that contradicts the payment's (paid after we cancelled it). A refused
notification is answered "not processed", so the partner sends it again.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from datetime import datetime

from adapters import (
    Acknowledgment,
    EntryOrder,
    InboundRequest,
    NotificationRefused,
    Operation,
    Outcome,
    OutcomeStatus,
    PaymentNotification,
)
from gateway.context import Context
from gateway.core.errors import NotFound
from gateway.payments.booking import book_outcome, payment_body
from gateway.payments.entry import receive_entry_order
from gateway.payments.model import Attempt, AttemptStatus, CancelStatus, Payment, PaymentStatus
from gateway.storage import leases
from gateway.storage import payments as repo

__all__ = ["Verdict", "receive_notification"]

log = logging.getLogger(__name__)

_NOTIFYING = frozenset({Operation.ORDER_CODE, Operation.ENTRY_CODE})
"""What a partner must offer to send the gateway anything."""
_TURNS = 10  # looks (about 6 s) while another notification books it, before "send it again"
_TURN = 0.05  # seconds between them (doubling, to a second)


class Verdict(enum.StrEnum):
    BOOKED = "booked"
    ALREADY = "already"
    UNKNOWN_PAYMENT = "unknown_payment"
    AMOUNT_MISMATCH = "amount_mismatch"
    CONTRADICTS = "contradicts"
    BUSY = "busy"

    @property
    def accepted(self) -> bool:
        return self in (Verdict.BOOKED, Verdict.ALREADY)


async def receive_notification(
    ctx: Context, partner: str, request: InboundRequest
) -> Acknowledgment:
    """What to answer `partner`'s notification `request` (`NotFound` for a partner that sends
    none)."""
    if partner not in ctx.partners or not _NOTIFYING & ctx.partners.capabilities(partner):
        raise NotFound("No such partner.")
    try:
        notification = ctx.partners.read_notification(partner, request, ctx.clock.now())
    except NotificationRefused as exc:
        log.error(
            "ALERT notification from %s refused (%s): %s", partner, exc.problem.value, exc.message
        )
        ctx.metrics.notifications.labels(partner, f"refused_{exc.problem.value}").inc()
        return ctx.partners.acknowledge(partner, request, accepted=False)
    if isinstance(notification, EntryOrder):  # a tourist typed an amount at a store's code
        return await receive_entry_order(ctx, partner, request, notification)
    verdict = await _apply(ctx, partner, notification)
    ctx.metrics.notifications.labels(partner, verdict.value).inc()
    return ctx.partners.acknowledge(partner, request, accepted=verdict.accepted)


async def _apply(ctx: Context, partner: str, notification: PaymentNotification) -> Verdict:
    request_id = notification.partner_request_id
    attempt = await repo.attempt_by_request_id(ctx.db, request_id)
    if attempt is None or attempt.partner != partner:
        log.error(
            "ALERT %s notified an unknown payment request %r: not booked", partner, request_id
        )
        return Verdict.UNKNOWN_PAYMENT
    payment = await repo.get_payment(ctx.db, attempt.payment_id)
    assert payment is not None, "an attempt's payment exists"
    if attempt.status is AttemptStatus.NOT_ACCEPTED:
        log.error(
            "ALERT %s notified payment %s's request %r, which it did not accept: not booked",
            partner,
            payment.id,
            request_id,
        )
        return Verdict.CONTRADICTS
    if notification.payer_amount != payment.payer_amount:
        log.error(
            "ALERT %s notified payment %s paid %s %s, but it is for %s %s: not booked",
            partner,
            payment.id,
            notification.payer_amount.format(),
            notification.payer_amount.currency.code,
            payment.payer_amount.format(),
            payment.payer_amount.currency.code,
        )
        return Verdict.AMOUNT_MISMATCH
    outcome = notification.outcome
    pause = _TURN
    for _ in range(_TURNS):
        if payment.is_final:
            return _against_final(payment, outcome, partner)
        if await _book(ctx, payment, attempt.id, outcome):
            return Verdict.BOOKED
        # Another notification of it is booking it (or took it back from us): its turn.
        await ctx.sleep(pause)
        pause = min(pause * 2, 1.0)
        stored = await repo.get_payment(ctx.db, payment.id)
        assert stored is not None
        payment = stored
    return Verdict.BUSY


async def _book(ctx: Context, payment: Payment, attempt_id: str, outcome: Outcome) -> bool:
    """Take the payment's lease and commit `outcome` as its final state (of the attempt
    `attempt_id`, the one notified); False if it was no longer open, or another writer took it
    back before our commit."""
    now = ctx.clock.now()
    seized = await ctx.writer.run(
        leases.seize_lease(
            payment_id=payment.id,
            owner=leases.lease_name(ctx.owner, notified=True),
            now=now,
            until=now + ctx.settings.durations.lease_duration,
        )
    )
    if seized is None:
        return False
    merchant = await repo.get_merchant(ctx.db, seized.merchant_id)
    assert merchant is not None
    # Read after the seize: a cancel the previous holder noted before sending it is seen here.
    attempt = next(a for a in await repo.get_attempts(ctx.db, seized.id) if a.id == attempt_id)
    booked = book_outcome(ctx, seized, outcome, merchant, now)
    final = _undone_if_cancelled(booked.payment, attempt, now)
    written = await ctx.writer.run(
        repo.commit_outcome(
            before=seized,
            after=final,
            attempts=[(attempt, attempt.ended(outcome, now, note="notified by the partner"))],
            response=(201, payment_body(final)),
            rows=booked.rows,
        )
    )
    if not written:
        return False
    ctx.kick_webhooks()
    log.info("payment %s %s (notified by %s)", seized.id, final.status.value, seized.partner)
    if final.cancel_status is CancelStatus.PENDING and final.status is PaymentStatus.SUCCEEDED:
        log.error(
            "ALERT payment %s was paid while a cancel of it was on its way: reversing it",
            seized.id,
        )
        ctx.kick(seized.id)
    return True


def _undone_if_cancelled(paid: Payment, attempt: Attempt, now: datetime) -> Payment:
    """A payment booked paid after the gateway sent the partner a cancel of it (at the code's
    expiry, or after an unknown outcome): the cancel may have reversed it at the partner, so it
    is undone here too (its cancel pending: the cancel flow finishes it, a journal reversal).
    A merchant's pending cancel stays pending likewise."""
    if paid.status is not PaymentStatus.SUCCEEDED or paid.cancel_status is not None:
        return paid
    if attempt.cancel_calls == 0:
        return paid
    return dataclasses.replace(
        paid, cancel_status=CancelStatus.PENDING, cancel_requested_at=now, next_action_at=now
    )


def _against_final(payment: Payment, outcome: Outcome, partner: str) -> Verdict:
    """A notification for a payment already ended: the same news again, or a contradiction."""
    paid = outcome.status is OutcomeStatus.SUCCEEDED
    if paid:
        # Cancelled agrees only when we knew it was paid before undoing it: a cancel may also
        # have ended on the partner's "no such payment", and a charge after that is real money
        # nobody has returned (refused loudly: an operator refunds it).
        agrees = payment.status is PaymentStatus.SUCCEEDED or (
            payment.status is PaymentStatus.CANCELLED and payment.partner_completed_at is not None
        )
        known = payment.partner_reference
        if agrees and known and outcome.partner_reference not in (None, known):
            log.error(
                "ALERT %s notified payment %s paid as %r, booked as %r: not booked again;"
                " an operator must look",
                partner,
                payment.id,
                outcome.partner_reference,
                known,
            )
    else:
        agrees = payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED)
    if agrees:
        return Verdict.ALREADY
    log.error(
        "ALERT %s notified payment %s %s, but it ended %s: not booked; an operator must look",
        partner,
        payment.id,
        "paid" if paid else "not paid",
        payment.status.value,
    )
    return Verdict.CONTRADICTS
