"""`SandboxSettings`: how one WalletRest sandbox partner behaves (secrets, timings, settlement)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from adapters._clock import Clock, SystemClock
from adapters._sandbox.orders import DEFAULT_SCHEDULE
from adapters._sandbox.terms import SettlementTerms

__all__ = ["SandboxSettings"]


@dataclasses.dataclass
class SandboxSettings:
    """How one sandbox partner behaves.

    **Parameters**
    - `signing_secret`: the shared HMAC secret (the adapter's `signing_secret` credential).
    - `api_keys`: the API keys it accepts (a set, or key -> account name).
    - `hold_seconds`: how long 0091/0092 hold their answer (beyond the gateway's pay timeout).
    - `confirm_seconds`: 0093's time until the tourist confirms.
    - `expire_seconds`: 0094's time until the partner expires the payment.
    - `clock`: business time for lazily evaluated states and `X-Timestamp`.
    - `signature_tolerance_seconds`: how far a request's `X-Timestamp` may be from `clock`.
    - `settlement`: the partner's zone, cut-off and fee schedule, for its settlement reports.
    - `allow_settlement_tamper`: accept `POST /_sandbox/settlement_tamper` and the rate feed's
      switches, `POST /_sandbox/fx_feed`, and the scan's notification switches (tests only).
    - `notify_schedule`: seconds between deliveries of one order notification (the last
      repeats).
    """

    signing_secret: str
    api_keys: frozenset[str] | Mapping[str, str]
    hold_seconds: float = 9.0
    confirm_seconds: float = 2.0
    expire_seconds: float = 3.0
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    signature_tolerance_seconds: float = 300.0
    settlement: SettlementTerms = dataclasses.field(default_factory=SettlementTerms)
    allow_settlement_tamper: bool = False
    notify_schedule: Sequence[float] = DEFAULT_SCHEDULE

    def __repr__(self) -> str:
        return (
            f"SandboxSettings(signing_secret=<redacted>, api_keys=<{len(self.api_keys)} keys>, "
            f"hold={self.hold_seconds}, confirm={self.confirm_seconds}, "
            f"expire={self.expire_seconds})"
        )
