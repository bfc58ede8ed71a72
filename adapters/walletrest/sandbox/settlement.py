"""The WalletRest sandbox's settlement report: `GET /v1/settlement_reports/{date}`.

The rows are `adapters._sandbox.settlement`'s (with any test tampering); this module renders
them as the report of the WalletRest package docstring, with per-currency totals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from aiohttp import web

from adapters._sandbox.http import parse_business_date
from adapters._sandbox.settlement import SettlementRow
from adapters._sandbox.terms import SettlementTerms
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.exchange import STATE, Reply, authenticated_body, signed
from fx import FXError, Money, format_rate, get_currency

__all__ = ["handle_get_settlement_report", "settlement_report"]


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _entry(row: SettlementRow) -> wire.SettlementEntry:
    currency = row.amount.currency
    return wire.SettlementEntry(
        type=row.record_type,
        id=row.reference,
        request_id=row.request_id,
        payment=row.payment_request_id,
        payment_id=row.payment_reference,
        amount=wire.money_to_wire(row.amount),
        fee=wire.money_to_wire(row.fee),
        net=wire.money_to_wire(Money(row.net, currency)),
        merchant_amount=wire.money_to_wire(row.merchant_amount) if row.merchant_amount else None,
        exchange_rate=format_rate(row.fx_rate) if row.fx_rate is not None else None,
        completed_at=_time(row.completed_at),
    )


def settlement_report(
    rows: list[SettlementRow], day: date, currency: str | None, terms: SettlementTerms
) -> wire.SettlementReport:
    """The report of `day`: its entries and, per currency, the counts and the sum of `net`."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        counts = totals.setdefault(row.amount.currency.code, [0, 0, 0])
        counts[0 if row.record_type == "payment" else 1] += 1
        counts[2] += row.net
    return wire.SettlementReport(
        date=day.isoformat(),
        currency=currency,
        timezone=terms.timezone,
        cutoff=terms.cutoff.isoformat(timespec="minutes"),
        entries=[_entry(row) for row in rows],
        totals=[
            wire.SettlementTotal(
                currency=code,
                payments=payments,
                refunds=refunds,
                net=wire.money_to_wire(Money.of(net, code)),
            )
            for code, (payments, refunds, net) in sorted(totals.items())
        ],
    )


async def handle_get_settlement_report(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        await authenticated_body(request, state)
        day = parse_business_date(request.match_info["date"])
        if day is None:
            raise Reply(
                400, codes.INVALID_REQUEST, "The date must be YYYY-MM-DD.", code="date_invalid"
            )
        currency = request.query.get("currency") or None
        if currency is not None:
            try:
                get_currency(currency)
            except FXError:
                raise Reply(
                    400, codes.INVALID_REQUEST, "Unknown currency.", code="currency_invalid"
                ) from None
    except Reply as reply:
        return signed(state, reply.status, reply.body)
    rows = state.desk.rows(state.ledger, day, currency)
    terms = state.settings.settlement
    return signed(state, 200, settlement_report(rows, day, currency, terms))
