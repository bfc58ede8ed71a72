"""How Alipay+ writes amounts and times: minor-unit strings, ISO 8601 with an offset."""

from __future__ import annotations

from datetime import UTC, datetime

from adapters.alipayplus import models as wire
from fx import Money, from_minor_str, to_minor_str

__all__ = ["amount_from_wire", "amount_to_wire", "format_time"]


def format_time(moment: datetime) -> str:
    """ISO 8601 with offset, whole seconds, UTC (`2026-11-26T02:00:00+00:00`), like the SDK."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def amount_to_wire(money: Money) -> wire.Amount:
    return wire.Amount(currency=money.currency.code, value=to_minor_str(money))


def amount_from_wire(amount: wire.Amount) -> Money:
    """Strict: `fx.InvalidAmount` / `fx.UnsupportedCurrency` on anything but an exact amount."""
    return from_minor_str(amount.value, amount.currency)
