"""What a final state commits beside itself: business dates, fees, the journal and the event.

One place builds them, so the POS path, the resolver and the cancel and refund paths book a
payment the same way. Pure apart from reading settings: the rows go into the same transaction
as the state change (`storage/repository.py` inserts them only if the write holds its lease).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import fx
from gateway import ledger
from gateway.business_days import business_date
from gateway.context import Context
from gateway.events import EventType, event_row
from gateway.routing import partner_fee
from gateway.storage.repository import PaymentStatus, Rows
from gateway.views import payment_view, refund_view

__all__ = [
    "Booked",
    "book_payment",
    "book_refund",
    "booking_dates",
    "parse_cutoff",
    "reverse_payment",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Booked:
    changes: dict[str, Any]
    rows: Rows


def parse_cutoff(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def booking_dates(
    ctx: Context, merchant: dict[str, Any], partner_id: str, now: datetime
) -> tuple[str, str]:
    """The merchant's and the partner's business dates of a state committing at `now`."""
    partner = ctx.settings.partner(partner_id)
    merchant_day = business_date(
        now, ZoneInfo(merchant["timezone"]), parse_cutoff(merchant["cutoff"])
    )
    partner_day = business_date(now, partner.zone, partner.cutoff)
    return merchant_day.isoformat(), partner_day.isoformat()


def _journal_rows(journal: ledger.JournalEntry) -> Rows:
    return [
        ("journal_entries", journal.entry),
        *(("journal_lines", line) for line in journal.lines),
    ]


def book_payment(
    ctx: Context,
    payment: dict[str, Any],
    merchant: dict[str, Any],
    changes: dict[str, Any],
    now: datetime,
) -> Booked:
    """Business dates, and for a success its fees and journal entry; the event of the outcome."""
    changes = dict(changes)
    status = changes.get("status", payment["status"])
    rows: Rows = []
    if payment.get("merchant_business_date") is None:
        merchant_date, partner_date = booking_dates(ctx, merchant, payment["partner"], now)
        changes["merchant_business_date"] = merchant_date
        changes["partner_business_date"] = partner_date
    else:
        merchant_date = payment["merchant_business_date"]
        partner_date = payment["partner_business_date"]
    if status == PaymentStatus.SUCCEEDED:
        amount = fx.Money(payment["amount_value"], fx.get_currency(payment["currency"]))
        payer = fx.Money(payment["payer_value"], fx.get_currency(payment["payer_currency"]))
        mid = Decimal(payment["mid_rate"]) if payment["mid_rate"] else None
        fees = {
            "merchant_fee": ledger.merchant_fee(
                amount.value, merchant["mdr_bps"], merchant["fixed_fee"]
            ),
            "partner_fee": partner_fee(ctx.settings.partner(payment["partner"]), payer),
            "fx_revenue": ledger.fx_revenue(amount, payer, mid),
        }
        changes.update(fees)
        rows += _journal_rows(
            ledger.payment_entry(
                payment_id=payment["id"],
                merchant_id=payment["merchant_id"],
                partner=payment["partner"],
                amount=amount,
                payer_amount=payer,
                merchant_date=merchant_date,
                partner_date=partner_date,
                now=now,
                **fees,
            )
        )
    event = {
        PaymentStatus.SUCCEEDED: EventType.PAYMENT_SUCCEEDED,
        PaymentStatus.FAILED: EventType.PAYMENT_FAILED,
        PaymentStatus.CANCELLED: EventType.PAYMENT_CANCELLED,
    }.get(status)
    if event is not None:
        view = payment_view({**payment, **changes})
        rows.append(
            ("events", event_row(event, merchant_id=payment["merchant_id"], data=view, now=now))
        )
    return Booked(changes, rows)


def reverse_payment(lines: list[dict[str, Any]], now: datetime) -> Rows:
    """The reversal of a succeeded payment's entry (a cancel): it nets to nothing in its batch."""
    return _journal_rows(ledger.reversal_entry(lines, now=now))


def book_refund(
    ctx: Context,
    payment: dict[str, Any],
    refund: dict[str, Any],
    merchant: dict[str, Any],
    changes: dict[str, Any],
    now: datetime,
) -> Booked:
    """A merchant refund's final state: dates, and for a success its reversed fees and entry.

    `payment` must be read inside the writing transaction: the FX revenue given back is
    cumulative over the refunds that succeeded before this one.
    """
    changes = dict(changes)
    status = changes["status"]
    merchant_date, partner_date = booking_dates(ctx, merchant, refund["partner"], now)
    changes["merchant_business_date"] = merchant_date
    changes["partner_business_date"] = partner_date
    rows: Rows = []
    if status == PaymentStatus.SUCCEEDED:
        amount = fx.Money(refund["amount_value"], fx.get_currency(refund["currency"]))
        payer = fx.Money(refund["payer_value"], fx.get_currency(refund["payer_currency"]))
        partner = ctx.settings.partner(refund["partner"])
        fees = {
            "merchant_fee": ledger.merchant_refund_fee(amount.value, merchant["mdr_bps"]),
            "partner_fee": ledger.partner_refund_fee(payer.value, partner.fees.bps),
            "fx_revenue": ledger.fx_revenue_reversed(
                payment["fx_revenue"] or 0,
                payment["amount_value"],
                payment["refunded_value"],
                amount.value,
            ),
        }
        changes.update(fees)
        rows += _journal_rows(
            ledger.refund_entry(
                payment_id=payment["id"],
                refund_id=refund["id"],
                merchant_id=refund["merchant_id"],
                partner=refund["partner"],
                amount=amount,
                payer_amount=payer,
                merchant_date=merchant_date,
                partner_date=partner_date,
                now=now,
                **fees,
            )
        )
    if refund["kind"] == "merchant":
        event = (
            EventType.REFUND_SUCCEEDED
            if status == PaymentStatus.SUCCEEDED
            else EventType.REFUND_FAILED
        )
        view = refund_view({**refund, **changes})
        rows.append(
            ("events", event_row(event, merchant_id=refund["merchant_id"], data=view, now=now))
        )
    return Booked(changes, rows)
