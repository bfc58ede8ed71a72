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
- Helpers for the `/_sandbox/ledger` route and the `python -m ...sandbox` command line.

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
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from aiohttp import web
from pydantic import ValidationError

from adapters._clock import Clock
from fx import Money

__all__ = [
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
    "add_common_arguments",
    "add_timing_arguments",
    "digest",
    "env",
    "iso_or_none",
    "ledger_json_handler",
    "refund_rule",
    "run",
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
    ) -> RefundRecord[A, S]:
        """A new refund request id for `payment` (None: no such payment, `payment_request_id`
        being what the request named): made at once, or declined; either way recorded, so a
        replay answers the same. A refund made returns money: a `refund` entry."""
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


def run(app: web.Application, args: argparse.Namespace) -> None:
    """Serve a sandbox app on `args.host`:`args.port`, logging to stderr."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    web.run_app(app, host=args.host, port=args.port)
