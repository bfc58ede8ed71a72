"""A payment as API.md shows it. Pure: the same function feeds answers, replays, lists and
events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.render import rfc3339
from gateway.payments.model import Payment, PaymentMethod, PaymentStatus
from gateway.quotes.views import quote_terms_view
from gateway.wire.common import money

if TYPE_CHECKING:
    from gateway.wire import payments as wire

__all__ = ["payment_view"]


def payment_view(payment: Payment) -> wire.Payment:
    cancellation: wire.Cancellation | None = None
    if payment.cancel_status is not None:
        # A cancel is always stored with its request time, but the model's types do not say so.
        cancellation = {  # type: ignore[assignment]
            "status": payment.cancel_status.value,
            "requested_at": rfc3339(payment.cancel_requested_at),
        }
    failure = payment.failure
    return {
        "id": payment.id,
        "object": "payment",
        "merchant_reference": payment.merchant_reference,
        "status": payment.status.value,
        "amount": money(payment.amount),
        "payer_amount": money(payment.payer_amount),
        "wallet": payment.wallet,
        "partner": payment.partner,
        "routing": {"reason": payment.route_reason},
        "quote": quote_terms_view(payment.quote),
        "amount_refunded": {
            "currency": payment.amount.currency.code,
            "value": payment.refunded_value,
        },
        "cancellation": cancellation,
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
        "partner_reference": payment.partner_reference,
        "payment_method": _method(payment),
        "next_action": _next_action(payment),
        "store_id": payment.store_id,
        "terminal_id": payment.terminal_id,
        "metadata": dict(sorted(payment.metadata.items())),  # as stored: keys sorted
        "created_at": rfc3339(payment.created_at),
        "updated_at": rfc3339(payment.updated_at),
    }


def _method(
    payment: Payment,
) -> wire.WalletCodeMethod | wire.MerchantQrMethod | wire.EntryCodeMethod:
    if payment.method is PaymentMethod.MERCHANT_QR:
        return {"type": "merchant_qr", "wallet": payment.wallet}
    if payment.method is PaymentMethod.ENTRY_CODE:
        return {"type": "entry_code", "wallet": payment.wallet}
    return {"type": "wallet_code", "code_masked": payment.code_mask}


def _next_action(payment: Payment) -> wire.DisplayQr | None:
    if payment.status is not PaymentStatus.REQUIRES_CUSTOMER or payment.qr_code is None:
        return None
    if payment.cancel_status is not None:  # being closed at the partner: nothing to scan
        return None
    assert payment.qr_expires_at is not None, "a displayed code has its expiry"
    return {
        "type": "display_qr",
        "qr_code": payment.qr_code,
        "expires_at": rfc3339(payment.qr_expires_at),
    }
