"""Wire schemas of the WalletRest API, shared by the client and the sandbox.

Field names are snake_case on the wire as in Python. Every model keeps unknown fields
(`extra="allow"`): partners add response fields without notice, and that must not break a parse.
Amounts are `{"currency": "CNY", "value": "250.12"}`, major units with exactly the currency's
decimals, read strictly (`money_from_wire`), because an echoed amount is compared for equality.

Serialise with `encode()`: compact, in declaration order, `None` fields left out, so the bytes
we sign are deterministic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from fx import InvalidAmount, Money, from_major_str, to_major_str

__all__ = [
    "Amount",
    "CreateOrder",
    "CreatePayment",
    "CreateRefund",
    "CreateStore",
    "EntryOrderAnswer",
    "EntryOrderCreated",
    "EntryOrderRefusalBody",
    "ErrorBody",
    "ErrorDetail",
    "FxRates",
    "Merchant",
    "NotificationAck",
    "Order",
    "Payment",
    "PaymentResult",
    "Refund",
    "SettlementEntry",
    "SettlementReport",
    "SettlementTotal",
    "Store",
    "encode",
    "money_from_wire",
    "money_to_wire",
]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


def encode(model: BaseModel) -> bytes:
    """Compact, deterministic JSON bytes of a wire model (the exact bytes that get signed)."""
    return model.model_dump_json(exclude_none=True).encode("utf-8")


class Amount(_Wire):
    """ISO 4217 code and a major-unit decimal string: `{"currency": "JPY", "value": "1234"}`."""

    currency: str
    value: str


def money_to_wire(money: Money) -> Amount:
    return Amount(currency=money.currency.code, value=to_major_str(money))


def money_from_wire(amount: Amount) -> Money:
    """Strict: exactly the currency's decimals ("250.1" CNY is refused), else `fx.FXError`."""
    money = from_major_str(amount.value, amount.currency)
    if to_major_str(money) != amount.value:
        raise InvalidAmount(f"{amount.value!r} does not have exactly {amount.currency}'s decimals")
    return money


class Merchant(_Wire):
    id: str
    name: str
    country: str
    mcc: str
    store_id: str | None = None
    terminal_id: str | None = None


class CreatePayment(_Wire):
    """`POST /v1/payments`; its `Idempotency-Key` is our partner request id."""

    amount: Amount  # charged to the wallet (payer currency)
    merchant_amount: Amount  # what the tourist bought (merchant currency), for records
    # The scanned wallet code: kept out of reprs (and so out of logs and assertion output).
    payment_code: str = Field(repr=False, min_length=1, max_length=64)
    reference: str = Field(min_length=1, max_length=64)
    description: str | None = None
    merchant: Merchant
    requested_at: str | None = None


class Payment(_Wire):
    """A payment resource, addressed by the `request_id` (Idempotency-Key) that created it."""

    object: str = "payment"
    id: str | None = None  # the partner's own id
    request_id: str | None = None
    status: str | None = None
    amount: Amount | None = None
    merchant_amount: Amount | None = None
    amount_refunded: Amount | None = None
    reference: str | None = None
    decline_code: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    canceled_at: str | None = None


class CreateRefund(_Wire):
    """`POST /v1/refunds`; its `Idempotency-Key` is the refund's partner request id."""

    payment: str = Field(min_length=1, max_length=64)  # the payment's request id
    amount: Amount  # returned to the wallet (payer currency)
    merchant_amount: Amount | None = None
    reference: str | None = None
    reason: str | None = None


class Refund(_Wire):
    object: str = "refund"
    id: str | None = None
    request_id: str | None = None
    payment: str | None = None
    status: str | None = None
    amount: Amount | None = None
    decline_code: str | None = None
    created_at: str | None = None
    completed_at: str | None = None


class CreateOrder(_Wire):
    """`POST /v1/orders`: a code for the tourist to scan; its `Idempotency-Key` is `order_id`
    (our partner request id, which then names the order as a payment: `/v1/payments/{id}`)."""

    order_id: str = Field(min_length=1, max_length=64)
    amount: Amount  # what the tourist will pay (payer/wallet currency)
    merchant_amount: Amount  # what the tourist buys (merchant currency), for records
    wallet: str = Field(min_length=1, max_length=32)
    reference: str = Field(min_length=1, max_length=64)
    description: str | None = None
    merchant: Merchant
    requested_at: str | None = None
    expires_at: str  # RFC 3339: the code stops being payable then (the partner may say sooner)
    notify_url: str = Field(min_length=1, max_length=2048)


class Order(_Wire):
    """An order resource: a payment awaiting its payer, shown as `qr_code` until `expires_at`.

    `id` is the partner's id of the payment it becomes (the `payment_id` of its notification);
    `order_id` echoes ours."""

    object: str = "order"
    id: str | None = None
    order_id: str | None = None
    status: str | None = None  # awaiting_payment | succeeded | failed | canceled
    amount: Amount | None = None
    merchant_amount: Amount | None = None
    wallet: str | None = None
    reference: str | None = None
    qr_code: str | None = None
    expires_at: str | None = None
    decline_code: str | None = None
    created_at: str | None = None
    completed_at: str | None = None
    canceled_at: str | None = None


class PaymentResult(_Wire):
    """The body of a notification (`type` "payment.result") the partner POSTs to an order's
    `notify_url`: what became of the order `order_id`."""

    type: str
    id: str = Field(min_length=1, max_length=128)  # the notification's own id
    order_id: str = Field(min_length=1, max_length=64)
    status: str  # succeeded | failed
    payment_id: str | None = Field(default=None, min_length=1, max_length=128)
    amount: Amount  # what the tourist paid (or would have): payer currency
    completed_at: str | None = None
    failure_code: str | None = Field(default=None, min_length=1, max_length=64)
    created_at: str | None = None


class CreateStore(_Wire):
    """`POST /v1/stores` (Idempotency-Key = `store_id`): register a store for an entry code.
    Entry orders and payment results for it go to `notify_url`; it is paid in `currency`."""

    store_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=128)
    currency: str = Field(min_length=3, max_length=3)
    notify_url: str = Field(min_length=1, max_length=2048)
    merchant: Merchant


class Store(_Wire):
    """A registered store: `entry_code` is what its printed QR encodes, `id` the partner's."""

    object: str = "store"
    id: str | None = None
    store_id: str | None = None
    name: str | None = None
    currency: str | None = None
    country: str | None = None
    status: str | None = None  # active
    entry_code: str | None = None
    notify_url: str | None = None
    created_at: str | None = None


class EntryOrderCreated(BaseModel):
    """`entry_order.created`, the partner's signed POST to a store's `notify_url`: a tourist
    scanned the store's entry code and typed `amount` (the store's currency) to pay with
    `wallet`. Read strictly: no unknown fields' twins matter, every field typed."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: str
    id: str = Field(min_length=1, max_length=128)  # the event's own id
    entry_order_id: str
    store_id: str
    store: str | None = None  # the partner's id of the store
    amount: Amount
    wallet: str
    created_at: str | None = None


class EntryOrderAnswer(_Wire):
    """Our 200 answer to an entry order: charge `amount` (wallet currency) under `order_id`
    (our partner request id) before `expires_at`."""

    object: str = "entry_order"
    entry_order_id: str
    status: str  # confirmed
    order_id: str
    amount: Amount
    expires_at: str


class EntryOrderRefusalBody(_Wire):
    """Our 4xx/503 answer to an entry order: nothing to charge (`error.code` says why)."""

    error: ErrorDetail
    entry_order_id: str


class NotificationAck(_Wire):
    """Our answer to a notification: `{"received": true}` (200), or `false` (503: send again)."""

    received: bool


class ErrorDetail(_Wire):
    type: str | None = None
    code: str | None = None
    decline_code: str | None = None
    message: str | None = None
    param: str | None = None


class ErrorBody(_Wire):
    """Every 4xx/5xx body: `{"error": {...}}`, plus the resource a decline concerns."""

    error: ErrorDetail
    payment: Payment | None = None
    refund: Refund | None = None
    order: Order | None = None


class SettlementEntry(_Wire):
    """One payment or refund of a settlement report. `amount` and `fee` are positive; `net` is
    signed: amount − fee for a payment, −(amount − fee) for a refund."""

    object: str = "settlement_entry"
    type: str  # payment | refund
    id: str = Field(min_length=1)  # the partner's id of the payment or refund
    request_id: str = Field(min_length=1)  # its Idempotency-Key (our request id)
    payment: str = Field(min_length=1)  # the payment's request id (a payment's own)
    payment_id: str | None = None  # the partner's id of the payment
    amount: Amount  # payer currency: charged or returned
    fee: Amount  # the partner's fee (on a refund: the fee given back)
    net: Amount
    merchant_amount: Amount | None = None  # what the request carried, merchant currency
    exchange_rate: str | None = None  # payer major units per merchant major unit
    completed_at: str


class SettlementTotal(_Wire):
    """Per currency: how many entries of each type, and the sum of their `net`."""

    currency: str
    payments: int = Field(ge=0)
    refunds: int = Field(ge=0)
    net: Amount


class SettlementReport(_Wire):
    """`GET /v1/settlement_reports/{date}`: one business day of the partner (its own zone and
    cut-off, named in `timezone` and `cutoff`)."""

    object: str = "settlement_report"
    date: str
    currency: str | None = None  # the filter asked for, if any
    timezone: str | None = None
    cutoff: str | None = None
    entries: list[SettlementEntry]
    totals: list[SettlementTotal]


class FxRates(_Wire):
    """`GET /v1/fx/rates?base=THB&quotes=CNY,KRW`: 1 `base` = `rates[code]` `code`, each rate a
    decimal string (never a JSON number), valid from `published_at` until `expires_at`
    (RFC 3339; null when the partner does not say)."""

    base: str
    rates: dict[str, str]
    published_at: str
    expires_at: str | None = None
