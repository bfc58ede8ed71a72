"""Entry codes (issue #15): a tourist scanned a store's static code and typed the amount; the
partner asks the gateway for the order before it charges anyone (`adapters._entry`).

    the store (registered with this partner, active) → a repeat of an order already confirmed?
    (the same confirmation, from the payment) → wallet, amount, a quote made now (as the POS
    path prices) → commit #1 (`storage/payments.py` `BeginPayment`: key claim, spot quote,
    payment `processing` with `method: entry_code` and `store_id`, its one attempt) →
    `confirm_entry_order`: charge the payer amount under the attempt's request id before the
    confirmation expires

The partner then charges the tourist and sends an ordinary `PaymentNotification` for that
request id, which `payments/notifications.py` books (webhook `payment.succeeded` carrying the
`store_id`); meanwhile the resolver inquires, and at the confirmation's expiry (its
`resolve_deadline`) cancels it, as for any processing payment.

Idempotent per (partner, `partner_order_id`): the payment's `merchant_reference` and
Idempotency-Key are derived from them, so the same order again (the partner lost our answer),
however often and from however many gateway processes, finds the one payment and is answered
the same request id and payer amount. A refusal (unknown or disabled store, a wallet the
partner does not take for the market, an amount in another currency or outside the partner's
limits, no fresh rate) writes nothing; each is logged as an `ALERT` and counted in
`gateway_partner_notifications_total{verdict="entry_<refusal>"}`.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import fx
from adapters import (
    Acknowledgment,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    InboundRequest,
)
from gateway import idempotency
from gateway.context import Context
from gateway.core.errors import InvalidAmount, NoRoute, RateUnavailable
from gateway.core.ids import new_id
from gateway.merchants.model import Merchant
from gateway.payments.model import Attempt, Payment, PaymentMethod, PaymentStatus
from gateway.quotes.model import MerchantQuote, QuoteUse
from gateway.quotes.service import price
from gateway.storage import payments as repo
from gateway.storage import stores as stores_repo
from gateway.stores.model import Store, StoreStatus

__all__ = [
    "CONFIRMED",
    "REPEATED",
    "entry_key",
    "entry_reference",
    "receive_entry_order",
]

log = logging.getLogger(__name__)

CONFIRMED = "entry_confirmed"
"""The notifications metric's verdict for an entry order answered with a new payment..."""
REPEATED = "entry_repeated"
"""...and for a repeated one, answered the same confirmation again."""
_CONFLICT = "entry_order_conflict"

_LOOKS = 10  # reads of a payment another process is committing for the same order...
_LOOK = 0.05  # ...this many seconds apart (doubling)


class _Refused(Exception):
    def __init__(self, refusal: EntryOrderRefusal, message: str, verdict: str = "") -> None:
        super().__init__(message)
        self.refusal = refusal
        self.message = message
        self.verdict = verdict or f"entry_{refusal.value}"


def _digest(partner: str, partner_order_id: str) -> str:
    return hashlib.sha256(f"{partner}\n{partner_order_id}".encode()).hexdigest()


def entry_reference(partner: str, partner_order_id: str) -> str:
    """The payment's `merchant_reference` for `partner`'s order `partner_order_id`: unique per
    (partner, order) and within the API's 64 characters of `[A-Za-z0-9._:/-]`, whatever the
    partner's id of the order looks like."""
    return f"entry:{_digest(partner, partner_order_id)[:40]}"


def entry_key(partner: str, partner_order_id: str) -> str:
    """The payment's Idempotency-Key: a space makes it one no POS request can carry."""
    return f"entry-order {_digest(partner, partner_order_id)}"


async def receive_entry_order(
    ctx: Context, partner: str, request: InboundRequest, order: EntryOrder
) -> Acknowledgment:
    """What to answer `partner`'s entry order `order` (read and verified from `request` by
    its adapter): the confirmation of the payment made for it, or a refusal."""
    try:
        confirmation, verdict = await _take(ctx, partner, order)
    except _Refused as refused:
        log.error(
            "ALERT entry order %r from %s for store %r refused (%s): %s; nothing was booked",
            order.partner_order_id,
            partner,
            order.store_id,
            refused.refusal.value,
            refused.message,
        )
        confirmation = EntryOrderConfirmation.refused(
            order.partner_order_id, refused.refusal, refused.message
        )
        verdict = refused.verdict
    ctx.metrics.notifications.labels(partner, verdict).inc()
    return ctx.partners.confirm_entry_order(partner, request, confirmation)


async def _take(
    ctx: Context, partner: str, order: EntryOrder
) -> tuple[EntryOrderConfirmation, str]:
    store = await stores_repo.get_store(ctx.db, order.store_id)
    if store is None or store.partner != partner:
        # Another partner's store is unknown to this one: never let it pay a store it does
        # not hold.
        raise _Refused(EntryOrderRefusal.UNKNOWN_STORE, f"no store {order.store_id!r}")
    merchant = await repo.get_merchant(ctx.db, store.merchant_id)
    assert merchant is not None, "a store's merchant exists"
    reference = entry_reference(partner, order.partner_order_id)
    known = await _payment_by_reference(ctx, merchant.id, reference)
    if known is not None:  # the same order again: the same answer, whatever changed since
        return await _again(ctx, known, order), REPEATED
    _check_store(store)
    now = ctx.clock.now()
    wallet, quote, payer_amount = _price(ctx, merchant, store, order, now)
    expires_at = now + ctx.settings.durations.order_code_lifetime
    payment_id = new_id("pay")
    reason = f"entry code of store {store.id}, registered with {partner}"
    payment = Payment(
        id=payment_id,
        merchant_id=merchant.id,
        merchant_reference=reference,
        idempotency_key=entry_key(partner, order.partner_order_id),
        status=PaymentStatus.PROCESSING,
        amount=order.amount,
        payer_amount=payer_amount,
        wallet=wallet,
        partner=partner,
        route_reason=reason,
        quote=None if quote is None else QuoteUse.of(quote),
        code_mask="",
        code_hash="",
        method=PaymentMethod.ENTRY_CODE,
        store_id=store.id,
        terminal_id=None,
        metadata={},
        created_at=now,
        updated_at=now,
        # Nobody holds it: the partner charges it once it has our answer, and its
        # notification books it; the resolver looks from the first inquiry interval on, and
        # cancels it at the confirmation's expiry.
        next_action_at=now + ctx.settings.durations.inquiry_initial_interval,
        resolve_deadline=expires_at,
    )
    attempt = Attempt.first(payment_id, 1, partner, reason, now)
    claim = idempotency.claim(
        merchant_id=merchant.id,
        key=payment.idempotency_key,
        request_hash=_order_hash(ctx, order),
        now=now,
        ctx=ctx,
    )
    begun = await ctx.writer.run(
        repo.begin_payment(
            claim=claim,
            quote=None if quote is None else MerchantQuote(quote, merchant.id, wallet),
            payment=payment,
            attempt=attempt,
            now=now,
        )
    )
    if begun is not None:
        # A replay, a conflict or a duplicate reference: another delivery of the same order
        # (or another order under its id) began first. Answer from what it committed.
        stored = await _committed(ctx, merchant.id, reference)
        return await _again(ctx, stored, order), REPEATED
    log.info(
        "payment %s created for entry order %r of store %s: %s %s (%s %s) via %s",
        payment_id,
        order.partner_order_id,
        store.id,
        order.amount.format(),
        order.amount.currency.code,
        payer_amount.format(),
        payer_amount.currency.code,
        partner,
    )
    confirmation = EntryOrderConfirmation(
        partner_order_id=order.partner_order_id,
        partner_request_id=attempt.partner_request_id,
        payer_amount=payer_amount,
        expires_at=expires_at,
    )
    return confirmation, CONFIRMED


def _check_store(store: Store) -> None:
    if store.status is StoreStatus.ACTIVE:
        return
    if store.status is StoreStatus.DISABLED:
        raise _Refused(EntryOrderRefusal.STORE_DISABLED, f"store {store.id} is disabled")
    raise _Refused(
        EntryOrderRefusal.STORE_DISABLED, f"store {store.id}'s registration is not complete"
    )


def _price(
    ctx: Context, merchant: Merchant, store: Store, order: EntryOrder, now: datetime
) -> tuple[str, fx.Quote | None, fx.Money]:
    """The wallet, the quote made now (None: no FX) and the payer amount, as the POS path
    prices a payment on the spot; or the refusal."""
    partner = store.partner
    wallet = ctx.router.wallet(order.wallet)
    refused_wallet = _Refused(
        EntryOrderRefusal.WALLET_NOT_ACCEPTED,
        f"{partner} does not take wallet {order.wallet!r} in {merchant.country}",
    )
    if wallet is None:
        raise refused_wallet
    try:
        served = [r.partner for r in ctx.router.routes(merchant.country, wallet)]
    except NoRoute:
        served = []
    if partner not in served:
        raise refused_wallet
    amount = order.amount
    if amount.currency.code != merchant.currency:
        raise _Refused(
            EntryOrderRefusal.AMOUNT_INVALID,
            f"the amount must be in the store's currency, {merchant.currency}, "
            f"not {amount.currency.code}",
        )
    if not 1 <= amount.value <= fx.MAX_AMOUNT:
        raise _Refused(
            EntryOrderRefusal.AMOUNT_INVALID,
            f"the amount must be 1 to {fx.MAX_AMOUNT} minor units, not {amount.value}",
        )
    quote: fx.Quote | None = None
    if wallet.currency != amount.currency.code:
        try:
            quote = price(
                ctx, merchant=merchant, partner=partner, amount=amount, wallet=wallet, now=now
            )
        except RateUnavailable as exc:
            raise _Refused(EntryOrderRefusal.UNAVAILABLE, exc.message) from exc
        except InvalidAmount as exc:
            raise _Refused(EntryOrderRefusal.AMOUNT_INVALID, exc.message) from exc
    payer_amount = amount if quote is None else quote.payer_amount
    try:
        carriers = [r.partner for r in ctx.router.routes(merchant.country, wallet, payer_amount)]
    except NoRoute:
        carriers = []
    if partner not in carriers:
        raise _Refused(
            EntryOrderRefusal.AMOUNT_INVALID,
            f"{partner} cannot carry {payer_amount.format()} {payer_amount.currency.code} "
            "(its limits for the wallet's currency)",
        )
    return wallet.id, quote, payer_amount


def _order_hash(ctx: Context, order: EntryOrder) -> str:
    amount = order.amount
    return ctx.hash_code(
        f"entry order\n{order.store_id}\n{amount.value} {amount.currency.code}\n{order.wallet}"
    )


async def _payment_by_reference(ctx: Context, merchant_id: str, reference: str) -> Payment | None:
    found, _more = await repo.list_payments(
        ctx.db, merchant_id=merchant_id, merchant_reference=reference, limit=1, starting_after=None
    )
    return found[0] if found else None


async def _committed(ctx: Context, merchant_id: str, reference: str) -> Payment:
    """The payment another delivery of the order committed (it is, or is about to be)."""
    pause = _LOOK
    for _ in range(_LOOKS):
        found = await _payment_by_reference(ctx, merchant_id, reference)
        if found is not None:
            return found
        await ctx.sleep(pause)
        pause = min(pause * 2, 1.0)
    raise _Refused(
        EntryOrderRefusal.UNAVAILABLE,
        "another delivery of this order is still being taken: ask again",
        verdict="entry_busy",
    )


async def _again(ctx: Context, payment: Payment, order: EntryOrder) -> EntryOrderConfirmation:
    """The confirmation the order was given, from its payment; a refusal if the partner sent
    another order under the same id."""
    if (payment.method, payment.store_id, payment.amount, payment.wallet) != (
        PaymentMethod.ENTRY_CODE,
        order.store_id,
        order.amount,
        order.wallet,
    ):
        raise _Refused(
            EntryOrderRefusal.AMOUNT_INVALID,
            f"order {order.partner_order_id!r} was confirmed as payment {payment.id} for "
            f"{payment.amount.format()} {payment.amount.currency.code} with {payment.wallet} at "
            f"store {payment.store_id}; this one differs",
            verdict=_CONFLICT,
        )
    attempts = await repo.get_attempts(ctx.db, payment.id)
    assert attempts, "an entry payment has its attempt"
    expires_at = payment.resolve_deadline  # set once, when the payment was made
    if expires_at is None:  # pragma: no cover - defensive
        expires_at = payment.created_at + ctx.settings.durations.order_code_lifetime
    paid = payment.status is PaymentStatus.SUCCEEDED and payment.cancel_status is None
    payable = not payment.is_final and payment.cancel_status is None
    if not paid and not (payable and expires_at > ctx.clock.now()):
        # Charging it now would charge for a payment that ended (or is being cancelled).
        raise _Refused(
            EntryOrderRefusal.ORDER_CLOSED,
            f"order {order.partner_order_id!r} was payment {payment.id}, which is "
            f"{payment.status.value}{' and being cancelled' if payment.cancel_status else ''}"
            f" (its confirmation expired {expires_at.isoformat()}): do not charge",
        )
    log.info(
        "entry order %r again: payment %s (%s), the same confirmation",
        order.partner_order_id,
        payment.id,
        payment.status.value,
    )
    return EntryOrderConfirmation(
        partner_order_id=order.partner_order_id,
        partner_request_id=attempts[0].partner_request_id,
        payer_amount=payment.payer_amount,
        expires_at=expires_at,
    )
