"""Domain requests -> WalletRest request bodies and paths.

`amount` is the payer amount and `merchant_amount` the merchant's (the package docstring has the
mapping); the wallet code is sent only as `payment_code`. A refund names its payment by our
request id of it (`RefundRequest.payment_partner_reference` is not used). An order (a code for
the tourist to scan) carries the same amounts, the wallet, its expiry and where to notify.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from adapters._base import (
    MerchantInfo,
    OrderCodeRequest,
    PayRequest,
    RefundRequest,
    SettlementFileRequest,
)
from adapters.walletrest import models as wire

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "ORDERS_PATH",
    "create_order_body",
    "create_payment_body",
    "create_refund_body",
    "format_time",
    "settlement_report_path",
]

DEFAULT_TERMINAL_ID = "POS"
ORDERS_PATH = "/v1/orders"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, whole seconds: `2026-11-26T02:00:00+00:00`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- requests --------------------------------------------------------------------------------


def _merchant(merchant: MerchantInfo) -> wire.Merchant:
    return wire.Merchant(
        id=merchant.id,
        name=merchant.name,
        country=merchant.country,
        mcc=merchant.mcc,
        store_id=merchant.store_id,
        terminal_id=merchant.terminal_id or DEFAULT_TERMINAL_ID,
    )


def create_payment_body(request: PayRequest) -> wire.CreatePayment:
    return wire.CreatePayment(
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        payment_code=request.code.value,
        reference=request.reference,
        description=request.description or None,
        merchant=_merchant(request.merchant),
        requested_at=format_time(request.requested_at),
    )


def create_order_body(request: OrderCodeRequest) -> wire.CreateOrder:
    """`POST /v1/orders`: the order is named by our partner request id (also its
    Idempotency-Key); `expires_at` in whole seconds, never later than asked."""
    return wire.CreateOrder(
        order_id=request.partner_request_id,
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        wallet=request.wallet,
        reference=request.reference,
        description=request.description or None,
        merchant=_merchant(request.merchant),
        requested_at=format_time(request.requested_at),
        expires_at=format_time(request.expires_at),
        notify_url=request.notify_url,
    )


def create_refund_body(request: RefundRequest) -> wire.CreateRefund:
    return wire.CreateRefund(
        payment=request.payment_partner_request_id,
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        reference=request.reference,
        reason=request.reason or None,
    )


def settlement_report_path(request: SettlementFileRequest) -> str:
    """`/v1/settlement_reports/{YYYY-MM-DD}`, with `?currency=` when one is asked for."""
    path = f"/v1/settlement_reports/{request.business_date.isoformat()}"
    return f"{path}?currency={quote(request.currency, safe='')}" if request.currency else path
