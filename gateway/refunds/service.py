"""Refunds (API.md, Payments): partial, repeated, never more than the payment.

    reserve (one commit: key claim, amount reserved on the locked payment, refund `processing`)
    → refund at the partner, within the POS wait budget → final state, fees, journal, event

A refund's payer amount is priced cumulatively at the payment's rate, so refunds never return
more than the tourist paid and a full refund returns exactly the payer amount. An unknown
outcome stays `processing`: the resolver asks the partner (`inquire_refund`, same partner request
id) and re-sends the refund only when the partner has no record of it — the partner keys refunds
by that id, so a re-send is never a second refund.

What a refund gives back of the fees is cumulative too (`booking.book_refund`), and a refund priced
at 0 in the payer currency is refused, except the residue of a payment whose tourist already has
every payer unit back: that one is booked at once, without a partner call, so the payment can be
refunded in full (API.md, Business days and fees).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime

import fx
from adapters import (
    Delivery,
    Outcome,
    RefundInquiryRequest,
    RefundRequest,
)
from gateway import idempotency
from gateway.context import Context
from gateway.core.errors import (
    GatewayError,
    InvalidAmount,
    NotFound,
    PaymentNotRefundable,
    RefundExceedsPayment,
)
from gateway.core.ids import new_id
from gateway.core.render import dumps
from gateway.idempotency import Answer
from gateway.merchants.auth import READERS, Principal
from gateway.merchants.model import Merchant
from gateway.payments.booking import book_refund, refund_body
from gateway.payments.budget import MIN_CALL_SECONDS, answer_deadline
from gateway.payments.model import Attempt, Payment
from gateway.payments.service import gateway_error_note, get_payment, hand_over
from gateway.refunds.model import Refund, RefundBasis, RefundKind, RefundStatus
from gateway.refunds.views import refund_view
from gateway.storage import hand_over as net
from gateway.storage import leases
from gateway.storage import payments as repo
from gateway.storage import reversals as lifecycle
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyReplay
from gateway.storage.reversals import RefundRefused, RefundWrite
from gateway.storage.writer import Unit

__all__ = [
    "commit_refund_outcome",
    "create_refund",
    "cumulative_payer_value",
    "drive_refund",
    "get_refund",
    "list_refunds",
]

log = logging.getLogger(__name__)


def cumulative_payer_value(payment: Payment, reserved_after: int) -> int:
    """This refund's payer amount: the payer value of everything refunded so far, this one
    included, at the payment's rate, less what earlier refunds returned (API.md)."""
    if payment.quote is None:  # same currency: the payer pays the amount itself
        return reserved_after - payment.reserved_payer_value
    if reserved_after == payment.amount.value:
        total = payment.payer_amount.value  # exact by construction; said outright
    else:
        total = fx.convert_minor(
            reserved_after,
            payment.quote.rate_value,
            payment.amount.currency,
            payment.payer_amount.currency,
        )
    return total - payment.reserved_payer_value


async def create_refund(
    ctx: Context,
    *,
    merchant: Merchant,
    key: str,
    request_hash: str,
    payment_id: str,
    amount: fx.Money,
    reason: str | None,
    started_at: float,
) -> Answer:
    now = ctx.clock.now()
    payment = await repo.get_payment(ctx.db, payment_id)
    if payment is None or payment.merchant_id != merchant.id:
        raise NotFound("No such payment.")
    if amount.currency.code != payment.amount.currency.code:
        raise InvalidAmount(
            f"The refund must be in the payment's currency, {payment.amount.currency.code}.",
            param="amount.currency",
        )
    attempts = await repo.get_attempts(ctx.db, payment_id)
    refund_id = new_id("rf")
    budget = ctx.settings.durations.pos_wait_budget
    lease_expires_at = now + budget + ctx.settings.durations.lease_duration
    lease = leases.lease_name(ctx.owner)
    refund = Refund(
        id=refund_id,
        payment_id=payment_id,
        merchant_id=merchant.id,
        kind=RefundKind.MERCHANT,
        status=RefundStatus.PROCESSING,
        amount=amount,
        payer_amount=fx.Money(0, payment.payer_amount.currency),  # priced when reserved
        quote=payment.quote,
        partner=payment.partner,
        # Deterministic from the refund: every re-send is the same refund at the partner.
        partner_request_id=refund_id,
        reason=reason,
        created_at=now,
        updated_at=now,
        # If this process dies mid-call, the resolver finds the refund once the lease expires.
        next_action_at=now + budget,
        lease_owner=lease,
        lease_expires_at=lease_expires_at,
    )
    claim = {
        **idempotency.claim(
            merchant_id=merchant.id, key=key, request_hash=request_hash, now=now, ctx=ctx
        ),
        "resource_id": refund_id,
    }
    begun = await ctx.writer.run(
        lifecycle.begin_refund(
            claim=claim,
            payment_id=payment_id,
            merchant_id=merchant.id,
            refund=refund,
            payer_value_for=cumulative_payer_value,
            now=now,
            book_residue=_residue_booking(ctx, merchant),
        )
    )
    if isinstance(begun, IdempotencyReplay):
        return Answer(begun.status, begun.body, replayed=True)
    if isinstance(begun, IdempotencyConflict):
        idempotency.raise_conflict(begun)
    if isinstance(begun, RefundRefused):
        _refuse(begun, payment)
    assert isinstance(begun, Refund)
    if begun.status is RefundStatus.SUCCEEDED:  # a residue: booked at once, no partner call
        ctx.kick_webhooks()
        log.info("refund %s of %s: succeeded (residue, payer amount 0)", refund_id, payment_id)
        return Answer(201, dumps(refund_view(begun)))
    attempt = attempts[-1]
    counts = begun.counts()
    loop = asyncio.get_running_loop()
    partner_started = loop.time()
    try:
        deadline = answer_deadline(ctx, started_at)
        outcome = await drive_refund(ctx, begun, payment, attempt, deadline, counts=counts)
        partner_seconds = loop.time() - partner_started
        written = await ctx.writer.run(
            commit_refund_outcome(ctx, begun, merchant, outcome, answer=True, counters=counts)
        )
        if written is not None and outcome.is_final:
            ctx.kick_webhooks()
        final = written or await lifecycle.get_refund(ctx.db, refund_id)
        assert final is not None
        if final.status is RefundStatus.PROCESSING:
            ctx.kick(refund_id)  # the resolver tells refunds from payments by the id's prefix
        log.info("refund %s of %s: %s", refund_id, payment_id, final.status.value)
        return Answer(201, dumps(refund_view(final)), partner_seconds=partner_seconds)
    except GatewayError:
        raise
    except Exception as exc:
        # The partner may have refunded: the resolver asks it (same request id), ends the
        # refund and completes the key. The POS gets the refund as stored.
        _written, stored = await hand_over(
            ctx,
            f"refund {refund_id}",
            refund_id,
            exc,
            net.hand_over_refund(
                refund_id=refund_id,
                payment_id=payment_id,
                lease=(lease, lease_expires_at),
                note=f"{gateway_error_note(exc)} on refund {refund_id}",
                now=ctx.clock.now(),
                counters=counts,
            ),
        )
        known = stored or dataclasses.replace(begun.counted(counts), updated_at=ctx.clock.now())
        return Answer(201, refund_body(known), partner_seconds=loop.time() - partner_started)


def _residue_booking(
    ctx: Context, merchant: Merchant
) -> Callable[[Payment, Refund, RefundBasis], RefundWrite]:
    """How `begin_refund` books a residue: a refund whose payer amount is 0 once the tourist
    already has every payer unit back (API.md, Business days and fees). No partner is called:
    it succeeds at once, returns the rest of the merchant's % fee and FX revenue, and brings
    `amount_refunded` to the payment's amount."""

    def book(payment: Payment, refund: Refund, basis: RefundBasis) -> RefundWrite:
        now = ctx.clock.now()
        final = dataclasses.replace(
            refund.released(now=now),
            status=RefundStatus.SUCCEEDED,
            partner_completed_at=now,
            next_action_at=None,
        )
        booked = book_refund(ctx, payment, final, merchant, now, basis=basis)
        value = refund.amount.value
        paid_back = dataclasses.replace(
            payment,
            reserved_value=payment.reserved_value + value,
            refunded_value=payment.refunded_value + value,
            updated_at=now,
        )
        return RefundWrite(booked.refund, paid_back, booked.rows, (201, refund_body(booked.refund)))

    return book


def _refuse(refused: RefundRefused, payment: Payment) -> None:
    if refused.reason == "not_found":
        raise NotFound("No such payment.")
    if refused.reason == "not_refundable":
        raise PaymentNotRefundable(
            "Only a succeeded payment that is not cancelled can be refunded.",
        )
    if refused.reason == "too_small":
        raise InvalidAmount(
            f"The refund is too small to return anything in {payment.payer_amount.currency.code}.",
            param="amount.value",
        )
    if refused.reason == "in_flight":
        raise InvalidAmount(
            "The refund would return nothing in "
            f"{payment.payer_amount.currency.code}: it can be accepted once the refunds still "
            "processing have succeeded.",
            param="amount.value",
        )
    currency = payment.amount.currency
    raise RefundExceedsPayment(
        "Succeeded and processing refunds would exceed the payment; at most "
        f"{fx.Money(refused.remaining, currency).format()} {currency.code} can still be refunded.",
        param="amount.value",
    )


def _request(refund: Refund, payment: Payment, attempt: Attempt) -> RefundRequest:
    return RefundRequest(
        partner_request_id=refund.partner_request_id,
        payment_partner_request_id=attempt.partner_request_id,
        payment_partner_reference=payment.partner_reference,
        reference=refund.id,
        amount=refund.amount,
        payer_amount=refund.payer_amount,
        reason=refund.reason or "",
    )


async def drive_refund(
    ctx: Context,
    refund: Refund,
    payment: Payment,
    attempt: Attempt,
    deadline: float | None,
    *,
    counts: dict[str, int],
    ask_first: bool = False,
) -> Outcome:
    """Call the partner until a final answer or `deadline` (loop time; None: one round).

    `ask_first`: the refund may have reached the partner before (a crash, an earlier run), so
    inquire before sending; a "not found" then means it never arrived and is sent again.
    `counts` (`Refund.counts()`) is incremented as calls are made.
    """
    loop = asyncio.get_running_loop()
    partner = refund.partner
    request = _request(refund, payment, attempt)
    inquiry = RefundInquiryRequest(refund.partner_request_id, request.payer_amount)
    operation = "inquire_refund" if ask_first else "refund"
    calls = 0
    outcome = Outcome.unknown(Delivery.MAYBE_SENT, "the refund was not sent yet")
    while True:
        if deadline is not None and deadline - loop.time() <= MIN_CALL_SECONDS:
            return outcome
        if operation == "refund":
            outcome = await ctx.partners.refund(partner, request, tally=counts, deadline=deadline)
        else:
            outcome = await ctx.partners.inquire_refund(
                partner, inquiry, tally=counts, deadline=deadline
            )
        calls += 1
        if outcome.is_final:
            return outcome
        # Not found: it never arrived; send it (again). Otherwise ask before sending again.
        operation = "refund" if outcome.not_found else "inquire_refund"
        if deadline is None and calls >= 2:
            return outcome
        pause = ctx.backoff(calls)
        if deadline is not None and deadline - loop.time() - pause <= MIN_CALL_SECONDS:
            return outcome
        await ctx.sleep(pause)


def commit_refund_outcome(
    ctx: Context,
    held: Refund,
    merchant: Merchant,
    outcome: Outcome,
    *,
    answer: bool,
    retry_at: datetime | None = None,
    counters: dict[str, int] | None = None,
) -> Unit[Refund | None]:
    """The unit writing `outcome` for a merchant refund: final (with its booking), or still
    unknown (due again at `retry_at`), while the lease `held` was taken under is still ours.
    `answer`: store the response for the POS's key even if
    the outcome is unknown (the POS request's own answer)."""

    def decide(payment: Payment, refund: Refund, basis: RefundBasis) -> RefundWrite:
        now = ctx.clock.now()
        counted = refund.counted(counters) if counters else refund
        if not outcome.is_final:
            later = counted.released(due=retry_at or now, now=now)
            return RefundWrite(later, answer=(201, refund_body(later)) if answer else None)
        final = counted.finished(outcome, now)
        if final.status is RefundStatus.SUCCEEDED:
            paid_back = dataclasses.replace(
                payment, refunded_value=payment.refunded_value + refund.amount.value, updated_at=now
            )
        else:  # a final decline releases the reservation
            paid_back = dataclasses.replace(
                payment,
                reserved_value=payment.reserved_value - refund.amount.value,
                reserved_payer_value=payment.reserved_payer_value - refund.payer_amount.value,
                updated_at=now,
            )
        booked = book_refund(ctx, payment, final, merchant, now, basis=basis)
        # Rendered so that it cannot stop the final state (the resolver writes it too).
        body = refund_body(booked.refund)
        return RefundWrite(booked.refund, paid_back, booked.rows, (201, body))

    assert held.lease_owner is not None, "a refund is written under the lease its writer holds"
    return lifecycle.commit_refund(refund_id=held.id, owner=held.lease_owner, decide=decide)


async def list_refunds(ctx: Context, principal: Principal, payment_id: str) -> list[Refund]:
    """A readable payment's merchant refunds, newest first."""
    payment = await get_payment(ctx, principal, payment_id)
    return await lifecycle.list_refunds(ctx.db, payment.id)


async def get_refund(ctx: Context, principal: Principal, refund_id: str) -> Refund:
    """A merchant refund its merchant (or an operator) may read (a cancel's own full refund is
    internal: not found)."""
    principal.require(*READERS)
    refund = await lifecycle.get_refund(ctx.db, refund_id)
    if refund is None or refund.kind is not RefundKind.MERCHANT:
        raise NotFound("No such refund.")
    principal.check_owns(refund.merchant_id, "such refund")
    return refund
