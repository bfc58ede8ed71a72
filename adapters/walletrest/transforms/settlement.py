"""WalletRest settlement reports -> `SettlementFile`, read strictly.

A verified 200 answer is read strictly. An entry that does not parse (amounts with exactly the
currency's decimals), a report for another date or currency than asked, a `net` other than
±(amount − fee), or `totals` that disagree with the entries (counts and net per currency) make
the whole report unreadable (`SettlementFileUnavailable`); so does any other status (its `error`
named). `exchange_rate` is the line's `fx_rate` as given.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from adapters._base import (
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    parse_time,
)
from adapters.walletrest import models as wire
from adapters.walletrest.transforms.answers import parse_answer
from fx import FXError, Money

__all__ = ["settlement_file"]


class _BadEntry(ValueError):
    """One entry does not hold (the message names the field, never a value)."""


def _money(amount: wire.Amount, field: str) -> Money:
    try:
        return wire.money_from_wire(amount)
    except FXError:
        raise _BadEntry(f"{field} is not an exact major-unit amount") from None


def _entry_line(entry: wire.SettlementEntry, request: SettlementFileRequest) -> SettlementLine:
    if entry.type not in ("payment", "refund"):
        raise _BadEntry("type is neither payment nor refund")
    amount = _money(entry.amount, "amount")
    fee = _money(entry.fee, "fee")
    net = _money(entry.net, "net")
    if request.currency is not None and amount.currency.code != request.currency:
        raise _BadEntry("amount is not in the currency asked for")
    if fee.currency != amount.currency or net.currency != amount.currency:
        raise _BadEntry("fee or net is in another currency than amount")
    if amount.value <= 0 or fee.value < 0:
        raise _BadEntry("amount must be positive and fee not negative")
    sign = 1 if entry.type == "payment" else -1
    if net.value != sign * (amount.value - fee.value):
        raise _BadEntry("net is not amount - fee (negated for a refund)")
    if entry.type == "payment" and entry.payment != entry.request_id:
        raise _BadEntry("a payment's payment is not its own request_id")
    merchant = _money(entry.merchant_amount, "merchant_amount") if entry.merchant_amount else None
    if merchant is not None and merchant.value <= 0:
        raise _BadEntry("merchant_amount is not positive")
    rate = None
    if entry.exchange_rate is not None:
        try:
            rate = Decimal(entry.exchange_rate)
        except InvalidOperation:
            raise _BadEntry("exchange_rate is not a decimal") from None
        if not rate.is_finite() or rate <= 0:
            raise _BadEntry("exchange_rate is not a positive decimal")
    completed_at = parse_time(entry.completed_at)
    if completed_at is None:
        raise _BadEntry("completed_at is not an RFC 3339 time")
    return SettlementLine(
        record_type="payment" if entry.type == "payment" else "refund",
        partner_request_id=entry.request_id,
        partner_reference=entry.id,
        payment_partner_request_id=entry.payment,
        amount=amount,
        fee=fee,
        merchant_amount=merchant,
        fx_rate=rate,
        completed_at=completed_at,
    )


def _totals_problem(report: wire.SettlementReport, lines: list[SettlementLine]) -> str | None:
    """Why the report's `totals` disagree with its entries, or None."""
    expected: dict[str, tuple[int, int, int]] = {}
    for line in lines:
        code = line.amount.currency.code
        payments, refunds, net = expected.get(code, (0, 0, 0))
        if line.record_type == "payment":
            payments += 1
        else:
            refunds += 1
        expected[code] = (payments, refunds, net + line.net.value)
    stated: dict[str, tuple[int, int, int]] = {}
    for total in report.totals:
        try:
            net_money = _money(total.net, "totals.net")
        except _BadEntry as exc:
            return str(exc)
        if net_money.currency.code != total.currency or total.currency in stated:
            return "totals name a currency twice or disagree on it"
        stated[total.currency] = (total.payments, total.refunds, net_money.value)
    if stated != expected:
        return "totals do not match the entries"
    return None


def settlement_file(
    http_status: int, body: bytes, *, partner_id: str, request: SettlementFileRequest
) -> SettlementFile:
    """A verified answer to `GET /v1/settlement_reports/{date}` -> `SettlementFile`, else
    `SettlementFileUnavailable` (module docstring)."""
    where = f"settlement report of {partner_id}"
    if http_status != 200:
        error = parse_answer(wire.ErrorBody, body)
        detail = (
            f"{error.error.type or '-'} {error.error.code or '-'}: {error.error.message or ''}"
            if not isinstance(error, str)
            else error
        )
        raise SettlementFileUnavailable(
            f"{where}: HTTP {http_status}, {detail.strip()}", http_status=http_status
        )
    report = parse_answer(wire.SettlementReport, body)
    if isinstance(report, str):
        raise SettlementFileUnavailable(f"{where}: {report}", http_status=http_status)
    if report.date != request.business_date.isoformat():
        raise SettlementFileUnavailable(f"{where}: it is for another date", http_status=200)
    if report.currency != request.currency:
        raise SettlementFileUnavailable(f"{where}: it is for another currency", http_status=200)
    lines: list[SettlementLine] = []
    for index, entry in enumerate(report.entries):
        try:
            lines.append(_entry_line(entry, request))
        except ValueError as exc:
            raise SettlementFileUnavailable(
                f"{where}: entries[{index}]: {exc}", http_status=200
            ) from None
    problem = _totals_problem(report, lines)
    if problem is not None:
        raise SettlementFileUnavailable(f"{where}: {problem}", http_status=200)
    return SettlementFile(
        partner_id=partner_id, business_date=request.business_date, lines=tuple(lines), raw=body
    )
