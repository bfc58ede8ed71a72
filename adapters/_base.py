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
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

from fx import Money

__all__ = [
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
    "PayRequest",
    "PaymentCode",
    "RefundInquiryRequest",
    "RefundRequest",
    "mask_code",
]


class Operation(enum.StrEnum):
    PAY = "pay"
    INQUIRE = "inquire"
    CANCEL = "cancel"
    REFUND = "refund"
    INQUIRE_REFUND = "inquire_refund"
    SETTLEMENT_FILE = "fetch_settlement_file"


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


# Per-operation timeouts, in seconds. Production defaults follow Alipay+'s recommendations.
Timeouts = Mapping[Operation, float]
