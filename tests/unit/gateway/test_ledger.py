"""Posting rules: fee and FX formulas, the lines of each entry, and the ledger's invariants."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fx
from gateway.ledger import postings as ledger
from gateway.ledger.postings import (
    FX_POSITION,
    FX_REVENUE,
    MERCHANT_FEES,
    MERCHANT_PAYABLE,
    PARTNER_FEES,
    PARTNER_RECEIVABLE,
    balanced,
    fx_revenue,
    fx_revenue_reversed,
    merchant_fee,
    merchant_refund_fee,
    partner_refund_fee,
    payment_entry,
    refund_entry,
    reversal_entry,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
M_DATE, P_DATE = "2026-11-26", "2026-11-27"


def thb(value: int) -> fx.Money:
    return fx.Money.of(value, "THB")


def cny(value: int) -> fx.Money:
    return fx.Money.of(value, "CNY")


def _by_account(lines: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], int]:
    totals: defaultdict[tuple[str, str], int] = defaultdict(int)
    for line in lines:
        totals[line["account"], line["currency"]] += line["amount"]
    return {key: value for key, value in totals.items() if value != 0}


# --- formulas ----------------------------------------------------------------------------------


def test_merchant_fee_rounds_half_up_once_then_adds_the_fixed_fee() -> None:
    assert merchant_fee(125050, 150, 0) == 1876  # 1875.75
    assert merchant_fee(100, 50, 10) == 11  # 0.5 rounds up
    assert merchant_fee(99, 50, 10) == 10  # 0.495 rounds down
    assert merchant_refund_fee(125050, 150) == 1876  # the fixed part is kept
    assert merchant_refund_fee(100, 50) == 1
    assert partner_refund_fee(25385, 60) == 152  # 152.31
    assert merchant_fee(10**13, 10_000, 0) == 10**13  # no precision lost at the top of the range


def test_fees_refuse_floats() -> None:
    with pytest.raises(TypeError):
        merchant_fee(100.0, 50, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        merchant_fee(100, 50, True)


def test_fx_revenue_is_payer_amount_less_amount_at_mid() -> None:
    # 1,250.50 THB at mid 0.2 CNY is 250.10 CNY; the tourist paid 253.85.
    assert fx_revenue(thb(125050), cny(25385), Decimal("0.2")) == 375
    # Different exponents: 100.00 THB at 4.123 JPY is round_half_up(412.3) = 412 JPY.
    assert fx_revenue(thb(10000), fx.Money.of(420, "JPY"), Decimal("4.123")) == 8
    # JPY (0) to KWD (3): 1,000 JPY at 0.0020455 KWD is 2.0455 KWD = 2046 minor (half-up).
    assert fx_revenue(fx.Money.of(1000, "JPY"), fx.Money.of(2050, "KWD"), Decimal("0.0020455")) == 4
    # No FX: nothing to earn; and the gateway bears rounding, so revenue can be negative.
    assert fx_revenue(thb(125050), thb(125050), None) == 0
    assert fx_revenue(thb(3), cny(0), Decimal("0.2")) == -1


def test_fx_revenue_reversed_is_cumulative_pro_rata() -> None:
    # 375 over 3 equal thirds: 125 each, and the last takes whatever rounding left.
    parts = [fx_revenue_reversed(375, 300, before, 100) for before in (0, 100, 200)]
    assert parts == [125, 125, 125]
    parts = [fx_revenue_reversed(100, 3, before, 1) for before in (0, 1, 2)]
    assert parts == [33, 34, 33] and sum(parts) == 100
    # Ties go away from zero, as fx.round_half_up does: -1 × 1/2 = -0.5 -> -1.
    assert fx_revenue_reversed(-1, 2, 0, 1) == -1
    assert fx_revenue_reversed(-1, 2, 1, 1) == 0
    with pytest.raises(ValueError):
        fx_revenue_reversed(10, 100, 60, 50)


# --- entries -----------------------------------------------------------------------------------


def _payment(**overrides: Any) -> ledger.JournalEntry:
    args: dict[str, Any] = {
        "payment_id": "pay_1",
        "merchant_id": "mer_1",
        "partner": "th-siampay",
        "amount": thb(125050),
        "payer_amount": cny(25385),
        "merchant_fee": 1876,
        "partner_fee": 162,
        "fx_revenue": 375,
        "merchant_date": M_DATE,
        "partner_date": P_DATE,
        "now": NOW,
    }
    return payment_entry(**(args | overrides))


def test_payment_entry_lines() -> None:
    posted = _payment()
    entry_id = posted.entry["id"]
    assert posted.entry == {
        "id": entry_id,
        "kind": "payment",
        "payment_id": "pay_1",
        "refund_id": None,
        "created_at": NOW,
    }
    assert entry_id.startswith("je_")
    got = [
        (
            line["account"],
            line["merchant_id"],
            line["partner"],
            line["currency"],
            line["amount"],
            line["business_date"],
        )
        for line in posted.lines
    ]
    assert got == [
        (PARTNER_RECEIVABLE, None, "th-siampay", "CNY", 25385 - 162, P_DATE),
        (PARTNER_FEES, None, "th-siampay", "CNY", 162, P_DATE),
        (FX_POSITION, None, None, "CNY", -(25385 - 375), P_DATE),
        (FX_POSITION, None, None, "THB", 125050, M_DATE),
        (FX_REVENUE, None, None, "CNY", -375, P_DATE),
        (MERCHANT_PAYABLE, "mer_1", None, "THB", -(125050 - 1876), M_DATE),
        (MERCHANT_FEES, "mer_1", None, "THB", -1876, M_DATE),
    ]
    assert [line["id"] for line in posted.lines] == [f"{entry_id}:{n}" for n in range(1, 8)]
    assert {line["entry_id"] for line in posted.lines} == {entry_id}
    assert {(line["payment_id"], line["refund_id"]) for line in posted.lines} == {("pay_1", None)}
    assert balanced(posted.lines)


def test_same_currency_payment_nets_the_fx_position_away_and_skips_zero_lines() -> None:
    posted = _payment(
        payer_amount=thb(125050), partner_fee=0, fx_revenue=0, merchant_fee=0, partner="th-x"
    )
    assert [(line["account"], line["amount"]) for line in posted.lines] == [
        (PARTNER_RECEIVABLE, 125050),
        (MERCHANT_PAYABLE, -125050),
    ]
    assert balanced(posted.lines)


def test_refund_entry_is_the_mirror_image() -> None:
    posted = refund_entry(
        payment_id="pay_1",
        refund_id="rf_1",
        merchant_id="mer_1",
        partner="th-siampay",
        amount=thb(50000),
        payer_amount=cny(10154),
        merchant_fee=750,
        partner_fee=61,
        fx_revenue=150,
        merchant_date="2026-11-28",
        partner_date="2026-11-29",
        now=NOW,
    )
    assert posted.entry["kind"] == "refund" and posted.entry["refund_id"] == "rf_1"
    assert {line["refund_id"] for line in posted.lines} == {"rf_1"}
    assert _by_account(posted.lines) == {
        (PARTNER_RECEIVABLE, "CNY"): -(10154 - 61),
        (PARTNER_FEES, "CNY"): -61,
        (FX_POSITION, "CNY"): 10154 - 150,
        (FX_REVENUE, "CNY"): 150,
        (FX_POSITION, "THB"): -50000,
        (MERCHANT_PAYABLE, "THB"): 50000 - 750,
        (MERCHANT_FEES, "THB"): 750,
    }
    dates = {(line["account"], line["currency"]): line["business_date"] for line in posted.lines}
    assert dates[FX_POSITION, "THB"] == "2026-11-28"
    assert dates[FX_POSITION, "CNY"] == "2026-11-29"
    assert balanced(posted.lines)


def test_reversal_negates_the_payment_exactly() -> None:
    posted = _payment()
    reversed_ = reversal_entry(posted.lines, now=NOW)
    assert reversed_.entry["kind"] == "reversal"
    assert reversed_.entry["payment_id"] == "pay_1" and reversed_.entry["refund_id"] is None
    assert reversed_.entry["id"] != posted.entry["id"]
    assert [(line["account"], line["currency"], line["amount"]) for line in reversed_.lines] == [
        (line["account"], line["currency"], -line["amount"]) for line in posted.lines
    ]
    assert [line["business_date"] for line in reversed_.lines] == [
        line["business_date"] for line in posted.lines
    ]
    assert _by_account([*posted.lines, *reversed_.lines]) == {}


def test_reversal_can_move_each_side_to_a_later_batch() -> None:
    posted = _payment()
    moved = reversal_entry(posted.lines, now=NOW, merchant_date="2026-11-30")
    dates = {(line["account"], line["currency"]): line["business_date"] for line in moved.lines}
    assert dates[MERCHANT_PAYABLE, "THB"] == dates[FX_POSITION, "THB"] == "2026-11-30"
    assert dates[PARTNER_RECEIVABLE, "CNY"] == dates[FX_POSITION, "CNY"] == P_DATE
    assert dates[FX_REVENUE, "CNY"] == P_DATE


def test_reversal_refuses_mixed_or_unbalanced_lines() -> None:
    one, two = _payment(), _payment(payment_id="pay_2")
    with pytest.raises(ValueError):
        reversal_entry([*one.lines, *two.lines], now=NOW)
    with pytest.raises(ValueError):
        reversal_entry(one.lines[1:], now=NOW)
    with pytest.raises(ValueError):
        reversal_entry([], now=NOW)


def test_balanced_is_per_currency() -> None:
    assert balanced([])
    assert not balanced(
        [{"currency": "THB", "amount": 5}, {"currency": "CNY", "amount": -5}],
    )
    assert balanced([{"currency": "THB", "amount": 5}, {"currency": "THB", "amount": -5}])


# --- properties --------------------------------------------------------------------------------

PAIRS = [("THB", "CNY"), ("THB", "JPY"), ("JPY", "KWD"), ("KWD", "JPY"), ("THB", "THB")]


@st.composite
def payments_and_refunds(draw: st.DrawFn) -> dict[str, Any]:
    merchant_ccy, payer_ccy = draw(st.sampled_from(PAIRS))
    m, p = fx.get_currency(merchant_ccy), fx.get_currency(payer_ccy)
    amount = draw(st.integers(1, 10**13))
    if m == p:
        mid = None
        rate = Decimal(1)
    else:
        mid = fx.round_significant(
            Decimal(draw(st.integers(1, 10**9))).scaleb(-draw(st.integers(0, 9)))
        )
        rate = fx.round_significant(mid * (1 + Decimal(draw(st.integers(0, 500))) / 10_000))
    payer = fx.convert_minor(amount, rate, m, p)
    if payer < 1:
        payer = 1
    # Refunds that add up to the whole amount, in random pieces.
    cuts = sorted(draw(st.sets(st.integers(1, amount - 1), max_size=4))) if amount > 1 else []
    bounds = [0, *cuts, amount]
    refunds = [b - a for a, b in itertools.pairwise(bounds)]
    return {
        "amount": fx.Money(amount, m),
        "payer": fx.Money(payer, p),
        "rate": rate,
        "mid": mid,
        "mdr_bps": draw(st.integers(0, 10_000)),
        "fixed_fee": draw(st.integers(0, 10**6)),
        "partner_bps": draw(st.integers(0, 10_000)),
        "partner_fixed": draw(st.integers(0, 10**6)),
        "refunds": refunds,
    }


def _post(case: dict[str, Any]) -> tuple[list[ledger.JournalEntry], dict[str, int]]:
    """Post the payment and all its refunds as the services will; return the entries and the
    figures each side must end with."""
    amount, payer, rate = case["amount"], case["payer"], case["rate"]
    mf = merchant_fee(amount.value, case["mdr_bps"], case["fixed_fee"])
    pf = partner_refund_fee(payer.value, case["partner_bps"]) + case["partner_fixed"]
    fxr = fx_revenue(amount, payer, case["mid"])
    common = {"merchant_id": "mer_1", "partner": "p-1", "merchant_date": M_DATE}
    entries = [
        payment_entry(
            payment_id="pay_1",
            amount=amount,
            payer_amount=payer,
            merchant_fee=mf,
            partner_fee=pf,
            fx_revenue=fxr,
            partner_date=P_DATE,
            now=NOW,
            **common,
        )
    ]
    refunded = refunded_payer = 0
    mfr_total = pfr_total = fxrr_total = 0
    for n, value in enumerate(case["refunds"]):
        # API.md: refund payer amounts convert cumulatively at the payment's rate.
        cumulative = fx.convert_minor(refunded + value, rate, amount.currency, payer.currency)
        if refunded + value == amount.value:
            cumulative = payer.value  # a full refund returns exactly what the tourist paid
        rho = cumulative - refunded_payer
        mfr = merchant_refund_fee(value, case["mdr_bps"])
        pfr = partner_refund_fee(rho, case["partner_bps"])
        fxrr = fx_revenue_reversed(fxr, amount.value, refunded, value)
        entries.append(
            refund_entry(
                payment_id="pay_1",
                refund_id=f"rf_{n}",
                amount=fx.Money(value, amount.currency),
                payer_amount=fx.Money(rho, payer.currency),
                merchant_fee=mfr,
                partner_fee=pfr,
                fx_revenue=fxrr,
                partner_date=P_DATE,
                now=NOW,
                **common,
            )
        )
        refunded, refunded_payer = refunded + value, cumulative
        mfr_total, pfr_total, fxrr_total = mfr_total + mfr, pfr_total + pfr, fxrr_total + fxrr
    kept = {"merchant_fees": mf - mfr_total, "partner_fees": pf - pfr_total, "fxr": fxr}
    kept["fxrr_total"] = fxrr_total
    return entries, kept


@settings(max_examples=300, deadline=None)
@given(payments_and_refunds())
def test_every_entry_balances_per_currency(case: dict[str, Any]) -> None:
    entries, _ = _post(case)
    for posted in entries:
        assert balanced(posted.lines)
        assert all(line["amount"] != 0 for line in posted.lines)
        assert all(isinstance(line["amount"], int) for line in posted.lines)
    reversal = reversal_entry(entries[0].lines, now=NOW)
    assert balanced(reversal.lines)
    assert _by_account([*entries[0].lines, *reversal.lines]) == {}


@settings(max_examples=300, deadline=None)
@given(payments_and_refunds())
def test_refunds_of_the_whole_amount_leave_only_the_kept_fees(case: dict[str, Any]) -> None:
    """After refunds adding up to the payment: no FX position, no FX revenue (reversed exactly),
    and each side's account holds exactly the fees the gateway or partner kept: the fixed fees plus
    whatever the per-line rounding of the variable fees left.

    Signs: the merchant now owes us the kept merchant fee (merchant_payable is a debit, +kept,
    i.e. a payable of −kept) and we owe the partner its kept fee (partner_receivable −kept).
    """
    entries, kept = _post(case)
    amount, payer = case["amount"], case["payer"]
    m, p = amount.currency.code, payer.currency.code
    assert kept["fxrr_total"] == kept["fxr"]
    totals = _by_account(line for posted in entries for line in posted.lines)
    expected = {
        (MERCHANT_PAYABLE, m): kept["merchant_fees"],
        (MERCHANT_FEES, m): -kept["merchant_fees"],
        (PARTNER_RECEIVABLE, p): -kept["partner_fees"],
        (PARTNER_FEES, p): kept["partner_fees"],
    }
    assert totals == {key: value for key, value in expected.items() if value != 0}
    # merchant_fees kept = fixed + round(A × mdr) − Σ round(r_i × mdr); one refund keeps the fixed.
    variable = merchant_refund_fee(amount.value, case["mdr_bps"])
    refunded = sum(merchant_refund_fee(r, case["mdr_bps"]) for r in case["refunds"])
    assert kept["merchant_fees"] == case["fixed_fee"] + variable - refunded
    if len(case["refunds"]) == 1:
        assert totals.get((MERCHANT_PAYABLE, m), 0) == case["fixed_fee"]
        assert totals.get((PARTNER_RECEIVABLE, p), 0) == -case["partner_fixed"]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(-(10**12), 10**12),
    st.integers(1, 10**13).flatmap(
        lambda a: st.tuples(st.just(a), st.lists(st.integers(0, a), max_size=6))
    ),
)
def test_fx_reversal_telescopes(fxr: int, case: tuple[int, list[int]]) -> None:
    amount, marks = case
    points = sorted({0, *marks})
    pieces = [
        fx_revenue_reversed(fxr, amount, before, after - before)
        for before, after in itertools.pairwise(points)
    ]
    exact = Decimal(fxr) * points[-1] / amount
    assert sum(pieces) == fx_revenue_reversed(fxr, amount, 0, points[-1])
    assert abs(Decimal(sum(pieces)) - exact) <= Decimal("0.5")
    assert fx_revenue_reversed(fxr, amount, 0, amount) == fxr
