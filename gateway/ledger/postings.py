"""Posting rules of the double-entry journal: fees, FX revenue and the lines of each movement.

Pure: no I/O, no clock (the caller passes `now`). Money is int minor units, rates are `Decimal`,
and each figure is rounded once, half-up, at the end (`fx.round_half_up`).

Accounts (DESIGN.md, Money and records; their names are in `model.py`, re-exported here). A
line's `amount` > 0 is a debit, < 0 a credit, and every entry sums to 0 *per currency*: the
payer-currency legs and the merchant-currency legs meet in an FX position account per currency.

| account              | keyed by     | currency | what it holds                                |
|----------------------|--------------|----------|----------------------------------------------|
| `partner_receivable` | partner      | payer    | what the partner owes us (asset)             |
| `partner_fees`       | partner      | payer    | the partner's fees (our expense)             |
| `fx_position`        | currency     | each     | the FX position between the two sides        |
| `fx_revenue`         | currency     | payer    | FX revenue: payer amount − amount × mid      |
| `merchant_payable`   | merchant_id  | merchant | what we owe the merchant (liability)         |
| `merchant_fees`      | merchant_id  | merchant | our merchant fee revenue                     |

A payment of A (merchant currency M) charged as X (payer currency P), with merchant fee mf,
partner fee pf and FX revenue fxr, posts
    P: Dr partner_receivable X − pf, Dr partner_fees pf, Cr fx_position X − fxr, Cr fx_revenue fxr
    M: Dr fx_position A, Cr merchant_payable A − mf, Cr merchant_fees mf
and a refund posts the mirror image with its own amounts and the fees and FX revenue it gives back.
What a refund gives back is cumulative over the payment's refunds (API.md, Business days and
fees): each is what everything refunded so far, this one included, gives back less what the earlier
refunds gave back, so refunds that add up to the payment give back exactly its % fees and its FX
revenue, and a fully refunded payment nets to 0 on every account but the fixed fees kept (and the
partner's whole fee, when its schedule keeps it on refunds). A refund of a payment whose tourist
already has every payer unit back carries a payer amount of 0: it only returns the merchant side.
A cancelled payment is reversed by the exact negation of its entry, so it nets to zero everywhere.

Lines of zero are not written. When P == M (no FX) the two `fx_position` legs are both in one
currency; if they cancel (the usual case: X == A and fxr == 0) neither is written, so a domestic
payment touches only the partner and merchant accounts. Every balance is the same either way.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import fx
from gateway.core.ids import new_id
from gateway.ledger.model import (
    ACCOUNTS,
    FX_POSITION,
    FX_REVENUE,
    MERCHANT_ACCOUNTS,
    MERCHANT_FEES,
    MERCHANT_PAYABLE,
    PARTNER_FEES,
    PARTNER_RECEIVABLE,
    PAYMENT,
    REFUND,
    REVERSAL,
    FeeTerms,
    JournalEntry,
)

__all__ = [
    "ACCOUNTS",
    "FX_POSITION",
    "FX_REVENUE",
    "MERCHANT_FEES",
    "MERCHANT_PAYABLE",
    "PARTNER_FEES",
    "PARTNER_RECEIVABLE",
    "PAYMENT",
    "REFUND",
    "REVERSAL",
    "FeeTerms",
    "JournalEntry",
    "balanced",
    "fx_revenue",
    "fx_revenue_reversed",
    "merchant_fee",
    "merchant_fee_returned",
    "merchant_refund_fee",
    "partner_fee_returned",
    "partner_refund_fee",
    "payment_entry",
    "refund_entry",
    "reversal_entry",
]

_BPS = 10_000


# --- fees and FX revenue (ints in minor units) -------------------------------------------------


def _int(value: object, what: str) -> int:
    """Money is an int of minor units: a float or a bool is a bug, never silently truncated."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int of minor units, got {type(value).__name__}")
    return value


def _bps_of(value: int, bps: int) -> int:
    """round_half_up(value × bps / 10^4), exact: scaling by a power of ten never rounds."""
    product = _int(value, "value") * _int(bps, "bps")
    return fx.round_half_up(Decimal(product).scaleb(-4))


def _ratio_half_up(numerator: int, denominator: int) -> int:
    """round_half_up(numerator / denominator), exactly, ties away from zero like `fx.round_half_up`.

    Integer arithmetic, because the quotient need not terminate in decimal and a Decimal division
    would round once before the final rounding.
    """
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, got {denominator}")
    magnitude = (2 * abs(numerator) + denominator) // (2 * denominator)
    return magnitude if numerator >= 0 else -magnitude


def merchant_fee(amount_value: int, mdr_bps: int, fixed_fee: int) -> int:
    """The merchant's fee on a payment: round_half_up(amount × mdr_bps / 10^4) + fixed fee."""
    return _bps_of(amount_value, mdr_bps) + _int(fixed_fee, "fixed_fee")


def merchant_fee_returned(refunded_after: int, mdr_bps: int, returned_before: int) -> int:
    """The merchant fee a refund gives back (positive), cumulatively like payer amounts (API.md,
    Business days and fees): round_half_up(Σ refunded incl. this × mdr_bps / 10^4) − Σ what the
    payment's earlier refunds gave back.

    The returns telescope: whatever the sizes and order of the refunds, once they add up to the
    amount they have given back exactly round_half_up(amount × mdr_bps / 10^4), the payment's %
    fee (the fixed fee is kept). Earlier returns booked under another rule are corrected by the
    next refund, which may then give back less than its share, or even take some back.
    """
    _int(returned_before, "returned_before")
    if _int(refunded_after, "refunded_after") < 0:
        raise ValueError(f"refunded_after must not be negative, got {refunded_after}")
    return _bps_of(refunded_after, mdr_bps) - returned_before


def partner_fee_returned(
    payer_refunded_after: int, bps: int, returned_before: int, *, returned: bool
) -> int:
    """The partner fee a refund gives back (positive, payer-currency minor units) under the
    partner's schedule: nothing if it keeps its fee on refunds; else, cumulatively like the
    merchant's, round_half_up(Σ payer amounts refunded incl. this × bps / 10^4) − Σ what the
    earlier refunds gave back (the fixed part is kept)."""
    _int(returned_before, "returned_before")
    if _int(payer_refunded_after, "payer_refunded_after") < 0:
        raise ValueError(f"payer_refunded_after must not be negative, got {payer_refunded_after}")
    if not returned:
        return 0
    return _bps_of(payer_refunded_after, bps) - returned_before


def merchant_refund_fee(refund_value: int, mdr_bps: int) -> int:
    """The merchant fee one refund line returned on its own before issue #17 (positive): only
    the variable part. Refunds now return it cumulatively (`merchant_fee_returned`); this is the
    rule `ledger verify` judges refunds booked before then by."""
    return _bps_of(refund_value, mdr_bps)


def partner_refund_fee(payer_refund_value: int, bps: int) -> int:
    """The partner fee one refund line returns on its own (positive, payer-currency minor
    units): only the variable part. The gateway books partner returns cumulatively
    (`partner_fee_returned`); this per-line figure is what refunds booked before issue #17
    returned, and what a single full refund returns either way."""
    return _bps_of(payer_refund_value, bps)


def fx_revenue(amount: fx.Money, payer_amount: fx.Money, mid_rate: Decimal | None) -> int:
    """FX revenue in payer-currency minor units: payer amount − round_half_up(amount × mid ×
    10^(e_payer − e_merchant)). Zero without a mid rate (no FX). May be negative: the gateway
    bears all rounding."""
    if mid_rate is None:
        return 0
    at_mid = fx.convert_minor(amount.value, mid_rate, amount.currency, payer_amount.currency)
    return payer_amount.value - at_mid


def fx_revenue_reversed(
    fx_revenue: int, amount_value: int, refunded_before: int, refund_value: int
) -> int:
    """The FX revenue a refund reverses, pro rata and cumulative: what `refunded_before +
    refund_value` of `amount_value` reverses, less what `refunded_before` already did.

    The differences telescope, so refunds that add up to the amount reverse exactly `fx_revenue`
    whatever their sizes and order, and the total reversed never depends on earlier rounding.
    """
    if amount_value <= 0:
        raise ValueError(f"amount_value must be positive, got {amount_value}")
    if refunded_before < 0 or refund_value < 0 or refunded_before + refund_value > amount_value:
        raise ValueError(
            f"refunds ({refunded_before} + {refund_value}) must lie within 0..{amount_value}"
        )
    after = _ratio_half_up(fx_revenue * (refunded_before + refund_value), amount_value)
    return after - _ratio_half_up(fx_revenue * refunded_before, amount_value)


# --- entries -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Leg:
    account: str
    currency: str
    amount: int
    business_date: str | None
    merchant_id: str | None = None
    partner: str | None = None


def _entry(
    kind: str,
    legs: Iterable[_Leg],
    *,
    payment_id: str,
    refund_id: str | None,
    now: datetime,
    terms: FeeTerms | None = None,
) -> JournalEntry:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    entry_id = new_id("je")
    lines = [
        {
            "id": f"{entry_id}:{n}",
            "entry_id": entry_id,
            "account": leg.account,
            "merchant_id": leg.merchant_id,
            "partner": leg.partner,
            "currency": leg.currency,
            "amount": leg.amount,
            "business_date": leg.business_date,
            "payment_id": payment_id,
            "refund_id": refund_id,
        }
        for n, leg in enumerate((leg for leg in legs if leg.amount != 0), start=1)
    ]
    if not balanced(lines):  # the rules balance by construction; a reversal copies its input
        raise ValueError(f"unbalanced {kind} entry for {payment_id}: {lines}")
    entry = {
        "id": entry_id,
        "kind": kind,
        "payment_id": payment_id,
        "refund_id": refund_id,
        "created_at": now,
    }
    if terms is not None:
        entry.update(terms.columns())
    return JournalEntry(entry=entry, lines=lines)


def _legs(
    *,
    sign: int,
    merchant_id: str,
    partner: str,
    amount: fx.Money,
    payer_amount: fx.Money,
    merchant_fee: int,
    partner_fee: int,
    fx_revenue: int,
    merchant_date: str,
    partner_date: str,
) -> list[_Leg]:
    """A payment's legs (sign +1) or a refund's mirror image (sign −1)."""
    for name, value in (
        ("amount", amount.value),
        ("payer_amount", payer_amount.value),
        ("merchant_fee", merchant_fee),
        ("partner_fee", partner_fee),
        ("fx_revenue", fx_revenue),
    ):
        _int(value, name)
    p, m = payer_amount.currency.code, amount.currency.code
    x, a = payer_amount.value, amount.value
    payer_position = _Leg(FX_POSITION, p, -sign * (x - fx_revenue), partner_date)
    merchant_position = _Leg(FX_POSITION, m, sign * a, merchant_date)
    positions = [payer_position, merchant_position]
    if p == m and payer_position.amount + merchant_position.amount == 0:
        positions = []  # no FX: the two legs of the one currency cancel
    return [
        _Leg(PARTNER_RECEIVABLE, p, sign * (x - partner_fee), partner_date, partner=partner),
        _Leg(PARTNER_FEES, p, sign * partner_fee, partner_date, partner=partner),
        *positions,
        _Leg(FX_REVENUE, p, -sign * fx_revenue, partner_date),
        _Leg(MERCHANT_PAYABLE, m, -sign * (a - merchant_fee), merchant_date, merchant_id),
        _Leg(MERCHANT_FEES, m, -sign * merchant_fee, merchant_date, merchant_id),
    ]


def payment_entry(
    *,
    payment_id: str,
    merchant_id: str,
    partner: str,
    amount: fx.Money,
    payer_amount: fx.Money,
    merchant_fee: int,
    partner_fee: int,
    fx_revenue: int,
    merchant_date: str,
    partner_date: str,
    now: datetime,
    terms: FeeTerms | None = None,
) -> JournalEntry:
    """The entry of a succeeded payment (kind `payment`): the fees and FX revenue are the ones
    stored on the payment row, so the journal and the row always tell the same story.

    Merchant-currency lines carry `merchant_date`, payer-currency lines `partner_date`. `terms`,
    the fee terms the fees were computed under, are stored on the entry (its refunds and
    `ledger verify` use them).
    """
    legs = _legs(
        sign=1,
        merchant_id=merchant_id,
        partner=partner,
        amount=amount,
        payer_amount=payer_amount,
        merchant_fee=merchant_fee,
        partner_fee=partner_fee,
        fx_revenue=fx_revenue,
        merchant_date=merchant_date,
        partner_date=partner_date,
    )
    return _entry(PAYMENT, legs, payment_id=payment_id, refund_id=None, now=now, terms=terms)


def refund_entry(
    *,
    payment_id: str,
    refund_id: str,
    merchant_id: str,
    partner: str,
    amount: fx.Money,
    payer_amount: fx.Money,
    merchant_fee: int,
    partner_fee: int,
    fx_revenue: int,
    merchant_date: str,
    partner_date: str,
    now: datetime,
    terms: FeeTerms | None = None,
) -> JournalEntry:
    """The entry of a succeeded refund (kind `refund`), the mirror image of a payment's.

    `amount`/`payer_amount` are the refund's; `merchant_fee`, `partner_fee` and `fx_revenue` are
    what it gives back, as positive numbers (`merchant_fee_returned`, `partner_fee_returned`,
    `fx_revenue_reversed`: all cumulative), as stored on the refund row. `terms`: the payment's
    fee terms the returns were computed under (an entry with them was booked under the
    cumulative rule; `ledger verify` judges refunds booked before it, without, line by line).
    """
    legs = _legs(
        sign=-1,
        merchant_id=merchant_id,
        partner=partner,
        amount=amount,
        payer_amount=payer_amount,
        merchant_fee=merchant_fee,
        partner_fee=partner_fee,
        fx_revenue=fx_revenue,
        merchant_date=merchant_date,
        partner_date=partner_date,
    )
    return _entry(REFUND, legs, payment_id=payment_id, refund_id=refund_id, now=now, terms=terms)


def reversal_entry(
    payment_lines: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    merchant_date: str | None = None,
    partner_date: str | None = None,
) -> JournalEntry:
    """The exact negation of a payment's entry (kind `reversal`), for a succeeded payment that
    ends cancelled: with it the payment nets to zero on every account, fee included.

    Each line keeps its business date, since a cancel is only accepted while both batches are
    open. If one has closed in the meantime, pass the date of the next open batch as
    `merchant_date` (merchant-currency lines) or `partner_date` (payer-currency lines).
    """
    originals = [dict(line) for line in payment_lines]
    if not originals:
        raise ValueError("a reversal needs the payment entry's lines")
    payment_ids = {line["payment_id"] for line in originals}
    if len(payment_ids) != 1 or any(line["refund_id"] is not None for line in originals):
        raise ValueError("the lines must be one payment's entry")
    merchant_currencies = {
        line["currency"] for line in originals if line["account"] in MERCHANT_ACCOUNTS
    }

    def date_of(line: Mapping[str, Any]) -> str | None:
        merchant_side = line["account"] in MERCHANT_ACCOUNTS or (
            line["account"] == FX_POSITION and line["currency"] in merchant_currencies
        )
        moved = merchant_date if merchant_side else partner_date
        return moved if moved is not None else line["business_date"]

    legs = [
        _Leg(
            line["account"],
            line["currency"],
            -_int(line["amount"], "amount"),
            date_of(line),
            merchant_id=line["merchant_id"],
            partner=line["partner"],
        )
        for line in originals
    ]
    return _entry(REVERSAL, legs, payment_id=payment_ids.pop(), refund_id=None, now=now)


def balanced(lines: Iterable[Mapping[str, Any]]) -> bool:
    """True if the lines sum to zero in each currency (the journal's one invariant)."""
    totals: defaultdict[str, int] = defaultdict(int)
    for line in lines:
        totals[line["currency"]] += line["amount"]
    return all(total == 0 for total in totals.values())
