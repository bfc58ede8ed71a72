"""The WalletRest sandbox's entry codes, in WalletRest words (the rules are
`adapters._sandbox.stores` and `adapters._sandbox.entry`; the wire shapes
`adapters.walletrest.transforms.entry`).

`POST /v1/stores` (authenticated like every POST; `store_id` must be the Idempotency-Key)
registers the store under the caller's account and answers, signed, 201 Store `active` with
its `entry_code` (an EMVCo static payload for a TH store in THB or a PH store in PHP, else
`<sandbox base url>/e/<id>`); the same store id again answers 200 (Idempotent-Replayed) with
the same store and code, its name, MCC and `notify_url` updated. 409 `invalid_state`
`store_conflict` when it changes the currency or the country; 400 `invalid_request`
(`store_id_mismatch`, `notify_url_invalid`, `currency_invalid`, `country_invalid`).

The entry order (`WalletRestEntry.entry_order`) is an `entry_order.created` event POSTed to
the store's `notify_url`, signed like a `payment.result` (`<timestamp>.<raw body>`). The answer
counts only when signed with the shared secret over `<timestamp>.<status>.<raw body>`, fresh,
and echoing the `entry_order_id`: a 200 `confirmed` with `order_id`, an exact positive
`amount` and a readable `expires_at` is a charge to make; a 4xx/503 `{"error": {"code"}}` a
refusal. The charge is an ordinary order's payment, so `GET /v1/payments/{order_id}`, its
cancel and refunds work as on any payment, and its `payment.result` follows the scan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

from adapters._base import parse_time
from adapters._entry_fields import plain_id
from adapters._sandbox.entry import EntryAnswer, EntryOrderRecord
from adapters._sandbox.orders import Order, OutboundNotification, base_url_of
from adapters._sandbox.stores import Store, StoreConflict
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.exchange import (
    STATE,
    Reply,
    SandboxState,
    authenticated_body,
    body_fingerprint,
    idempotency_key,
    parse_body,
    signed,
)
from adapters.walletrest.sandbox.orders import _account, _is_http_url
from adapters.walletrest.signing import (
    is_fresh,
    notification_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from fx import FXError

__all__ = ["STORE_ID_PREFIX", "WalletRestEntry", "handle_create_store"]

STORE_ID_PREFIX = "wr_st_"
ENTRY_ORDER_CREATED = "entry_order.created"
CONFIRMED = "confirmed"


def _store_to_wire(store: Store) -> wire.Store:
    return wire.Store(
        id=store.partner_store_id,
        store_id=store.store_id,
        name=store.name,
        currency=store.currency.code,
        country=store.country,
        status="active",
        entry_code=store.code,
        notify_url=store.notify_url,
        created_at=store.registered_at.isoformat(timespec="seconds"),
    )


async def handle_create_store(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        key = idempotency_key(request)
        body = parse_body(raw, wire.CreateStore)
        if body.store_id != key:
            raise Reply(
                400,
                codes.INVALID_REQUEST,
                "store_id must be the Idempotency-Key.",
                code="store_id_mismatch",
            )
        if not plain_id(body.store_id):
            raise Reply(400, codes.INVALID_REQUEST, "Invalid store_id.", code="parameter_invalid")
        if not _is_http_url(body.notify_url):
            raise Reply(
                400,
                codes.INVALID_REQUEST,
                "notify_url must be an http(s) URL.",
                code="notify_url_invalid",
            )
        entries = state.entries
        assert entries is not None
        try:
            store, created = entries.stores.register(
                owner=_account(state.settings, request),
                store_id=body.store_id,
                merchant_id=body.merchant.id,
                name=body.name,
                currency=body.currency,
                country=body.merchant.country,
                mcc=body.merchant.mcc,
                notify_url=body.notify_url,
                base_url=base_url_of(request),
            )
        except StoreConflict as exc:
            raise Reply(409, codes.INVALID_STATE, str(exc), code="store_conflict") from None
        except ValueError as exc:
            field = "currency" if "currency" in str(exc) else "country"
            raise Reply(400, codes.INVALID_REQUEST, str(exc), code=f"{field}_invalid") from None
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    return signed(state, 201 if created else 200, _store_to_wire(store), replayed=not created)


class WalletRestEntry:
    """The entry desk's `EntryProtocol` for WalletRest."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def entry_order(self, entry: EntryOrderRecord) -> OutboundNotification:
        settings = self._state.settings
        event = hashlib.sha256(f"{entry.entry_order_id}.entry".encode()).hexdigest()[:24]
        body = wire.encode(
            wire.EntryOrderCreated(
                type=ENTRY_ORDER_CREATED,
                id=f"wr_evt_{event}",
                entry_order_id=entry.entry_order_id,
                store_id=entry.store.store_id,
                store=entry.store.partner_store_id,
                amount=wire.money_to_wire(entry.amount),
                wallet=entry.wallet,
                created_at=entry.created_at.isoformat(timespec="seconds"),
            )
        )
        timestamp = timestamp_of(settings.clock.now())
        return OutboundNotification(
            url=entry.store.notify_url,
            headers={
                "Content-Type": "application/json",
                "X-Timestamp": timestamp,
                "X-Signature": sign(settings.signing_secret, notification_content(timestamp, body)),
            },
            body=body,
        )

    def entry_answer(
        self, entry: EntryOrderRecord, status: int, headers: Mapping[str, str], body: bytes
    ) -> EntryAnswer:
        settings = self._state.settings
        timestamp = headers.get("x-timestamp")
        valid = (
            timestamp is not None
            and is_fresh(timestamp, settings.clock.now(), settings.signature_tolerance_seconds)
            and verify(
                settings.signing_secret,
                response_content(timestamp, status, body),
                headers.get("x-signature"),
            )
        )
        if not valid:
            return EntryAnswer(status, False, error="unsigned, stale or wrongly signed answer")
        if status != 200:
            try:
                refusal = wire.EntryOrderRefusalBody.model_validate_json(body)
            except ValueError:
                return EntryAnswer(status, True, error="unreadable refusal")
            if refusal.entry_order_id != entry.entry_order_id:
                return EntryAnswer(status, True, error="the refusal names another entry order")
            error = refusal.error
            return EntryAnswer(
                status, True, code=error.code or error.type or "-", message=error.message or ""
            )
        try:
            answer = wire.EntryOrderAnswer.model_validate_json(body)
            amount = wire.money_from_wire(answer.amount)
        except (ValueError, FXError):
            return EntryAnswer(status, True, error="unreadable confirmation")
        expires_at = parse_time(answer.expires_at)
        if (
            answer.entry_order_id != entry.entry_order_id
            or answer.status != CONFIRMED
            or not plain_id(answer.order_id)
            or amount.value <= 0
            or expires_at is None
        ):
            return EntryAnswer(status, True, error="not a usable confirmation")
        return EntryAnswer(
            status,
            True,
            confirmed=True,
            partner_request_id=answer.order_id,
            payer_amount=amount,
            expires_at=expires_at,
        )

    def open_payment(
        self, entry: EntryOrderRecord, answer: EntryAnswer, expires_at: datetime
    ) -> Order:
        state = self._state
        store = entry.store
        assert answer.partner_request_id is not None and answer.payer_amount is not None
        order_body = wire.CreateOrder(
            order_id=answer.partner_request_id,
            amount=wire.money_to_wire(answer.payer_amount),
            merchant_amount=wire.money_to_wire(entry.amount),
            wallet=entry.wallet,
            reference=entry.entry_order_id,
            merchant=wire.Merchant(
                id=store.merchant_id,
                name=store.name,
                country=store.country,
                mcc=store.mcc,
                store_id=store.store_id,
            ),
            expires_at=expires_at.isoformat(timespec="seconds"),
            notify_url=store.notify_url,
        )
        fingerprint = body_fingerprint(order_body)
        record = state.ledger.record_order(
            payment_request_id=answer.partner_request_id,
            body=order_body,
            body_sha256=fingerprint,
            expires_at=expires_at,
        )
        return state.orders.open(
            payment_request_id=answer.partner_request_id,
            payment_id=record.payment_id,
            amount=answer.payer_amount,
            notify_url=store.notify_url,
            recipient=store.owner,
            fingerprint=fingerprint,
            base_url=store.base_url,
            expires_at=expires_at,
        )
