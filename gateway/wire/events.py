"""An event on the wire: what a webhook POSTs, and the Event `event_view` shows (the same body
plus where its delivery stands).

A class's docstring is its description in the OpenAPI document.
"""

from typing import Annotated, Any, Final, Literal

from pydantic import Field, with_config
from typing_extensions import TypedDict

from gateway.events.model import DeliveryStatus, EventType
from gateway.wire.common import CLOSED, OptionalTimestamp, Timestamp, closed, one_of
from gateway.wire.payments import PAYMENT_EXAMPLE

__all__ = ["EVENT_PAYLOAD_EXAMPLE", "Event", "EventList", "EventPayload", "RedeliverRequest"]

EVENT_PAYLOAD_EXAMPLE: Final = {
    "id": "evt_01jd8x6kq3n4p5q6r7s8t9v0wx",
    "type": "payment.succeeded",
    "created_at": "2026-11-26T14:03:41.733Z",
    "data": PAYMENT_EXAMPLE,
}

_EVENT_EXAMPLE: Final = {
    **EVENT_PAYLOAD_EXAMPLE,
    "object": "event",
    "delivery": {
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": None,
        "delivered_at": "2026-11-26T14:03:41.912Z",
        "last_error": None,
    },
}

_EventId = Annotated[str, Field(pattern="^evt_", description="Dedupe on it.")]
_EventType = Annotated[str, one_of(EventType)]
_Data = Annotated[
    dict[str, Any],
    Field(
        description="The object the event reports, as it was then: a Payment for `payment.*`, a "
        "Refund for `refund.*`, a settlement batch for `settlement.closed`. Events may arrive out "
        "of order: order by the object's `updated_at`."
    ),
]


@with_config(closed(EVENT_PAYLOAD_EXAMPLE))
class EventPayload(TypedDict):
    """What a webhook POSTs: the same bytes on every (re)delivery."""

    id: _EventId
    type: _EventType
    created_at: Timestamp
    data: _Data


@with_config(CLOSED)
class Delivery(TypedDict):
    status: Annotated[
        str,
        one_of(
            DeliveryStatus,
            "`pending`: due at `next_attempt_at`; `delivered`: a 2xx came back; `failed`: the "
            "schedule ran out (redeliver to start again); `no_endpoint`: the merchant had no "
            "webhook URL.",
        ),
    ]
    attempts: Annotated[
        int,
        Field(
            ge=0,
            description="Attempts of the current schedule (a redelivery starts a new one).",
        ),
    ]
    next_attempt_at: OptionalTimestamp
    delivered_at: OptionalTimestamp
    last_error: Annotated[
        str | None,
        Field(
            description="Why the last attempt failed (`HTTP 500`, a timeout, a connection error)."
        ),
    ]


@with_config(closed(_EVENT_EXAMPLE))
class Event(TypedDict):
    """An event as delivered, plus where its delivery stands."""

    id: _EventId
    type: _EventType
    created_at: Timestamp
    data: _Data
    object: Literal["event"]
    delivery: Delivery


@with_config(CLOSED)
class EventList(TypedDict):
    """A page of events, newest first."""

    object: Literal["list"]
    data: list[Event]
    has_more: bool


@with_config(CLOSED)
class RedeliverRequest(TypedDict):
    """Empty: `{}` (an empty body is read as `{}`)."""
