"""The partner's notifications (`payment.result`) and our acknowledgments, as pure functions.

`read_notification` checks, in this order, before it reads a byte of the body:

1. `X-Signature` present and one of its `v1=` values the HMAC of `<X-Timestamp>.<raw body>`
   with the shared secret (`signing.notification_content`), `X-Timestamp` being 1-12 digits:
   else `NotificationRefused(SIGNATURE)`;
2. that timestamp within `adapters._orders.NOTIFICATION_TOLERANCE` of `now`, either way: else
   `STALE` (an old, or future-dated, notification is a replay, even when its signature holds).

Only then is the body parsed strictly; a body whose `type` is `entry_order.created` is an
entry order (`transforms.entry`: `read_notification` returns an `EntryOrder`, requested at
the signed `X-Timestamp`), any other one a payment result, parsed strictly
(`models.PaymentResult`; amounts with exactly their currency's decimals), anything unexpected
being `MALFORMED`: another method than POST, a `type`
other than `payment.result`, a `status` other than `succeeded` / `failed`, a success without
`payment_id` or a readable `completed_at`, an amount that is not positive.

`acknowledgment` is our answer, signed like every WalletRest answer
(`<timestamp>.<status>.<raw body>`): 200 `{"received":true}`, or 503 `{"received":false}`
(not processed: the partner sends it again).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from adapters._base import (
    Acknowledgment,
    EntryOrder,
    InboundRequest,
    NotificationProblem,
    NotificationRefused,
    Outcome,
    PaymentNotification,
    parse_time,
)
from adapters._orders import NOTIFICATION_TOLERANCE
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.signing import (
    notification_content,
    response_content,
    sign,
    timestamp_of,
    timestamp_seconds,
    verify,
)
from adapters.walletrest.transforms.answers import parse_answer
from adapters.walletrest.transforms.entry import entry_order, is_entry_order
from fx import FXError

__all__ = [
    "PAYMENT_RESULT",
    "acknowledgment",
    "notification_headers",
    "read_notification",
]

PAYMENT_RESULT = "payment.result"
_JSON = "application/json"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its lower-case name (an `InboundRequest`'s names are lower case)."""
    return headers.get(name)


def _verified_body(request: InboundRequest, now: datetime, secret: str) -> tuple[bytes, int]:
    """The raw body and its signed time (unix seconds), once the signature and that time
    hold (module docstring, steps 1-2)."""
    signature = _header(request.headers, "x-signature")
    timestamp = _header(request.headers, "x-timestamp")
    seconds = timestamp_seconds(timestamp)
    if not signature or timestamp is None or seconds is None:
        raise NotificationRefused(
            NotificationProblem.SIGNATURE, "X-Signature or X-Timestamp missing or malformed"
        )
    if not verify(secret, notification_content(timestamp, request.body), signature):
        raise NotificationRefused(NotificationProblem.SIGNATURE, "the signature does not verify")
    if abs(now.timestamp() - seconds) > NOTIFICATION_TOLERANCE.total_seconds():
        raise NotificationRefused(
            NotificationProblem.STALE, "X-Timestamp is outside the tolerance of our clock"
        )
    return request.body, seconds


def _malformed(why: str) -> NotificationRefused:
    return NotificationRefused(NotificationProblem.MALFORMED, f"payment.result: {why}")


def read_notification(
    request: InboundRequest, now: datetime, *, secret: str
) -> PaymentNotification | EntryOrder:
    """A verified `payment.result` -> `PaymentNotification` (an `entry_order.created` ->
    `EntryOrder`), else `NotificationRefused`."""
    body, seconds = _verified_body(request, now, secret)
    if request.method.upper() != "POST":
        raise _malformed(f"method {request.method[:10]!r} is not POST")
    if is_entry_order(body):
        return entry_order(body, datetime.fromtimestamp(seconds, UTC))
    result = parse_answer(wire.PaymentResult, body)
    if isinstance(result, str):
        raise _malformed(result)
    if result.type != PAYMENT_RESULT:
        raise _malformed("type is not payment.result")
    try:
        amount = wire.money_from_wire(result.amount)
    except FXError:
        raise _malformed("amount is not an exact major-unit amount") from None
    if amount.value <= 0:
        raise _malformed("amount is not positive")
    if result.status == codes.SUCCEEDED:
        completed_at = parse_time(result.completed_at)
        if result.payment_id is None or completed_at is None:
            raise _malformed("a success needs payment_id and an RFC 3339 completed_at")
        outcome = Outcome.succeeded(
            partner_reference=result.payment_id,
            completed_at=completed_at,
            partner_code=codes.SUCCEEDED,
            message="order paid (notification)",
        )
    elif result.status == codes.FAILED:
        outcome = Outcome.failed(
            codes.failure_code(result.failure_code),
            partner_code=result.failure_code or codes.FAILED,
            message=f"order failed (notification): {result.failure_code or '-'}",
            partner_reference=result.payment_id,
        )
    else:
        raise _malformed("status is neither succeeded nor failed")
    return PaymentNotification(
        partner_request_id=result.order_id,
        outcome=outcome,
        payer_amount=amount,
        notification_id=result.id,
    )


def notification_headers(body: bytes, now: datetime, *, secret: str) -> dict[str, str]:
    """The headers a partner sends a notification with (the sandbox's, and tests')."""
    timestamp = timestamp_of(now)
    return {
        "Content-Type": _JSON,
        "X-Timestamp": timestamp,
        "X-Signature": sign(secret, notification_content(timestamp, body)),
    }


def acknowledgment(accepted: bool, now: datetime, *, secret: str) -> Acknowledgment:
    """200 `{"received":true}` or 503 `{"received":false}`, signed like an answer."""
    status = 200 if accepted else 503
    body = wire.encode(wire.NotificationAck(received=accepted))
    timestamp = timestamp_of(now)
    headers = {
        "Content-Type": _JSON,
        "X-Timestamp": timestamp,
        "X-Signature": sign(secret, response_content(timestamp, status, body)),
    }
    if not accepted:
        headers["Retry-After"] = "1"
    return Acknowledgment(status=status, headers=headers, body=body)
