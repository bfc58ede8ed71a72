"""A refund as API.md shows it. Pure: the same function feeds answers, replays, lists and
events."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.core.render import rfc3339
from gateway.quotes.views import quote_terms_view
from gateway.refunds.model import Refund
from gateway.wire.common import money

if TYPE_CHECKING:
    from gateway.wire import refunds as wire

__all__ = ["refund_view"]


def refund_view(refund: Refund) -> wire.Refund:
    failure = refund.failure
    return {
        "id": refund.id,
        "object": "refund",
        "payment_id": refund.payment_id,
        "status": refund.status.value,
        "amount": money(refund.amount),
        "payer_amount": money(refund.payer_amount),
        "quote": quote_terms_view(refund.quote),
        "reason": refund.reason,
        "failure": None if failure is None else {"code": failure.code, "message": failure.message},
        "partner_reference": refund.partner_reference,
        "created_at": rfc3339(refund.created_at),
        "updated_at": rfc3339(refund.updated_at),
    }
