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
    "CreatePayment",
    "CreateRefund",
    "ErrorBody",
    "ErrorDetail",
    "Merchant",
    "Payment",
    "Refund",
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
