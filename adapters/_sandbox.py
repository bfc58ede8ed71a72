"""What every protocol's sandbox partner shares: the test codes, the payment books, the plumbing.

A protocol's sandbox (`adapters/<family>/sandbox/`) keeps its own wire handling: parsing and
authenticating requests, signing answers, response shapes and status codes, and how its amounts
are written. This module holds what does not depend on the protocol:

- `CodeBehaviour`: what a payment code's last four digits make the partner do (`Outcome`), the
  0500 "fail the first call only" memory, and holding an answer (0091/0092) until shutdown.
- `SandboxLedger`: records by request id whose state is evaluated lazily against the clock
  (0093 confirms, 0094 expires the first time anyone looks after the deadline, with the charge
  dated at the deadline), and the list of charge / reversal / refund entries. It is generic over
  the protocol's amount object (kept as sent, rendered by the protocol in `to_json`) and its
  status enum (mapped from the protocol-neutral `Phase`).
- Helpers for the `/_sandbox/ledger` route and the `python -m ...sandbox` command line.

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

__all__ = [
    "CodeBehaviour",
    "LedgerEntry",
    "Outcome",
    "PaymentRecordBase",
    "Phase",
    "SandboxLedger",
    "Scenario",
    "add_common_arguments",
    "add_timing_arguments",
    "digest",
    "env",
    "iso_or_none",
    "ledger_json_handler",
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


@dataclasses.dataclass(frozen=True)
class LedgerEntry(Generic[A]):
    kind: str  # "charge" | "reversal" | "refund"
    payment_request_id: str
    payment_id: str
    amount: A
    at: datetime
    refund_request_id: str | None = None

    def to_json(self, amount_json: Callable[[A], Any], *, refund_ids: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "payment_request_id": self.payment_request_id,
            "payment_id": self.payment_id,
        }
        if refund_ids:
            out["refund_request_id"] = self.refund_request_id
        out["amount"] = amount_json(self.amount)
        out["at"] = self.at.isoformat()
        return out


class SandboxLedger(Generic[R, A, S]):
    """Payments by request id plus the list of money movements, evaluated at the clock's now.

    A protocol subclass sets `STATUS` (its status for each `Phase`), renders records and amounts
    in `to_json`, and says what an 0093 confirmation or 0094 expiry writes in its own fields.
    """

    STATUS: ClassVar[Mapping[Phase, Any]]
    ENTRY_REFUND_IDS: ClassVar[bool] = False  # whether entry JSON carries `refund_request_id`

    def __init__(self, clock: Clock, *, confirm_seconds: float, expire_seconds: float) -> None:
        self._clock = clock
        self._confirm = timedelta(seconds=confirm_seconds)
        self._expire = timedelta(seconds=expire_seconds)
        self._payments: dict[str, R] = {}
        self._by_payment_id: dict[str, str] = {}
        self._entries: list[LedgerEntry[A]] = []

    # --- protocol hooks --------------------------------------------------------------------------

    def _status(self, phase: Phase) -> S:
        status: S = self.STATUS[phase]
        return status

    def _record_json(self, record: R) -> dict[str, Any]:
        raise NotImplementedError

    def _amount_json(self, amount: A) -> Any:
        raise NotImplementedError

    def _confirmed(self, record: R) -> None:
        """An 0093 payment just succeeded (before it is charged)."""

    def _expired(self, record: R) -> None:
        """An 0094 payment just failed."""

    def _extra_json(self) -> dict[str, Any]:
        """More top-level sections of `to_json`, between `payments` and `entries`."""
        return {}

    # --- reading (always evaluated at the clock's now) ------------------------------------------

    @property
    def payments(self) -> dict[str, R]:
        self.refresh()
        return dict(self._payments)

    @property
    def entries(self) -> list[LedgerEntry[A]]:
        self.refresh()
        return list(self._entries)

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

    def to_json(self) -> dict[str, Any]:
        self.refresh()
        return {
            "payments": {k: self._record_json(r) for k, r in self._payments.items()},
            **self._extra_json(),
            "entries": [
                e.to_json(self._amount_json, refund_ids=self.ENTRY_REFUND_IDS)
                for e in self._entries
            ],
        }

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

    def cancel(self, record: R) -> None:
        """Cancel whatever the state; reverse a charge once. Idempotent."""
        now = self._clock.now()
        self._evaluate(record, now)
        canceled = self._status(Phase.CANCELED)
        if record.status is canceled:
            return
        if record.charged and not record.reversed and record.amount is not None:
            record.reversed = True
            self._entries.append(
                LedgerEntry(
                    "reversal", record.payment_request_id, record.payment_id, record.amount, now
                )
            )
        record.status = canceled
        record.canceled_at = now

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
