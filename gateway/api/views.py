"""Rows to the JSON objects of API.md. Pure: the same function feeds GET and idempotent replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import fx
from gateway.payments.model import Payment

__all__ = ["dumps", "money", "payment_view", "quote_view", "refund_view", "rfc3339"]


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def money(currency: str, value: int) -> dict[str, Any]:
    return {"currency": currency, "value": value}


def dumps(obj: Any) -> str:
    """Compact JSON in ASCII (non-ASCII `\\u`-escaped): every str renders, so an answer built
    after a partner call cannot fail on text, whatever a row holds."""
    return json.dumps(obj, separators=(",", ":"))


def _money(amount: fx.Money) -> dict[str, Any]:
    return money(amount.currency.code, amount.value)


def payment_view(payment: Payment) -> dict[str, Any]:
    quote = None
    if payment.quote is not None:
        quote = {
            "id": payment.quote.id,
            "rate": payment.quote.rate,
            "expires_at": rfc3339(payment.quote.expires_at),
        }
    cancellation = None
    if payment.cancel_status is not None:
        cancellation = {
            "status": payment.cancel_status.value,
            "requested_at": rfc3339(payment.cancel_requested_at),
        }
    failure = payment.failure
    return {
        "id": payment.id,
        "object": "payment",
        "merchant_reference": payment.merchant_reference,
        "status": payment.status.value,
        "amount": _money(payment.amount),
        "payer_amount": _money(payment.payer_amount),
        "wallet": payment.wallet,
        "partner": payment.partner,
        "routing": {"reason": payment.route_reason},
        "quote": quote,
        "amount_refunded": money(payment.amount.currency.code, payment.refunded_value),
        "cancellation": cancellation,
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
        "partner_reference": payment.partner_reference,
        "payment_method": {"type": "wallet_code", "code_masked": payment.code_mask},
        "store_id": payment.store_id,
        "terminal_id": payment.terminal_id,
        "metadata": dict(sorted(payment.metadata.items())),  # as stored: keys sorted
        "created_at": rfc3339(payment.created_at),
        "updated_at": rfc3339(payment.updated_at),
    }


def _failure(row: dict[str, Any]) -> dict[str, str] | None:
    if row["failure_code"] is None:
        return None
    return {"code": row["failure_code"], "message": row["failure_message"] or ""}


def refund_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "refund",
        "payment_id": row["payment_id"],
        "status": row["status"],
        "amount": money(row["currency"], row["amount_value"]),
        "payer_amount": money(row["payer_currency"], row["payer_value"]),
        "reason": row["reason"],
        "failure": _failure(row),
        "partner_reference": row["partner_reference"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def quote_view(row: dict[str, Any]) -> dict[str, Any]:
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
