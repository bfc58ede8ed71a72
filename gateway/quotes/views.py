"""A quote as API.md shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.core.render import money, rfc3339

if TYPE_CHECKING:
    from gateway.api.wire.quotes import Quote

__all__ = ["quote_view"]


def quote_view(row: dict[str, Any]) -> Quote:
    return {
        "id": row["id"],
        "object": "fx_quote",
        "amount": money(row["amount_currency"], row["amount_value"]),
        "payer_amount": money(row["payer_currency"], row["payer_value"]),
        "rate": row["rate"],
        "mid_rate": row["mid_rate"],
        "markup_bps": row["markup_bps"],
        "rate_source": row["rate_source"],
        "rate_as_of": rfc3339(row["rate_as_of"]),
        "wallet": row["wallet"],
        "created_at": rfc3339(row["created_at"]),
        "expires_at": rfc3339(row["expires_at"]),
    }
