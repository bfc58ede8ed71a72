"""Merchant-presented payments (issue #15): the till shows a code and the tourist scans it.

    commit #1 (as any payment) → an order code from the partner → commit #2: `requires_customer`
    with the code (201, `next_action: display_qr`) → the partner's notification
    (`payments/notifications.py`) or the resolver's inquiries end it; once the code has expired
    the resolver cancels it at the partner (`failed`, `code_expired`), so that a late scan
    cannot charge, and a merchant cancel closes it the same way (`cancelled`).

No partner is tried after the first: a code is issued by one partner, and an unknown answer
may have left a pending payment there; the resolver inquires once and cancels it.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime

from adapters import Delivery, OrderCode, OrderCodeRequest, Outcome, OutcomeStatus
from gateway.context import Context
from gateway.core.render import dumps
from gateway.idempotency import Answer
from gateway.merchants.model import Merchant
from gateway.payments.booking import book_outcome
from gateway.payments.model import Attempt, Payment
from gateway.payments.views import payment_view
from gateway.storage import payments as repo

__all__ = ["notify_url", "show_order_code"]

log = logging.getLogger(__name__)


QR_CAPACITY = 2331
"""Bytes a QR code holds at most (version 40, error correction M, byte mode): a longer code
cannot be shown on a till."""


def notify_url(base: str, partner: str) -> str:
    """Where `partner` sends its notifications to the gateway at `base`."""
    return f"{base.rstrip('/')}/partners/{partner}/notify"


async def show_order_code(
    ctx: Context,
    merchant: Merchant,
    payment: Payment,
    attempt: Attempt,
    deadline: float,
    notify_base: str,
) -> Answer:
    """Ask the payment's partner for its code (the payment and its attempt are committed, our
    lease held) and answer the POS with what became of it."""
    durations = ctx.settings.durations
    now = ctx.clock.now()
    counts = attempt.counts()
    request = OrderCodeRequest(
        partner_request_id=attempt.partner_request_id,
        reference=payment.id,
        amount=payment.amount,
        payer_amount=payment.payer_amount,
        wallet=payment.wallet,
        merchant=merchant.at_till(payment.store_id, payment.terminal_id),
        requested_at=now,
        expires_at=now + durations.order_code_lifetime,
        notify_url=notify_url(notify_base, attempt.partner),
    )
    result = await ctx.partners.order_code(
        attempt.partner, request, tally=counts, deadline=deadline
    )
    now = ctx.clock.now()
    if isinstance(result, OrderCode) and (problem := _unshowable(result, request, now)):
        # Nothing a tourist can pay: a code may still be pending there, so it is cancelled.
        log.error("ALERT payment %s: %s's code %s", payment.id, attempt.partner, problem)
        result = Outcome.unknown(Delivery.MAYBE_SENT, f"the code {problem}")
    tallied = attempt.counted(counts)
    rows: repo.Rows = []
    if isinstance(result, OrderCode):
        after = payment.displaying(
            code=result.code,
            expires_at=min(result.expires_at, request.expires_at),
            partner_reference=result.partner_reference,
            now=now,
            first_look=now + durations.inquiry_initial_interval,
        )
        ended = tallied
        note = "code issued"
    elif result.status is OutcomeStatus.FAILED:
        booked = book_outcome(ctx, payment, result, merchant, now)
        after, rows = booked.payment, list(booked.rows)
        ended = tallied.ended(result, now)
        note = result.partner_code or result.message
    else:
        # A code may be pending at the partner: the resolver asks once, then cancels it.
        after = dataclasses.replace(payment.released(due=now, now=now), resolve_deadline=now)
        ended = tallied
        note = result.message
    body = dumps(payment_view(after))
    written = await ctx.writer.run(
        repo.commit_outcome(
            before=payment,
            after=after,
            attempts=[(attempt, ended)],
            response=(201, body),
            rows=rows,
        )
    )
    if not written:  # a notification took the payment meanwhile: show what is stored
        stored = await repo.get_payment(ctx.db, payment.id)
        assert stored is not None
        return Answer(201, dumps(payment_view(stored)))
    if rows:
        ctx.kick_webhooks()
    if not after.is_final and not isinstance(result, OrderCode):
        ctx.kick(payment.id)
    log.info("payment %s %s (merchant-presented: %s)", payment.id, after.status.value, note)
    ctx.metrics.payments.labels(after.status.value).inc()
    return Answer(201, body)


def _unshowable(code: OrderCode, request: OrderCodeRequest, now: datetime) -> str | None:
    """Why the partner's code cannot go on the till's screen, if it cannot."""
    if min(code.expires_at, request.expires_at) <= now:
        return "came back already expired"
    if len(code.code.encode("utf-8", "surrogatepass")) > QR_CAPACITY:
        return f"is longer than a QR code holds ({QR_CAPACITY} bytes)"
    return None
