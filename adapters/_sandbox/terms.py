"""A partner's settlement terms: its business day (zone and cut-off) and its fee schedule.

A moment's business date is its local date in the partner's zone, plus one day if it is at or
after the cut-off (00:00 = the day ends at midnight); a cut-off inside a DST gap acts at the first
instant after the gap, one inside a repeated hour at its first occurrence. This is the same rule
as the gateway's `business_days`, restated here because adapters may not import the gateway
(`tests/unit/adapters/test_sandbox_settlement.py` checks that the two agree).

Fees: a payment's is round_half_up(amount × bps / 10^4) + fixed[currency]; a refund gives back
round_half_up(refund × bps / 10^4) (the fixed part is kept).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fx import FXError, Money, get_currency, round_half_up

__all__ = ["SettlementTerms", "cutoff_instant"]

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

    def refund_fee(
        self, amount: Money, refunded_before: int = 0, returned_before: int = 0
    ) -> Money:
        """The fee a refund gives back, cumulatively like the gateway's (API.md): round_half_up(
        (refunded before + this refund) × bps / 10^4) − what earlier refunds of the payment gave
        back (the fixed part kept), so a payment refunded in full returns exactly its % fee."""
        returned = self._bps_of(refunded_before + amount.value) - returned_before
        return Money(returned, amount.currency)
