"""Domain requests -> WalletRest request bodies and paths.

`amount` is the payer amount and `merchant_amount` the merchant's (the package docstring has the
mapping); the wallet code is sent only as `payment_code`. A refund names its payment by our
request id of it (`RefundRequest.payment_partner_reference` is not used).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from adapters._base import PayRequest, RefundRequest, SettlementFileRequest
from adapters.walletrest import models as wire

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "create_payment_body",
    "create_refund_body",
    "format_time",
    "settlement_report_path",
]

DEFAULT_TERMINAL_ID = "POS"


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, whole seconds: `2026-11-26T02:00:00+00:00`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- requests --------------------------------------------------------------------------------


def create_payment_body(request: PayRequest) -> wire.CreatePayment:
    merchant = request.merchant
    return wire.CreatePayment(
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        payment_code=request.code.value,
        reference=request.reference,
        description=request.description or None,
        merchant=wire.Merchant(
            id=merchant.id,
            name=merchant.name,
            country=merchant.country,
            mcc=merchant.mcc,
            store_id=merchant.store_id,
            terminal_id=merchant.terminal_id or DEFAULT_TERMINAL_ID,
        ),
        requested_at=format_time(request.requested_at),
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
