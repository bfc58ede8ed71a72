"""The partner's settlement file, protocol-neutral: which lines it holds, and test-only tampering.

`SettlementDesk` serves a sandbox's settlement file: every line the partner really settles for
one of its business days (`SettlementRow`s read from the ledger), with the tampering a test asked
for applied. Each protocol renders the rows in its own file format; `install_settlement_routes`
adds the test routes.

The settlement file of a business day D (the partner's own zone and cut-off, `SettlementTerms`):

    payment  every charge whose payment was not reversed (a cancelled payment is in no file),
             dated by its charge time; fee = round_half_up(amount × bps / 10^4) + fixed[currency]
    refund   every refund made (a gateway's full refund after a refused cancel is one too),
             dated by its refund time; fee given back = round_half_up(refund × bps / 10^4)

Amounts are the payer amounts charged or returned; `merchant_amount` is the merchant-currency
amount the request carried (when it carried a readable one) and `fx_rate` =
`adapters.implied_rate(amount, merchant_amount)` (payer major units per merchant major unit, 10
significant digits), None without a merchant amount. Lines are ordered by completion time, then
payments first, then request id.

Tampering (tests only; a sandbox started without `allow_settlement_tamper` answers 403):
`POST /_sandbox/settlement_tamper` with

    {"business_date": "YYYY-MM-DD",
     "drop":  [partner_request_id, ...],                        lines removed
     "add":   [{"record_type": "payment"|"refund", "partner_request_id", "amount": <minor int>,
                "currency", "fee"?: <minor int>, "partner_reference"?,
                "payment_partner_request_id"? (required for a refund), "merchant_amount"?:
                <minor int>, "merchant_currency"?, "fx_rate"?: "<decimal>", "completed_at"?}],
     "alter": [{"partner_request_id", "amount"?: <minor int>, "fee"?: <minor int>,
                "fx_rate"?: "<decimal>", "merchant_amount"?: <minor int>}]}

replaces that day's tampering (an empty body of lists clears it). Drops and alterations apply to
the ledger's lines (an id that matches nothing changes nothing), then added lines join. An added
line's fee defaults to the schedule's, its `completed_at` to the first minute of that business
day, its `partner_reference` to a made-up id (an added refund names its payment's partner id
from the ledger when the payment exists). An alteration changes only the fields it names
(`merchant_amount` only on a line that has one): altering `amount` keeps the fee and the rate, so
each kind of discrepancy can be made alone.
`GET /_sandbox/settlement/{date}[?currency=CNY]` shows the day's lines (tampering included) as
protocol-neutral JSON.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from adapters._base import implied_rate
from adapters._sandbox.http import json_response, parse_business_date, validation_summary
from adapters._sandbox.terms import SettlementTerms
from fx import FXError, Money

__all__ = [
    "SETTLEMENT",
    "SettlementDesk",
    "SettlementRow",
    "SettlingLedger",
    "TamperRefused",
    "install_settlement_routes",
]


@dataclasses.dataclass(frozen=True)
class SettlementRow:
    """One line of a partner's settlement file, before a protocol renders it. Amounts are
    positive, in the payer currency (`merchant_amount` in the merchant's)."""

    record_type: Literal["payment", "refund"]
    request_id: str  # the payment's or refund's request id (ours)
    reference: str  # the partner's id of it
    payment_request_id: str  # the payment's request id (a payment's own)
    payment_reference: str | None  # the partner's id of the payment (a payment's own)
    amount: Money
    fee: Money
    merchant_amount: Money | None
    fx_rate: Decimal | None
    completed_at: datetime

    @property
    def net(self) -> int:
        """Signed minor units: amount − fee for a payment, −(amount − fee) for a refund."""
        value = self.amount.value - self.fee.value
        return value if self.record_type == "payment" else -value

    def to_json(self) -> dict[str, Any]:
        merchant = self.merchant_amount
        return {
            "record_type": self.record_type,
            "partner_request_id": self.request_id,
            "partner_reference": self.reference,
            "payment_partner_request_id": self.payment_request_id,
            "payment_partner_reference": self.payment_reference,
            "currency": self.amount.currency.code,
            "amount": self.amount.value,
            "fee": self.fee.value,
            "net": self.net,
            "merchant_currency": merchant.currency.code if merchant else None,
            "merchant_amount": merchant.value if merchant else None,
            "fx_rate": str(self.fx_rate) if self.fx_rate is not None else None,
            "completed_at": self.completed_at.isoformat(),
        }


class _Payment(Protocol):
    @property
    def payment_id(self) -> str: ...


class SettlingLedger(Protocol):
    """What the desk reads of a sandbox's ledger. `ledger.SandboxLedger` is one; a protocol
    here because the ledger imports `SettlementRow` from this module."""

    def settlement_rows(self, terms: SettlementTerms, business_date: date) -> list[SettlementRow]:
        """The day's lines, untampered."""
        ...

    def get(self, payment_request_id: str) -> _Payment | None:
        """The payment recorded under a request id."""
        ...


def _rate(text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        raise ValueError("fx_rate is not a decimal") from None
    if not rate.is_finite() or rate <= 0:
        raise ValueError("fx_rate must be a positive decimal")
    return rate


_RateText = Annotated[str, Field(min_length=1, max_length=40)]
_Id = Annotated[str, Field(min_length=1, max_length=64)]
_Minor = Annotated[StrictInt, Field(ge=0, le=10**15)]


class _TamperModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _AddedLine(_TamperModel):
    record_type: Literal["payment", "refund"] = "payment"
    partner_request_id: _Id
    amount: Annotated[StrictInt, Field(gt=0, le=10**15)]
    currency: str
    fee: _Minor | None = None
    partner_reference: _Id | None = None
    payment_partner_request_id: _Id | None = None
    merchant_amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None
    merchant_currency: str | None = None
    fx_rate: _RateText | None = None
    completed_at: datetime | None = None


class _Alteration(_TamperModel):
    partner_request_id: _Id
    amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None
    fee: _Minor | None = None
    fx_rate: _RateText | None = None
    merchant_amount: Annotated[StrictInt, Field(gt=0, le=10**15)] | None = None


class _TamperBody(_TamperModel):
    business_date: date
    drop: list[_Id] = []
    add: list[_AddedLine] = []
    alter: list[_Alteration] = []


@dataclasses.dataclass(frozen=True)
class _Tampering:
    drop: frozenset[str]
    add: tuple[SettlementRow, ...]
    alter: Mapping[str, _Alteration]


class TamperRefused(Exception):
    """This sandbox was started without `allow_settlement_tamper`."""


class SettlementDesk:
    """A sandbox's settlement file service: the day's rows from the ledger, with the test-only
    tampering applied (module docstring). `allow_tamper` False refuses every tampering."""

    def __init__(self, terms: SettlementTerms, *, allow_tamper: bool = False) -> None:
        self.terms = terms
        self.allow_tamper = allow_tamper
        self._tampering: dict[date, _Tampering] = {}

    def rows(
        self,
        ledger: SettlingLedger,
        business_date: date,
        currency: str | None = None,
    ) -> list[SettlementRow]:
        """The file's lines for `business_date` (only those in `currency` when given)."""
        rows = ledger.settlement_rows(self.terms, business_date)
        tampering = self._tampering.get(business_date)
        if tampering is not None:
            rows = [r for r in rows if r.request_id not in tampering.drop]
            rows = [self._altered(r, tampering.alter.get(r.request_id)) for r in rows]
            rows.extend(self._resolved(ledger, row) for row in tampering.add)
        if currency is not None:
            rows = [r for r in rows if r.amount.currency.code == currency]
        order = {"payment": 0, "refund": 1}
        rows.sort(key=lambda r: (r.completed_at, order[r.record_type], r.request_id))
        return rows

    @staticmethod
    def _resolved(ledger: SettlingLedger, row: SettlementRow) -> SettlementRow:
        """An added refund names its payment by the partner's id too: the ledger's, if the
        payment exists, else a made-up one."""
        if row.payment_reference is not None:
            return row
        payment = ledger.get(row.payment_request_id)
        reference = payment.payment_id if payment is not None else f"{row.reference}P"
        return dataclasses.replace(row, payment_reference=reference)

    @staticmethod
    def _altered(row: SettlementRow, alteration: _Alteration | None) -> SettlementRow:
        if alteration is None:
            return row
        changes: dict[str, Any] = {}
        if alteration.amount is not None:
            changes["amount"] = Money(alteration.amount, row.amount.currency)
        if alteration.fee is not None:
            changes["fee"] = Money(alteration.fee, row.amount.currency)
        if alteration.fx_rate is not None:
            changes["fx_rate"] = _rate(alteration.fx_rate)
        if alteration.merchant_amount is not None and row.merchant_amount is not None:
            merchant = row.merchant_amount.currency
            changes["merchant_amount"] = Money(alteration.merchant_amount, merchant)
        return dataclasses.replace(row, **changes)

    def tamper(self, raw: bytes) -> dict[str, Any]:
        """Replace a day's tampering with the JSON body `raw`; `TamperRefused` when not
        allowed, `ValueError` (its message says what is wrong) on a bad body."""
        if not self.allow_tamper:
            raise TamperRefused("settlement tampering is not allowed on this sandbox")
        try:
            body = _TamperBody.model_validate_json(raw)
        except ValidationError as exc:
            raise ValueError(validation_summary(exc)) from None
        added = tuple(self._added(body.business_date, line) for line in body.add)
        for alteration in body.alter:
            if alteration.fx_rate is not None:
                _rate(alteration.fx_rate)
        self._tampering[body.business_date] = _Tampering(
            drop=frozenset(body.drop),
            add=added,
            alter={a.partner_request_id: a for a in body.alter},
        )
        return {
            "business_date": body.business_date.isoformat(),
            "drop": sorted(body.drop),
            "add": [row.request_id for row in added],
            "alter": [a.partner_request_id for a in body.alter],
        }

    def _added(self, business_date: date, line: _AddedLine) -> SettlementRow:
        try:
            amount = Money.of(line.amount, line.currency)
            merchant = None
            if line.merchant_amount is not None:
                if line.merchant_currency is None:
                    raise ValueError("merchant_amount needs merchant_currency")
                merchant = Money.of(line.merchant_amount, line.merchant_currency)
        except FXError as exc:
            raise ValueError(str(exc)) from None
        if line.record_type == "refund":
            if line.payment_partner_request_id is None:
                raise ValueError("an added refund needs payment_partner_request_id")
            payment_request_id = line.payment_partner_request_id
            default_fee = self.terms.refund_fee(amount)
        else:
            payment_request_id = line.payment_partner_request_id or line.partner_request_id
            default_fee = self.terms.payment_fee(amount)
        completed_at = line.completed_at or self.terms.day_start(business_date) + timedelta(
            minutes=1
        )
        if completed_at.tzinfo is None:
            raise ValueError("completed_at needs an offset")
        if line.fx_rate is not None:
            rate: Decimal | None = _rate(line.fx_rate)
        else:
            rate = implied_rate(amount, merchant) if merchant is not None else None
        reference = line.partner_reference or f"SBXADD{uuid.uuid4().hex[:16].upper()}"
        return SettlementRow(
            record_type=line.record_type,
            request_id=line.partner_request_id,
            reference=reference,
            payment_request_id=payment_request_id,
            payment_reference=reference if line.record_type == "payment" else None,
            amount=amount,
            fee=Money(line.fee, amount.currency) if line.fee is not None else default_fee,
            merchant_amount=merchant,
            fx_rate=rate,
            completed_at=completed_at.astimezone(UTC),
        )


SETTLEMENT = web.AppKey("sandbox_settlement_desk", SettlementDesk)


def install_settlement_routes(
    app: web.Application, desk: SettlementDesk, ledger_key: web.AppKey[Any]
) -> None:
    """`POST /_sandbox/settlement_tamper` and `GET /_sandbox/settlement/{date}` on `app`,
    which keeps `desk` under `SETTLEMENT`."""
    app[SETTLEMENT] = desk

    async def tamper(request: web.Request) -> web.StreamResponse:
        try:
            summary = request.app[SETTLEMENT].tamper(await request.read())
        except TamperRefused as exc:
            return json_response(403, {"error": {"type": "forbidden", "message": str(exc)}})
        except ValueError as exc:
            return json_response(400, {"error": {"type": "invalid_request", "message": str(exc)}})
        return json_response(200, summary)

    async def show(request: web.Request) -> web.StreamResponse:
        day = parse_business_date(request.match_info["date"])
        if day is None:
            return json_response(400, {"error": {"type": "invalid_request", "message": "bad date"}})
        current = request.app[SETTLEMENT]
        rows = current.rows(request.app[ledger_key], day, request.query.get("currency") or None)
        terms = current.terms
        return json_response(
            200,
            {
                "business_date": day.isoformat(),
                "timezone": terms.timezone,
                "cutoff": terms.cutoff.isoformat(timespec="minutes"),
                "lines": [row.to_json() for row in rows],
            },
        )

    app.router.add_post("/_sandbox/settlement_tamper", tamper)
    app.router.add_get("/_sandbox/settlement/{date}", show)
