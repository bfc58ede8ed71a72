"""What a final state commits beside itself: business dates, fees, the journal and the event.

One place builds them, so the POS path, the resolver and the cancel and refund paths book a
payment the same way. Pure apart from reading settings: the rows go into the same transaction
as the state change (`storage/repository.py` inserts them only if the write holds its lease).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import fx
from gateway.api.views import dumps, money, payment_view, refund_view
from gateway.context import Context
from gateway.core.business_days import business_date
from gateway.events.model import EventType, event_row
from gateway.ledger import postings as ledger
from gateway.merchants.model import Merchant
from gateway.partners.routing import partner_fee
from gateway.storage.payments import PaymentStatus, Rows

__all__ = [
    "Booked",
    "book_payment",
    "book_refund",
    "booking_dates",
    "payment_body",
    "refund_body",
    "reverse_payment",
]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class Booked:
    changes: dict[str, Any]
    rows: Rows


def booking_dates(
    ctx: Context, merchant: Merchant, partner_id: str, now: datetime
) -> tuple[str, str]:
    """The merchant's and the partner's business dates of a state committing at `now`."""
    partner = ctx.settings.partner(partner_id)
    merchant_day = merchant.business_date(now)
    partner_day = business_date(now, partner.zone, partner.cutoff)
    return merchant_day.isoformat(), partner_day.isoformat()


# --- rendering that cannot stop a final state -----------------------------------------------------
#
# The resolver is the last one to finish a payment: if a row cannot be rendered (a bug in a view:
# `dumps` itself renders any str), the final state must still commit. Its event and stored answer
# then carry a minimal view made only of the gateway's own fields, and the failure is logged.


def _minimal_view(row: dict[str, Any], kind: str) -> dict[str, Any]:
    view: dict[str, Any] = {"id": row["id"], "object": kind}
    if kind == "refund":
        view["payment_id"] = row["payment_id"]
    else:
        view["merchant_reference"] = row["merchant_reference"]
    view["status"] = row["status"]
    view["amount"] = money(row["currency"], row["amount_value"])
    view["payer_amount"] = money(row["payer_currency"], row["payer_value"])
    code = row.get("failure_code")
    view["failure"] = (
        None if code is None else {"code": code, "message": row.get("failure_message") or ""}
    )
    return view


def _body(view: Callable[[dict[str, Any]], dict[str, Any]], row: dict[str, Any], kind: str) -> str:
    try:
        return dumps(view(row))
    except Exception:
        log.exception("%s %s cannot be rendered; a minimal view stands in", kind, row["id"])
        return dumps(_minimal_view(row, kind))


def payment_body(row: dict[str, Any]) -> str:
    """A payment's JSON for an answer the resolver or the safety net stores (minimal if the
    full view fails)."""
    return _body(payment_view, row, "payment")


def refund_body(row: dict[str, Any]) -> str:
    """A refund's JSON for an answer stored with its final state (minimal if the full view
    fails)."""
    return _body(refund_view, row, "refund")


def _event(
    event: EventType,
    view: Callable[[dict[str, Any]], dict[str, Any]],
    row: dict[str, Any],
    kind: str,
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    try:
        made = event_row(event, merchant_id=row["merchant_id"], data=view(row), now=now)
    except Exception:
        log.exception("%s %s cannot be rendered; its event carries a minimal view", kind, row["id"])
        made = event_row(
            event, merchant_id=row["merchant_id"], data=_minimal_view(row, kind), now=now
        )
    return ("events", made)


def _journal_rows(journal: ledger.JournalEntry) -> Rows:
    return [
        ("journal_entries", journal.entry),
        *(("journal_lines", line) for line in journal.lines),
    ]


def book_payment(
    ctx: Context,
    payment: dict[str, Any],
    merchant: Merchant,
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
            "merchant_fee": ledger.merchant_fee(amount.value, merchant.mdr_bps, merchant.fixed_fee),
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
        rows.append(_event(event, payment_view, {**payment, **changes}, "payment", now))
    return Booked(changes, rows)


def reverse_payment(lines: list[dict[str, Any]], now: datetime) -> Rows:
    """The reversal of a succeeded payment's entry (a cancel): it nets to nothing in its batch."""
    return _journal_rows(ledger.reversal_entry(lines, now=now))


def book_refund(
    ctx: Context,
    payment: dict[str, Any],
    refund: dict[str, Any],
    merchant: Merchant,
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
            "merchant_fee": ledger.merchant_refund_fee(amount.value, merchant.mdr_bps),
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
        rows.append(_event(event, refund_view, {**refund, **changes}, "refund", now))
    return Booked(changes, rows)
