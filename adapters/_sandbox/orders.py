"""Merchant-presented order codes in a sandbox partner, protocol-neutral (issue #15).

The till asks the partner for an order code; the sandbox keeps the payment pending (a ledger
record of `Scenario.ORDER`, in process, nothing charged) and issues a code that is a URL on
itself, `<sandbox base url>/oc/<random token>`. A test (or `gateway sandbox scan`) then plays
the tourist: `POST /_sandbox/scan` scans the code, which charges or declines the payment by
the scan's test code, and the sandbox sends the partner's signed notification of the result to
the order's notify URL, retrying on anything but an accepted acknowledgment.

What a protocol's sandbox does (its pay handler and wording), and what this module does:

    protocol                                    here (`OrderDesk`)
    parse and authenticate the order request   `expiry(asked)`: min(asked, now + 30 min)
    record the payment (`Scenario.ORDER`,      `open(...)`: the code, its token, the order
      PROCESSING, `expires_at`) in its ledger
    answer with `order.code`, `order.expires_at`  `get(payment_request_id)`: replays
    compare a replay's fingerprint             `state(order)`: pending, paid, declined,
                                                 closed (cancelled) or expired
    `OrderProtocol.notification(...)`: the     `scan(code, options)`: the scan rules, the
      signed notification, in its words          charge, the notifier loop and its options
    `OrderProtocol.acknowledgment(...)`: did
      the merchant accept it

Routes (`adapters._sandbox.order_routes`), on every sandbox app whatever the profile
(sandboxes only run for tests and demos):

    GET  /oc/{token}        what a wallet would show: amount, state, expiry (JSON)
    POST /_sandbox/scan     {"code": "<the code value>", "suffix": "0000", ...}: scan and pay
    GET  /_sandbox/orders   every order with its deliveries (JSON, for tests)

Scan body (`ScanOptions`): `code` (the full code value, or just its token), `suffix` (4 digits,
default "0000"; the user-presented test codes' meanings: 0000 and others approve, 0051
insufficient funds, 0059 risk rejected, 0054 code expired, 0503 partner unavailable: the scan
is refused with nothing done). The test switches, refused (403) unless the desk allows them
(`allow_switches`: the sandbox's `allow_settlement_tamper`, i.e. the `test` profile):

    notify: "now" (default) | "late" (after `delay_seconds`, default 2, in the background: the
            scan answers at once) | "twice" (the same notification, byte for byte, sent twice)
            | "bad_signature" (a well-formed signature over other bytes) | "never" (charged,
            never notified: the gateway must find it by inquiry)
    amount_delta: minor units added to the amount notified (the charge itself is unchanged)
    max_attempts: 1-10, deliveries of one notification before giving up

Scan answers: 200 `{"state", "outcome", "notify", "notified" (true/false; null while a late one
is pending), "attempts", "order": {...}}`; refusals are `{"error": {"type", "message"},
"state"?}` with 400 (bad body or suffix), 403 (a test switch outside the test profile), 404
(no such code), 409 (the code is expired, closed, paid or declined already: nothing charged)
or 503 (0503).

Notifier: a delivery is accepted when the protocol says the acknowledgment is (`Ack.accepted`);
otherwise (another status, an F ack, a transport error) it retries after `schedule[i]` seconds
(the last entry repeats) up to `max_attempts` deliveries. Each delivery is kept in
`order.deliveries` (and `GET /_sandbox/orders`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from aiohttp import web

from adapters._clock import Clock
from adapters._sandbox.ledger import SandboxLedger
from adapters._sandbox.scans import (
    NotifyMode,
    OrderState,
    ScanOptions,
    ScanRefused,
    scan_outcome,
)
from adapters._sandbox.scenarios import Outcome, Phase
from fx import Money

__all__ = [
    "CODE_PATH",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_SCHEDULE",
    "MAX_LIFETIME",
    "ORDERS_PATH",
    "SCAN_PATH",
    "Ack",
    "DeliveryAttempt",
    "NotifyMode",
    "Order",
    "OrderDesk",
    "OrderProtocol",
    "OrderState",
    "OutboundNotification",
    "ScanOptions",
    "ScanRefused",
    "ScanResult",
    "base_url_of",
    "scan_outcome",
]

log = logging.getLogger(__name__)

MAX_LIFETIME = timedelta(minutes=30)
"""The longest an order code stays payable (Alipay+ allows at most 30 minutes)."""
CODE_PATH = "/oc/"
SCAN_PATH = "/_sandbox/scan"
ORDERS_PATH = "/_sandbox/orders"
DEFAULT_SCHEDULE: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
"""Seconds between deliveries of one notification (the last entry repeats)."""
DEFAULT_MAX_ATTEMPTS = 5
NOTIFY_TIMEOUT = 5.0  # seconds for one delivery
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclasses.dataclass(frozen=True, slots=True)
class OutboundNotification:
    """One notification as the protocol sends it: a POST of `body` with `headers` to `url`."""

    url: str
    headers: Mapping[str, str]
    body: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True, slots=True)
class Ack:
    """How the protocol reads the merchant's answer to a notification: `accepted` (stop
    retrying), and whether the answer's signature verified (None: unsigned, or the protocol
    does not sign acknowledgments)."""

    accepted: bool
    signature_valid: bool | None = None


@dataclasses.dataclass(slots=True)
class DeliveryAttempt:
    """One POST of a notification and what came back."""

    at: datetime
    http_status: int | None
    accepted: bool
    signature_valid: bool | None = None
    error: str | None = None
    bad_signature: bool = False  # the notification was deliberately mis-signed

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "http_status": self.http_status,
            "accepted": self.accepted,
            "signature_valid": self.signature_valid,
            "error": self.error,
            "bad_signature": self.bad_signature,
        }


@dataclasses.dataclass(slots=True)
class Order:
    """One order code: its payment (by `payment_request_id` in the ledger), its code and who
    is notified. `recipient` is the protocol's name for the merchant it notifies (Alipay+:
    the `client-id` the order came from); `fingerprint` what makes a replay the same order."""

    token: str
    code: str
    payment_request_id: str
    payment_id: str
    amount: Money  # the payer amount the scan charges
    notify_url: str | None
    recipient: str
    fingerprint: str = dataclasses.field(repr=False)
    created_at: datetime
    expires_at: datetime
    scanned_at: datetime | None = None
    outcome: Outcome | None = None  # what the scan did (None: never scanned)
    deliveries: list[DeliveryAttempt] = dataclasses.field(default_factory=list)
    pending_notifications: int = 0  # late deliveries not yet done


class OrderProtocol(Protocol):
    """What a protocol's sandbox supplies to notify in its own words."""

    def notification(
        self, order: Order, *, amount: Money, bad_signature: bool
    ) -> OutboundNotification:
        """The signed notification of the order's payment as it stands now (paid or declined),
        saying `amount` was paid; with `bad_signature`, a well-formed signature by the right
        key over other bytes."""
        ...

    def acknowledgment(
        self, order: Order, status: int, headers: Mapping[str, str], body: bytes
    ) -> Ack:
        """What the merchant's HTTP answer to a notification means."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class ScanResult:
    order: Order
    state: OrderState
    notify: NotifyMode
    notified: bool | None  # None: a late notification is still to come
    attempts: int


def base_url_of(request: web.Request) -> str:
    """`scheme://host[:port]` the request came to: where the sandbox's codes point."""
    return str(request.url.origin())


class OrderDesk:
    """The order codes of one sandbox app, over its ledger.

    **Parameters**
    - `ledger`: the protocol's `SandboxLedger`; order payments are its records.
    - `clock`: business time (expiry, delivery times).
    - `protocol`: how notifications are written and acknowledgments read (settable later,
      `attach`, since it usually needs the app's state).
    - `allow_switches`: accept the scan's test switches (else 403).
    - `schedule`, `max_attempts`, `notify_timeout`: the notifier's retries.
    - `max_lifetime`: the longest a code stays payable.
    """

    def __init__(
        self,
        ledger: SandboxLedger[Any, Any, Any],
        clock: Clock,
        *,
        protocol: OrderProtocol | None = None,
        allow_switches: bool = False,
        schedule: Sequence[float] = DEFAULT_SCHEDULE,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        notify_timeout: float = NOTIFY_TIMEOUT,
        max_lifetime: timedelta = MAX_LIFETIME,
    ) -> None:
        if not schedule or any(s < 0 for s in schedule) or max_attempts < 1:
            raise ValueError("a schedule of non-negative delays and max_attempts >= 1")
        self._ledger = ledger
        self._clock = clock
        self._protocol = protocol
        self.allow_switches = allow_switches
        self._schedule = tuple(schedule)
        self._max_attempts = max_attempts
        self._notify_timeout = notify_timeout
        self._max_lifetime = max_lifetime
        self._orders: dict[str, Order] = {}  # by payment_request_id
        self._by_token: dict[str, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

    def attach(self, protocol: OrderProtocol) -> None:
        self._protocol = protocol

    # --- issuing -------------------------------------------------------------------------------

    def expiry(self, asked: datetime | None) -> datetime:
        """When a code asked to expire at `asked` expires: never later than `max_lifetime`
        from now (None: that long). `ValueError` when `asked` has no offset or is not in the
        future."""
        now = self._clock.now()
        latest = (now + self._max_lifetime).replace(microsecond=0)
        if asked is None:
            return latest
        if asked.tzinfo is None:
            raise ValueError("the expiry time has no offset")
        if asked <= now:
            raise ValueError("the expiry time is not in the future")
        return min(asked, latest)

    def open(
        self,
        *,
        payment_request_id: str,
        payment_id: str,
        amount: Money,
        notify_url: str | None,
        recipient: str,
        fingerprint: str,
        base_url: str,
        expires_at: datetime,
    ) -> Order:
        """A new order for a payment the protocol has just recorded (`Scenario.ORDER`); its
        code is `<base_url>/oc/<token>`."""
        if payment_request_id in self._orders:
            raise ValueError("an order exists for this payment request id")
        token = secrets.token_urlsafe(18)
        order = Order(
            token=token,
            code=f"{base_url.rstrip('/')}{CODE_PATH}{token}",
            payment_request_id=payment_request_id,
            payment_id=payment_id,
            amount=amount,
            notify_url=notify_url,
            recipient=recipient,
            fingerprint=fingerprint,
            created_at=self._clock.now(),
            expires_at=expires_at,
        )
        self._orders[payment_request_id] = order
        self._by_token[token] = payment_request_id
        return order

    # --- reading -------------------------------------------------------------------------------

    def get(self, payment_request_id: str) -> Order | None:
        return self._orders.get(payment_request_id)

    def by_code(self, code: str) -> Order | None:
        """The order of a code value (`.../oc/<token>`, any origin) or of its bare token."""
        token = code.rsplit(CODE_PATH, 1)[1] if CODE_PATH in code else code
        token = token.split("?", 1)[0].split("#", 1)[0].rstrip("/")
        if not _TOKEN.fullmatch(token):
            return None
        request_id = self._by_token.get(token)
        return self._orders.get(request_id) if request_id is not None else None

    @property
    def orders(self) -> dict[str, Order]:
        return dict(self._orders)

    def state(self, order: Order) -> OrderState:
        """The order's state, from its payment's in the ledger (evaluated now)."""
        record = self._ledger.get(order.payment_request_id)
        if record is None:  # pragma: no cover - open() follows the protocol's record
            raise LookupError("the order's payment is not in the ledger")
        phase = self._ledger.phase(record)
        if phase is Phase.PROCESSING:
            return OrderState.PENDING
        if phase is Phase.SUCCEEDED:
            return OrderState.PAID
        if phase is Phase.CANCELED:
            return OrderState.CLOSED
        return OrderState.EXPIRED if order.outcome is None else OrderState.DECLINED

    def order_json(self, order: Order) -> dict[str, Any]:
        return {
            "token": order.token,
            "code": order.code,
            "payment_request_id": order.payment_request_id,
            "payment_id": order.payment_id,
            "amount": {"currency": order.amount.currency.code, "value": order.amount.value},
            "state": self.state(order).value,
            "created_at": order.created_at.isoformat(),
            "expires_at": order.expires_at.isoformat(),
            "scanned_at": order.scanned_at.isoformat() if order.scanned_at else None,
            "outcome": order.outcome.value if order.outcome else None,
            "notify_url": order.notify_url,
            "deliveries": [d.to_json() for d in order.deliveries],
            "pending_notifications": order.pending_notifications,
        }

    def to_json(self) -> dict[str, Any]:
        return {"orders": {rid: self.order_json(o) for rid, o in self._orders.items()}}

    # --- scanning ------------------------------------------------------------------------------

    async def scan(self, code: str, options: ScanOptions) -> ScanResult:
        """The tourist scans `code` and pays with a wallet code ending in `options.suffix`;
        then the partner notifies as `options.notify` says. `ScanRefused` when nothing
        happens (module docstring)."""
        if options.uses_switches and not self.allow_switches:
            raise ScanRefused(
                403,
                "forbidden",
                "notify, amount_delta and max_attempts are test switches: "
                "run the sandbox in the test profile",
            )
        try:
            outcome = scan_outcome(options.suffix)
        except ValueError as exc:
            raise ScanRefused(400, "invalid_request", str(exc)) from None
        order = self.by_code(code)
        if order is None:
            raise ScanRefused(404, "not_found", "no order has this code")
        if options.for_entry_code:
            raise ScanRefused(
                400,
                "invalid_request",
                "amount, wallet and entry_twice go with an entry code: an order code has its "
                "amount",
            )
        record = self._ledger.get(order.payment_request_id)
        assert record is not None  # open() follows the protocol's record
        state = self.state(order)
        if state is not OrderState.PENDING:
            raise ScanRefused(409, "conflict", _REFUSALS[state], state)
        if outcome is Outcome.UNAVAILABLE:
            raise ScanRefused(503, "unavailable", "the partner is unavailable (0503)", state)
        self._ledger.settle_order(record, outcome)
        order.scanned_at = self._clock.now()
        order.outcome = outcome
        state = self.state(order)
        log.info("sandbox order %s scanned: %s", order.payment_request_id, state.value)

        notify = options.notify
        if notify is NotifyMode.NEVER or order.notify_url is None:
            return ScanResult(order, state, notify, False, 0)
        amount = Money(order.amount.value + options.amount_delta, order.amount.currency)
        attempts = options.max_attempts or self._max_attempts
        bad = notify is NotifyMode.BAD_SIGNATURE
        if notify is NotifyMode.LATE:
            self._late(order, options.delay_seconds, amount, attempts)
            return ScanResult(order, state, notify, None, 0)
        notification = self._notification(order, amount, bad)
        notified, sent = await self._deliver(order, notification, attempts, bad)
        if notify is NotifyMode.TWICE:
            again, more = await self._deliver(order, notification, attempts, bad)
            notified, sent = notified and again, sent + more
        return ScanResult(order, state, notify, notified, sent)

    # --- the notifier --------------------------------------------------------------------------

    def notification_for(self, order: Order) -> OutboundNotification:
        """The signed notification of `order`'s result as the notifier sends it (a test
        delivers it again, or to another gateway)."""
        return self._notification(order, order.amount, False)

    def _notification(self, order: Order, amount: Money, bad: bool) -> OutboundNotification:
        if self._protocol is None:
            raise RuntimeError("no OrderProtocol attached to the desk")
        return self._protocol.notification(order, amount=amount, bad_signature=bad)

    def _late(self, order: Order, delay: float, amount: Money, attempts: int) -> None:
        order.pending_notifications += 1

        async def later() -> None:
            try:
                await asyncio.sleep(delay)
                notification = self._notification(order, amount, False)
                await self._deliver(order, notification, attempts, False)
            finally:
                order.pending_notifications -= 1

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _delay(self, retry: int) -> float:
        return self._schedule[min(retry, len(self._schedule) - 1)]

    async def _deliver(
        self, order: Order, notification: OutboundNotification, attempts: int, bad: bool
    ) -> tuple[bool, int]:
        """POST `notification` until it is accepted or `attempts` deliveries were made:
        (accepted, deliveries made)."""
        assert self._protocol is not None
        if self._http is None:
            self._http = httpx.AsyncClient()
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self._delay(attempt - 1))
            at = self._clock.now()
            try:
                response = await self._http.post(
                    notification.url,
                    content=notification.body,
                    headers=dict(notification.headers),
                    timeout=self._notify_timeout,
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                order.deliveries.append(DeliveryAttempt(at, None, False, None, error, bad))
                continue
            ack = self._protocol.acknowledgment(
                order, response.status_code, response.headers, response.content
            )
            order.deliveries.append(
                DeliveryAttempt(
                    at, response.status_code, ack.accepted, ack.signature_valid, None, bad
                )
            )
            if ack.accepted:
                return True, attempt + 1
        return False, attempts

    async def wait_idle(self) -> None:
        """Wait for the late notifications under way (tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Stop late notifications and close the notifier's HTTP client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()
            self._http = None


_REFUSALS = {
    OrderState.PAID: "the code was paid already",
    OrderState.DECLINED: "the code was scanned and declined already",
    OrderState.CLOSED: "the order was closed (cancelled)",
    OrderState.EXPIRED: "the code has expired",
}
