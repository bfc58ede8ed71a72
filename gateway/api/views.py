"""Rows to the JSON objects of API.md. Pure: the same function feeds GET and idempotent replays."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

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


def payment_view(row: dict[str, Any]) -> dict[str, Any]:
    quote = None
    if row["quote_id"] is not None:
        quote = {
            "id": row["quote_id"],
            "rate": row["rate"],
            "expires_at": rfc3339(row["quote_expires_at"]),
        }
    metadata = json.loads(row["metadata_json"]) if row.get("metadata_json") else {}
    return {
        "id": row["id"],
        "object": "payment",
        "merchant_reference": row["merchant_reference"],
        "status": row["status"],
        "amount": money(row["currency"], row["amount_value"]),
        "payer_amount": money(row["payer_currency"], row["payer_value"]),
        "wallet": row["wallet"],
        "partner": row["partner"],
        "routing": {"reason": row["route_reason"]},
        "quote": quote,
        "amount_refunded": money(row["currency"], row.get("refunded_value") or 0),
        "cancellation": _cancellation(row),
        "failure": _failure(row),
        "partner_reference": row["partner_reference"],
        "payment_method": {"type": "wallet_code", "code_masked": row["code_mask"]},
        "store_id": row["store_id"],
        "terminal_id": row["terminal_id"],
        "metadata": metadata,
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def _failure(row: dict[str, Any]) -> dict[str, str] | None:
    if row["failure_code"] is None:
        return None
    return {"code": row["failure_code"], "message": row["failure_message"] or ""}


def _cancellation(row: dict[str, Any]) -> dict[str, Any] | None:
    if not row.get("cancel_status"):
        return None
    return {"status": row["cancel_status"], "requested_at": rfc3339(row["cancel_requested_at"])}


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
