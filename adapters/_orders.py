"""The merchant-presented part of the adapter contract: order codes and the partner's signed
payment notifications (issue #15).

In a merchant-presented payment the till shows a QR code and the tourist scans it with their
wallet. For an **order code** (a code made for one sale) the gateway asks the partner for it:

    create_order_code(OrderCodeRequest) -> OrderCode | Outcome

`OrderCode` is the code to display (`code`, the QR's content) until `expires_at`; the partner
now holds a pending payment under `partner_request_id`. An `Outcome` instead means no code to
show: FAILED (a signed refusal: nothing is pending) or UNKNOWN (a timeout, an untrusted answer:
a pending payment may exist, so the gateway cancels it with the same `partner_request_id` before
giving up). The existing operations keep their meaning on it: `inquire` answers UNKNOWN
`in_process` while the tourist has not paid, `cancel` closes the pending payment so that a late
scan cannot charge.

The result reaches the gateway as a **notification**, an HTTP request from the partner to the
gateway's `notify_url`. The gateway hands the request, raw, to the partner's adapter:

    read_notification(InboundRequest, now) -> PaymentNotification

which checks the partner's signature and timestamp *before* reading anything, then parses it
strictly (`NotificationRefused` says why it would not: `signature`, `stale` or `malformed`). A
notification carries an `Outcome` for one pay request (SUCCEEDED: paid, with the partner's
reference and time; FAILED: declined or closed) and the amount the partner says was paid, which
the gateway checks against the payment before booking anything. Finally

    acknowledge(InboundRequest, accepted) -> Acknowledgment

is the protocol's answer (signed where the protocol signs): accepted, or "not processed, send it
again" (the partner retries; a refused notification is never acknowledged as processed).

Both are optional: `Operation.ORDER_CODE` in an adapter's capabilities says it offers them.

This module is private; `adapters._base` re-exports its names as part of the contract.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from fx import Money

if TYPE_CHECKING:
    from adapters._base import MerchantInfo, Outcome

__all__ = [
    "DEFAULT_ORDER_CODE_TIMEOUT",
    "NOTIFICATION_TOLERANCE",
    "Acknowledgment",
    "InboundRequest",
    "NotificationProblem",
    "NotificationRefused",
    "OrderCode",
    "OrderCodeRequest",
    "PaymentNotification",
]

DEFAULT_ORDER_CODE_TIMEOUT = 10.0  # seconds, when the partner's timeouts name no `order_code`
NOTIFICATION_TOLERANCE = timedelta(minutes=5)
"""How far a notification's signed time may be from ours, either way."""


@dataclasses.dataclass(frozen=True, slots=True)
class OrderCodeRequest:
    """Ask for a code the tourist scans to pay `payer_amount` (wallet currency, the locked
    quote's) for `amount` owed to the merchant. `partner_request_id` names the pending payment
    at the partner (re-sending it is the same order); `expires_at` is when the code stops
    being payable (Alipay+ allows at most 30 minutes); `notify_url` is where the partner sends
    the result."""

    partner_request_id: str
    reference: str
    amount: Money
    payer_amount: Money
    wallet: str
    merchant: MerchantInfo
    requested_at: datetime
    expires_at: datetime
    notify_url: str
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class OrderCode:
    """The code to display. `code` is what the QR encodes (a URL or an EMVCo payload, as the
    partner issued it); `expires_at` the partner's own expiry (never later than asked)."""

    code: str
    expires_at: datetime
    partner_reference: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class InboundRequest:
    """An HTTP request the gateway received from a partner, as received: header names in
    lower case, the body's raw bytes (a signature covers exactly these)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes = dataclasses.field(repr=False)


class NotificationProblem(enum.StrEnum):
    SIGNATURE = "signature"  # missing, malformed, or not the partner's
    STALE = "stale"  # signed too long ago (or in the future): a replay
    MALFORMED = "malformed"  # signed, but not a notification we can read


class NotificationRefused(Exception):
    """A notification the adapter will not vouch for; nothing of it may be used."""

    def __init__(self, problem: NotificationProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentNotification:
    """What a verified notification says: the `outcome` of the pay request
    `partner_request_id` (SUCCEEDED or FAILED, never UNKNOWN), and the amount the partner
    says the tourist paid (wallet currency), to be checked against the payment."""

    partner_request_id: str
    outcome: Outcome
    payer_amount: Money
    notification_id: str | None = None
    """The partner's id of this notification, when its protocol has one (for the logs)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Acknowledgment:
    """The HTTP answer to a notification."""

    status: int
    headers: Mapping[str, str]
    body: bytes = dataclasses.field(repr=False)
