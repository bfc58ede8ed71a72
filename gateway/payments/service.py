"""Taking a payment at the till (DESIGN.md, Payment lifecycle).

    validate → price (quote) → route → commit #1 (key claim, payment, attempt)
    → pay, within the POS wait budget → commit #2 (final state or `processing`, the response)

No transaction is open while a partner is called. Within the budget a maybe-sent pay is re-sent
with the *same* partner request id and an "in process" answer is followed by inquiries; a partner
that certainly charged nothing (not sent, or a signed "not accepted") is replaced by the next
eligible one. When the budget runs out the payment stays `processing` and the resolver takes over
(inquire, then cancel: never a new pay).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

import fx
from adapters import (
    Operation,
    Outcome,
    PaymentCode,
    PayRequest,
    mask_code,
)
from gateway import idempotency
from gateway.context import Context
from gateway.core.config import Wallet
from gateway.core.errors import (
    DuplicateMerchantReference,
    GatewayError,
    InvalidAmount,
    InvalidRequest,
    NoRoute,
    NotFound,
    PartnerUnavailable,
    QuoteExpired,
    QuoteMismatch,
)
from gateway.core.ids import new_id
from gateway.core.render import dumps
from gateway.idempotency import Answer
from gateway.merchants.auth import READERS, Principal, Role
from gateway.merchants.model import Merchant
from gateway.partners.routing import Route
from gateway.payments.booking import book_outcome, payment_body
from gateway.payments.budget import answer_deadline
from gateway.payments.driver import LeaseLost, PayDriver
from gateway.payments.model import Attempt, Payment, PaymentMethod, PaymentStatus
from gateway.payments.presented import show_order_code
from gateway.payments.views import payment_view
from gateway.quotes.model import MerchantQuote, QuoteUse
from gateway.quotes.service import price
from gateway.storage import hand_over as net
from gateway.storage import leases
from gateway.storage import payments as repo
from gateway.storage.hand_over import GATEWAY_ERROR
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyReplay
from gateway.storage.payments import DuplicateReference, Rows
from gateway.storage.writer import Unit

__all__ = [
    "CreatePayment",
    "create_payment",
    "gateway_error_note",
    "get_payment",
    "hand_over",
    "list_payments",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class CreatePayment:
    """A sale: `code` (the wallet code the POS scanned) or `wallet` (a merchant-presented
    payment, the tourist's chosen wallet), never both."""

    merchant_reference: str
    amount: fx.Money
    code: PaymentCode | None
    wallet: str | None = None
    quote_id: str | None = None
    store_id: str | None = None
    terminal_id: str | None = None
    metadata: dict[str, str] = dataclasses.field(default_factory=dict)
    notify_base: str = ""
    """Where partners reach this gateway (`server.public_url`, or the URL the POS called):
    a merchant-presented payment's result comes to `<notify_base>/partners/<id>/notify`."""


async def create_payment(
    ctx: Context,
    *,
    merchant: Merchant,
    key: str,
    request_hash: str,
    command: CreatePayment,
    started_at: float,
) -> Answer:
    """Take one payment; answer within the POS wait budget counted from `started_at`."""
    loop = asyncio.get_running_loop()
    now = ctx.clock.now()
    try:
        wallet, quote, spot_quote, routes = await _prepare(ctx, merchant, command, now)
    except GatewayError:
        # A retry of a request that was answered before gets that answer, even if it would not
        # pass today (its quote expired, say). Checked only here: the write checks it anyway.
        replay = await idempotency.precheck(
            ctx, merchant_id=merchant.id, key=key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return Answer(replay.status, replay.body, replayed=True)
        raise
    payer_amount = quote.payer_amount if quote is not None else command.amount

    payment_id = new_id("pay")
    deadline = answer_deadline(ctx, started_at)
    durations = ctx.settings.durations
    lease_expires_at = now + durations.pos_wait_budget + durations.lease_duration
    lease_name = leases.lease_name(ctx.owner)
    payment = Payment(
        id=payment_id,
        merchant_id=merchant.id,
        merchant_reference=command.merchant_reference,
        idempotency_key=key,
        status=PaymentStatus.PROCESSING,
        amount=command.amount,
        payer_amount=payer_amount,
        wallet=wallet.id,
        partner=routes[0].partner,
        route_reason=routes[0].reason,
        quote=None if quote is None else QuoteUse.of(quote),
        code_mask="" if command.code is None else command.code.masked,
        code_hash="" if command.code is None else ctx.hash_code(command.code.value),
        method=PaymentMethod.MERCHANT_QR if command.code is None else PaymentMethod.WALLET_CODE,
        store_id=command.store_id,
        terminal_id=command.terminal_id,
        metadata=command.metadata,
        created_at=now,
        updated_at=now,
        # If this process dies mid-call, the resolver finds the payment once the lease expires.
        next_action_at=now + durations.pos_wait_budget,
        resolve_deadline=now + durations.inquiry_deadline,
        lease_owner=lease_name,
        lease_expires_at=lease_expires_at,
    )
    attempt = Attempt.first(payment_id, 1, routes[0].partner, routes[0].reason, now)
    claim = idempotency.claim(
        merchant_id=merchant.id, key=key, request_hash=request_hash, now=now, ctx=ctx
    )
    begun = await ctx.writer.run(
        repo.begin_payment(
            claim=claim,
            quote=MerchantQuote(quote, merchant.id, wallet.id)
            if spot_quote and quote is not None
            else None,
            payment=payment,
            attempt=attempt,
            now=now,
        )
    )
    if isinstance(begun, IdempotencyReplay):
        return Answer(begun.status, begun.body, replayed=True)
    if isinstance(begun, IdempotencyConflict):
        idempotency.raise_conflict(begun)
    if isinstance(begun, DuplicateReference):
        raise DuplicateMerchantReference(
            f"merchant_reference {command.merchant_reference!r} was already used.",
            param="merchant_reference",
            payment_id=begun.payment_id,
        )

    log.debug(
        "payment %s created: %s %s via %s, %s",
        payment_id,
        command.amount.format(),
        command.amount.currency.code,
        routes[0].partner,
        "merchant-presented" if command.code is None else f"code {command.code.masked}",
    )
    if command.code is None:
        return await show_order_code(ctx, merchant, payment, attempt, deadline, command.notify_base)
    request = PayRequest(
        partner_request_id=attempt.partner_request_id,
        reference=payment_id,
        amount=command.amount,
        payer_amount=payer_amount,
        code=command.code,
        merchant=merchant.at_till(command.store_id, command.terminal_id),
        requested_at=now,
    )
    driver = PayDriver(ctx, payment, attempt, routes, request, deadline)
    partner_started = loop.time()
    try:
        outcome = await driver.run()
        partner_seconds = loop.time() - partner_started
        return await _finish(ctx, merchant, driver, outcome, key, spot_quote, partner_seconds)
    except GatewayError:
        raise
    except LeaseLost:
        # A partner's notification took the payment (and ends it): show what is stored.
        return Answer(201, await _stored_body(ctx, payment_id), partner_seconds=0.0)
    except Exception as exc:
        # The partner may have charged: the payment goes to the resolver, which ends it and
        # completes the key (still `in_progress` unless commit #2 happened) with the final answer.
        # The POS gets the payment as stored: `processing` (the unknown-outcome answer) unless
        # commit #2 went through.
        written, stored = await hand_over(
            ctx,
            f"payment {payment_id}",
            payment_id,
            exc,
            net.hand_over_payment(
                payment_id=payment_id,
                lease=(lease_name, lease_expires_at),
                note=gateway_error_note(exc),
                now=ctx.clock.now(),
                counters={k: driver.counts[k] for k in ("pay_calls", "inquiries")},
            ),
        )
        if written and stored is None:
            raise  # discarded: no partner took it, nothing was charged, nothing to resolve
        # What is stored; if even the note could not be written, what we last committed.
        known = stored or driver.committed or driver.payment
        return Answer(201, payment_body(known), partner_seconds=loop.time() - partner_started)


def gateway_error_note(exc: BaseException) -> str:
    return f"{GATEWAY_ERROR}: {type(exc).__name__}"


async def hand_over(
    ctx: Context, what: str, item_id: str, exc: Exception, unit: Unit[T]
) -> tuple[bool, T | None]:
    """The safety net for an unexpected error after a partner call (payments, refunds, cancels).

    One alert line; `unit` notes the error and frees the lease with the item due now; the
    resolver is kicked (`item_id`). If the write fails too, the lease's expiry hands the item to
    the resolver all the same. Returns whether `unit` was written, and what it returned."""
    log.error(
        "ALERT %s after partner call on %s (%s); the resolver takes it over",
        GATEWAY_ERROR,
        what,
        type(exc).__name__,
        exc_info=exc,
    )
    try:
        stored = await ctx.writer.run(unit)
    except Exception:
        log.warning(
            "%s: recording the %s failed too; the resolver takes it when the lease expires",
            what,
            GATEWAY_ERROR,
            exc_info=True,
        )
        stored, written = None, False
    else:
        written = True
    with contextlib.suppress(Exception):  # the sweep finds it anyway
        ctx.kick(item_id)
    return written, stored


async def _prepare(
    ctx: Context, merchant: Merchant, command: CreatePayment, now: datetime
) -> tuple[Wallet, fx.Quote | None, bool, Sequence[Route]]:
    """Wallet, quote (and whether it is made on the spot) and partners; or the error to answer."""
    if command.code is not None:
        wallet = ctx.router.identify(command.code.value)
    else:
        assert command.wallet is not None, "a merchant-presented payment names its wallet"
        found = ctx.router.wallet(command.wallet)
        if found is None:
            raise InvalidRequest(
                f"Unknown wallet {command.wallet!r}.", param="payment_method.wallet"
            )
        wallet = found
    if command.amount.currency.code != merchant.currency:
        raise InvalidAmount(
            f"The amount must be in the merchant's currency, {merchant.currency}.",
            param="amount.currency",
        )
    # no_route before pricing: no rate needed
    first = ctx.router.routes(merchant.country, wallet)[0].partner
    quote, spot_quote = await _price(ctx, merchant, first, wallet, command, now)
    payer_amount = quote.payer_amount if quote is not None else command.amount
    configured = ctx.router.routes(merchant.country, wallet, payer_amount)
    if command.code is None:  # only partners that issue codes
        configured = [
            route
            for route in configured
            if Operation.ORDER_CODE in ctx.partners.capabilities(route.partner)
        ]
        if not configured:
            raise NoRoute(
                f"No partner in {merchant.country} issues codes for {wallet.id}: scan the "
                "tourist's code instead.",
                param="payment_method.type",
            )
    eligible = [route for route in configured if ctx.health.allows(route.partner)]
    if not eligible:
        raise PartnerUnavailable(
            "Every partner for this payment is failing right now; nothing was charged. "
            "Retry later.",
            retry_after=ctx.health.retry_after(r.partner for r in configured),
        )
    return wallet, quote, spot_quote, eligible


async def _price(
    ctx: Context,
    merchant: Merchant,
    partner: str,
    wallet: Wallet,
    command: CreatePayment,
    now: datetime,
) -> tuple[fx.Quote | None, bool]:
    """The quote pricing this payment, and whether it was made on the spot (to be stored)."""
    if command.quote_id is None:
        if wallet.currency == command.amount.currency.code:
            return None, False  # same currency: no FX, `quote: null`
        spot = price(
            ctx, merchant=merchant, partner=partner, amount=command.amount, wallet=wallet, now=now
        )
        return spot, True
    # A given quote must fit exactly (no quote ever fits a same-currency wallet).
    held = await repo.get_quote(ctx.db, command.quote_id)
    if held is None or held.merchant_id != merchant.id:
        raise NotFound(f"No quote {command.quote_id!r}.", param="quote_id")
    quote = held.quote
    if held.wallet != wallet.id or quote.amount != command.amount:
        raise QuoteMismatch(
            "The quote is for another amount, currency or wallet.", param="quote_id"
        )
    if now > quote.expires_at:
        raise QuoteExpired(f"Quote {quote.id} expired at {quote.expires_at}.", param="quote_id")
    return quote, False


async def _finish(
    ctx: Context,
    merchant: Merchant,
    driver: PayDriver,
    outcome: Outcome,
    key: str,
    spot_quote: bool,
    partner_seconds: float,
) -> Answer:
    now = ctx.clock.now()
    payment = driver.payment
    if driver.all_refused:
        discarded = await ctx.writer.run(
            repo.discard_payment(
                payment=payment,
                key=key,
                spot_quote_id=payment.quote.id if spot_quote and payment.quote else None,
            )
        )
        if not discarded:  # taken from us meanwhile (a notification booked it): not ours to drop
            return Answer(201, await _stored_body(ctx, payment.id), partner_seconds=partner_seconds)
        log.info("payment %s: no partner accepted it; nothing charged", payment.id)
        raise PartnerUnavailable(
            "No partner can take this payment right now; nothing was charged. Retry later.",
            partner=payment.partner,
            retry_after=ctx.health.retry_after(r.partner for r in driver.routes),
        )
    rows: Rows = []
    view = None
    if outcome.is_final:
        booked = book_outcome(ctx, payment, outcome, merchant, now)
        after, rows, view = booked.payment, booked.rows, booked.view
    else:
        # Unknown at the end of the budget: leave it to the resolver, starting now.
        after = payment.released(due=now, now=now)
    body = dumps(payment_view(after) if view is None else view)

    written = await ctx.writer.run(
        repo.commit_outcome(
            before=payment,
            after=after,
            attempts=driver.ended(outcome, now),
            response=(201, body),
            rows=rows,
        )
    )
    if written:
        driver.committed = after
    if written and rows and merchant.webhook_url:
        # The commit wrote the outcome's event. Without a URL there is nothing to hurry: the
        # worker's next look marks it `no_endpoint` together with the others, in one write.
        ctx.kick_webhooks()
    if not written:  # taken from us mid-call (a notification, or our lease expired)
        body = await _stored_body(ctx, payment.id)
    log.info(
        "payment %s %s (%s, code %s)",
        payment.id,
        after.status.value,
        outcome.partner_code or outcome.message,
        mask_code(driver.request.code.value),
    )
    ctx.metrics.payments.labels(after.status.value).inc()
    if after.status is PaymentStatus.PROCESSING:
        ctx.kick(payment.id)
    return Answer(201, body, partner_seconds=partner_seconds)


async def get_payment(ctx: Context, principal: Principal, payment_id: str) -> Payment:
    """A payment its merchant (or an operator) may read; another merchant's is not found."""
    principal.require(*READERS)
    payment = await repo.get_payment(ctx.db, payment_id)
    if payment is None:
        raise NotFound("No such payment.")
    principal.check_owns(payment.merchant_id, "such payment")
    return payment


async def list_payments(
    ctx: Context,
    principal: Principal,
    *,
    merchant_reference: str | None,
    limit: int,
    starting_after: str | None,
) -> tuple[list[Payment], bool]:
    """The caller's payments (an operator's: everyone's), newest first; and whether more follow."""
    principal.require(*READERS)
    return await repo.list_payments(
        ctx.db,
        merchant_id=None if principal.role is Role.OPERATOR else principal.merchant_id,
        merchant_reference=merchant_reference,
        limit=limit,
        starting_after=starting_after,
    )


async def _stored_body(ctx: Context, payment_id: str) -> str:
    """The payment as stored, rendered: what the POS sees when someone else ended it."""
    stored = await repo.get_payment(ctx.db, payment_id)
    assert stored is not None
    return dumps(payment_view(stored))
