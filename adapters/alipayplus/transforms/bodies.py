"""Domain requests -> Alipay+ request bodies (the package docstring has the amount mapping).

The wallet code goes only into `paymentMethod.paymentMethodId`. An order code's `pay` has none
(`order_code_body`). A refund names its payment by
`paymentId` when the caller knows it, else by `paymentRequestId` (the package docstring says
which partners accept that).
"""

from __future__ import annotations

from adapters._base import (
    CancelRequest,
    InquiryRequest,
    MerchantInfo,
    OrderCodeRequest,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    SettlementFileRequest,
)
from adapters.alipayplus import models as wire
from adapters.alipayplus.transforms.values import amount_to_wire, format_time

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "IN_STORE_PAYMENT",
    "ORDER_CODE_SCENARIO",
    "PAYMENT_CODE_SCENARIO",
    "WALLET_METHOD",
    "cancel_body",
    "inquiry_body",
    "order_code_body",
    "pay_body",
    "refund_body",
    "refund_inquiry_body",
    "settlement_file_body",
]

IN_STORE_PAYMENT = "IN_STORE_PAYMENT"
WALLET_METHOD = "CONNECT_WALLET"
PAYMENT_CODE_SCENARIO = "PaymentCode"
ORDER_CODE_SCENARIO = "OrderCode"
DEFAULT_TERMINAL_ID = "POS"  # storeTerminalId is required; merchants may not name terminals

_MAX_REFUND_REASON = 256


def _merchant(merchant: MerchantInfo) -> wire.Merchant:
    return wire.Merchant(
        reference_merchant_id=merchant.id,
        merchant_mcc=merchant.mcc,
        merchant_name=merchant.name,
        store=wire.Store(
            reference_store_id=merchant.store_id or merchant.id,
            store_name=merchant.name,
            store_mcc=merchant.mcc,
        ),
    )


def pay_body(request: PayRequest) -> wire.PayRequest:
    """The user-presented-code `pay` body for one domain pay request."""
    merchant = request.merchant
    return wire.PayRequest(
        product_code=IN_STORE_PAYMENT,
        payment_request_id=request.partner_request_id,
        order=wire.Order(
            reference_order_id=request.reference,
            order_description=request.description or f"Order {request.reference}",
            order_amount=amount_to_wire(request.amount),
            merchant=_merchant(merchant),
            env=wire.Env(
                store_terminal_id=merchant.terminal_id or DEFAULT_TERMINAL_ID,
                store_terminal_request_time=format_time(request.requested_at),
            ),
        ),
        payment_amount=amount_to_wire(request.payer_amount),
        payment_method=wire.PaymentMethod(
            payment_method_type=WALLET_METHOD,
            payment_method_id=request.code.value,
        ),
        payment_factor=wire.PaymentFactor(in_store_payment_scenario=PAYMENT_CODE_SCENARIO),
    )


def order_code_body(request: OrderCodeRequest) -> wire.PayRequest:
    """The merchant-presented `pay` (`inStorePaymentScenario` OrderCode) asking for a code the
    tourist scans: no wallet code and no terminal (`env`); the code is payable until
    `paymentExpiryTime` and its result is notified to `paymentNotifyUrl`. The wallet the POS
    chose is not named: under CONNECT_WALLET the tourist's wallet scans whatever it is."""
    return wire.PayRequest(
        product_code=IN_STORE_PAYMENT,
        payment_request_id=request.partner_request_id,
        order=wire.Order(
            reference_order_id=request.reference,
            order_description=request.description or f"Order {request.reference}",
            order_amount=amount_to_wire(request.amount),
            merchant=_merchant(request.merchant),
        ),
        payment_amount=amount_to_wire(request.payer_amount),
        payment_method=wire.PaymentMethod(payment_method_type=WALLET_METHOD),
        payment_factor=wire.PaymentFactor(in_store_payment_scenario=ORDER_CODE_SCENARIO),
        payment_expiry_time=format_time(request.expires_at),
        payment_notify_url=request.notify_url,
    )


def inquiry_body(request: InquiryRequest) -> wire.InquiryPaymentRequest:
    return wire.InquiryPaymentRequest(payment_request_id=request.partner_request_id)


def cancel_body(request: CancelRequest) -> wire.CancelRequest:
    return wire.CancelRequest(payment_request_id=request.partner_request_id)


def refund_body(request: RefundRequest) -> wire.RefundRequest:
    """The payment by `paymentId` when known, else by `paymentRequestId` (package docstring)."""
    payment_id = request.payment_partner_reference or None
    return wire.RefundRequest(
        refund_request_id=request.partner_request_id,
        payment_id=payment_id,
        payment_request_id=None if payment_id else request.payment_partner_request_id,
        refund_amount=amount_to_wire(request.payer_amount),
        # The protocol takes 256 characters; ours are up to 500, and only informative.
        refund_reason=request.reason[:_MAX_REFUND_REASON] if request.reason else None,
    )


def refund_inquiry_body(request: RefundInquiryRequest) -> wire.InquiryRefundRequest:
    return wire.InquiryRefundRequest(refund_request_id=request.partner_request_id)


def settlement_file_body(request: SettlementFileRequest) -> wire.SettlementFileRequest:
    return wire.SettlementFileRequest(
        settlement_date=request.business_date.isoformat(),
        settlement_currency=request.currency,
    )
