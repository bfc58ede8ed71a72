"""What a final state commits beside itself: business dates, fees, the journal and the event.

One place builds them, so the POS path, the resolver and the cancel and refund paths book a
payment the same way. Pure apart from reading settings: the rows go into the same transaction
as the state change (`storage/repository.py` inserts them only if the write holds its lease).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from adapters import Outcome, OutcomeStatus
from gateway.context import Context
from gateway.core.business_days import business_date
from gateway.core.render import dumps
from gateway.events.model import EventType, event_row
from gateway.ledger import postings as ledger
from gateway.merchants.model import Merchant
from gateway.partners.routing import partner_fee
from gateway.payments.model import Payment, PaymentStatus
from gateway.payments.views import payment_view
from gateway.refunds.model import Refund, RefundBasis, RefundKind, RefundStatus
from gateway.refunds.views import refund_view
from gateway.storage.payments import Rows
from gateway.wire.common import money

__all__ = [
    "BookedPayment",
    "BookedRefund",
    "book_outcome",
    "book_payment",
    "book_refund",
    "booking_dates",
    "fee_terms",
    "payment_body",
    "refund_body",
    "reverse_payment",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class BookedPayment:
    payment: Payment
    """The state with its business dates and, for a success, its fees."""
    rows: Rows
    view: Mapping[str, Any] | None = None
    """Its full view, rendered for its event (the answer reuses it); None without one."""


@dataclasses.dataclass(frozen=True, slots=True)
class BookedRefund:
    refund: Refund
    """The state with its business dates and, for a success, its fees."""
    rows: Rows


def booking_dates(
    ctx: Context, merchant: Merchant, partner_id: str, now: datetime
) -> tuple[str, str]:
    """The merchant's and the partner's business dates of a state committing at `now`."""
    partner = ctx.settings.partner(partner_id)
    merchant_day = merchant.business_date(now)
    partner_day = business_date(now, partner.zone, partner.cutoff)
    return merchant_day.isoformat(), partner_day.isoformat()


def fee_terms(
    ctx: Context, merchant: Merchant, partner_id: str, payer_currency: str
) -> ledger.FeeTerms:
    """The fee terms a payment booked now is charged under: the merchant's, and its partner's
    schedule for the payer currency. Stored on the payment's journal entry."""
    fees = ctx.settings.partner(partner_id).fees
    return ledger.FeeTerms(
        mdr_bps=merchant.mdr_bps,
        fixed_fee=merchant.fixed_fee,
        partner_fee_bps=fees.bps,
        partner_fee_fixed=fees.fixed.get(payer_currency, 0),
        partner_fee_returned=fees.refunds == "returned",
    )


def _payment_terms(ctx: Context, payment: Payment, merchant: Merchant) -> ledger.FeeTerms | None:
    if payment.status is not PaymentStatus.SUCCEEDED:
        return None
    return fee_terms(ctx, merchant, payment.partner, payment.payer_amount.currency.code)


# --- rendering that cannot stop a final state -----------------------------------------------------
#
# The resolver is the last one to finish a payment: if a row cannot be rendered (a bug in a view:
# `dumps` itself renders any str), the final state must still commit. Its event and stored answer
# then carry a minimal view made only of the gateway's own fields, and the failure is logged.


def _minimal_payment_view(payment: Payment) -> dict[str, Any]:
    failure = payment.failure
    return {
        "id": payment.id,
        "object": "payment",
        "merchant_reference": payment.merchant_reference,
        "status": payment.status.value,
        "amount": money(payment.amount),
        "payer_amount": money(payment.payer_amount),
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
    }


def _minimal_refund_view(refund: Refund) -> dict[str, Any]:
    failure = refund.failure
    return {
        "id": refund.id,
        "object": "refund",
        "payment_id": refund.payment_id,
        "status": refund.status.value,
        "amount": money(refund.amount),
        "payer_amount": money(refund.payer_amount),
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
    }


def _rendered(
    view: Callable[[T], Mapping[str, Any]],
    minimal: Callable[[T], dict[str, Any]],
    item: T,
    what: str,
) -> tuple[dict[str, Any], bool]:
    """`item`'s full view, or its minimal one; and whether it is the full one."""
    try:
        return dict(view(item)), True
    except Exception:
        log.exception("%s cannot be rendered; a minimal view stands in", what)
        return minimal(item), False


def payment_body(payment: Payment) -> str:
    """A payment's JSON for an answer the resolver or the safety net stores (minimal if the
    full view fails)."""
    return dumps(_payment_data(payment))


def refund_body(refund: Refund) -> str:
    """A refund's JSON for an answer stored with its final state (minimal if the full view
    fails)."""
    return dumps(_refund_data(refund))


def _payment_data(payment: Payment) -> dict[str, Any]:
    return _rendered(payment_view, _minimal_payment_view, payment, f"payment {payment.id}")[0]


def _refund_data(refund: Refund) -> dict[str, Any]:
    return _rendered(refund_view, _minimal_refund_view, refund, f"refund {refund.id}")[0]


def _event(
    event: EventType, merchant_id: str, data: dict[str, Any], now: datetime
) -> tuple[str, dict[str, Any]]:
    return ("events", event_row(event, merchant_id=merchant_id, data=data, now=now))


def _journal_rows(journal: ledger.JournalEntry) -> Rows:
    return [
        ("journal_entries", journal.entry),
        *(("journal_lines", line) for line in journal.lines),
    ]


_PAYMENT_EVENTS = {
    PaymentStatus.SUCCEEDED: EventType.PAYMENT_SUCCEEDED,
    PaymentStatus.FAILED: EventType.PAYMENT_FAILED,
    PaymentStatus.CANCELLED: EventType.PAYMENT_CANCELLED,
}


def book_payment(
    ctx: Context, payment: Payment, merchant: Merchant, now: datetime
) -> BookedPayment:
    """A final state's business dates (kept if it has them), and for a success its fees and
    journal entry; the event of the outcome."""
    booked = _booking(ctx, payment, payment.status is PaymentStatus.SUCCEEDED, merchant, now)
    final = dataclasses.replace(payment, **booked)
    return _with_rows(final, now, _payment_terms(ctx, final, merchant))


def book_outcome(
    ctx: Context, payment: Payment, outcome: Outcome, merchant: Merchant, now: datetime
) -> BookedPayment:
    """`book_payment` of `payment.finished(outcome, now)`, in one copy of the payment (this runs
    for every payment): finishing changes nothing the booking reads but the status."""
    succeeded = outcome.status is OutcomeStatus.SUCCEEDED
    final = payment.finished(outcome, now, _booking(ctx, payment, succeeded, merchant, now))
    return _with_rows(final, now, _payment_terms(ctx, final, merchant))


def _booking(
    ctx: Context, payment: Payment, succeeded: bool, merchant: Merchant, now: datetime
) -> dict[str, Any]:
    """The fields booking adds: business dates (kept if it has them), and a success's fees."""
    if payment.merchant_business_date is None or payment.partner_business_date is None:
        merchant_date, partner_date = booking_dates(ctx, merchant, payment.partner, now)
    else:
        merchant_date, partner_date = payment.merchant_business_date, payment.partner_business_date
    booked: dict[str, Any] = {
        "merchant_business_date": merchant_date,
        "partner_business_date": partner_date,
    }
    if succeeded:
        amount, payer = payment.amount, payment.payer_amount
        mid = Decimal(payment.quote.mid_rate) if payment.quote is not None else None
        booked.update(
            merchant_fee=ledger.merchant_fee(amount.value, merchant.mdr_bps, merchant.fixed_fee),
            partner_fee=partner_fee(ctx.settings.partner(payment.partner), payer),
            fx_revenue=ledger.fx_revenue(amount, payer, mid),
        )
    return booked


def _with_rows(payment: Payment, now: datetime, terms: ledger.FeeTerms | None) -> BookedPayment:
    """A booked final state with what it commits beside itself: for a success its journal
    entry (with the fee `terms` its fees were computed under), and the event of the outcome."""
    rows: Rows = []
    if payment.status is PaymentStatus.SUCCEEDED:
        assert payment.merchant_business_date is not None
        assert payment.partner_business_date is not None
        assert payment.merchant_fee is not None and payment.partner_fee is not None
        assert payment.fx_revenue is not None
        rows += _journal_rows(
            ledger.payment_entry(
                payment_id=payment.id,
                merchant_id=payment.merchant_id,
                partner=payment.partner,
                amount=payment.amount,
                payer_amount=payment.payer_amount,
                merchant_date=payment.merchant_business_date,
                partner_date=payment.partner_business_date,
                now=now,
                merchant_fee=payment.merchant_fee,
                partner_fee=payment.partner_fee,
                fx_revenue=payment.fx_revenue,
                terms=terms,
            )
        )
    event = _PAYMENT_EVENTS.get(payment.status)
    if event is None:
        return BookedPayment(payment, rows)
    data, full = _rendered(payment_view, _minimal_payment_view, payment, f"payment {payment.id}")
    rows.append(_event(event, payment.merchant_id, data, now))
    return BookedPayment(payment, rows, data if full else None)


def reverse_payment(lines: list[dict[str, Any]], now: datetime) -> Rows:
    """The reversal of a succeeded payment's entry (a cancel): it nets to nothing in its batch."""
    return _journal_rows(ledger.reversal_entry(lines, now=now))


def book_refund(
    ctx: Context,
    payment: Payment,
    refund: Refund,
    merchant: Merchant,
    now: datetime,
    *,
    basis: RefundBasis,
) -> BookedRefund:
    """A refund's final state: its dates, and for a success its returned fees and entry; a
    merchant refund's event.

    `payment` and `basis` must be read inside the writing transaction, with the payment locked:
    what a refund gives back is cumulative over the refunds that succeeded before it (API.md,
    Business days and fees), under the fee terms stored with the payment (`basis.terms`; today's
    configuration only for what a payment booked before they were kept lacks).
    """
    merchant_date, partner_date = booking_dates(ctx, merchant, refund.partner, now)
    refund = dataclasses.replace(
        refund, merchant_business_date=merchant_date, partner_business_date=partner_date
    )
    rows: Rows = []
    if refund.status is RefundStatus.SUCCEEDED:
        amount, payer = refund.amount, refund.payer_amount
        terms = fee_terms(ctx, merchant, refund.partner, payer.currency.code).filled(basis.terms)
        refund = dataclasses.replace(
            refund,
            merchant_fee=ledger.merchant_fee_returned(
                payment.refunded_value + amount.value, terms.mdr_bps, basis.merchant_returned
            ),
            partner_fee=ledger.partner_fee_returned(
                basis.payer_refunded + payer.value,
                terms.partner_fee_bps,
                basis.partner_returned,
                returned=terms.partner_fee_returned,
            ),
            fx_revenue=ledger.fx_revenue_reversed(
                payment.fx_revenue or 0,
                payment.amount.value,
                payment.refunded_value,
                amount.value,
            ),
        )
        assert refund.merchant_fee is not None and refund.partner_fee is not None
        assert refund.fx_revenue is not None
        rows += _journal_rows(
            ledger.refund_entry(
                payment_id=payment.id,
                refund_id=refund.id,
                merchant_id=refund.merchant_id,
                partner=refund.partner,
                amount=amount,
                payer_amount=payer,
                merchant_date=merchant_date,
                partner_date=partner_date,
                now=now,
                merchant_fee=refund.merchant_fee,
                partner_fee=refund.partner_fee,
                fx_revenue=refund.fx_revenue,
                terms=terms,
            )
        )
    if refund.kind is RefundKind.MERCHANT:
        event = (
            EventType.REFUND_SUCCEEDED
            if refund.status is RefundStatus.SUCCEEDED
            else EventType.REFUND_FAILED
        )
        rows.append(_event(event, refund.merchant_id, _refund_data(refund), now))
    return BookedRefund(refund, rows)
