"""The WalletRest sandbox's order codes: `POST /v1/orders`, and its notifications in WalletRest's
words for the shared `adapters._sandbox.orders` desk (which owns the codes, their expiry,
`POST /_sandbox/scan` and the notifier's retries).

`POST /v1/orders` (authenticated and keyed like every POST; `order_id` must be the
Idempotency-Key) records the order's payment in the ledger, in process and charged nothing,
until the code is scanned, cancelled, or its `expires_at` passes (min(asked, now + 30 min),
whole seconds). Answers (signed):

    201 Order `awaiting_payment` with `qr_code` = `<sandbox base url>/oc/<token>`
    200 the same order again (same key, same body), in its current state, Idempotent-Replayed
    200 Order `canceled` when the key was canceled before (a cancel marker: no code)
    409 idempotency_conflict   the key is another order's body, or a payment's
    400 invalid_request        `order_id_mismatch`, `expires_at_invalid`, `notify_url_invalid`,
                               `amount_invalid`, `parameter_invalid`

The payment is then `GET /v1/payments/{order_id}` and `POST .../cancel` like any other (status
`awaiting_payment` while unpaid; `failed` `order_expired` after its expiry unpaid; a scan's
decline is `failed` with its decline code).

Notifications (`WalletRestOrders`): `POST <notify_url>` of a `payment.result` signed over
`<timestamp>.<raw body>` (the package docstring has the format), one id per order, so a retry
or the "twice" switch repeats it; "bad_signature" signs other bytes with the right secret. An
acknowledgment is accepted only when it is 200 `{"received": true}` signed (over
`<timestamp>.<status>.<raw body>`, fresh) with the shared secret: anything else is retried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import httpx
from aiohttp import web

from adapters._base import parse_time
from adapters._sandbox.orders import (
    Ack,
    Order,
    OutboundNotification,
    base_url_of,
)
from adapters._sandbox.scenarios import Scenario
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.exchange import (
    STATE,
    Reply,
    SandboxState,
    authenticated_body,
    body_fingerprint,
    check_amount,
    idempotency_key,
    parse_body,
    signed,
)
from adapters.walletrest.sandbox.ledger import PaymentRecord, PaymentStatus, order_to_wire
from adapters.walletrest.sandbox.settings import SandboxSettings
from adapters.walletrest.signing import (
    is_fresh,
    notification_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from fx import Money

__all__ = ["WalletRestOrders", "handle_create_order"]

PAYMENT_RESULT = "payment.result"


def _conflict() -> Reply:
    return Reply(
        409, codes.IDEMPOTENCY_CONFLICT, "This Idempotency-Key was used with other parameters."
    )


def _bad(code: str, message: str) -> Reply:
    return Reply(400, codes.INVALID_REQUEST, message, code=code)


def _order_answer(
    state: SandboxState, record: PaymentRecord, *, created: bool
) -> web.StreamResponse:
    order = state.orders.get(record.payment_request_id)
    body = order_to_wire(
        record,
        order_id=record.payment_request_id,
        qr_code=order.code if order is not None else None,
    )
    return signed(state, 201 if created else 200, body, replayed=not created)


async def handle_create_order(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        key = idempotency_key(request)
        body = parse_body(raw, wire.CreateOrder)
        if body.order_id != key:
            raise _bad("order_id_mismatch", "order_id must be the Idempotency-Key.")
        check_amount(body.amount, "amount")
        check_amount(body.merchant_amount, "merchant_amount")
        if not _is_http_url(body.notify_url):
            raise _bad("notify_url_invalid", "notify_url must be an http(s) URL.")
        fingerprint = body_fingerprint(body)
        record = state.ledger.get(key)
        if record is not None:
            if record.scenario is Scenario.CANCEL_MARKER:
                return _order_answer(state, record, created=False)
            if record.scenario is not Scenario.ORDER or record.body_sha256 != fingerprint:
                raise _conflict()
            return _order_answer(state, record, created=False)
        asked = parse_time(body.expires_at)
        try:
            if asked is None:
                raise ValueError("not an RFC 3339 time")
            expires_at = state.orders.expiry(asked).replace(microsecond=0)
        except ValueError:
            raise _bad("expires_at_invalid", "expires_at must be a future RFC 3339 time.") from None
        record = state.ledger.record_order(
            payment_request_id=key, body=body, body_sha256=fingerprint, expires_at=expires_at
        )
        state.orders.open(
            payment_request_id=key,
            payment_id=record.payment_id,
            amount=wire.money_from_wire(body.amount),
            notify_url=body.notify_url,
            recipient=_account(state.settings, request),
            fingerprint=fingerprint,
            base_url=base_url_of(request),
            expires_at=expires_at,
        )
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return _order_answer(state, record, created=True)


def _is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except httpx.InvalidURL:
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def _account(settings: SandboxSettings, request: web.Request) -> str:
    """The merchant account the order came from (its API key's name), for the records."""
    _, _, key = request.headers.get("Authorization", "").partition(" ")
    keys = settings.api_keys
    if isinstance(keys, Mapping):
        return keys.get(key.strip(), "merchant")
    return "merchant"


class WalletRestOrders:
    """The desk's `OrderProtocol` for WalletRest: notifications and acknowledgments."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    @property
    def _settings(self) -> SandboxSettings:
        return self._state.settings

    def notification(
        self, order: Order, *, amount: Money, bad_signature: bool
    ) -> OutboundNotification:
        record = self._state.ledger.get(order.payment_request_id)
        assert record is not None  # the desk opens an order after its record
        succeeded = record.status is PaymentStatus.SUCCEEDED
        event = hashlib.sha256(f"{record.payment_id}.result".encode()).hexdigest()[:24]
        body = wire.encode(
            wire.PaymentResult(
                type=PAYMENT_RESULT,
                id=f"wr_evt_{event}",
                order_id=order.payment_request_id,
                status=codes.SUCCEEDED if succeeded else codes.FAILED,
                payment_id=record.payment_id,
                amount=wire.money_to_wire(amount),
                completed_at=_iso(record),
                failure_code=None if succeeded else (record.decline_code or codes.FAILED),
                created_at=self._settings.clock.now().isoformat(timespec="seconds"),
            )
        )
        timestamp = timestamp_of(self._settings.clock.now())
        content = notification_content(timestamp, body)
        if bad_signature:
            content += b" "
        assert order.notify_url is not None  # the desk notifies only orders that have one
        return OutboundNotification(
            url=order.notify_url,
            headers={
                "Content-Type": "application/json",
                "X-Timestamp": timestamp,
                "X-Signature": sign(self._settings.signing_secret, content),
            },
            body=body,
        )

    def acknowledgment(
        self, order: Order, status: int, headers: Mapping[str, str], body: bytes
    ) -> Ack:
        del order
        signature = headers.get("x-signature")
        timestamp = headers.get("x-timestamp")
        valid: bool | None = None
        if signature:
            settings = self._settings
            valid = (
                is_fresh(timestamp, settings.clock.now(), settings.signature_tolerance_seconds)
                and timestamp is not None
                and verify(
                    settings.signing_secret, response_content(timestamp, status, body), signature
                )
            )
        received = False
        if status == 200 and valid:
            try:
                received = wire.NotificationAck.model_validate_json(body).received is True
            except ValueError:
                received = False
        return Ack(accepted=received, signature_valid=valid)


def _iso(record: PaymentRecord) -> str | None:
    moment = record.completed_at
    return moment.isoformat(timespec="seconds") if moment is not None else None
