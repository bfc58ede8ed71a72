"""A merchant as the services see it (`storage/rows.merchant` builds it from its row)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from functools import cached_property
from zoneinfo import ZoneInfo

from adapters import MerchantInfo
from gateway.core.business_days import business_date
from gateway.quotes.model import MarkupRule

__all__ = ["Merchant"]


@dataclasses.dataclass(frozen=True)
class Merchant:
    id: str
    name: str
    country: str
    """ISO 3166 alpha-2: with the wallet, it picks the partners that may take a payment."""
    currency: str
    """What the merchant prices in and is paid out in (ISO 4217)."""
    timezone: str
    cutoff: time
    """With `timezone`, where the merchant's business day ends (API.md, Business days)."""
    mdr_bps: int
    fixed_fee: int
    """Per payment, in minor units of `currency`; a refund gives back none of it."""
    created_at: datetime
    webhook_url: str | None = None
    webhook_secret: str | None = dataclasses.field(default=None, repr=False)
    """Sealed (`gateway/core/secrets.py`), never in the clear; likewise `signing_secret`."""
    signing_secret: str | None = dataclasses.field(default=None, repr=False)
    require_signature: bool = False
    markups: tuple[MarkupRule, ...] = ()
    """The merchant's own markup rules (each names this merchant; `gateway merchants fx set`)."""

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def at_till(self, store_id: str | None, terminal_id: str | None) -> MerchantInfo:
        """What a partner is told of the merchant selling, at which store and terminal."""
        return MerchantInfo(
            id=self.id,
            name=self.name,
            country=self.country,
            store_id=store_id,
            terminal_id=terminal_id,
        )

    def business_date(self, at: datetime) -> date:
        """The merchant's business day of a state committing at `at`."""
        return business_date(at, self.zone, self.cutoff)
