"""The sandbox test codes: what the last four digits of a payment's wallet code make a partner do.

Every protocol's sandbox reads the same codes (the README's "Sandbox test codes"); each words
the answers its own way. Codes must be 16-24 ASCII digits (else `Outcome.INVALID_CODE`).

A new pay, by its code (`CodeBehaviour.outcome`):

    0000 / other  approve at once               0051  insufficient funds
    0059  risk rejected                         0054  code expired
    0091  approve at once, every pay answer held `hold_seconds` (an inquiry finds it)
    0092  answer held `hold_seconds`, then an unknown error; never recorded
    0093  in process, then succeeded `confirm_seconds` after creation
    0094  in process, then failed (expired) `expire_seconds` after creation
    0500  an unsigned HTTP 500 to the first pay of a request id (nothing recorded), then approve
    0503  a signed "not accepted" on every pay, nothing recorded or charged

What follows a payment, by the same code:

    0095  approves at once; each refund is made at once (money returned, recorded) but every
          refund answer is held `hold_seconds` (as 0091 holds pay answers): the caller times
          out, and an inquiry finds the refund succeeded
    0096  approves at once; every refund is declined for good (`RefundDecline.DECLINED`),
          nothing returned
    0097  approves at once; a cancel is refused for good (`CancelRefusal.WINDOW_CLOSED`: the
          cancel window has closed, refund instead); refunds work normally
    other refunds succeed while they fit in the refundable remainder (the charged amount less
          the refunds made), in the payment's currency, for a succeeded payment only

A payment with a refund cannot be cancelled (`CancelRefusal.HAS_REFUNDS`). The rules that need
the books (remainders, replays) are `ledger.SandboxLedger`'s; this module only reads codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import re
from typing import Protocol

from aiohttp import web

__all__ = [
    "CancelRefusal",
    "CodeBehaviour",
    "HasTestCode",
    "Outcome",
    "Phase",
    "RefundDecline",
    "RefundRule",
    "Scenario",
    "cancel_window_closed",
    "refund_rule",
]

_CODE = re.compile(r"[0-9]{16,24}")


class HasTestCode(Protocol):
    """A recorded payment, as far as the test codes care: the last four digits of its code."""

    @property
    def test_code(self) -> str: ...


class Scenario(enum.StrEnum):
    """How a recorded payment evolves (the test code's behaviour once recorded)."""

    FINAL = "final"  # decided at once (approve or decline)
    CONFIRM = "confirm"  # 0093: in process, then succeeded after confirm_seconds
    EXPIRE = "expire"  # 0094: in process, then failed (expired) after expire_seconds
    CANCEL_MARKER = "cancel_marker"  # cancelled before any pay arrived: refuse a late pay
    ORDER = "order"  # a merchant-presented order code: in process until scanned or expired


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


def refund_rule(payment: HasTestCode | None) -> RefundRule:
    """How refunds of `payment` behave, by its test code."""
    if payment is None:
        return RefundRule.NORMAL
    return _REFUND_RULES.get(payment.test_code, RefundRule.NORMAL)


def cancel_window_closed(payment: HasTestCode) -> bool:
    """0097: the partner refuses to cancel the payment (its cancel window has closed)."""
    return payment.test_code == _CANCEL_REFUSED_SUFFIX


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

    async def hold_refund_answer(self, payment: HasTestCode | None) -> None:
        """0095: every refund answer of the payment is held (the refund itself is made)."""
        if refund_rule(payment) is RefundRule.HOLD:
            await self.hold()

    def release_on_shutdown(self, app: web.Application) -> None:
        """Let held answers go when `app` shuts down."""

        async def release_holds(_app: web.Application) -> None:
            self.stopping.set()

        app.on_shutdown.append(release_holds)
