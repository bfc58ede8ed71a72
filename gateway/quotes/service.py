"""FX quotes: price a merchant amount in the wallet's currency, locked until `expires_at`."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import fx
from adapters import Clock
from gateway import idempotency
from gateway.context import Context
from gateway.core.config import Settings, Wallet
from gateway.core.errors import (
    GatewayError,
    InvalidAmount,
    InvalidRequest,
    NotFound,
    RateUnavailable,
)
from gateway.core.ids import new_id
from gateway.core.render import dumps, rfc3339
from gateway.idempotency import Answer
from gateway.merchants.auth import READERS, Principal
from gateway.merchants.model import Merchant
from gateway.partners.routing import Router
from gateway.quotes.markups import MarkupPolicy
from gateway.quotes.model import MerchantQuote, Sale
from gateway.quotes.views import quote_view
from gateway.storage import payments as repo
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyReplay
from gateway.wire.quotes import DisplayRate, DisplayRates, UnavailableRate

__all__ = [
    "Pricing",
    "create_quote",
    "display_rates",
    "get_quote",
    "merchant_display_rates",
    "preview_quote",
    "price",
]


class Pricing(Protocol):
    """What pricing reads of the `Context`: the gateway passes its `Context`; the command line
    (`gateway fx rates`, `gateway fx quote`) builds only these, over a book filled from the
    database."""

    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def rates(self) -> fx.RateBook: ...

    @property
    def markups(self) -> MarkupPolicy: ...

    @property
    def router(self) -> Router: ...


async def create_quote(
    ctx: Context,
    *,
    merchant: Merchant,
    key: str,
    request_hash: str,
    parsed: tuple[fx.Money, str],
) -> Answer:
    """`POST /v1/fx/quotes`: one commit stores the quote and its idempotent answer together."""
    amount, wallet_id = parsed
    now = ctx.clock.now()
    try:
        wallet, quote = preview_quote(ctx, merchant, amount, wallet_id, now)
    except GatewayError:
        replay = await idempotency.precheck(
            ctx, merchant_id=merchant.id, key=key, request_hash=request_hash, now=now
        )
        if replay is not None:
            return Answer(replay.status, replay.body, replayed=True)
        raise
    held = MerchantQuote(quote, merchant.id, wallet.id)
    body = dumps(quote_view(held))
    claim = idempotency.claim(
        merchant_id=merchant.id, key=key, request_hash=request_hash, now=now, ctx=ctx
    )
    claim.update(state="completed", response_status=201, response_body=body, resource_id=quote.id)
    verdict = await ctx.writer.run(repo.create_quote(claim=claim, quote=held, now=now))
    if isinstance(verdict, IdempotencyReplay):
        return Answer(verdict.status, verdict.body, replayed=True)
    if isinstance(verdict, IdempotencyConflict):
        idempotency.raise_conflict(verdict)
    return Answer(201, body)


def preview_quote(
    ctx: Pricing, merchant: Merchant, amount: fx.Money, wallet_id: str, now: datetime
) -> tuple[Wallet, fx.Quote]:
    """The quote `POST /v1/fx/quotes` would hold now, checked as it checks it, not stored
    (`create_quote` stores it; `gateway fx quote` only shows it)."""
    wallet = ctx.router.wallet(wallet_id)
    if wallet is None:
        raise InvalidRequest(f"Unknown wallet {wallet_id!r}.", param="wallet")
    if amount.currency.code != merchant.currency:
        raise InvalidAmount(
            f"The amount must be in the merchant's currency, {merchant.currency}.",
            param="amount.currency",
        )
    partner = ctx.router.routes(merchant.country, wallet, param="wallet")[0].partner
    quote = price(ctx, merchant=merchant, partner=partner, amount=amount, wallet=wallet, now=now)
    # no_route now rather than at payment time, for a price no partner would take
    ctx.router.routes(merchant.country, wallet, quote.payer_amount, param="amount.value")
    return wallet, quote


def price(
    ctx: Pricing,
    *,
    merchant: Merchant,
    partner: str,
    amount: fx.Money,
    wallet: Wallet,
    now: datetime,
) -> fx.Quote:
    """A fresh quote: the mid rate of the first fresh source, plus the markup of the most
    specific rule for this merchant, wallet, first-choice `partner` (the caller has routed)
    and currency pair."""
    payer_currency = fx.get_currency(wallet.currency)
    if payer_currency == amount.currency:
        raise InvalidRequest(
            f"Wallet {wallet.id} pays in {wallet.currency}, the merchant's currency: no FX quote "
            "is needed.",
            param="wallet",
        )
    try:
        mid = ctx.rates.mid_rate(amount.currency, payer_currency, now)
    except fx.RateUnavailable as exc:
        raise RateUnavailable(str(exc)) from exc
    pair = f"{amount.currency.code}/{payer_currency.code}"
    markup = ctx.markups.markup(Sale(merchant.id, wallet.id, partner, pair), merchant.markups)
    try:
        return fx.make_quote(
            id=new_id("qt"),
            amount=amount,
            payer_currency=payer_currency,
            mid=mid,
            markup_bps=markup.bps,
            created_at=now,
            lifetime=ctx.settings.durations.quote_lifetime,
            markup_rule=markup.rule,
        )
    except fx.InvalidAmount as exc:
        raise InvalidAmount(str(exc), param="amount.value") from exc


async def get_quote(ctx: Context, principal: Principal, quote_id: str) -> MerchantQuote:
    """A quote its merchant (or an operator) may read."""
    principal.require(*READERS)
    held = await repo.get_quote(ctx.db, quote_id)
    if held is None:
        raise NotFound("No such quote.")
    principal.check_owns(held.merchant_id, "such quote")
    return held


def display_rates(ctx: Pricing, principal: Principal, base: str | None) -> DisplayRates:
    """`GET /v1/fx/rates?base=THB`: indicative rates of every wallet the POS key's merchant
    can take in another currency, marked up as a quote now would be (never a price: a quote
    is)."""
    return merchant_display_rates(ctx, principal.merchant_for_writes(), base)


def merchant_display_rates(ctx: Pricing, merchant: Merchant, base: str | None) -> DisplayRates:
    """What `GET /v1/fx/rates` shows `merchant`'s POS (`gateway fx rates --merchant`)."""
    if base is not None and base != merchant.currency:
        raise InvalidRequest(
            f"Rates are shown from the merchant's currency, {merchant.currency}.", param="base"
        )
    now = ctx.clock.now()
    rates: list[DisplayRate] = []
    unavailable: list[UnavailableRate] = []
    for wallet in ctx.router.wallets():
        if wallet.currency == merchant.currency:
            continue
        try:
            partner = ctx.router.routes(merchant.country, wallet)[0].partner
        except GatewayError:
            continue  # no partner in the merchant's market takes this wallet
        try:
            mid = ctx.rates.mid_rate(merchant.currency, wallet.currency, now)
        except fx.RateUnavailable as exc:
            unavailable.append(
                {"wallet": wallet.id, "currency": wallet.currency, "reason": str(exc)}
            )
            continue
        pair = f"{merchant.currency}/{wallet.currency}"
        markup = ctx.markups.markup(Sale(merchant.id, wallet.id, partner, pair), merchant.markups)
        rates.append(
            {
                "wallet": wallet.id,
                "currency": wallet.currency,
                "rate": fx.format_rate(fx.quote_rate(mid.rate, markup.bps)),
                "mid_rate": fx.format_rate(mid.rate),
                "markup_bps": markup.bps,
                "markup_rule": markup.rule,
                "rate_source": mid.source,
                "rate_set": mid.rate_set or "",
                "rate_as_of": rfc3339(mid.as_of),
                "age_seconds": int((now - mid.as_of).total_seconds()),
            }
        )
    return {
        "object": "fx_rates",
        "base": merchant.currency,
        "rates": rates,
        "unavailable": unavailable,
    }
