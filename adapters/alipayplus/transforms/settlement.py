"""Alipay+ settlement files -> `SettlementFile`: the CSV of the package docstring, read strictly.

Any cell that does not parse, a header without a required column, a missing `<END>` line (a
truncated file), a row for another date or currency than asked, a settlement amount other than
transaction − fee, or a sign contrary to the transaction type makes the whole file unreadable
(`SettlementFileUnavailable`): a reconciliation must never run on half a file. Signed amounts
become positive `SettlementLine` amounts; `quotePrice` is the line's `fx_rate` as given.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from adapters._base import (
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    parse_time,
)
from adapters.alipayplus import models as wire
from fx import FXError, Money, from_minor_str

__all__ = ["settlement_file"]

_TYPES = {"PAYMENT": "payment", "REFUND": "refund"}


class _BadRow(ValueError):
    """One row does not parse (the message names the column, never a cell's value)."""


def _minor(value: str, currency: str, column: str) -> Money:
    try:
        return from_minor_str(value, currency)
    except FXError:
        raise _BadRow(f"{column} is not a {currency or '?'} minor-unit amount") from None


def _settlement_line(
    record: wire.SettlementRecord, request: SettlementFileRequest
) -> SettlementLine:
    kind = _TYPES.get(record.transaction_type)
    if kind is None:
        raise _BadRow("transactionType is neither PAYMENT nor REFUND")
    if record.settlement_date != request.business_date.isoformat():
        raise _BadRow("settlementDate is not the date asked for")
    currency = record.transaction_currency
    if request.currency is not None and currency != request.currency:
        raise _BadRow("transactionCurrency is not the currency asked for")
    if record.fee_currency != currency or record.settlement_currency != currency:
        raise _BadRow("feeCurrency or settlementCurrency differs from transactionCurrency")
    amount = _minor(record.transaction_amount_value, currency, "transactionAmountValue")
    fee = _minor(record.fee_amount_value, currency, "feeAmountValue")
    settled = _minor(record.settlement_amount_value, currency, "settlementAmountValue")
    if settled.value != amount.value - fee.value:
        raise _BadRow("settlementAmountValue is not transactionAmountValue - feeAmountValue")
    sign = 1 if kind == "payment" else -1
    if sign * amount.value <= 0 or sign * fee.value < 0:
        raise _BadRow(f"amounts have the wrong sign for a {record.transaction_type}")
    if not record.payment_request_id or not record.payment_id:
        raise _BadRow("paymentRequestId and paymentId are required")
    if kind == "refund":
        if not record.refund_request_id or not record.refund_id:
            raise _BadRow("a REFUND needs refundRequestId and refundId")
        request_id, reference = record.refund_request_id, record.refund_id
    else:
        if record.refund_request_id or record.refund_id:
            raise _BadRow("a PAYMENT has no refundRequestId or refundId")
        request_id, reference = record.payment_request_id, record.payment_id
    merchant = None
    if record.order_amount_value or record.order_currency:
        merchant = _minor(record.order_amount_value, record.order_currency, "orderAmountValue")
        if merchant.value <= 0:
            raise _BadRow("orderAmountValue is not positive")
    rate = None
    if record.quote_price:
        try:
            rate = Decimal(record.quote_price)
        except InvalidOperation:
            raise _BadRow("quotePrice is not a decimal") from None
        if not rate.is_finite() or rate <= 0:
            raise _BadRow("quotePrice is not a positive decimal")
    completed_at = parse_time(record.transaction_time)
    if completed_at is None:
        raise _BadRow("transactionTime is not an ISO 8601 time with an offset")
    return SettlementLine(
        record_type="payment" if kind == "payment" else "refund",
        partner_request_id=request_id,
        partner_reference=reference,
        payment_partner_request_id=record.payment_request_id,
        amount=Money(sign * amount.value, amount.currency),
        fee=Money(sign * fee.value, fee.currency),
        merchant_amount=merchant,
        fx_rate=rate,
        completed_at=completed_at,
    )


def settlement_file(
    raw: bytes, *, partner_id: str, request: SettlementFileRequest
) -> SettlementFile:
    """A verified settlement file's bytes (an HTTP 200 answer's) -> `SettlementFile`;
    `SettlementFileUnavailable` (naming the line and the column, never a cell's value) when
    anything in it does not hold (module docstring)."""

    def unreadable(why: str) -> SettlementFileUnavailable:
        return SettlementFileUnavailable(f"settlement file of {partner_id}: {why}", http_status=200)

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unreadable("not UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise unreadable(f"not CSV ({exc})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows or rows[-1] != [wire.SETTLEMENT_END]:
        raise unreadable(f"no {wire.SETTLEMENT_END} line: the file is truncated")
    rows.pop()
    if not rows:
        raise unreadable("no header row")
    header = rows[0]
    missing = [name for name in wire.SETTLEMENT_REQUIRED if name not in header]
    if missing or len(set(header)) != len(header):
        raise unreadable(f"header lacks {', '.join(missing)}" if missing else "repeated column")
    parsed: list[SettlementLine] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise unreadable(f"line {number} has {len(cells)} cells, the header {len(header)}")
        try:
            record = wire.SettlementRecord.model_validate(dict(zip(header, cells, strict=True)))
            parsed.append(_settlement_line(record, request))
        except ValidationError as exc:
            where = "; ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
            raise unreadable(f"line {number}: {where} invalid") from None
        except (_BadRow, ValueError) as exc:
            raise unreadable(f"line {number}: {exc}") from None
    return SettlementFile(
        partner_id=partner_id, business_date=request.business_date, lines=tuple(parsed), raw=raw
    )
