"""FX quotes: price a merchant amount in the wallet's currency, locked until `expires_at`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import fx
from gateway.config import Wallet
from gateway.context import Context
from gateway.errors import InvalidAmount, InvalidRequest, RateUnavailable
from gateway.ids import new_id

__all__ = ["price", "quote_row"]


def price(ctx: Context, *, amount: fx.Money, wallet: Wallet, now: datetime) -> fx.Quote:
    """A fresh quote from the configured rate source and markup."""
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
    try:
        return fx.make_quote(
            id=new_id("qt"),
            amount=amount,
            payer_currency=payer_currency,
            mid=mid,
            markup_bps=ctx.settings.fx.markup_bps,
            created_at=now,
            lifetime=ctx.settings.durations.quote_lifetime,
        )
    except fx.InvalidAmount as exc:
        raise InvalidAmount(str(exc), param="amount.value") from exc


def quote_row(quote: fx.Quote, *, merchant_id: str, wallet: str) -> dict[str, Any]:
    return {
        "id": quote.id,
        "merchant_id": merchant_id,
        "wallet": wallet,
        "amount_value": quote.amount.value,
        "amount_currency": quote.amount.currency.code,
        "payer_value": quote.payer_amount.value,
        "payer_currency": quote.payer_amount.currency.code,
        "rate": fx.format_rate(quote.rate),
        "mid_rate": fx.format_rate(quote.mid_rate),
        "markup_bps": quote.markup_bps,
        "rate_source": quote.rate_source,
        "rate_as_of": quote.rate_as_of,
        "created_at": quote.created_at,
        "expires_at": quote.expires_at,
    }
