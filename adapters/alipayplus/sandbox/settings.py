"""`SandboxSettings`: how one Alipay+ sandbox partner behaves (keys, timings, settlement)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from adapters._clock import Clock, SystemClock
from adapters._sandbox.orders import DEFAULT_MAX_ATTEMPTS, DEFAULT_SCHEDULE
from adapters._sandbox.terms import SettlementTerms

__all__ = ["SandboxSettings"]


@dataclasses.dataclass
class SandboxSettings:
    """How one sandbox partner behaves.

    **Parameters**
    - `private_key_pem`: the sandbox's signing key (its public half goes in the adapter's
      `partner_public_key`).
    - `merchant_public_keys`: client-id -> that merchant's public key; requests are verified
      with it.
    - `client_id_in_responses`: the `client-id` header of answers; None echoes the request's.
    - `key_version`: the keyVersion announced in answer signatures.
    - `hold_seconds`: how long 0091/0092 hold their answer (beyond the gateway's pay timeout).
    - `confirm_seconds`: 0093's time until the tourist confirms.
    - `expire_seconds`: 0094's time until the partner expires the payment.
    - `clock`: business time for lazily evaluated states and `Response-Time`.
    - `settlement`: the partner's zone, cut-off and fee schedule, for its settlement file.
    - `allow_settlement_tamper`: accept `POST /_sandbox/settlement_tamper`, the rate feed's
      switches (`POST /_sandbox/fx_feed`) and the order scan's notify switches (tests only).
    - `notify_schedule`, `notify_attempts`: how a notification is retried until acknowledged
      (seconds between deliveries, the last repeating; deliveries in all).
    """

    private_key_pem: str
    merchant_public_keys: Mapping[str, str]
    client_id_in_responses: str | None = None
    key_version: int = 1
    hold_seconds: float = 9.0
    confirm_seconds: float = 2.0
    expire_seconds: float = 3.0
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    settlement: SettlementTerms = dataclasses.field(default_factory=SettlementTerms)
    allow_settlement_tamper: bool = False
    notify_schedule: tuple[float, ...] = DEFAULT_SCHEDULE
    notify_attempts: int = DEFAULT_MAX_ATTEMPTS

    def __repr__(self) -> str:
        merchants = sorted(self.merchant_public_keys)
        return (
            f"SandboxSettings(private_key_pem=<redacted>, merchants={merchants}, "
            f"hold={self.hold_seconds}, confirm={self.confirm_seconds}, "
            f"expire={self.expire_seconds})"
        )
