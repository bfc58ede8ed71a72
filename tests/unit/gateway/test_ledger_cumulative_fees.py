"""Refund fee returns are cumulative (issue #17; API.md, Business days and fees).

A refund returns round_half_up(Σ refunded incl. this × mdr_bps / 10^4) − Σ what the earlier
refunds returned: whatever the sizes and order of the steps, a payment refunded in full has
returned exactly its % fee, never a unit more (the old per-line returns could add up to more:
the JPY merchant closing at −9 JPY). The partner's % fee likewise, or nothing when its schedule
keeps it.
"""

from __future__ import annotations

import random

import pytest

from gateway.ledger.model import FeeTerms
from gateway.ledger.postings import (
    merchant_fee,
    merchant_fee_returned,
    merchant_refund_fee,
    partner_fee_returned,
)

TERMS = FeeTerms(
    mdr_bps=150, fixed_fee=100, partner_fee_bps=60, partner_fee_fixed=10, partner_fee_returned=True
)


def _returns(steps: list[int], bps: int) -> list[int]:
    returned: list[int] = []
    refunded = 0
    for step in steps:
        refunded += step
        returned.append(merchant_fee_returned(refunded, bps, sum(returned)))
    return returned


def test_the_per_line_rule_drifted_from_the_fee() -> None:
    """JPY 1,000 at 150 bps (fee 15), refunded in thirty steps of 33 and one of 10: each step's
    own round_half_up(0.495) and round_half_up(0.15) are 0, so the old rule returned nothing of
    the fee (and rounding up, as with 34s, returns too much); the cumulative one lands on 15."""
    steps = [33] * 30 + [10]
    assert sum(steps) == 1000
    per_line = sum(merchant_refund_fee(step, 150) for step in steps)
    assert per_line != 15  # 30 × round_half_up(0.495) + round_half_up(0.15) = 0
    assert sum(_returns(steps, 150)) == 15 == merchant_fee(1000, 150, 0)


def test_a_jpy_payment_in_thirds_returns_exactly_its_fee() -> None:
    # 100 JPY at 150 bps: fee round_half_up(1.5) = 2; three refunds of 33, 33, 34 used to
    # return round_half_up(0.495)·2 + round_half_up(0.51) = 1; now 0, 1, 1.
    assert [merchant_refund_fee(v, 150) for v in (33, 33, 34)] == [0, 0, 1]
    assert _returns([33, 33, 34], 150) == [0, 1, 1]


@pytest.mark.parametrize("seed", range(200))
def test_any_steps_return_exactly_the_percent_fee(seed: int) -> None:
    rng = random.Random(seed)
    amount = rng.randint(1, 10_000_000)
    bps = rng.choice((0, 1, 45, 99, 150, 175, 250, 333, 10_000))
    cuts = sorted(rng.sample(range(1, amount), min(rng.randint(0, 8), amount - 1)))
    steps = [b - a for a, b in zip([0, *cuts], [*cuts, amount], strict=True)]
    returned = _returns(steps, bps)
    assert sum(returned) == merchant_fee(amount, bps, 0)  # the fixed fee is kept
    # Every prefix too: never ahead of what the refunded total is worth.
    for n in range(1, len(steps) + 1):
        assert sum(returned[:n]) == merchant_fee(sum(steps[:n]), bps, 0)


def test_a_later_refund_makes_up_for_returns_booked_line_by_line() -> None:
    """Refunds booked before #17 (one line at a time) over-returned; the next cumulative one
    corrects it, even by taking a unit back."""
    before = [merchant_refund_fee(33, 150)] * 30  # 0 each: under-returned by 15 - 0
    assert merchant_fee_returned(1000, 150, sum(before)) == 15
    assert merchant_fee_returned(100, 150, 3) == -1  # returned 3 of a fee of 2: takes 1 back


def test_partner_returns_follow_its_schedule() -> None:
    assert partner_fee_returned(25_385, 60, 0, returned=True) == 152  # 152.31
    assert partner_fee_returned(25_385, 60, 150, returned=True) == 2
    assert partner_fee_returned(25_385, 60, 0, returned=False) == 0
    # A residue refund (payer amount 0) returns nothing more of the partner's fee.
    assert partner_fee_returned(25_385, 60, 152, returned=True) == 0


def test_money_is_ints() -> None:
    with pytest.raises(TypeError):
        merchant_fee_returned(100.0, 150, 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        partner_fee_returned(100, 60, True, returned=True)
    with pytest.raises(ValueError):
        merchant_fee_returned(-1, 150, 0)


def test_fee_terms_are_filled_from_what_is_stored() -> None:
    assert TERMS.filled(None) == TERMS
    legacy = {"mdr_bps": 120, "fixed_fee": 0, "partner_fee_bps": None,
              "partner_fee_fixed": None, "partner_fee_returned": None}  # fmt: skip
    filled = TERMS.filled(legacy)
    assert (filled.mdr_bps, filled.fixed_fee, filled.partner_fee_bps) == (120, 0, 60)
    kept = TERMS.filled({**TERMS.columns(), "partner_fee_returned": False})
    assert kept.partner_fee_returned is False
    assert TERMS.columns() == {
        "mdr_bps": 150,
        "fixed_fee": 100,
        "partner_fee_bps": 60,
        "partner_fee_fixed": 10,
        "partner_fee_returned": True,
    }
