"""Wire schemas of the Alipay+ / Antom payments API, shared by the client and the sandbox.

Field names are snake_case in Python and camelCase on the wire (`merchantMCC`/`storeMCC` are
spelled out, since they are not plain camelCase). Every model keeps unknown fields
(`extra="allow"`): partners add response fields, and SDK clients send optional request fields,
without notice, and neither must break a parse. Amounts are strings of minor units.

Serialise with `encode()`: compact, in declaration order, `None` fields left out, so the bytes
we sign are deterministic.

The exchange-rate inquiry's `quotePrice` is a JSON number on the wire (Ant's Go SDK reads it
as float32): `encode_with_prices()` writes it unquoted from its decimal text (never via float),
and a reader gets it as text (`adapters.alipayplus.transforms.rates`); here it is a string.

The settlement file is CSV, not JSON: `SETTLEMENT_COLUMNS` is its header, `SettlementRecord` one
row (every cell a string, "" when empty), `SETTLEMENT_END` its last line (see the package
docstring).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "SETTLEMENT_COLUMNS",
    "SETTLEMENT_END",
    "SETTLEMENT_REQUIRED",
    "AckResult",
    "Address",
    "Amount",
    "CancelRequest",
    "CancelResponse",
    "CodeDetail",
    "CurrencyPair",
    "Env",
    "InboundResult",
    "InquireExchangeRateRequest",
    "InquireExchangeRateResponse",
    "InquiryPaymentRequest",
    "InquiryPaymentResponse",
    "InquiryRefundRequest",
    "InquiryRefundResponse",
    "Merchant",
    "NotifyAcknowledgment",
    "NotifyPaymentRequest",
    "Order",
    "OrderCodeForm",
    "PayRequest",
    "PayResponse",
    "PaymentFactor",
    "PaymentMethod",
    "Quote",
    "RefundRequest",
    "RefundResponse",
    "RegistrationMerchantInfo",
    "RegistrationRequest",
    "RegistrationResponse",
    "RegistrationStoreInfo",
    "Result",
    "SettlementFileRefusal",
    "SettlementFileRequest",
    "SettlementRecord",
    "SettlementStrategy",
    "Store",
    "UserInitiatedPayRequest",
    "UserInitiatedPayResponse",
    "encode",
    "encode_with_prices",
]


class _Wire(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
    )


def encode(model: BaseModel) -> bytes:
    """Compact, deterministic JSON bytes of a wire model (the exact bytes that get signed)."""
    return model.model_dump_json(by_alias=True, exclude_none=True).encode("utf-8")


class Amount(_Wire):
    """`{"currency": "THB", "value": "125050"}`: ISO 4217 code and minor units as a string."""

    currency: str
    value: str


class Result(_Wire):
    """Did the call work: status S (succeeded) / F (failed, final) / U (unknown)."""

    result_status: str | None = None
    result_code: str | None = None
    result_message: str | None = None


class Store(_Wire):
    reference_store_id: str
    store_name: str
    store_mcc: str = Field(alias="storeMCC")


class Merchant(_Wire):
    reference_merchant_id: str
    merchant_mcc: str = Field(alias="merchantMCC")
    merchant_name: str
    store: Store


class Env(_Wire):
    store_terminal_id: str
    store_terminal_request_time: str


class Order(_Wire):
    """`env` (the terminal) is required for a user-presented code (the sandbox insists) and
    absent from an order code's pay (no terminal scans anything)."""

    reference_order_id: str
    order_description: str
    order_amount: Amount
    merchant: Merchant
    env: Env | None = None


class PaymentMethod(_Wire):
    payment_method_type: str
    # The scanned wallet code (user-presented only): kept out of reprs (and so out of logs and
    # assertion output). An order code's pay has none: the tourist's wallet is not known yet.
    payment_method_id: str | None = Field(default=None, repr=False)


class PaymentFactor(_Wire):
    in_store_payment_scenario: str | None = None


class SettlementStrategy(_Wire):
    settlement_currency: str | None = None


class Quote(_Wire):
    """An exchange rate: `quoteCurrencyPair` "THB/CNY" with `quotePrice` p is 1 THB = p CNY."""

    quote_id: str | None = None
    quote_currency_pair: str | None = None
    quote_price: str | None = None  # a JSON number in exchange-rate answers (module docstring)
    quote_start_time: str | None = None
    quote_expiry_time: str | None = None


class PayRequest(_Wire):
    """`POST /v1/payments/pay`, user-presented code in store."""

    product_code: str
    payment_request_id: str = Field(min_length=1, max_length=64)
    order: Order
    payment_amount: Amount
    payment_method: PaymentMethod
    payment_factor: PaymentFactor | None = None
    payment_expiry_time: str | None = None
    payment_notify_url: str | None = None
    settlement_strategy: SettlementStrategy | None = None


class CodeDetail(_Wire):
    """One rendering of an order code: `displayType` TEXT carries the code's own text (what
    the QR encodes); SMALLIMAGE / MIDDLEIMAGE / BIGIMAGE an image URL of it. `codeValueType`
    is QRCODE or BARCODE."""

    code_value_type: str | None = None
    code_value: str | None = None
    display_type: str | None = None


class OrderCodeForm(_Wire):
    """The order code of a merchant-presented `pay` (`inStorePaymentScenario` OrderCode):
    until `expireTime` (ISO 8601 with offset), in up to four `codeDetails`."""

    payment_method_type: str | None = None
    expire_time: str | None = None
    code_details: list[CodeDetail] | None = None
    extend_info: str | None = None


class PayResponse(_Wire):
    result: Result | None = None
    payment_request_id: str | None = None
    payment_id: str | None = None
    payment_amount: Amount | None = None
    payment_time: str | None = None
    payment_create_time: str | None = None
    payment_quote: Quote | None = None
    settlement_quote: Quote | None = None
    customer_id: str | None = None
    order_code_form: OrderCodeForm | None = None


class _Inbound(_Wire):
    """What the partner sends us unasked is read by its camelCase names only: a snake_case
    twin of a field is an unknown extra, never a second value for it."""

    model_config = ConfigDict(validate_by_name=False, validate_by_alias=True)


class InboundResult(Result):
    """A `result` read by its wire names only (as `_Inbound`)."""

    model_config = _Inbound.model_config


class NotifyPaymentRequest(_Inbound):
    """`notifyPayment`, the partner's signed POST to the pay request's `paymentNotifyUrl`:
    `notifyType` PAYMENT_RESULT and `result` S (paid) or F (failed) for the payment of
    `paymentRequestId`, with what was paid (`paymentAmount`) and when (`paymentTime`, on S).
    Field names follow Ant's SDK (`AlipayPayResultNotify`)."""

    notify_type: str | None = None
    result: InboundResult | None = None
    payment_request_id: str | None = None
    payment_id: str | None = None
    payment_amount: Amount | None = None
    payment_create_time: str | None = None
    payment_time: str | None = None


class Address(_Wire):
    region: str  # ISO 3166 alpha-2


class RegistrationMerchantInfo(_Wire):
    reference_merchant_id: str = Field(min_length=1, max_length=64)
    merchant_mcc: str = Field(alias="merchantMCC")
    merchant_name: str = Field(min_length=1, max_length=256)
    merchant_address: Address | None = None


class RegistrationStoreInfo(_Wire):
    reference_store_id: str = Field(min_length=1, max_length=64)
    store_name: str = Field(min_length=1, max_length=256)
    store_mcc: str = Field(alias="storeMCC")
    store_address: Address | None = None


class RegistrationRequest(_Wire):
    """`POST /v1/merchants/registration` (after Antom's): register a store for entry codes.
    `registrationRequestId` is the merchant's store id (a re-sent registration is the same
    one); entry orders and payment notifications for it go to `paymentNotifyUrl`; the store
    is paid in `settlementStrategy.settlementCurrency`."""

    registration_request_id: str = Field(min_length=1, max_length=64)
    product_codes: list[str] | None = None
    merchant_info: RegistrationMerchantInfo
    store_info: RegistrationStoreInfo
    settlement_strategy: SettlementStrategy
    payment_notify_url: str = Field(min_length=1, max_length=2048)


class RegistrationResponse(_Wire):
    """The store's entry code in `entryCodeForm.codeDetails` (TEXT: the QR's content) and the
    partner's own id of the store (`storeId`)."""

    result: Result | None = None
    registration_request_id: str | None = None
    reference_store_id: str | None = None
    store_id: str | None = None
    entry_code_form: OrderCodeForm | None = None


class UserInitiatedPayRequest(_Inbound):
    """The entry order, after Alipay+ `userInitiatedPay` (field names as in Ant's SDK where it
    has them: `pspId`, `codeValue`, `customerId`): the partner's signed POST to the store's
    `paymentNotifyUrl`, told apart from `notifyPayment` by `notifyType` USER_INITIATED_PAY.
    A tourist paying with `pspId`'s wallet scanned `codeValue` (the store
    `referenceStoreId`'s entry code) and typed `orderAmount` (the store's currency)."""

    notify_type: str | None = None
    entry_order_id: str | None = None
    psp_id: str | None = None
    code_value: str | None = None
    customer_id: str | None = None
    reference_store_id: str | None = None
    store_id: str | None = None
    order_amount: Amount | None = None
    order_create_time: str | None = None


class UserInitiatedPayResponse(_Wire):
    """The merchant's signed answer to an entry order (after `userInitiatedPay`'s response):
    S SUCCESS with the payment request to charge (`paymentRequestId`, `amount` in the
    wallet's currency, `paymentExpiryTime`), or F / U with nothing to charge."""

    result: Result | None = None
    entry_order_id: str | None = None
    payment_request_id: str | None = None
    amount: Amount | None = None
    payment_expiry_time: str | None = None


class AckResult(_Wire):
    """The `result` of a notification's acknowledgment, in the order Ant's samples write it."""

    result_code: str
    result_status: str
    result_message: str


class NotifyAcknowledgment(_Wire):
    """The merchant's answer to a notification: S SUCCESS (processed) or F (send it again)."""

    result: AckResult


class _ByPayment(_Wire):
    """Requests that name a payment by our request id or the partner's payment id."""

    payment_request_id: str | None = Field(default=None, max_length=64)
    payment_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_id(self) -> _ByPayment:
        if not self.payment_request_id and not self.payment_id:
            raise ValueError("paymentRequestId or paymentId is required")
        return self


class InquiryPaymentRequest(_ByPayment):
    """`POST /v1/payments/inquiryPayment`."""


class InquiryPaymentResponse(_Wire):
    """`result` says whether the inquiry worked; `paymentStatus` is the payment's own state.

    Antom reports `paymentStatus` (SUCCESS | FAIL | PROCESSING | CANCELLED | PENDING); the
    Alipay+ acquirer flavour reports `paymentResult {resultStatus, resultCode}` instead.
    """

    result: Result | None = None
    payment_status: str | None = None
    payment_result_code: str | None = None
    payment_result_message: str | None = None
    payment_result: Result | None = None
    payment_request_id: str | None = None
    payment_id: str | None = None
    payment_amount: Amount | None = None
    payment_time: str | None = None
    payment_create_time: str | None = None
    payment_quote: Quote | None = None
    settlement_quote: Quote | None = None


class CancelRequest(_ByPayment):
    """`POST /v1/payments/cancel`: full amount, whatever the payment's state, within a window."""


class CancelResponse(_Wire):
    result: Result | None = None
    payment_id: str | None = None
    payment_request_id: str | None = None
    cancel_time: str | None = None


class RefundRequest(_Wire):
    """`POST /v1/payments/refund`: part or all of a payment, by the refund's own request id.

    Antom names the payment by `paymentId` (required there); the Alipay+ acquirer flavour also
    accepts `paymentRequestId`. One of them is required; `paymentId` takes precedence. Field
    names follow Ant's SDK request model (`AlipayRefundRequest`); its other optional fields
    (`isAsyncRefund`, `extendInfo`, `refundDetails`...) are kept as extras.
    """

    refund_request_id: str = Field(min_length=1, max_length=64)
    payment_id: str | None = Field(default=None, max_length=64)
    payment_request_id: str | None = Field(default=None, max_length=64)
    reference_refund_id: str | None = Field(default=None, max_length=64)
    refund_amount: Amount
    refund_reason: str | None = Field(default=None, max_length=256)
    refund_notify_url: str | None = Field(default=None, max_length=1024)

    @model_validator(mode="after")
    def _payment_named(self) -> RefundRequest:
        if not self.payment_id and not self.payment_request_id:
            raise ValueError("paymentId or paymentRequestId is required")
        return self


class RefundResponse(_Wire):
    """`result` S: the refund is made; F: declined for good; U: inquire (same request id)."""

    result: Result | None = None
    refund_request_id: str | None = None
    refund_id: str | None = None
    payment_id: str | None = None
    refund_amount: Amount | None = None
    refund_time: str | None = None
    gross_settlement_amount: Amount | None = None
    settlement_quote: Quote | None = None


class InquiryRefundRequest(_Wire):
    """`POST /v1/payments/inquiryRefund`: by `refundRequestId` or `refundId` (which wins)."""

    refund_request_id: str | None = Field(default=None, max_length=64)
    refund_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _one_id(self) -> InquiryRefundRequest:
        if not self.refund_request_id and not self.refund_id:
            raise ValueError("refundRequestId or refundId is required")
        return self


class InquiryRefundResponse(_Wire):
    """`result` says whether the inquiry worked; `refundStatus` (SUCCESS | FAIL | PROCESSING)
    is the refund's own state, with `refundResultCode` / `refundResultMessage` on FAIL."""

    result: Result | None = None
    refund_id: str | None = None
    refund_request_id: str | None = None
    refund_amount: Amount | None = None
    refund_status: str | None = None
    refund_result_code: str | None = None
    refund_result_message: str | None = None
    refund_time: str | None = None
    gross_settlement_amount: Amount | None = None
    settlement_quote: Quote | None = None


class CurrencyPair(_Wire):
    """One pair of an exchange-rate inquiry: the rate of 1 `sellCurrency` in `buyCurrency`."""

    sell_currency: str
    buy_currency: str


class InquireExchangeRateRequest(_Wire):
    """`POST /v1/payments/inquireExchangeRate`, signed like `pay`.

    Fields and their order follow Ant's SDK request model (`AlipayInquireExchangeRateRequest`):
    the pairs in `currencyPairs` (what we send), or one pair as top-level `sellCurrency` /
    `buyCurrency` (which the sandbox accepts too); `productCode`, and the optional
    `merchantAccountId`, `paymentCurrency` and `rateType` (TRADE | REFERENCE |
    REFERENCE_TRADE), which we do not send.
    """

    merchant_account_id: str | None = None
    payment_currency: str | None = None
    currency_pairs: list[CurrencyPair] | None = None
    sell_currency: str | None = None
    buy_currency: str | None = None
    product_code: str | None = None
    rate_type: str | None = None


class InquireExchangeRateResponse(_Wire):
    """`result`, and one `quotes` entry per pair asked for. (The SDK's model also has
    `paymentQuotes`, kept as an extra if a partner sends it.)"""

    result: Result | None = None
    quotes: list[Quote] | None = None


_QUOTE_PRICE_TEXT = re.compile(rb'"quotePrice":"((?:0|[1-9][0-9]*)(?:\.[0-9]+)?)"')


def encode_with_prices(model: BaseModel) -> bytes:
    """`encode()`, with every `quotePrice` that is a plain decimal written as a JSON number.

    Only a key can match: inside a JSON string the quotes around `quotePrice` would be escaped.
    """
    return _QUOTE_PRICE_TEXT.sub(rb'"quotePrice":\1', encode(model))


class SettlementFileRequest(_Wire):
    """`POST /v1/settlements/file`: the file of one settlement date (the partner's business day,
    `YYYY-MM-DD`), in one transaction currency when `settlementCurrency` is given."""

    settlement_date: str = Field(min_length=10, max_length=10)
    settlement_currency: str | None = Field(default=None, min_length=3, max_length=3)


class SettlementFileRefusal(_Wire):
    """The JSON answer of `/v1/settlements/file` when there is no file (a signed F result)."""

    result: Result | None = None


class SettlementRecord(_Wire):
    """One row of the settlement file, cell by cell (strings, "" for an empty cell)."""

    settlement_batch_id: str
    settlement_date: str
    transaction_type: str  # PAYMENT | REFUND
    payment_request_id: str
    payment_id: str
    refund_request_id: str = ""
    refund_id: str = ""
    transaction_amount_value: str  # signed minor units: a refund is negative
    transaction_currency: str
    fee_amount_value: str  # signed minor units: the fee a refund gives back is negative
    fee_currency: str
    settlement_amount_value: str  # transaction − fee
    settlement_currency: str
    order_amount_value: str = ""  # the pay request's orderAmount (minor units), if known
    order_currency: str = ""
    quote_currency_pair: str = ""  # "<order currency>/<transaction currency>"
    quote_price: str = ""  # transaction currency units per order currency unit
    transaction_time: str


SETTLEMENT_COLUMNS: tuple[str, ...] = tuple(
    field.alias or name for name, field in SettlementRecord.model_fields.items()
)
SETTLEMENT_REQUIRED: tuple[str, ...] = tuple(
    field.alias or name
    for name, field in SettlementRecord.model_fields.items()
    if field.is_required()
)
SETTLEMENT_END = "<END>"
