"""The FX book for finance (`gateway fx position`, `GET /v1/fx/position`): per currency, the
open position the journal's `fx_position` account holds, its value in a reporting currency at
the latest mid, and the markup revenue booked (`fx_revenue`).

Every FX payment books its two sides at the quote's mid: the payer-currency leg X − fxr and
the merchant-currency leg A are worth the same at that mid, so the positions of all currencies,
valued at the mids they were booked at, sum to zero. Valued at today's mids they no longer do:
that sum is the unrealised result. A position is what we are long (+) or short (−) in the
currency: the partner owes us the payer currency, we owe the merchant theirs, so it is the
negated balance of `fx_position`. Days are UTC days.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

import fx
from gateway.context import Context
from gateway.core.errors import InvalidRequest
from gateway.ledger.model import FX_POSITION, FX_REVENUE
from gateway.merchants.auth import Principal, Role
from gateway.settlement.model import parse_business_date
from gateway.storage import ledger as ledger_repo
from gateway.storage.db import Database
from gateway.wire.quotes import FxPosition

__all__ = ["FxBook", "FxBookLine", "fx_book", "fx_position", "table", "view"]


@dataclasses.dataclass(frozen=True, slots=True)
class FxBookLine:
    currency: str
    position: int
    """Minor units held at the end of the day: long (+) or short (−)."""
    position_change: int
    """How the day's payments, refunds and reversals moved it."""
    revenue: int
    """Markup revenue booked in this currency up to the end of the day (minor units)."""
    revenue_day: int
    value: int | None
    """`position` in the reporting currency at the latest mid (None: no fresh rate)."""
    value_day: int | None
    """`position_change` likewise: the day's part of the unrealised result."""
    mid: str | None
    """1 `currency` in the reporting currency, as used."""


@dataclasses.dataclass(frozen=True, slots=True)
class FxBook:
    day: date
    reporting_currency: str
    lines: tuple[FxBookLine, ...]
    unavailable: tuple[str, ...]
    """Why some currencies could not be valued (their `value` is None)."""

    @property
    def unrealised(self) -> int | None:
        """Σ value: the result of the open positions at today's mids (reporting currency)."""
        values = [line.value for line in self.lines]
        return None if None in values else sum(v for v in values if v is not None)

    @property
    def unrealised_day(self) -> int | None:
        values = [line.value_day for line in self.lines]
        return None if None in values else sum(v for v in values if v is not None)

    def csv(self) -> str:
        out = io.StringIO()
        out.write(
            "date,currency,position,position_change,fx_revenue,fx_revenue_day,"
            "reporting_currency,mid,value,value_day\n"
        )
        for line in self.lines:
            cells = (
                self.day.isoformat(),
                line.currency,
                line.position,
                line.position_change,
                line.revenue,
                line.revenue_day,
                self.reporting_currency,
                line.mid or "",
                "" if line.value is None else line.value,
                "" if line.value_day is None else line.value_day,
            )
            out.write(",".join(str(cell) for cell in cells) + "\n")
        return out.getvalue()


async def fx_book(
    db: Database, rates: fx.RateSource, *, day: date, reporting: str, now: datetime
) -> FxBook:
    """The book at the end of UTC `day`, valued at the mids of `rates` at `now`."""
    target = fx.get_currency(reporting)
    start = datetime.combine(day, time(0), tzinfo=UTC)
    sums = await ledger_repo.fx_account_sums(
        db, (FX_POSITION, FX_REVENUE), start, start + timedelta(days=1)
    )
    position = {s.currency: s for s in sums if s.account == FX_POSITION}
    revenue = {s.currency: s for s in sums if s.account == FX_REVENUE}
    lines: list[FxBookLine] = []
    unavailable: list[str] = []
    for code in sorted(position.keys() | revenue.keys()):
        held = position.get(code)
        booked = revenue.get(code)
        pos = -held.total if held else 0
        change = -held.day if held else 0
        value = value_day = None
        mid_text = None
        try:
            currency = fx.get_currency(code)
            mid = rates.mid_rate(currency, target, now).rate
        except (fx.RateUnavailable, fx.UnsupportedCurrency) as exc:
            unavailable.append(f"{code}: {exc}")
        else:
            mid_text = fx.format_rate(mid)
            value = fx.convert_minor(pos, mid, currency, target)
            value_day = fx.convert_minor(change, mid, currency, target)
        lines.append(
            FxBookLine(
                currency=code,
                position=pos,
                position_change=change,
                revenue=-booked.total if booked else 0,
                revenue_day=-booked.day if booked else 0,
                value=value,
                value_day=value_day,
                mid=mid_text,
            )
        )
    return FxBook(day, target.code, tuple(lines), tuple(unavailable))


async def fx_position(
    ctx: Context, principal: Principal, *, day: str | None, currency: str | None
) -> FxBook:
    """`GET /v1/fx/position?date=&currency=` (operator and finance keys of no merchant: the book
    is the gateway's own, not a merchant's)."""
    principal.require(Role.OPERATOR)
    now = ctx.clock.now()
    try:
        when = now.astimezone(UTC).date() if day is None else parse_business_date(day)
    except ValueError:
        raise InvalidRequest("date must be a date in the form YYYY-MM-DD.", param="date") from None
    code = currency or "EUR"
    try:
        fx.get_currency(code)
    except fx.UnsupportedCurrency:
        raise InvalidRequest(f"{code!r} is not an ISO 4217 currency.", param="currency") from None
    return await fx_book(ctx.db, ctx.rates, day=when, reporting=code, now=now)


def table(book: FxBook) -> Sequence[tuple[str, ...]]:
    """The book as rows of text for the command line, in major units."""
    target = book.reporting_currency
    rows = [
        ("currency", "position", "day's change", "fx revenue", "day's revenue", "mid",
         f"value {target}", f"day's value {target}")
    ]  # fmt: skip
    for line in book.lines:
        rows.append(
            (
                line.currency,
                _major(line.position, line.currency),
                _major(line.position_change, line.currency),
                _major(line.revenue, line.currency),
                _major(line.revenue_day, line.currency),
                line.mid or "-",
                _major(line.value, target),
                _major(line.value_day, target),
            )
        )
    total = ("unrealised", "", "", "", "", "", _major(book.unrealised, target),
             _major(book.unrealised_day, target))  # fmt: skip
    return [*rows, total]


def view(book: FxBook) -> FxPosition:
    """`GET /v1/fx/position`: minor units, like every amount of the API."""
    return {
        "object": "fx_position",
        "date": book.day.isoformat(),
        "reporting_currency": book.reporting_currency,
        "unrealised": book.unrealised,
        "unrealised_day": book.unrealised_day,
        "currencies": [
            {
                "currency": line.currency,
                "position": line.position,
                "position_change": line.position_change,
                "revenue": line.revenue,
                "revenue_day": line.revenue_day,
                "value": line.value,
                "value_day": line.value_day,
                "mid": line.mid,
            }
            for line in book.lines
        ],
        "unavailable": list(book.unavailable),
    }


def _major(value: int | None, code: str) -> str:
    return "-" if value is None else fx.Money(value, fx.get_currency(code)).format()
