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

The partner's settlement file is not an outcome but a document: `fetch_settlement_file` returns
a `SettlementFile` (every line the partner settles for one of its business days, parsed from its
own format and verified like any answer), or raises `SettlementFileUnavailable` when it cannot
(transport error, an HTTP error or a refusal, an unsigned or unverifiable answer, a file that does
not parse or contradicts itself). A caller reports "could not fetch" and tries again later.

A partner's own exchange rates (`Operation.FX_RATES`, optional) are a document too:
`fetch_rates(RatesRequest(base, quotes))` returns a `PartnerRates` (1 `base` = `rates[code]`
for every quote asked for, positive Decimals of at most `RATE_DIGITS` significant digits, the
answer verified like any other), or raises `RatesUnavailable`, never a partial set
(`adapters._rates` says what counts as a failure). Its timeout falls back to
`DEFAULT_TIMEOUTS` when a partner's timeouts do not name it.

What a `SettlementLine` says, whatever the protocol:

    record_type                 "payment" (a charge the partner kept) or "refund" (money it
                                returned). A cancelled (reversed) payment is in no file.
    partner_request_id          OUR id of the line: the payment's pay request id (the attempt's
                                partner request id) or the refund's own request id. Match on
                                it (with `record_type`); a file may repeat one (a partner's
                                duplicate is a discrepancy to report, not a parse error).
    partner_reference           the partner's own id of the payment or refund.
    payment_partner_request_id  the payment's request id (for a payment, its own).
    amount                      payer currency, positive: what was charged or returned.
    fee                         the partner's fee on the line, payer currency, positive (on a
                                refund: the fee given back).
    merchant_amount             the merchant-currency amount the request carried, if the
                                protocol reports it (None otherwise).
    fx_rate                     payer amount / merchant amount in major units, as the partner
                                reports it (see `implied_rate`), or None.
    completed_at                when the partner completed it (aware, UTC).
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

from adapters._rates import (
    DEFAULT_RATES_TIMEOUT,
    RATE_DIGITS,
    PartnerRates,
    RatesRequest,
    RatesUnavailable,
)
from fx import Money, round_significant

__all__ = [
    "DEFAULT_TIMEOUTS",
    "RATE_DIGITS",
    "Adapter",
    "AdapterConfigError",
    "CancelRequest",
    "Delivery",
    "FailureCode",
    "InquiryRequest",
    "MerchantInfo",
    "Operation",
    "Outcome",
    "OutcomeStatus",
    "PartnerRates",
    "PayRequest",
    "PaymentCode",
    "RatesRequest",
    "RatesUnavailable",
    "RefundInquiryRequest",
    "RefundRequest",
    "SettlementFile",
    "SettlementFileRequest",
    "SettlementFileUnavailable",
    "SettlementLine",
    "SettlementRecordType",
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


# --- settlement files --------------------------------------------------------------------------

SettlementRecordType = Literal["payment", "refund"]


def implied_rate(payer_amount: Money, merchant_amount: Money) -> Decimal:
    """The rate a pair of amounts implies: payer major units per merchant major unit.

    `payer.value / merchant.value × 10^(e_merchant − e_payer)`, rounded half-up once to 10
    significant digits, in canonical form (no trailing zeros: `str()` gives "0.2000182"). This is
    what the sandboxes report as a line's rate; a reconciler recomputes it from its own two
    amounts and compares exactly. It is not the quote's rate: the payer amount was rounded from
    `amount × rate`, so the implied rate differs from the quote in its last digits.
    """
    if merchant_amount.value <= 0 or payer_amount.value <= 0:
        raise ValueError("an implied rate needs two positive amounts")
    numerator = payer_amount.value * 10**merchant_amount.currency.exponent
    denominator = merchant_amount.value * 10**payer_amount.currency.exponent
    context = Context(prec=RATE_DIGITS, rounding=ROUND_HALF_UP)  # divide rounds exactly once
    return round_significant(context.divide(Decimal(numerator), Decimal(denominator)), RATE_DIGITS)


class SettlementFileUnavailable(Exception):
    """The partner's settlement file could not be fetched or trusted: transport error, HTTP
    error or refusal, an unsigned or unverifiable answer, or a file that does not parse or
    contradicts itself. `http_status` is the answer's status when there was one."""

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementFileRequest:
    """The file of the partner's `business_date` (its own zone and cut-off); only the lines in
    payer currency `currency` when given (ISO 4217 code)."""

    business_date: date
    currency: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementLine:
    """One payment or refund the partner settles (the module docstring says what each field
    means). Amounts are positive and in the payer's currency; `merchant_amount` in the
    merchant's."""

    record_type: SettlementRecordType
    partner_request_id: str
    partner_reference: str
    payment_partner_request_id: str
    amount: Money
    fee: Money
    merchant_amount: Money | None
    fx_rate: Decimal | None
    completed_at: datetime

    def __post_init__(self) -> None:
        if self.record_type not in ("payment", "refund"):
            raise ValueError(f"record_type must be payment or refund, not {self.record_type!r}")
        if self.fee.currency != self.amount.currency:
            raise ValueError("fee and amount must be in the same (payer) currency")
        if self.completed_at.tzinfo is None:
            raise ValueError("completed_at must be timezone-aware")

    @property
    def net(self) -> Money:
        """What the line is worth to the gateway: amount − fee for a payment, −(amount − fee)
        for a refund (payer currency)."""
        value = self.amount.value - self.fee.value
        return Money(value if self.record_type == "payment" else -value, self.amount.currency)


@dataclasses.dataclass(frozen=True, slots=True)
class SettlementFile:
    """A partner's settlement file for one business day: its lines, parsed, and the raw bytes
    exactly as received (keep them as evidence)."""

    partner_id: str
    business_date: date
    lines: tuple[SettlementLine, ...]
    raw: bytes = dataclasses.field(repr=False)


# Per-operation timeouts, in seconds. Production defaults follow Alipay+'s recommendations.
Timeouts = Mapping[Operation, float]

DEFAULT_TIMEOUTS: Mapping[Operation, float] = MappingProxyType(
    {Operation.FX_RATES: DEFAULT_RATES_TIMEOUT}
)
"""Timeouts of the operations a partner's configuration may leave out (seconds): an adapter
uses these when its timeouts mapping has no entry, so adding an operation to a protocol does
not make every existing configuration invalid."""
