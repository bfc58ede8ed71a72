"""The adapter contract: what every partner protocol offers the gateway.

An adapter speaks one partner's wire protocol and nothing else: it knows no database, no merchant
API, no retry policy. Each call is a single request to the partner whose result is an `Outcome`:

    SUCCEEDED   the partner says it happened (verified signature, echoed amounts match)
    FAILED      final; carries a normalised `FailureCode`
    UNKNOWN     anything else. `delivery` says whether the request may have reached the partner:
                NOT_SENT    nothing left this process, or the partner answered a *signed*
                            "not accepted" (nothing charged): safe to retry or fail over.
                MAYBE_SENT  read timeout, reset after writing, any HTTP response we cannot trust
                            (5xx, unsigned, bad signature, amount mismatch), or "in process":
                            retry the *same* request id with the same partner, or inquire.

What each operation's verdict means (an echoed amount or currency that differs from the
request's is never a success: UNKNOWN, maybe sent):

    pay, inquire     SUCCEEDED: charged (`partner_reference` = the partner's payment id,
                     `completed_at` = the payment's time). An inquiry's "no such payment" is
                     UNKNOWN with `not_found`, "the tourist is confirming" UNKNOWN `in_process`.
    cancel           SUCCEEDED: cancelled, any charge reversed. FAILED: refused for good (the
                     payment has refunds, or the cancel window has closed: refund instead).
    refund           SUCCEEDED: the money went back (`partner_reference` = the partner's refund
                     id, `completed_at` = the refund's time). FAILED: a final decline (more
                     than the refundable remainder, a payment that cannot be refunded), nothing
                     returned. "Processing" is UNKNOWN `in_process`.
    inquire_refund   the same, for the refund named by its partner request id; "no such
                     refund" is UNKNOWN with `not_found` (never a failure by itself).

Partner answers never raise. Programmer mistakes (bad configuration, missing credentials) do.

The partner's settlement file is a document, not an outcome: `adapters._settlement`.

A partner's own exchange rates (`Operation.FX_RATES`, optional) are a document too:
`fetch_rates(RatesRequest(base, quotes))` returns a `PartnerRates` (1 `base` = `rates[code]`
for every quote asked for, positive Decimals of at most `RATE_DIGITS` significant digits, the
answer verified like any other), or raises `RatesUnavailable`, never a partial set
(`adapters._rates` says what counts as a failure). Its timeout falls back to
`DEFAULT_TIMEOUTS` when a partner's timeouts do not name it.

Merchant-presented payments (`Operation.ORDER_CODE`, optional): an order code for the tourist
to scan, and the partner's signed notification of its result: `adapters._orders`. Static store
codes (`Operation.ENTRY_CODE`, optional): `adapters._entry`.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from adapters._entry import (
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    EntryOrderRefusal,
    StoreRegistration,
)
from adapters._orders import (
    DEFAULT_ORDER_CODE_TIMEOUT,
    Acknowledgment,
    InboundRequest,
    NotificationProblem,
    NotificationRefused,
    OrderCode,
    OrderCodeRequest,
    PaymentNotification,
)
from adapters._rates import (
    DEFAULT_RATES_TIMEOUT,
    RATE_DIGITS,
    PartnerRates,
    RatesRequest,
    RatesUnavailable,
)
from adapters._settlement import (
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    SettlementRecordType,
    implied_rate,
)
from fx import Money

__all__ = [
    "DEFAULT_TIMEOUTS",
    "RATE_DIGITS",
    "Acknowledgment",
    "Adapter",
    "AdapterConfigError",
    "CancelRequest",
    "Delivery",
    "EntryCode",
    "EntryOrder",
    "EntryOrderConfirmation",
    "EntryOrderRefusal",
    "FailureCode",
    "InboundRequest",
    "InquiryRequest",
    "MerchantInfo",
    "NotificationProblem",
    "NotificationRefused",
    "Operation",
    "OrderCode",
    "OrderCodeRequest",
    "Outcome",
    "OutcomeStatus",
    "PartnerRates",
    "PayRequest",
    "PaymentCode",
    "PaymentNotification",
    "RatesRequest",
    "RatesUnavailable",
    "RefundInquiryRequest",
    "RefundRequest",
    "SettlementFile",
    "SettlementFileRequest",
    "SettlementFileUnavailable",
    "SettlementLine",
    "SettlementRecordType",
    "StoreRegistration",
    "implied_rate",
    "mask_code",
]


class Operation(enum.StrEnum):
    PAY = "pay"
    INQUIRE = "inquire"
    CANCEL = "cancel"
    REFUND = "refund"
    INQUIRE_REFUND = "inquire_refund"
    SETTLEMENT_FILE = "fetch_settlement_file"
    FETCH_SETTLEMENT_FILE = "fetch_settlement_file"  # an alias of SETTLEMENT_FILE
    FX_RATES = "fx_rates"  # optional in configuration: see DEFAULT_TIMEOUTS
    ORDER_CODE = "order_code"  # optional: merchant-presented codes and their notifications
    ENTRY_CODE = "entry_code"  # optional: static store codes and their entry orders


class OutcomeStatus(enum.StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class Delivery(enum.StrEnum):
    NOT_SENT = "not_sent"
    MAYBE_SENT = "maybe_sent"


class FailureCode(enum.StrEnum):
    """Normalised failure codes shown to merchants (API.md, Payments)."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    RISK_REJECTED = "risk_rejected"
    CODE_EXPIRED = "code_expired"
    PAYMENT_CODE_INVALID = "payment_code_invalid"
    PAYMENT_EXPIRED = "payment_expired"
    PARTNER_DECLINED = "partner_declined"
    CANCELLED_AFTER_TIMEOUT = "cancelled_after_timeout"


class AdapterConfigError(Exception):
    """An adapter cannot be built: missing or malformed credentials or settings."""


def parse_time(text: str | None) -> datetime | None:
    """A partner timestamp as aware UTC, or None when absent, unreadable, without offset, or
    past datetime's range (9999-12-31T23:59:59-01:00 overflows when made UTC)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def mask_code(code: str) -> str:
    """Keep the wallet prefix and the last four digits: `281234********0000`."""
    if len(code) <= 8:
        return "*" * len(code)
    return code[:6] + "*" * (len(code) - 10) + code[-4:]


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentCode:
    """The scanned wallet code. Lives in memory only; its repr never shows it."""

    value: str = dataclasses.field(repr=False)

    @property
    def masked(self) -> str:
        return mask_code(self.value)

    def __repr__(self) -> str:
        return f"PaymentCode({self.masked!r})"

    def __str__(self) -> str:
        return self.masked


@dataclasses.dataclass(frozen=True, slots=True)
class MerchantInfo:
    id: str
    name: str
    country: str
    mcc: str = "5411"
    store_id: str | None = None
    terminal_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class PayRequest:
    """Charge `payer_amount` to the wallet behind `code`, for `amount` owed to the merchant.

    `partner_request_id` is derived from the attempt id: sending the same request twice is one
    payment at the partner.
    """

    partner_request_id: str
    reference: str
    amount: Money
    payer_amount: Money
    code: PaymentCode
    merchant: MerchantInfo
    requested_at: datetime
    description: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class InquiryRequest:
    """Ask what became of a pay request. The amount is checked against the partner's echo."""

    partner_request_id: str
    payer_amount: Money


@dataclasses.dataclass(frozen=True, slots=True)
class CancelRequest:
    partner_request_id: str


@dataclasses.dataclass(frozen=True, slots=True)
class RefundRequest:
    """Return `payer_amount` to the wallet charged by the payment `payment_partner_request_id`.

    `partner_request_id` is the refund's own deterministic id (derived from the refund attempt):
    sending it twice is one refund at the partner. `payer_amount` is what goes back to the
    wallet, in the payer's currency (the payment's `payer_amount` currency); `amount` is the
    merchant-currency amount, for the partner's records only (a protocol may not carry it).
    `payment_partner_reference` is the partner's own id of the payment (the `partner_reference`
    of its succeeded pay or inquiry outcome, e.g. Alipay+ `paymentId`): protocols that address
    a payment by the partner's id need it (see each family's `refund`).
    """

    partner_request_id: str
    payment_partner_request_id: str
    reference: str
    amount: Money
    payer_amount: Money
    reason: str = ""
    payment_partner_reference: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class RefundInquiryRequest:
    """Ask what became of a refund. The amount is checked against the partner's echo."""

    partner_request_id: str
    payer_amount: Money


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_PARTNER_TEXT = (("partner_code", 64), ("partner_reference", 128), ("message", 500))


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """The adapter's verdict on one partner call."""

    status: OutcomeStatus
    delivery: Delivery = Delivery.MAYBE_SENT
    failure_code: FailureCode | None = None
    partner_code: str | None = None
    message: str = ""
    partner_reference: str | None = None
    completed_at: datetime | None = None
    not_found: bool = False
    in_process: bool = False
    http_status: int | None = None

    def __post_init__(self) -> None:
        # The partner's text is stored and shown after the call, when nothing may fail: control
        # characters (PostgreSQL refuses NUL) become U+FFFD and lengths fit their columns.
        for name, limit in _PARTNER_TEXT:
            value = getattr(self, name)
            if value is not None and (len(value) > limit or _CONTROL.search(value)):
                object.__setattr__(self, name, _CONTROL.sub("\ufffd", value[:limit]))

    @classmethod
    def succeeded(
        cls,
        *,
        partner_reference: str | None = None,
        completed_at: datetime | None = None,
        partner_code: str | None = None,
        message: str = "",
        http_status: int | None = None,
    ) -> Outcome:
        return cls(
            OutcomeStatus.SUCCEEDED,
            partner_reference=partner_reference,
            completed_at=completed_at,
            partner_code=partner_code,
            message=message,
            http_status=http_status,
        )

    @classmethod
    def failed(
        cls,
        code: FailureCode,
        *,
        partner_code: str | None = None,
        message: str = "",
        partner_reference: str | None = None,
        http_status: int | None = None,
    ) -> Outcome:
        return cls(
            OutcomeStatus.FAILED,
            failure_code=code,
            partner_code=partner_code,
            message=message,
            partner_reference=partner_reference,
            http_status=http_status,
        )

    @classmethod
    def unknown(
        cls,
        delivery: Delivery,
        message: str,
        *,
        partner_code: str | None = None,
        not_found: bool = False,
        in_process: bool = False,
        http_status: int | None = None,
        partner_reference: str | None = None,
    ) -> Outcome:
        return cls(
            OutcomeStatus.UNKNOWN,
            delivery=delivery,
            partner_code=partner_code,
            message=message,
            not_found=not_found,
            in_process=in_process,
            http_status=http_status,
            partner_reference=partner_reference,
        )

    @property
    def is_final(self) -> bool:
        return self.status is not OutcomeStatus.UNKNOWN

    @property
    def nothing_charged(self) -> bool:
        """True when the partner certainly did not take the money (safe to fail over)."""
        return self.status is OutcomeStatus.UNKNOWN and self.delivery is Delivery.NOT_SENT


@runtime_checkable
class Adapter(Protocol):
    """One configured partner speaking one protocol.

    `partner_id` names the partner (from its config file). `capabilities` lists the operations
    it offers; the gateway refuses the others with a clear error instead of calling.
    """

    @property
    def partner_id(self) -> str: ...

    @property
    def capabilities(self) -> frozenset[Operation]: ...

    async def pay(self, request: PayRequest) -> Outcome: ...

    async def inquire(self, request: InquiryRequest) -> Outcome: ...

    async def cancel(self, request: CancelRequest) -> Outcome: ...

    async def refund(self, request: RefundRequest) -> Outcome: ...

    async def inquire_refund(self, request: RefundInquiryRequest) -> Outcome: ...

    async def fetch_settlement_file(self, request: SettlementFileRequest) -> SettlementFile:
        """The partner's file for one of its business days; `SettlementFileUnavailable` if it
        cannot be fetched or trusted (never a partial file)."""
        ...

    async def fetch_rates(self, request: RatesRequest) -> PartnerRates:
        """The partner's rates from `request.base` to each of `request.quotes`;
        `RatesUnavailable` if they cannot be fetched or trusted (never a partial set)."""
        ...

    async def create_order_code(self, request: OrderCodeRequest) -> OrderCode | Outcome:
        """A code for the tourist to scan (`adapters._orders`); an `Outcome` when there is
        none to show (FAILED: refused; UNKNOWN: one may be pending, cancel it)."""
        ...

    def read_notification(
        self, request: InboundRequest, now: datetime
    ) -> PaymentNotification | EntryOrder:
        """A partner's notification (or, with `ENTRY_CODE`, an entry order), its signature
        and time checked before anything is read; `NotificationRefused` otherwise."""
        ...

    def acknowledge(self, request: InboundRequest, accepted: bool) -> Acknowledgment:
        """The protocol's answer to a notification: processed, or send it again."""
        ...

    async def register_store(self, request: StoreRegistration) -> EntryCode | Outcome:
        """A store's static entry code (`adapters._entry`); an `Outcome` when none was
        issued (FAILED: refused; UNKNOWN: ask again, it is the same registration)."""
        ...

    def confirm_entry_order(
        self, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        """The protocol's signed answer to an entry order: charge this, or refused."""
        ...


# Per-operation timeouts, in seconds. Production defaults follow Alipay+'s recommendations.
Timeouts = Mapping[Operation, float]

DEFAULT_TIMEOUTS: Mapping[Operation, float] = MappingProxyType(
    {
        Operation.FX_RATES: DEFAULT_RATES_TIMEOUT,
        Operation.ORDER_CODE: DEFAULT_ORDER_CODE_TIMEOUT,
        Operation.ENTRY_CODE: DEFAULT_ORDER_CODE_TIMEOUT,  # registering a store
    }
)
"""Timeouts of the operations a partner's configuration may leave out (seconds): an adapter
uses these when its timeouts mapping has no entry, so adding an operation to a protocol does
not make every existing configuration invalid."""
