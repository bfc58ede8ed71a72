"""Refund requests for the adapter contract's `refund` / `inquire_refund`.

`adapters._base` does not define refund types yet; these live here until the contract takes
them. Outcomes are the shared `Outcome` (succeeded, failed with a code, or unknown), which fits
refunds as it is.
"""

from __future__ import annotations

import dataclasses

from fx import Money

__all__ = ["RefundInquiryRequest", "RefundRequest"]


@dataclasses.dataclass(frozen=True, slots=True)
class RefundRequest:
    """Return `payer_amount` to the wallet charged by the payment `payment_partner_request_id`.

    `partner_request_id` is the refund's own deterministic id (derived from the refund attempt):
    sending it twice is one refund at the partner. `amount` is the merchant-currency amount,
    for the partner's records only.
    """

    partner_request_id: str
    payment_partner_request_id: str
    reference: str
    amount: Money
    payer_amount: Money
    reason: str = ""


@dataclasses.dataclass(frozen=True, slots=True)
class RefundInquiryRequest:
    """Ask what became of a refund. The amount is checked against the partner's echo."""

    partner_request_id: str
    payer_amount: Money
