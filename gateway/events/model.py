"""Events of API.md, as outbox rows written in the same transaction as the change they report.

The row's `body` is the exact JSON a webhook delivers (and signs), fixed when the event is made:
every delivery and redelivery sends the same bytes, and `GET /v1/events/{id}` shows them.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.core.ids import new_id
from gateway.core.render import dumps, rfc3339

if TYPE_CHECKING:
    from gateway.wire.events import Event

__all__ = ["DeliveryStatus", "EventType", "event_row", "event_view"]


class EventType(enum.StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    PAYMENT_CANCELLED = "payment.cancelled"
    REFUND_SUCCEEDED = "refund.succeeded"
    REFUND_FAILED = "refund.failed"
    SETTLEMENT_CLOSED = "settlement.closed"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # due at `next_attempt_at`
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # the schedule ran out; `redeliver` starts it again
    NO_ENDPOINT = "no_endpoint"  # the merchant has no webhook URL (redeliver once it has)


def event_row(
    event_type: EventType, *, merchant_id: str, data: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    """A new outbox row for `data` (an API object with an `id`), due for delivery now."""
    event_id = new_id("evt")
    body = {"id": event_id, "type": str(event_type), "created_at": rfc3339(now), "data": data}
    return {
        "id": event_id,
        "merchant_id": merchant_id,
        "type": str(event_type),
        "object_id": data["id"],
        "body": dumps(body),
        "created_at": now,
        "delivery_status": DeliveryStatus.PENDING.value,
        "delivery_attempts": 0,
        "next_attempt_at": now,
        "delivered_at": None,
        "last_error": None,
        "lease_owner": None,
        "lease_expires_at": None,
        "version": 0,
    }


def event_view(row: dict[str, Any]) -> Event:
    """The event as delivered, plus where its delivery stands."""
    view: Event = json.loads(row["body"])
    view["object"] = "event"
    view["delivery"] = {
        "status": row["delivery_status"],
        "attempts": row["delivery_attempts"],
        "next_attempt_at": rfc3339(row["next_attempt_at"]),
        "delivered_at": rfc3339(row["delivered_at"]),
        "last_error": row["last_error"],
    }
    return view
