"""A refund as API.md shows it. Pure: the same function feeds answers, replays, lists and
events."""

from __future__ import annotations

from typing import Any

from gateway.core.render import money, rfc3339

__all__ = ["refund_view"]


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
