"""What every protocol's sandbox partner shares: the test codes, the payment books, the plumbing.

A protocol's sandbox (`adapters/<family>/sandbox/`) keeps its own wire handling: parsing and
authenticating requests, signing answers, response shapes and status codes, and how its amounts
are written. This module holds what does not depend on the protocol:

- `CodeBehaviour`: what a payment code's last four digits make the partner do (`Outcome`), the
  0500 "fail the first call only" memory, and holding an answer (0091/0092 pay, 0095 refund)
  until shutdown.
- `SandboxLedger`: records by request id whose state is evaluated lazily against the clock
  (0093 confirms, 0094 expires the first time anyone looks after the deadline, with the charge
  dated at the deadline), refunds by refund request id, and the list of charge / reversal /
  refund entries. It is generic over the protocol's amount object (kept as sent, rendered by the
  protocol in `to_json`, read as `fx.Money` through `_money`) and its status enum (mapped from
  the protocol-neutral `Phase`).
- The partner's settlement file, protocol-neutral (`SettlementTerms`, `SettlementRow`,
  `SettlementDesk`): every line the partner really settles for one of its business days, read
  from the ledger, plus the test-only tampering that drops, adds or alters lines (below). Each
  protocol renders the rows in its own file format.
- Helpers for the `/_sandbox/ledger` route and the `python -m ...sandbox` command line.

The settlement file of a business day D (the partner's own zone and cut-off, `SettlementTerms`):

    payment  every charge whose payment was not reversed (a cancelled payment is in no file),
             dated by its charge time; fee = round_half_up(amount × bps / 10^4) + fixed[currency]
    refund   every refund made (a gateway's full refund after a refused cancel is one too),
             dated by its refund time; fee given back = round_half_up(refund × bps / 10^4)

A moment's business date is its local date in the partner's zone, plus one day if it is at or
after the cut-off (00:00 = the day ends at midnight); a cut-off inside a DST gap acts at the first
instant after the gap, one inside a repeated hour at its first occurrence (the same rule as the
gateway's `business_days`, which adapters may not import). Amounts are the payer amounts charged
or returned; `merchant_amount` is the merchant-currency amount the request carried (when it
carried a readable one) and `fx_rate` = `adapters.implied_rate(amount, merchant_amount)` (payer
major units per merchant major unit, 10 significant digits), None without a merchant amount.
Lines are ordered by completion time, then payments first, then request id.

Tampering (tests only; a sandbox started without `allow_settlement_tamper` answers 403):
`POST /_sandbox/settlement_tamper` with

    {"business_date": "YYYY-MM-DD",
     "drop":  [partner_request_id, ...],                        lines removed
     "add":   [{"record_type": "payment"|"refund", "partner_request_id", "amount": <minor int>,
                "currency", "fee"?: <minor int>, "partner_reference"?,
                "payment_partner_request_id"? (required for a refund), "merchant_amount"?:
                <minor int>, "merchant_currency"?, "fx_rate"?: "<decimal>", "completed_at"?}],
     "alter": [{"partner_request_id", "amount"?: <minor int>, "fee"?: <minor int>,
                "fx_rate"?: "<decimal>", "merchant_amount"?: <minor int>}]}

replaces that day's tampering (an empty body of lists clears it). Drops and alterations apply to
the ledger's lines (an id that matches nothing changes nothing), then added lines join. An added
line's fee defaults to the schedule's, its `completed_at` to the first minute of that business
day, its `partner_reference` to a made-up id (an added refund names its payment's partner id
from the ledger when the payment exists). An alteration changes only the fields it names
(`merchant_amount` only on a line that has one): altering `amount` keeps the fee and the rate, so
each kind of discrepancy can be made alone.
`GET /_sandbox/settlement/{date}[?currency=CNY]` shows the day's lines (tampering included) as
protocol-neutral JSON.

The test codes (the last four digits of the payment's wallet code) for what follows a payment:

    0095  approves at once; each refund is made at once (money returned, recorded) but every
          refund answer is held `hold_seconds` (as 0091 holds pay answers): the caller times
          out, and an inquiry finds the refund succeeded
    0096  approves at once; every refund is declined for good (`RefundDecline.DECLINED`),
          nothing returned
    0097  approves at once; a cancel is refused for good (`CancelRefusal.WINDOW_CLOSED`: the
          cancel window has closed, refund instead); refunds work normally
    other refunds succeed while they fit in the refundable remainder (the charged amount less
          the refunds made), in the payment's currency, for a succeeded payment only

A payment with a refund cannot be cancelled (`CancelRefusal.HAS_REFUNDS`). A refund request id
seen before answers its original result when the parameters are the same (the protocol's
fingerprint), and the protocol's "inconsistent" answer otherwise.

It holds masked codes and SHA-256 digests, never a raw wallet code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import hashlib
import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Generic, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from adapters._base import implied_rate
from adapters._clock import Clock
from fx import FXError, Money, get_currency, round_half_up

__all__ = [
    "SETTLEMENT",
    "CancelRefusal",
    "CodeBehaviour",
    "LedgerEntry",
    "Outcome",
    "PaymentRecordBase",
    "Phase",
    "RefundDecline",
    "RefundRecord",
    "RefundRule",
    "SandboxLedger",
    "Scenario",
    "SettlementDesk",
    "SettlementRow",
    "SettlementTerms",
    "TamperRefused",
    "add_common_arguments",
    "add_settlement_arguments",
    "add_timing_arguments",
    "cutoff_instant",
    "digest",
    "env",
    "install_settlement_routes",
    "iso_or_none",
    "ledger_json_handler",
    "parse_business_date",
    "refund_rule",
    "run",
    "settlement_terms_from_args",
    "validation_summary",
]

A = TypeVar("A")  # the protocol's amount object, as it came on the wire
S = TypeVar("S", bound=enum.Enum)  # the protocol's payment status enum
R = TypeVar("R", bound="PaymentRecordBase[Any, Any]")

_CODE = re.compile(r"[0-9]{16,24}")


# --- the test codes --------------------------------------------------------------------------


class Scenario(enum.StrEnum):
    """How a recorded payment evolves (the test code's behaviour once recorded)."""

    FINAL = "final"  # decided at once (approve or decline)
    CONFIRM = "confirm"  # 0093: in process, then succeeded after confirm_seconds
    EXPIRE = "expire"  # 0094: in process, then failed (expired) after expire_seconds
    CANCEL_MARKER = "cancel_marker"  # cancelled before any pay arrived: refuse a late pay


class Phase(enum.Enum):
    """A payment's state, whatever the protocol calls it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PROCESSING = "processing"
    CANCELED = "canceled"


class Outcome(enum.Enum):
    """What a new pay with a given code does (each protocol words the answer its own way)."""

    INVALID_CODE = "invalid_code"  # not 16-24 ASCII digits: declined and recorded
    UNAVAILABLE = "unavailable"  # 0503: refused, nothing recorded or charged
    SERVER_ERROR = "server_error"  # 0500, first call of a request id: unsigned HTTP 500
    TIMEOUT = "timeout"  # 0092: answer held, then an unknown error; never recorded
    INSUFFICIENT_FUNDS = "insufficient_funds"  # 0051
    RISK_REJECTED = "risk_rejected"  # 0059
    CODE_EXPIRED = "code_expired"  # 0054
    CONFIRM = "confirm"  # 0093
    EXPIRE = "expire"  # 0094
    APPROVE = "approve"  # 0000 / other (0091 too: approved, answer held)

    @property
    def scenario(self) -> Scenario:
        if self is Outcome.CONFIRM:
            return Scenario.CONFIRM
        if self is Outcome.EXPIRE:
            return Scenario.EXPIRE
        return Scenario.FINAL

    @property
    def phase(self) -> Phase:
        """The state a recorded payment starts in."""
        if self is Outcome.APPROVE:
            return Phase.SUCCEEDED
        if self in (Outcome.CONFIRM, Outcome.EXPIRE):
            return Phase.PROCESSING
        return Phase.FAILED


_BY_SUFFIX = {
    "0503": Outcome.UNAVAILABLE,
    "0092": Outcome.TIMEOUT,
    "0051": Outcome.INSUFFICIENT_FUNDS,
    "0059": Outcome.RISK_REJECTED,
    "0054": Outcome.CODE_EXPIRED,
    "0093": Outcome.CONFIRM,
    "0094": Outcome.EXPIRE,
}
_HOLD_SUFFIX = "0091"
_FAIL_FIRST_SUFFIX = "0500"


class RefundRule(enum.Enum):
    """How a payment's refunds behave (its test code, once it succeeded)."""

    NORMAL = "normal"
    HOLD = "hold"  # 0095: made at once, answer held
    DECLINE = "decline"  # 0096: declined for good


class RefundDecline(enum.Enum):
    """Why a refund was declined (each protocol words it with its own code)."""

    NO_PAYMENT = "no_payment"  # no payment by that id
    NOT_SUCCEEDED = "not_succeeded"  # failed or still in process
    CANCELED = "canceled"  # cancelled (or a cancel marker)
    CURRENCY = "currency"  # not in the payment's currency
    EXCEEDS = "exceeds"  # more than the refundable remainder
    DECLINED = "declined"  # 0096


class CancelRefusal(enum.Enum):
    """Why a cancel was refused for good (each protocol words it with its own code)."""

    HAS_REFUNDS = "has_refunds"  # refunded, in part or in full: refund instead
    WINDOW_CLOSED = "window_closed"  # 0097: too late to cancel: refund instead


_REFUND_RULES = {"0095": RefundRule.HOLD, "0096": RefundRule.DECLINE}
_CANCEL_REFUSED_SUFFIX = "0097"


def refund_rule(payment: PaymentRecordBase[Any, Any] | None) -> RefundRule:
    """How refunds of `payment` behave, by its test code."""
    if payment is None:
        return RefundRule.NORMAL
    return _REFUND_RULES.get(payment.test_code, RefundRule.NORMAL)


@dataclasses.dataclass
class CodeBehaviour:
    """The test codes' behaviour for one sandbox app: outcomes, the 0500 memory, held answers."""

    hold_seconds: float
    failed_once: set[str] = dataclasses.field(default_factory=set)  # 0500 ids already failed
    stopping: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    def outcome(self, code: str, request_id: str) -> Outcome:
        """What a first pay of `request_id` with `code` does (0500 remembers the id)."""
        if not _CODE.fullmatch(code):
            return Outcome.INVALID_CODE
        suffix = code[-4:]
        if suffix == _FAIL_FIRST_SUFFIX and request_id not in self.failed_once:
            self.failed_once.add(request_id)
            return Outcome.SERVER_ERROR
        return _BY_SUFFIX.get(suffix, Outcome.APPROVE)

    @staticmethod
    def holds_answer(code: str) -> bool:
        """0091: every pay's answer is held (the payment itself is approved at once)."""
        return code.endswith(_HOLD_SUFFIX)

    async def hold(self) -> None:
        """Sit on the answer for `hold_seconds`, but let the app shut down without waiting."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), self.hold_seconds)

    async def hold_refund_answer(self, payment: PaymentRecordBase[Any, Any] | None) -> None:
        """0095: every refund answer of the payment is held (the refund itself is made)."""
        if refund_rule(payment) is RefundRule.HOLD:
            await self.hold()

    def release_on_shutdown(self, app: web.Application) -> None:
        """Let held answers go when `app` shuts down."""

        async def release_holds(_app: web.Application) -> None:
            self.stopping.set()

        app.on_shutdown.append(release_holds)


# --- the books -------------------------------------------------------------------------------


def digest(text: str) -> str:
    """What the sandbox keeps to recognise a replay (of a code, or a whole body): SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso_or_none(moment: datetime | None, timespec: str = "auto") -> str | None:
    return moment.isoformat(timespec=timespec) if moment is not None else None


@dataclasses.dataclass(kw_only=True)
class PaymentRecordBase(Generic[A, S]):
    """What every protocol's payment record holds; each protocol adds its own fields."""

    payment_request_id: str
    payment_id: str
    amount: A | None  # the amount charged, as sent; None for a cancel marker
    merchant_amount: A | None = None  # the merchant-currency amount the request carried
    code_sha256: str = dataclasses.field(repr=False)
    masked_code: str
    scenario: Scenario
    status: S
    created_at: datetime
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    charged: bool = False
    reversed: bool = False
    pay_calls: int = 0
    refunded_minor: int = 0  # minor units of `amount` refunded so far

    @property
    def test_code(self) -> str:
        """The last four digits of the wallet code (the masked code shows them anyway)."""
        return self.masked_code[-4:] if self.masked_code else ""


@dataclasses.dataclass(frozen=True)
class LedgerEntry(Generic[A]):
    kind: str  # "charge" | "reversal" | "refund"
    payment_request_id: str
    payment_id: str
    amount: A
    at: datetime
    refund_request_id: str | None = None

    def to_json(self, amount_json: Callable[[A], Any], minor: Callable[[A], int]) -> dict[str, Any]:
        """`amount` as the protocol writes it, and `amount_minor` (an int) for summing."""
        return {
            "kind": self.kind,
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
            "refund_request_id": self.refund_request_id,
            "amount": amount_json(self.amount),
            "amount_minor": minor(self.amount),
            "at": self.at.isoformat(),
        }


@dataclasses.dataclass
class RefundRecord(Generic[A, S]):
    """One refund request id: made (`status` the protocol's SUCCEEDED) or declined (`decline`
    set, `code` the protocol's word for it). Declines are kept too, so a replay answers them."""

    refund_request_id: str
    refund_id: str
    payment_request_id: str  # of the payment refunded (as requested when there is none)
    payment_id: str | None  # the partner's id of that payment, when it exists
    amount: A
    fingerprint: str = dataclasses.field(repr=False)  # what makes a replay "the same request"
    status: S
    decline: RefundDecline | None
    code: str | None  # the protocol's decline code, None for a refund made
    created_at: datetime
    completed_at: datetime
    calls: int = 1
    merchant_amount: A | None = None  # the merchant-currency amount the request carried

    @property
    def succeeded(self) -> bool:
        return self.decline is None


class SandboxLedger(Generic[R, A, S]):
    """Payments by request id plus the list of money movements, evaluated at the clock's now.

    A protocol subclass sets `STATUS` (its status for each `Phase`) and `REFUND_CODES` (its
    decline code for each `RefundDecline`), renders records and amounts in `to_json`, reads its
    amounts as `fx.Money` (`_money`), names its refunds (`_new_refund_id`), and says what an
    0093 confirmation or 0094 expiry writes in its own fields.
    """

    STATUS: ClassVar[Mapping[Phase, Any]]
    REFUND_CODES: ClassVar[Mapping[RefundDecline, str]]  # the protocol's code for each decline
    CODE_FIELD: ClassVar[str] = "code"  # the key of a refund's decline code in `to_json`

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._expire = timedelta(seconds=expire_seconds)
        self._payments: dict[str, R] = {}
        self._by_payment_id: dict[str, str] = {}
        self._entries: list[LedgerEntry[A]] = []
        self._refunds: dict[str, RefundRecord[A, S]] = {}
        self._by_refund_id: dict[str, str] = {}

    # --- protocol hooks --------------------------------------------------------------------------

    def _status(self, phase: Phase) -> S:
        status: S = self.STATUS[phase]
        return status

    def _record_json(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def _amount_json(self, amount: A) -> Any:
        raise NotImplementedError

    def _money(self, amount: A) -> Money:
        """The amount as `fx.Money` (the protocol has checked it is readable before)."""
        raise NotImplementedError

    def _new_refund_id(self) -> str:
        raise NotImplementedError

    def _confirmed(self, record: R) -> None:
        """An 0093 payment just succeeded (before it is charged)."""

    def _expired(self, record: R) -> None:
        """An 0094 payment just failed."""

    def _refund_json(self, record: RefundRecord[A, S]) -> dict[str, Any]:
        return {
            "refund_request_id": record.refund_request_id,
            "refund_id": record.refund_id,
            "payment_request_id": record.payment_request_id,
            "payment_id": record.payment_id,
            "amount": self._amount_json(record.amount),
            "amount_minor": self._money(record.amount).value,
            "status": record.status.value,
            self.CODE_FIELD: record.code,
            "calls": record.calls,
            "created_at": record.created_at.isoformat(),
        }

    # --- reading (always evaluated at the clock's now) ------------------------------------------

    @property
    def payments(self) -> dict[str, R]:
        self.refresh()
        return dict(self._payments)

    @property
    def entries(self) -> list[LedgerEntry[A]]:
        self.refresh()
        return list(self._entries)

    @property
    def refunds(self) -> dict[str, RefundRecord[A, S]]:
        return dict(self._refunds)

    def get_refund(self, refund_request_id: str) -> RefundRecord[A, S] | None:
        return self._refunds.get(refund_request_id)

    def find_refund(
        self, *, refund_request_id: str | None, refund_id: str | None
    ) -> RefundRecord[A, S] | None:
        """By the partner's refund id when given (it takes precedence), else by request id."""
        if refund_id:
            request_id = self._by_refund_id.get(refund_id)
            return self._refunds.get(request_id) if request_id is not None else None
        return self._refunds.get(refund_request_id) if refund_request_id else None

    def get(self, payment_request_id: str) -> R | None:
        record = self._payments.get(payment_request_id)
        if record is not None:
            self._evaluate(record, self._clock.now())
        return record

    def find(self, *, payment_request_id: str | None, payment_id: str | None) -> R | None:
        """By payment id when given (it takes precedence), else by request id."""
        if payment_id:
            request_id = self._by_payment_id.get(payment_id)
            return self.get(request_id) if request_id is not None else None
        return self.get(payment_request_id) if payment_request_id else None

    def _count(self, kind: str, payment_request_id: str) -> int:
        return sum(
            1 for e in self.entries if e.kind == kind and e.payment_request_id == payment_request_id
        )

    def charges_for(self, payment_request_id: str) -> int:
        """How many times this request id was charged (0 or 1 when the sandbox is right)."""
        return self._count("charge", payment_request_id)

    def reversals_for(self, payment_request_id: str) -> int:
        return self._count("reversal", payment_request_id)

    def refunds_for(self, payment_request_id: str) -> int:
        """How many refunds of this payment were made (declined ones are not counted)."""
        return self._count("refund", payment_request_id)

    def refunded_for(self, payment_request_id: str) -> int:
        """Minor units refunded so far for this payment (the sum of its refund entries)."""
        return sum(
            self._money(e.amount).value
            for e in self.entries
            if e.kind == "refund" and e.payment_request_id == payment_request_id
        )

    def to_json(self) -> dict[str, Any]:
        """`payments`, `refunds` (by refund request id) and `entries` (every money movement;
        a refund entry names its `refund_request_id`; `amount_minor` is an int to sum)."""
        self.refresh()
        return {
            "payments": {k: self._record_json(r) for k, r in self._payments.items()},
            "refunds": {k: self._refund_json(r) for k, r in self._refunds.items()},
            "entries": [e.to_json(self._amount_json, self._minor) for e in self._entries],
        }

    def _minor(self, amount: A) -> int:
        return self._money(amount).value

    def refresh(self) -> None:
        now = self._clock.now()
        for record in self._payments.values():
            self._evaluate(record, now)

    # --- writing ---------------------------------------------------------------------------------

    def _add(self, record: R) -> R:
        """Keep a new record; a success is charged at once (dated at its creation)."""
        self._payments[record.payment_request_id] = record
        self._by_payment_id[record.payment_id] = record.payment_request_id
        if record.status is self._status(Phase.SUCCEEDED):
            self._charge(record, record.created_at)
        return record

    def cancel(self, record: R) -> CancelRefusal | None:
        """Cancel whatever the state and reverse a charge once (idempotent: None), unless the
        payment has refunds or its cancel window has closed (0097): then nothing changes and
        the refusal says why."""
        now = self._clock.now()
        self._evaluate(record, now)
        canceled = self._status(Phase.CANCELED)
        if record.status is canceled:
            return None
        if record.test_code == _CANCEL_REFUSED_SUFFIX:
            return CancelRefusal.WINDOW_CLOSED
        if record.refunded_minor > 0:
            return CancelRefusal.HAS_REFUNDS
        if record.charged and not record.reversed and record.amount is not None:
            record.reversed = True
            self._entries.append(
                LedgerEntry(
                    "reversal", record.payment_request_id, record.payment_id, record.amount, now
                )
            )
        record.status = canceled
        record.canceled_at = now
        return None

    def refund(
        self,
        *,
        refund_request_id: str,
        payment: R | None,
        payment_request_id: str,
        amount: A,
        fingerprint: str,
        merchant_amount: A | None = None,
    ) -> RefundRecord[A, S]:
        """A new refund request id for `payment` (None: no such payment, `payment_request_id`
        being what the request named): made at once, or declined; either way recorded, so a
        replay answers the same. A refund made returns money: a `refund` entry.
        `merchant_amount` is the merchant-currency amount the request carried, if any."""
        now = self._clock.now()
        if payment is not None:
            self._evaluate(payment, now)
        money = self._money(amount)
        decline = self._refund_decline(payment, money)
        record: RefundRecord[A, S] = RefundRecord(
            refund_request_id=refund_request_id,
            refund_id=self._new_refund_id(),
            payment_request_id=payment.payment_request_id if payment else payment_request_id,
            payment_id=payment.payment_id if payment else None,
            amount=amount,
            fingerprint=fingerprint,
            status=self._status(Phase.FAILED if decline else Phase.SUCCEEDED),
            decline=decline,
            code=self.REFUND_CODES[decline] if decline else None,
            created_at=now,
            completed_at=now,
            merchant_amount=merchant_amount,
        )
        self._refunds[refund_request_id] = record
        self._by_refund_id[record.refund_id] = refund_request_id
        if decline is None and payment is not None:
            payment.refunded_minor += money.value
            self._entries.append(
                LedgerEntry(
                    "refund",
                    payment.payment_request_id,
                    payment.payment_id,
                    amount,
                    now,
                    refund_request_id=refund_request_id,
                )
            )
        return record

    def _refund_decline(self, payment: R | None, money: Money) -> RefundDecline | None:
        """Why `money` cannot be refunded from `payment`, or None when it can."""
        if payment is None:
            return RefundDecline.NO_PAYMENT
        if payment.status is self._status(Phase.CANCELED):
            return RefundDecline.CANCELED
        if payment.status is not self._status(Phase.SUCCEEDED) or payment.amount is None:
            return RefundDecline.NOT_SUCCEEDED
        if refund_rule(payment) is RefundRule.DECLINE:
            return RefundDecline.DECLINED
        charged = self._money(payment.amount)
        if charged.currency != money.currency:
            return RefundDecline.CURRENCY
        if money.value <= 0 or payment.refunded_minor + money.value > charged.value:
            return RefundDecline.EXCEEDS
        return None

    def _charge(self, record: R, at: datetime) -> None:
        if record.charged or record.amount is None:
            return
        record.charged = True
        record.completed_at = at
        self._entries.append(
            LedgerEntry("charge", record.payment_request_id, record.payment_id, record.amount, at)
        )

    def _evaluate(self, record: R, now: datetime) -> None:
        if record.status is not self._status(Phase.PROCESSING):
            return
        if record.scenario is Scenario.CONFIRM and now >= record.created_at + self._confirm:
            record.status = self._status(Phase.SUCCEEDED)
            self._confirmed(record)
            self._charge(record, record.created_at + self._confirm)
        elif record.scenario is Scenario.EXPIRE and now >= record.created_at + self._expire:
            record.status = self._status(Phase.FAILED)
            self._expired(record)
            record.completed_at = record.created_at + self._expire

    # --- settlement ------------------------------------------------------------------------------

    def _merchant_money(self, amount: A | None) -> Money | None:
        """A carried merchant amount as `fx.Money`, or None when absent, unreadable or not
        positive (a protocol may not have checked it)."""
        if amount is None:
            return None
        try:
            money = self._money(amount)
        except (FXError, ValueError):
            return None
        return money if money.value > 0 else None

    def settlement_rows(self, terms: SettlementTerms, business_date: date) -> list[SettlementRow]:
        """What the partner settles for `business_date`: charges of payments not reversed and
        refunds made, each dated by its own time (module docstring). Untampered."""
        rows: list[SettlementRow] = []
        for entry in self.entries:
            if entry.kind == "reversal" or terms.business_date(entry.at) != business_date:
                continue
            amount = self._money(entry.amount)
            if entry.kind == "charge":
                payment = self._payments[entry.payment_request_id]
                if payment.reversed:
                    continue
                merchant = self._merchant_money(payment.merchant_amount)
                rows.append(
                    SettlementRow(
                        record_type="payment",
                        request_id=entry.payment_request_id,
                        reference=entry.payment_id,
                        payment_request_id=entry.payment_request_id,
                        payment_reference=entry.payment_id,
                        amount=amount,
                        fee=terms.payment_fee(amount),
                        merchant_amount=merchant,
                        fx_rate=implied_rate(amount, merchant) if merchant else None,
                        completed_at=entry.at,
                    )
                )
            elif entry.kind == "refund" and entry.refund_request_id is not None:
                refund = self._refunds[entry.refund_request_id]
                merchant = self._merchant_money(refund.merchant_amount)
                rows.append(
                    SettlementRow(
                        record_type="refund",
                        request_id=refund.refund_request_id,
                        reference=refund.refund_id,
                        payment_request_id=entry.payment_request_id,
                        payment_reference=entry.payment_id,
                        amount=amount,
                        fee=terms.refund_fee(amount),
                        merchant_amount=merchant,
                        fx_rate=implied_rate(amount, merchant) if merchant else None,
                        completed_at=entry.at,
                    )
                )
        return rows


# --- the settlement file ---------------------------------------------------------------------

_MIDNIGHT = time(0, 0)


def cutoff_instant(day: date, zone: ZoneInfo, cutoff: time) -> datetime:
    """The UTC instant at which local `day` reaches `cutoff`: the first moment whose wall clock
    on that day reads at or after it (past a DST gap; the first of a repeated hour)."""
    wall = datetime.combine(day, cutoff)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # In a gap: fold=1 reads the wall time with the offset after the jump, an instant before it;
    # fold=0 with the one before, an instant after it. Transitions fall on whole seconds.
    low = int(wall.replace(tzinfo=zone, fold=1).timestamp())
    high = int(first.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


@dataclasses.dataclass(frozen=True)
class SettlementTerms:
    """The partner's business day and fee schedule, which its settlement file follows.

    **Parameters**
    - `timezone`: the partner's IANA zone (`Partner.timezone` in the gateway's config).
    - `cutoff`: local wall time at which its business day ends (00:00: midnight).
    - `fee_bps`: its fee in basis points of each payment and refund.
    - `fee_fixed`: minor units added to each payment's fee, by payer currency (kept on refunds).
    """

    timezone: str = "UTC"
    cutoff: time = _MIDNIGHT
    fee_bps: int = 0
    fee_fixed: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if self.cutoff.tzinfo is not None:
            raise ValueError("cutoff is a local wall time without a zone")
        if isinstance(self.fee_bps, bool) or not 0 <= self.fee_bps <= 10_000:
            raise ValueError(f"fee_bps must be 0..10000, got {self.fee_bps!r}")
        for code, value in self.fee_fixed.items():
            try:
                get_currency(code)
            except FXError:
                raise ValueError(f"fee_fixed: {code!r} is not an ISO 4217 currency") from None
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"fee_fixed[{code}] must be a non-negative int of minor units")
        object.__setattr__(self, "fee_fixed", MappingProxyType(dict(self.fee_fixed)))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def business_date(self, moment: datetime) -> date:
        """The partner's business date of an aware moment."""
        if moment.tzinfo is None:
            raise ValueError("moment must be timezone-aware")
        zone = self.zone
        day = moment.astimezone(zone).date()
        if self.cutoff == _MIDNIGHT:
            return day
        return day + timedelta(days=1) if moment >= cutoff_instant(day, zone, self.cutoff) else day

    def day_start(self, business_date: date) -> datetime:
        """The first instant of a business date (UTC)."""
        if self.cutoff == _MIDNIGHT:
            return cutoff_instant(business_date, self.zone, _MIDNIGHT)
        return cutoff_instant(business_date - timedelta(days=1), self.zone, self.cutoff)

    def _bps_of(self, value: int) -> int:
        return round_half_up(Decimal(value * self.fee_bps).scaleb(-4))

    def payment_fee(self, amount: Money) -> Money:
        """round_half_up(amount × bps / 10^4) + fixed[currency]."""
        fixed = self.fee_fixed.get(amount.currency.code, 0)
        return Money(self._bps_of(amount.value) + fixed, amount.currency)

    def refund_fee(self, amount: Money) -> Money:
        """The fee a refund gives back: round_half_up(refund × bps / 10^4) (fixed part kept)."""
        return Money(self._bps_of(amount.value), amount.currency)


@dataclasses.dataclass(frozen=True)
class SettlementRow:
    """One line of a partner's settlement file, before a protocol renders it. Amounts are
    positive, in the payer currency (`merchant_amount` in the merchant's)."""

    record_type: Literal["payment", "refund"]
    request_id: str  # the payment's or refund's request id (ours)
    reference: str  # the partner's id of it
    payment_request_id: str  # the payment's request id (a payment's own)
    payment_reference: str | None  # the partner's id of the payment (a payment's own)
    amount: Money
    fee: Money
    merchant_amount: Money | None
    fx_rate: Decimal | None
    completed_at: datetime

    @property
    def net(self) -> int:
        """Signed minor units: amount − fee for a payment, −(amount − fee) for a refund."""
        value = self.amount.value - self.fee.value
        return value if self.record_type == "payment" else -value

    def to_json(self) -> dict[str, Any]:
        merchant = self.merchant_amount
        return {
            "record_type": self.record_type,
            "partner_request_id": self.request_id,
            "partner_reference": self.reference,
            "payment_partner_request_id": self.payment_request_id,
            "payment_partner_reference": self.payment_reference,
            "currency": self.amount.currency.code,
            "amount": self.amount.value,
            "fee": self.fee.value,
            "net": self.net,
            "merchant_currency": merchant.currency.code if merchant else None,
            "merchant_amount": merchant.value if merchant else None,
            "fx_rate": str(self.fx_rate) if self.fx_rate is not None else None,
            "completed_at": self.completed_at.isoformat(),
        }


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError("fx_rate is not a decimal") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError("fx_rate must be a positive decimal")
    return rate


_RateText = Annotated[str, Field(min_length=1, max_length=40)]
_Id = Annotated[str, Field(min_length=1, max_length=64)]
_Minor = Annotated[StrictInt, Field(ge=0, le=10**15)]


class _TamperModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _AddedLine(_TamperModel):
    record_type: Literal["payment", "refund"] = "payment"
    partner_request_id: _Id
    amount: Annotated[StrictInt, Field(gt=0, le=10**15)]
    currency: str
    fee: _Minor | None = None
    partner_reference: _Id | None = None
    payment_partner_request_id: _Id | None = None
    merchant_amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None
    merchant_currency: str | None = None
    fx_rate: _RateText | None = None
    completed_at: datetime | None = None


class _Alteration(_TamperModel):
    partner_request_id: _Id
    amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None
    fee: _Minor | None = None
    fx_rate: _RateText | None = None
    merchant_amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None


class _TamperBody(_TamperModel):
    business_date: date
    drop: list[_Id] = []
    add: list[_AddedLine] = []
    alter: list[_Alteration] = []


@dataclasses.dataclass(frozen=True)
class _Tampering:
    drop: frozenset[str]
    add: tuple[SettlementRow, ...]
    alter: Mapping[str, _Alteration]


class TamperRefused(Exception):
    """This sandbox was started without `allow_settlement_tamper`."""


class SettlementDesk:
    """A sandbox's settlement file service: the day's rows from the ledger, with the test-only
    tampering applied (module docstring). `allow_tamper` False refuses every tampering."""

    def __init__(self, terms: SettlementTerms, *, allow_tamper: bool = False) -> None:
        self.terms = terms
        self.allow_tamper = allow_tamper
        self._tampering: dict[date, _Tampering] = {}

    def rows(
        self,
        ledger: SandboxLedger[Any, Any, Any],
        business_date: date,
        currency: str | None = None,
    ) -> list[SettlementRow]:
        """The file's lines for `business_date` (only those in `currency` when given)."""
        rows = ledger.settlement_rows(self.terms, business_date)
        tampering = self._tampering.get(business_date)
        if tampering is not None:
            rows = [r for r in rows if r.request_id not in tampering.drop]
            rows = [self._altered(r, tampering.alter.get(r.request_id)) for r in rows]
            rows.extend(self._resolved(ledger, row) for row in tampering.add)
        if currency is not None:
            rows = [r for r in rows if r.amount.currency.code == currency]
        order = {"payment": 0, "refund": 1}
        rows.sort(key=lambda r: (r.completed_at, order[r.record_type], r.request_id))
        return rows

    @staticmethod
    def _resolved(ledger: SandboxLedger[Any, Any, Any], row: SettlementRow) -> SettlementRow:
        """An added refund names its payment by the partner's id too: the ledger's, if the
        payment exists, else a made-up one."""
        if row.payment_reference is not None:
            return row
        payment = ledger.get(row.payment_request_id)
        reference = payment.payment_id if payment is not None else f"{row.reference}P"
        return dataclasses.replace(row, payment_reference=reference)

    @staticmethod
    def _altered(row: SettlementRow, alteration: _Alteration | None) -> SettlementRow:
        if alteration is None:
            return row
        changes: dict[str, Any] = {}
        if alteration.amount is not None:
            changes["amount"] = Money(alteration.amount, row.amount.currency)
        if alteration.fee is not None:
            changes["fee"] = Money(alteration.fee, row.amount.currency)
        if alteration.fx_rate is not None:
            changes["fx_rate"] = _rate(alteration.fx_rate)
        if alteration.merchant_amount is not None and row.merchant_amount is not None:
            merchant = row.merchant_amount.currency
            changes["merchant_amount"] = Money(alteration.merchant_amount, merchant)
        return dataclasses.replace(row, **changes)

    def tamper(self, raw: bytes) -> dict[str, Any]:
        """Replace a day's tampering with the JSON body `raw`; `TamperRefused` when not
        allowed, `ValueError` (its message says what is wrong) on a bad body."""
        if not self.allow_tamper:
            raise TamperRefused("settlement tampering is not allowed on this sandbox")
        try:
            body = _TamperBody.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(validation_summary(exc)) from None
        added = tuple(self._added(body.business_date, line) for line in body.add)
        for alteration in body.alter:
            if alteration.fx_rate is not None:
                _rate(alteration.fx_rate)
        self._tampering[body.business_date] = _Tampering(
            drop=frozenset(body.drop),
            add=added,
            alter={a.partner_request_id: a for a in body.alter},
        )
        return {
            "business_date": body.business_date.isoformat(),
            "drop": sorted(body.drop),
            "add": [row.request_id for row in added],
            "alter": [a.partner_request_id for a in body.alter],
        }

    def _added(self, business_date: date, line: _AddedLine) -> SettlementRow:
        try:
            amount = Money.of(line.amount, line.currency)
            merchant = None
            if line.merchant_amount is not None:
                if line.merchant_currency is None:
                    raise ValueError("merchant_amount needs merchant_currency")
                merchant = Money.of(line.merchant_amount, line.merchant_currency)
        except FXError as exc:
            raise ValueError(str(exc)) from None
        if line.record_type == "refund":
            if line.payment_partner_request_id is None:
                raise ValueError("an added refund needs payment_partner_request_id")
            payment_request_id = line.payment_partner_request_id
            default_fee = self.terms.refund_fee(amount)
        else:
            payment_request_id = line.payment_partner_request_id or line.partner_request_id
            default_fee = self.terms.payment_fee(amount)
        completed_at = line.completed_at or self.terms.day_start(business_date) + timedelta(
            minutes=1
        )
        if completed_at.tzinfo is None:
            raise ValueError("completed_at needs an offset")
        if line.fx_rate is not None:
            rate: Decimal | None = _rate(line.fx_rate)
        else:
            rate = implied_rate(amount, merchant) if merchant is not None else None
        reference = line.partner_reference or f"SBXADD{uuid.uuid4().hex[:16].upper()}"
        return SettlementRow(
            record_type=line.record_type,
            request_id=line.partner_request_id,
            reference=reference,
            payment_request_id=payment_request_id,
            payment_reference=reference if line.record_type == "payment" else None,
            amount=amount,
            fee=Money(line.fee, amount.currency) if line.fee is not None else default_fee,
            merchant_amount=merchant,
            fx_rate=rate,
            completed_at=completed_at.astimezone(UTC),
        )


SETTLEMENT = web.AppKey("sandbox_settlement_desk", SettlementDesk)


def _json(status: int, body: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body, separators=(",", ":")), content_type="application/json"
    )


def parse_business_date(text: str) -> date | None:
    """A strict `YYYY-MM-DD`, or None."""
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def install_settlement_routes(
    app: web.Application, desk: SettlementDesk, ledger_key: web.AppKey[Any]
) -> None:
    """`POST /_sandbox/settlement_tamper` and `GET /_sandbox/settlement/{date}` on `app`,
    which keeps `desk` under `SETTLEMENT`."""
    app[SETTLEMENT] = desk

    async def tamper(request: web.Request) -> web.StreamResponse:
        try:
            summary = request.app[SETTLEMENT].tamper(await request.read())
        except TamperRefused as exc:
            return _json(403, {"error": {"type": "forbidden", "message": str(exc)}})
        except ValueError as exc:
            return _json(400, {"error": {"type": "invalid_request", "message": str(exc)}})
        return _json(200, summary)

    async def show(request: web.Request) -> web.StreamResponse:
        day = parse_business_date(request.match_info["date"])
        if day is None:
            return _json(400, {"error": {"type": "invalid_request", "message": "bad date"}})
        current = request.app[SETTLEMENT]
        rows = current.rows(request.app[ledger_key], day, request.query.get("currency") or None)
        terms = current.terms
        return _json(
            200,
            {
                "business_date": day.isoformat(),
                "timezone": terms.timezone,
                "cutoff": terms.cutoff.isoformat(timespec="minutes"),
                "lines": [row.to_json() for row in rows],
            },
        )

    app.router.add_post("/_sandbox/settlement_tamper", tamper)
    app.router.add_get("/_sandbox/settlement/{date}", show)


# --- app plumbing ----------------------------------------------------------------------------


class _JSONLedger(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def ledger_json_handler(
    key: web.AppKey[Any],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The `GET /_sandbox/ledger` handler for the ledger stored under `app[key]`."""

    async def ledger_json(request: web.Request) -> web.StreamResponse:
        ledger: _JSONLedger = request.app[key]
        return web.Response(
            text=json.dumps(ledger.to_json(), separators=(",", ":")),
            content_type="application/json",
        )

    return ledger_json


def validation_summary(exc: ValidationError) -> str:
    """The first few problems of a request body, for an error message."""
    return "; ".join(".".join(str(p) for p in e["loc"]) + f" {e['type']}" for e in exc.errors()[:3])


# --- command line ----------------------------------------------------------------------------


def env(name: str) -> str:
    """A secret from an environment variable (never from the command line, which `ps` shows)."""
    value = os.environ.get(name)
    if not value:
        raise SystemExit(f"environment variable {name} is not set")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """`--host` and `--port`."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """The test codes' timings: `--hold-seconds`, `--confirm-seconds`, `--expire-seconds`."""
    parser.add_argument("--hold-seconds", type=float, default=9.0)
    parser.add_argument("--confirm-seconds", type=float, default=2.0)
    parser.add_argument("--expire-seconds", type=float, default=3.0)


def add_settlement_arguments(parser: argparse.ArgumentParser) -> None:
    """The partner's settlement terms: `--timezone`, `--cutoff HH:MM`, `--fee-bps`,
    `--fee-fixed CUR=MINOR` (repeatable)."""
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--cutoff", default="00:00", metavar="HH:MM")
    parser.add_argument("--fee-bps", type=int, default=0)
    parser.add_argument("--fee-fixed", action="append", default=[], metavar="CUR=MINOR")


def settlement_terms_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> SettlementTerms:
    fixed: dict[str, int] = {}
    for item in args.fee_fixed:
        code, sep, value = item.partition("=")
        if not sep or not value.isdigit():
            parser.error(f"--fee-fixed wants CUR=MINOR, got {item!r}")
        fixed[code] = int(value)
    try:
        return SettlementTerms(
            timezone=args.timezone,
            cutoff=time.fromisoformat(args.cutoff),
            fee_bps=args.fee_bps,
            fee_fixed=fixed,
        )
    except ValueError as exc:
        parser.error(str(exc))


def run(app: web.Application, args: argparse.Namespace) -> None:
    """Serve a sandbox app on `args.host`:`args.port`, logging to stderr."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    web.run_app(app, host=args.host, port=args.port)
