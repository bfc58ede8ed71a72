"""A tourist's scan of a sandbox order code or entry code: the scan request (`ScanOptions`,
parsed strictly),
what its test code does (`scan_outcome`), how the partner then notifies (`NotifyMode`), and
the refusals (`ScanRefused`). The order desk that applies them is `adapters._sandbox.orders`
(which re-exports these names); entry codes (a store's static QR: the tourist also types
`amount` and names a `wallet`) are `adapters._sandbox.entry`'s."""

from __future__ import annotations

import dataclasses
import enum
import json
import re
from typing import Any

from adapters._sandbox.scenarios import Outcome

__all__ = ["NotifyMode", "OrderState", "ScanOptions", "ScanRefused", "scan_outcome"]

_MAX_SCAN_BODY = 4096
_MAX_DELAY = 600.0
_SUFFIX = re.compile(r"[0-9]{4}")
_TYPED_AMOUNT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,4})?")
_WALLET = re.compile(r"[A-Za-z0-9_.-]{1,32}")


class OrderState(enum.StrEnum):
    PENDING = "pending"  # displayed, not scanned yet
    PAID = "paid"  # scanned and charged
    DECLINED = "declined"  # scanned, the wallet declined (nothing charged)
    CLOSED = "closed"  # cancelled at the partner before it was paid
    EXPIRED = "expired"  # `expires_at` passed unpaid


class NotifyMode(enum.StrEnum):
    NOW = "now"
    LATE = "late"
    TWICE = "twice"
    BAD_SIGNATURE = "bad_signature"
    NEVER = "never"


_SCAN_OUTCOMES = {
    "0051": Outcome.INSUFFICIENT_FUNDS,
    "0059": Outcome.RISK_REJECTED,
    "0054": Outcome.CODE_EXPIRED,
    "0503": Outcome.UNAVAILABLE,
}


def scan_outcome(suffix: str) -> Outcome:
    """What paying an order code with a wallet whose code ends in `suffix` does: APPROVE,
    INSUFFICIENT_FUNDS, RISK_REJECTED, CODE_EXPIRED or UNAVAILABLE (nothing done). The other
    user-presented codes (timings, held answers) mean nothing to a scan: they approve."""
    if not _SUFFIX.fullmatch(suffix):
        raise ValueError("suffix must be 4 digits")
    return _SCAN_OUTCOMES.get(suffix, Outcome.APPROVE)


class ScanRefused(Exception):
    """A scan the sandbox refuses: nothing charged, nothing sent."""

    def __init__(
        self, status: int, kind: str, message: str, state: OrderState | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message
        self.state = state

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": {"type": self.kind, "message": self.message}}
        if self.state is not None:
            body["state"] = self.state.value
        return body


@dataclasses.dataclass(frozen=True, slots=True)
class ScanOptions:
    """How the tourist pays (`suffix`) and how the partner then notifies (test switches).

    For an entry code only: `amount` (what the tourist types: a major-unit decimal string in
    the store's currency, e.g. "125.50", at most the currency's decimals), `wallet` (the
    wallet paying, e.g. "alipay_cn"), and the test switch `entry_twice` (send the same entry
    order twice, as a partner that lost the first answer)."""

    suffix: str = "0000"
    notify: NotifyMode = NotifyMode.NOW
    delay_seconds: float = 2.0
    amount_delta: int = 0
    max_attempts: int | None = None
    amount: str | None = None
    wallet: str | None = None
    entry_twice: bool = False

    @property
    def uses_switches(self) -> bool:
        """Anything beyond a plain scan (test profile only)."""
        return (
            self.notify is not NotifyMode.NOW
            or self.amount_delta != 0
            or self.max_attempts is not None
            or self.entry_twice
        )

    @property
    def for_entry_code(self) -> bool:
        """Says something only an entry code's scan uses."""
        return self.amount is not None or self.wallet is not None or self.entry_twice

    @classmethod
    def parse(cls, raw: bytes) -> tuple[str, ScanOptions]:
        """(the code, the options) of a `POST /_sandbox/scan` body; `ValueError` saying why
        not (strict: unknown fields, wrong types and duplicate keys are refused)."""
        if len(raw) > _MAX_SCAN_BODY:
            raise ValueError("the body is too large")
        try:
            body = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise ValueError(f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        unknown = sorted(set(body) - _SCAN_FIELDS)
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        code = body.get("code")
        if not isinstance(code, str) or not code:
            raise ValueError("code is required (the order code's value)")
        suffix = body.get("suffix", "0000")
        if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix):
            raise ValueError('suffix must be 4 digits, e.g. "0051"')
        try:
            notify = NotifyMode(body.get("notify", NotifyMode.NOW.value))
        except ValueError:
            modes = ", ".join(m.value for m in NotifyMode)
            raise ValueError(f"notify must be one of {modes}") from None
        delay = body.get("delay_seconds", 2.0)
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise ValueError("delay_seconds must be a number")
        if not 0 <= delay <= _MAX_DELAY:
            raise ValueError(f"delay_seconds must be between 0 and {_MAX_DELAY:g}")
        if "delay_seconds" in body and notify is not NotifyMode.LATE:
            raise ValueError('delay_seconds goes with notify "late"')
        delta = body.get("amount_delta", 0)
        if isinstance(delta, bool) or not isinstance(delta, int):
            raise ValueError("amount_delta must be a whole number of minor units")
        attempts = body.get("max_attempts")
        if attempts is not None and (
            isinstance(attempts, bool) or not isinstance(attempts, int) or not 1 <= attempts <= 10
        ):
            raise ValueError("max_attempts must be a whole number from 1 to 10")
        amount = body.get("amount")
        if amount is not None and (
            not isinstance(amount, str) or not _TYPED_AMOUNT.fullmatch(amount)
        ):
            raise ValueError('amount must be a decimal string in major units, e.g. "125.50"')
        wallet = body.get("wallet")
        if wallet is not None and (not isinstance(wallet, str) or not _WALLET.fullmatch(wallet)):
            raise ValueError("wallet must be 1-32 letters, digits, '_', '.' or '-'")
        twice = body.get("entry_twice", False)
        if not isinstance(twice, bool):
            raise ValueError("entry_twice must be true or false")
        return code, cls(
            suffix=suffix,
            notify=notify,
            delay_seconds=float(delay),
            amount_delta=delta,
            max_attempts=attempts,
            amount=amount,
            wallet=wallet,
            entry_twice=twice,
        )


_SCAN_FIELDS = frozenset(
    {
        "code",
        "suffix",
        "notify",
        "delay_seconds",
        "amount_delta",
        "max_attempts",
        "amount",
        "wallet",
        "entry_twice",
    }
)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result
