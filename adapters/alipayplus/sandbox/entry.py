"""The Alipay+ sandbox's entry codes, in Alipay+ words (the rules are `adapters._sandbox.stores`
and `adapters._sandbox.entry`; the wire shapes `adapters.alipayplus.transforms.entry`).

`merchants/registration` (signed, by a known merchant like every call) registers the store
under the caller's client-id and answers S SUCCESS with `storeId` and `entryCodeForm`
(`codeDetails`: one TEXT QRCODE entry): an EMVCo static payload for a TH store in THB or a
PH store in PHP, else `<sandbox base url>/e/<storeId>`. The same `registrationRequestId`
again answers the same store and code (name, MCC and `paymentNotifyUrl` updated); with
another currency or region, F REPEAT_REQ_INCONSISTENT. Bad fields (the store id differing
from `registrationRequestId`, a region that is not two capital letters, an unknown currency,
a notify URL that is not http(s)): F PARAM_ILLEGAL.

The entry order (`AlipayPlusEntry.entry_order`) is POSTed to the store's `paymentNotifyUrl`
signed as `notifyPayment` is (`client-id` the registering client, `request-time`,
`signature`). The answer counts only when it is HTTP 200, signed by that client's key over
`POST <notify path>\\n<client-id>.<response-time>.<body>`, and echoes the `entryOrderId`: then
S SUCCESS with `paymentRequestId`, a positive strict `amount` and a readable
`paymentExpiryTime` is a charge to make, and F / U a refusal (its `resultCode`). The charge is
an ordinary order-code payment (`Scenario.ORDER`, PROCESSING, then scanned), so
`inquiryPayment`, `cancel`, refunds and `notifyPayment` treat it like any other.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from aiohttp import web

from adapters._base import parse_time
from adapters._entry_fields import plain_id
from adapters._sandbox.entry import EntryAnswer, EntryOrderRecord
from adapters._sandbox.orders import Order, OutboundNotification, base_url_of
from adapters._sandbox.scenarios import Scenario
from adapters._sandbox.stores import Store, StoreConflict
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import (
    STATE,
    Reply,
    SandboxState,
    authenticated_body,
    parse_body,
    result,
    signed,
)
from adapters.alipayplus.sandbox.ledger import PaymentStatus
from adapters.alipayplus.sandbox.orders import QR_CODE, TEXT, _http_url, signed_request
from adapters.alipayplus.signing import SignatureHeader, build_content, verify
from fx import FXError, from_minor_str, to_minor_str

__all__ = ["STORE_ID_PREFIX", "AlipayPlusEntry", "handle_registration"]

STORE_ID_PREFIX = "SBXST"
USER_INITIATED_PAY = "USER_INITIATED_PAY"


def _illegal(field: str) -> Reply:
    return Reply("F", codes.PARAM_ILLEGAL, f"Illegal parameters: {field}")


def _registration_answer(store: Store) -> wire.RegistrationResponse:
    return wire.RegistrationResponse(
        result=result("S", codes.SUCCESS, "Success"),
        registration_request_id=store.store_id,
        reference_store_id=store.store_id,
        store_id=store.partner_store_id,
        entry_code_form=wire.OrderCodeForm(
            code_details=[
                wire.CodeDetail(code_value_type=QR_CODE, code_value=store.code, display_type=TEXT)
            ]
        ),
    )


async def handle_registration(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.RegistrationRequest)
        store_info = body.store_info
        if store_info.reference_store_id != body.registration_request_id:
            raise _illegal("storeInfo.referenceStoreId")
        if not plain_id(body.registration_request_id):
            raise _illegal("registrationRequestId")
        if not _http_url(body.payment_notify_url):
            raise _illegal("paymentNotifyUrl")
        address = store_info.store_address or body.merchant_info.merchant_address
        currency = body.settlement_strategy.settlement_currency
        if address is None or currency is None:
            raise _illegal("storeInfo.storeAddress.region or settlementCurrency")
        entries = state.entries
        assert entries is not None
        try:
            store, _ = entries.stores.register(
                owner=request.headers.get("client-id", ""),
                store_id=body.registration_request_id,
                merchant_id=body.merchant_info.reference_merchant_id,
                name=store_info.store_name,
                currency=currency,
                country=address.region,
                mcc=store_info.store_mcc,
                notify_url=body.payment_notify_url,
                base_url=base_url_of(request),
            )
        except StoreConflict as exc:
            raise Reply("F", codes.REPEAT_REQ_INCONSISTENT, str(exc)) from None
        except ValueError as exc:
            raise Reply("F", codes.PARAM_ILLEGAL, f"Illegal parameters: {exc}") from None
    except Reply as reply:
        return signed(request, state, wire.RegistrationResponse(result=reply.result))
    return signed(request, state, _registration_answer(store))


class AlipayPlusEntry:
    """The entry desk's `EntryProtocol` for Alipay+."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def entry_order(self, entry: EntryOrderRecord) -> OutboundNotification:
        store = entry.store
        state = self._state
        fields: dict[str, Any] = {
            "notifyType": USER_INITIATED_PAY,
            "entryOrderId": entry.entry_order_id,
            "pspId": entry.wallet,
            "codeValue": entry.scanned_code,
            "referenceStoreId": store.store_id,
            "storeId": store.partner_store_id,
            "orderAmount": {
                "currency": entry.amount.currency.code,
                "value": to_minor_str(entry.amount),
            },
            "orderCreateTime": entry.created_at.isoformat(timespec="seconds"),
        }
        raw = wire.encode(wire.UserInitiatedPayRequest.model_validate(fields))
        return signed_request(state, store.notify_url, store.owner, raw)

    def entry_answer(
        self, entry: EntryOrderRecord, status: int, headers: Mapping[str, str], body: bytes
    ) -> EntryAnswer:
        valid = self._signature_valid(entry.store, headers, body)
        if status != 200 or not valid:
            return EntryAnswer(status, valid, error="not a signed HTTP 200 answer")
        try:
            answer = wire.UserInitiatedPayResponse.model_validate(json.loads(body))
        except (ValueError, TypeError, RecursionError):
            return EntryAnswer(status, valid, error="unreadable answer")
        outcome = answer.result
        if outcome is None or answer.entry_order_id != entry.entry_order_id:
            return EntryAnswer(status, valid, error="no result, or another entryOrderId")
        message = outcome.result_message or ""
        if outcome.result_status != "S" or outcome.result_code != codes.SUCCESS:
            return EntryAnswer(status, valid, code=outcome.result_code or "-", message=message)
        expires_at = parse_time(answer.payment_expiry_time)
        request_id = answer.payment_request_id
        try:
            amount = (
                from_minor_str(answer.amount.value, answer.amount.currency)
                if answer.amount is not None
                else None
            )
        except FXError:
            amount = None
        if not plain_id(request_id) or amount is None or amount.value <= 0 or expires_at is None:
            return EntryAnswer(status, valid, error="S without a usable payment request")
        return EntryAnswer(
            status,
            valid,
            confirmed=True,
            partner_request_id=request_id,
            payer_amount=amount,
            expires_at=expires_at,
            message=message,
        )

    def _signature_valid(self, store: Store, headers: Mapping[str, str], body: bytes) -> bool:
        key = self._state.merchant_keys.get(store.owner)
        header = headers.get("signature")
        client_id = headers.get("client-id")
        response_time = headers.get("response-time")
        if key is None or not header or client_id != store.owner or response_time is None:
            return False
        try:
            parsed = SignatureHeader.parse(header)
        except ValueError:
            return False
        path = httpx.URL(store.notify_url).path
        return verify(
            key, build_content("POST", path, client_id, response_time, body), parsed.signature
        )

    def open_payment(
        self, entry: EntryOrderRecord, answer: EntryAnswer, expires_at: datetime
    ) -> Order:
        state = self._state
        store = entry.store
        assert answer.partner_request_id is not None and answer.payer_amount is not None
        payer = answer.payer_amount
        record = state.ledger.record(
            payment_request_id=answer.partner_request_id,
            amount=wire.Amount(currency=payer.currency.code, value=to_minor_str(payer)),
            merchant_amount=wire.Amount(
                currency=entry.amount.currency.code, value=to_minor_str(entry.amount)
            ),
            code=None,
            scenario=Scenario.ORDER,
            status=PaymentStatus.PROCESSING,
            result_code=codes.PAYMENT_IN_PROCESS,
            expires_at=expires_at,
        )
        record.pay_calls = 1
        return state.orders.open(
            payment_request_id=answer.partner_request_id,
            payment_id=record.payment_id,
            amount=payer,
            notify_url=store.notify_url,
            recipient=store.owner,
            fingerprint=f"entry:{entry.entry_order_id}",
            base_url=store.base_url,
            expires_at=expires_at,
        )
