"""Entry codes: a static QR per store, the tourist types the amount (issue #15).

An **entry code** is printed once and scanned by every tourist paying at the store. The gateway
registers the store with the partner:

    register_store(StoreRegistration) -> EntryCode | Outcome

`EntryCode.code` is what the printed QR encodes (an EMVCo merchant-presented payload where the
market's national scheme uses one: PromptPay in Thailand, QR Ph in the Philippines; otherwise
the partner's URL). Registering the same `store_id` again is the same registration and returns
the same code. An `Outcome` means no code: FAILED (a signed refusal), UNKNOWN (ask again).

When a tourist scans the code and types an amount, the partner asks the gateway for the order
before it charges anyone (the Alipay+ `userInitiatedPay` step, where the acquirer answers with
the payment request it wants paid): an HTTP request to the same `notify_url` as notifications,
which `read_notification` returns as an `EntryOrder` (signature and time checked first, like a
`PaymentNotification`). The gateway creates the payment (the merchant's amount, the wallet's
currency at a quote made now) and answers with

    confirm_entry_order(InboundRequest, EntryOrderConfirmation) -> Acknowledgment

naming the `partner_request_id` the partner must charge and the exact `payer_amount`; or with
`EntryOrderConfirmation.refused(reason)` (unknown or disabled store, a wallet it cannot take),
in the protocol's own refusal. The partner then charges the tourist that payer amount and the
result reaches the gateway as an ordinary `PaymentNotification` for that request id (and
`inquire`/`cancel` work on it as on any payment).

A repeated `EntryOrder` (same `partner_order_id`: the partner lost our answer) gets the same
confirmation: the gateway answers it from its records, never with a second payment.

Optional, like order codes: `Operation.ENTRY_CODE` in an adapter's capabilities says it offers
`register_store` and entry orders.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime
from typing import TYPE_CHECKING

from fx import Money

if TYPE_CHECKING:
    from adapters._base import MerchantInfo

__all__ = [
    "EntryCode",
    "EntryOrder",
    "EntryOrderConfirmation",
    "EntryOrderRefusal",
    "StoreRegistration",
]


@dataclasses.dataclass(frozen=True, slots=True)
class StoreRegistration:
    """Register `merchant`'s store (`merchant.store_id` is the gateway's store id, `sto_...`,
    the reference the partner puts on every entry order for it) under `name`, paid in
    `currency` (the merchant's); entry orders for it go to `notify_url`."""

    merchant: MerchantInfo
    name: str
    currency: str
    notify_url: str


@dataclasses.dataclass(frozen=True, slots=True)
class EntryCode:
    """The store's static code: `code` is what the QR encodes; `partner_store_id` the
    partner's own id of the store, when it has one."""

    code: str
    partner_store_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EntryOrder:
    """A verified request from the partner: a tourist scanned `store_id`'s entry code with
    `wallet` and typed `amount` (the merchant's currency). `partner_order_id` is the partner's
    id of this order: the same id again is the same order."""

    partner_order_id: str
    store_id: str
    amount: Money
    wallet: str
    requested_at: datetime


class EntryOrderRefusal(enum.StrEnum):
    UNKNOWN_STORE = "unknown_store"
    STORE_DISABLED = "store_disabled"
    WALLET_NOT_ACCEPTED = "wallet_not_accepted"
    AMOUNT_INVALID = "amount_invalid"
    ORDER_CLOSED = "order_closed"  # its payment ended unpaid (expired, cancelled): never charge
    UNAVAILABLE = "unavailable"  # the gateway cannot take it now (no fresh rate): ask again


@dataclasses.dataclass(frozen=True, slots=True)
class EntryOrderConfirmation:
    """The gateway's answer to an `EntryOrder`: charge `payer_amount` under
    `partner_request_id` before `expires_at`; or (`refusal` set) do not charge."""

    partner_order_id: str
    partner_request_id: str | None = None
    payer_amount: Money | None = None
    expires_at: datetime | None = None
    refusal: EntryOrderRefusal | None = None
    message: str = ""

    def __post_init__(self) -> None:
        # Either a charge the partner can make, whole, or a refusal: never half of each (an
        # adapter would otherwise have to guess which one the gateway meant).
        charge = (self.partner_request_id, self.payer_amount, self.expires_at)
        if self.refusal is None:
            if any(part is None for part in charge):
                raise ValueError(
                    "a confirmation needs partner_request_id, payer_amount, expires_at"
                )
            assert self.payer_amount is not None and self.expires_at is not None
            if self.payer_amount.value <= 0:
                raise ValueError("a confirmation's payer_amount must be positive")
            if self.expires_at.tzinfo is None:
                raise ValueError("a confirmation's expires_at must be aware")
        elif any(part is not None for part in charge):
            raise ValueError("a refusal names nothing to charge")

    @property
    def confirmed(self) -> bool:
        return self.refusal is None

    @classmethod
    def confirm(
        cls,
        partner_order_id: str,
        *,
        partner_request_id: str,
        payer_amount: Money,
        expires_at: datetime,
    ) -> EntryOrderConfirmation:
        return cls(
            partner_order_id=partner_order_id,
            partner_request_id=partner_request_id,
            payer_amount=payer_amount,
            expires_at=expires_at,
        )

    @classmethod
    def refused(
        cls, partner_order_id: str, refusal: EntryOrderRefusal, message: str
    ) -> EntryOrderConfirmation:
        return cls(partner_order_id=partner_order_id, refusal=refusal, message=message)
