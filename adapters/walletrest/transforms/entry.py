"""Entry codes in WalletRest words (issue #15): the store's registration and the entry order.

Registration, `POST /v1/stores` (`Idempotency-Key` = the store id; signed and verified like
every call), body `registration_body`:

    {"store_id": "<store id>", "name", "currency": "THB", "notify_url",
     "merchant": {"id", "name", "country", "mcc", "store_id"}}

Answers (`entry_code_outcome`):

    201 (new) / 200 (the same store again) Store `active`, echoing our `store_id`, with an
        `entry_code` of 1-1024 printable characters      EntryCode(code, partner_store_id=id)
    400 invalid_request, 409 invalid_state (`store_conflict`: registered with another currency
        or country)                                       FAILED partner_declined
    401 / 429 / 503 not_accepted                          UNKNOWN not sent
    anything else (409 idempotency_conflict, 5xx, unreadable)  UNKNOWN maybe sent

Entry order (`entry_order`), the partner's POST to the store's `notify_url`, signed like a
`payment.result` over `<timestamp>.<raw body>` (checked first, `transforms.notifications`),
told apart from one by `type`:

    {"type": "entry_order.created", "id": "<event id>", "entry_order_id", "store_id",
     "store": "<partner store id>", "amount": {"currency": "THB", "value": "125.50"},
     "wallet": "alipaycn", "created_at"}

read strictly (exact types; `entry_order_id` and `store_id` 1-64 and `wallet` 1-32 printable
ASCII characters without spaces; `amount` exactly its ISO currency's decimals, > 0), else
`NotificationRefused(MALFORMED)`.

Our answer (`entry_answer`), signed like every WalletRest answer
(`<timestamp>.<status>.<raw body>`):

    200 {"object": "entry_order", "entry_order_id", "status": "confirmed",
         "order_id": "<partner request id>", "amount": {"currency": "CNY", "value": "25.01"},
         "expires_at"}
    422 {"error": {"type": "entry_order_refused", "code": "<refusal>", "message"},
         "entry_order_id"}   (refusals: unknown_store, store_disabled, wallet_not_accepted,
                              amount_invalid)
    503 the same body with type "not_accepted", code "unavailable", and Retry-After: ask again
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from adapters._base import (
    Acknowledgment,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    NotificationProblem,
    NotificationRefused,
    Outcome,
    StoreRegistration,
)
from adapters._entry_fields import MAX_WALLET, entry_code_problem, plain_id, plain_text
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.codes import ErrorVerdict
from adapters.walletrest.signing import response_content, sign, timestamp_of
from adapters.walletrest.transforms.answers import error_outcome, parse_answer, untrusted
from adapters.walletrest.transforms.bodies import format_time
from fx import FXError

__all__ = [
    "CONFIRMED",
    "ENTRY_ORDER_CREATED",
    "ENTRY_ORDER_REFUSED",
    "STORES_PATH",
    "entry_answer",
    "entry_code_outcome",
    "entry_order",
    "is_entry_order",
    "registration_body",
]

STORES_PATH = "/v1/stores"
ENTRY_ORDER_CREATED = "entry_order.created"
ENTRY_ORDER_REFUSED = "entry_order_refused"
CONFIRMED = "confirmed"
ACTIVE = "active"
_MAX_MESSAGE = 256
_JSON = "application/json"


def _store_id(request: StoreRegistration) -> str:
    store_id = request.merchant.store_id
    if not store_id:
        raise ValueError("a store registration needs merchant.store_id")
    return store_id


def registration_body(request: StoreRegistration) -> wire.CreateStore:
    merchant = request.merchant
    return wire.CreateStore(
        store_id=_store_id(request),
        name=request.name,
        currency=request.currency,
        notify_url=request.notify_url,
        merchant=wire.Merchant(
            id=merchant.id,
            name=merchant.name,
            country=merchant.country,
            mcc=merchant.mcc,
            store_id=merchant.store_id,
        ),
    )


def entry_code_outcome(
    http_status: int, body: bytes, request: StoreRegistration
) -> EntryCode | Outcome:
    """A verified answer to `POST /v1/stores` (module docstring)."""
    store_id = _store_id(request)
    if http_status in (200, 201):
        store = parse_answer(wire.Store, body)
        if isinstance(store, str):
            return untrusted(f"entry_code: {store}", http_status=http_status)
        if store.store_id != store_id:
            return untrusted("the store answer names another store_id", http_status=http_status)
        if store.status != ACTIVE:
            return untrusted(f"the store is not active ({store.status})", http_status=http_status)
        problem = entry_code_problem(store.entry_code)
        if problem is not None:
            return untrusted(f"entry code not trusted: {problem}", http_status=http_status)
        if store.id is not None and not plain_id(store.id, 128):
            return untrusted("the store's id is not a plain identifier", http_status=http_status)
        assert store.entry_code is not None
        return EntryCode(code=store.entry_code, partner_store_id=store.id)
    return error_outcome(
        body,
        operation="entry_code",
        kind="store",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.REFUSED}),
    )


def is_entry_order(body: bytes) -> bool:
    """A verified body whose `type` is `entry_order.created` (the rest is read by
    `entry_order`; anything else goes to the payment notification's reader)."""
    parsed = parse_answer(_Typed, body)
    return not isinstance(parsed, str) and parsed.type == ENTRY_ORDER_CREATED


class _Typed(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: str | None = None


def _malformed(why: str) -> NotificationRefused:
    return NotificationRefused(NotificationProblem.MALFORMED, f"{ENTRY_ORDER_CREATED}: {why}")


def entry_order(body: bytes, signed_at: datetime) -> EntryOrder:
    """A verified entry order's body -> `EntryOrder` (module docstring), requested when it was
    signed; `NotificationRefused(MALFORMED)` otherwise (never quoting values)."""
    event = parse_answer(wire.EntryOrderCreated, body)
    if isinstance(event, str):
        raise _malformed(event)
    if event.type != ENTRY_ORDER_CREATED:
        raise _malformed("type is not entry_order.created")
    if not plain_id(event.entry_order_id):
        raise _malformed("entry_order_id is not a 1-64 character identifier")
    if not plain_id(event.store_id):
        raise _malformed("store_id is not a 1-64 character identifier")
    if not plain_id(event.wallet, MAX_WALLET):
        raise _malformed("wallet is not a 1-32 character identifier")
    try:
        amount = wire.money_from_wire(event.amount)
    except FXError:
        raise _malformed("amount is not an exact major-unit amount of an ISO currency") from None
    if amount.value <= 0:
        raise _malformed("amount is not positive")
    return EntryOrder(
        partner_order_id=event.entry_order_id,
        store_id=event.store_id,
        amount=amount,
        wallet=event.wallet,
        requested_at=signed_at,
    )


def entry_answer(
    confirmation: EntryOrderConfirmation, now: datetime, *, secret: str
) -> Acknowledgment:
    """Our signed answer to an entry order (module docstring)."""
    headers = {"Content-Type": _JSON}
    if confirmation.refusal is None:
        assert confirmation.partner_request_id is not None
        assert confirmation.payer_amount is not None and confirmation.expires_at is not None
        status = 200
        body = wire.encode(
            wire.EntryOrderAnswer(
                entry_order_id=confirmation.partner_order_id,
                status=CONFIRMED,
                order_id=confirmation.partner_request_id,
                amount=wire.money_to_wire(confirmation.payer_amount),
                expires_at=format_time(confirmation.expires_at),
            )
        )
    else:
        unavailable = confirmation.refusal is EntryOrderRefusal.UNAVAILABLE
        status = 503 if unavailable else 422
        message = plain_text(confirmation.message or confirmation.refusal.value, _MAX_MESSAGE)
        body = wire.encode(
            wire.EntryOrderRefusalBody(
                error=wire.ErrorDetail(
                    type=codes.NOT_ACCEPTED if unavailable else ENTRY_ORDER_REFUSED,
                    code=confirmation.refusal.value,
                    message=message,
                ),
                entry_order_id=confirmation.partner_order_id,
            )
        )
        if unavailable:
            headers["Retry-After"] = "1"
    timestamp = timestamp_of(now)
    headers["X-Timestamp"] = timestamp
    headers["X-Signature"] = sign(secret, response_content(timestamp, status, body))
    return Acknowledgment(status=status, headers=headers, body=body)
