"""The Alipay+ sandbox's settlement file: `settlements/file` answers the signed CSV of a day.

The rows are `adapters._sandbox.settlement`'s (with any test tampering); this module renders
them in the CSV format of the Alipay+ package docstring, in the partner's zone.
"""

from __future__ import annotations

import csv
import io

from aiohttp import web

from adapters._sandbox.http import parse_business_date
from adapters._sandbox.settlement import SettlementRow
from adapters._sandbox.terms import SettlementTerms
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.exchange import (
    STATE,
    Reply,
    authenticated_body,
    parse_body,
    signed,
    signed_bytes,
)
from fx import FXError, format_rate, get_currency

__all__ = ["handle_settlement_file", "render_settlement_csv"]


def _settlement_record(row: SettlementRow, day: str, terms: SettlementTerms) -> list[str]:
    """One CSV row: signed minor units (a refund's amount and fee negative), local time."""
    sign = 1 if row.record_type == "payment" else -1
    currency = row.amount.currency.code
    merchant = row.merchant_amount
    record = wire.SettlementRecord(
        settlement_batch_id=day.replace("-", "") + currency,
        settlement_date=day,
        transaction_type=row.record_type.upper(),
        payment_request_id=row.payment_request_id,
        payment_id=row.payment_reference or "",
        refund_request_id=row.request_id if row.record_type == "refund" else "",
        refund_id=row.reference if row.record_type == "refund" else "",
        transaction_amount_value=str(sign * row.amount.value),
        transaction_currency=currency,
        fee_amount_value=str(sign * row.fee.value),
        fee_currency=currency,
        settlement_amount_value=str(row.net),
        settlement_currency=currency,
        order_amount_value=str(merchant.value) if merchant else "",
        order_currency=merchant.currency.code if merchant else "",
        quote_currency_pair=f"{merchant.currency.code}/{currency}" if merchant else "",
        quote_price=format_rate(row.fx_rate) if row.fx_rate is not None else "",
        transaction_time=row.completed_at.astimezone(terms.zone).isoformat(timespec="seconds"),
    )
    dumped = record.model_dump(by_alias=True)
    return [dumped[column] for column in wire.SETTLEMENT_COLUMNS]


def render_settlement_csv(rows: list[SettlementRow], day: str, terms: SettlementTerms) -> bytes:
    """The file: the header, one row per line, then `<END>` (UTF-8, `\\n` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(wire.SETTLEMENT_COLUMNS)
    writer.writerows(_settlement_record(row, day, terms) for row in rows)
    out.write(wire.SETTLEMENT_END + "\n")
    return out.getvalue().encode("utf-8")


async def handle_settlement_file(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        raw = await authenticated_body(request, state)
        body = parse_body(raw, wire.SettlementFileRequest)
        day = parse_business_date(body.settlement_date)
        if day is None:
            raise Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: settlementDate")
        currency = body.settlement_currency
        if currency is not None:
            try:
                get_currency(currency)
            except FXError:
                raise Reply(
                    "F", codes.PARAM_ILLEGAL, "Illegal parameters: settlementCurrency"
                ) from None
    except Reply as reply:
        return signed(request, state, wire.SettlementFileRefusal(result=reply.result))
    rows = state.desk.rows(state.ledger, day, currency)
    terms = state.settings.settlement
    csv_bytes = render_settlement_csv(rows, day.isoformat(), terms)
    return signed_bytes(request, state, csv_bytes, "text/csv; charset=UTF-8")
