"""A quote as API.md shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import fx
from gateway.core.render import rfc3339
from gateway.quotes.model import MerchantQuote, QuoteUse
from gateway.wire.common import money

if TYPE_CHECKING:
    from gateway.wire.payments import PaymentQuote
    from gateway.wire.quotes import Quote

__all__ = ["quote_terms_view", "quote_view"]


def quote_view(held: MerchantQuote) -> Quote:
    quote = held.quote
    return {
        "id": quote.id,
        "object": "fx_quote",
        "amount": money(quote.amount),
        "payer_amount": money(quote.payer_amount),
        "rate": fx.format_rate(quote.rate),
        "mid_rate": fx.format_rate(quote.mid_rate),
        "markup_bps": quote.markup_bps,
        "markup_rule": quote.markup_rule,
        "rate_source": quote.rate_source,
        "rate_as_of": rfc3339(quote.rate_as_of),
        "rate_set": quote.rate_set,
        "wallet": held.wallet,
        "created_at": rfc3339(quote.created_at),
        "expires_at": rfc3339(quote.expires_at),
    }


def quote_terms_view(quote: QuoteUse | None) -> PaymentQuote | None:
    """The `quote` of a payment or refund: the terms its payer amount was priced on."""
    if quote is None:
        return None
    return {
        "id": quote.id,
        "rate": quote.rate,
        "mid_rate": quote.mid_rate,
        "markup_bps": quote.markup_bps,
        "rate_source": quote.rate_source,
        "rate_set": quote.rate_set,
        "rate_as_of": rfc3339(quote.rate_as_of),
        "expires_at": rfc3339(quote.expires_at),
    }
