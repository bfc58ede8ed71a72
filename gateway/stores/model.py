"""A store with a static entry code (issue #15), and the changes it goes through. Pure.

A store is registered with one partner (the first of the merchant's market that offers entry
codes); the partner issues its **entry code**, what the QR printed at the till encodes, and every
tourist paying there scans it and types the amount. The row is written `pending` before the
partner is asked (registering the same store id again is the same registration), becomes
`active` with its code, and may be `disabled` (every entry order for it refused) and enabled
again.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime

__all__ = ["NAME_LENGTH", "Store", "StoreStatus"]

NAME_LENGTH = 100
"""A store's name: 1 to this many characters (the partner shows it to the tourist)."""


class StoreStatus(enum.StrEnum):
    PENDING = "pending"
    """Written, its registration not (yet) confirmed by the partner: no code to print."""
    ACTIVE = "active"
    DISABLED = "disabled"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Store:
    id: str
    merchant_id: str
    name: str
    partner: str
    status: StoreStatus
    created_at: datetime
    updated_at: datetime
    code: str | None = None
    """What the printed QR encodes, as the partner issued it (None while pending)."""
    partner_store_id: str | None = None

    def registered(self, *, code: str, partner_store_id: str | None, now: datetime) -> Store:
        """The partner issued its code: active (a disabled store stays disabled)."""
        status = StoreStatus.ACTIVE if self.status is StoreStatus.PENDING else self.status
        return dataclasses.replace(
            self, code=code, partner_store_id=partner_store_id, status=status, updated_at=now
        )

    def with_status(self, status: StoreStatus, now: datetime) -> Store:
        return dataclasses.replace(self, status=status, updated_at=now)
