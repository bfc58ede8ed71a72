"""Markups by rule: the most specific matching rule wins, totally and deterministically."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.quotes.markups import MarkupPolicy, check_unique
from gateway.quotes.model import MarkupRule, Sale

MERCHANTS, WALLETS, PARTNERS, PAIRS = (
    ("m1", "m2"),
    ("kakaopay", "alipay_cn"),
    ("p1", "p2"),
    (
        "THB/KRW",
        "THB/CNY",
    ),
)
SALE = Sale("m1", "kakaopay", "p1", "THB/KRW")


def _rules() -> st.SearchStrategy[list[MarkupRule]]:
    """Rules with distinct scopes (as config and the CLI guarantee)."""
    scope = st.tuples(
        st.sampled_from((None, *MERCHANTS)),
        st.sampled_from((None, *WALLETS)),
        st.sampled_from((None, *PARTNERS)),
        st.sampled_from((None, *PAIRS)),
    )
    return st.lists(
        st.tuples(scope, st.integers(0, 2000)), unique_by=lambda item: item[0], max_size=25
    ).map(
        lambda items: [
            MarkupRule(bps, merchant=m, wallet=w, partner=p, pair=q) for (m, w, p, q), bps in items
        ]
    )


sales = st.builds(
    Sale,
    st.sampled_from(MERCHANTS),
    st.sampled_from(WALLETS),
    st.sampled_from(PARTNERS),
    st.sampled_from(PAIRS),
)


def _brute_force(rules: list[MarkupRule], sale: Sale) -> MarkupRule | None:
    """The matching rule that names a superset of every other matching rule's dimensions, or
    failing that the one whose dimensions weigh most, merchant first: computed by comparing the
    named dimensions as a tuple of flags."""
    matching = [
        r
        for r in rules
        if all(
            getattr(r, name) in (None, getattr(sale, name))
            for name in ("merchant", "wallet", "partner", "pair")
        )
    ]
    if not matching:
        return None

    def flags(rule: MarkupRule) -> tuple[bool, ...]:
        return tuple(
            getattr(rule, name) is not None for name in ("merchant", "wallet", "partner", "pair")
        )

    best = max(flags(r) for r in matching)
    [winner] = [r for r in matching if flags(r) == best]  # exactly one: the choice is total
    return winner


@given(_rules(), sales, st.randoms())
def test_precedence_is_total_and_deterministic(
    rules: list[MarkupRule], sale: Sale, random: object
) -> None:
    policy = MarkupPolicy(default_bps=150, rules=tuple(rules))
    expected = _brute_force(rules, sale)
    applied = policy.markup(sale)
    if expected is None:
        assert (applied.bps, applied.rule) == (150, "default (150 bps)")
    else:
        assert (applied.bps, applied.rule) == (expected.bps, expected.label())
    shuffled = list(rules)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert MarkupPolicy(default_bps=150, rules=tuple(shuffled)).markup(sale) == applied


@given(_rules(), sales)
def test_merchant_rules_join_the_same_contest(rules: list[MarkupRule], sale: Sale) -> None:
    config = [r for r in rules if r.merchant is None]
    own = [r for r in rules if r.merchant is not None]
    split = MarkupPolicy(default_bps=150, rules=tuple(config)).markup(sale, own)
    assert split == MarkupPolicy(default_bps=150, rules=tuple(rules)).markup(sale)


def test_more_specific_wins_whatever_the_bps() -> None:
    rules = (
        MarkupRule(300, wallet="kakaopay"),
        MarkupRule(50, partner="p1"),
        MarkupRule(10, pair="THB/KRW"),
        MarkupRule(90, partner="p1", pair="THB/KRW", origin="partners/p1.toml"),
    )
    policy = MarkupPolicy(default_bps=150, rules=rules)
    assert policy.markup(SALE).bps == 300  # wallet (4) beats partner + pair (2 + 1)
    own = [MarkupRule(120, merchant="m1", origin="merchant")]
    applied = policy.markup(SALE, own)
    assert (applied.bps, applied.rule) == (120, "merchant=m1 (merchant)")
    other = Sale("m1", "alipay_cn", "p1", "THB/KRW")
    assert policy.markup(other).rule == "partner=p1 pair=THB/KRW (partners/p1.toml)"


def test_floor_and_cap_hold_the_result_and_say_so() -> None:
    rules = (MarkupRule(5, wallet="kakaopay"), MarkupRule(900, wallet="alipay_cn"))
    policy = MarkupPolicy(default_bps=150, floor_bps=20, cap_bps=400, rules=rules)
    low = policy.markup(SALE)
    assert (low.bps, low.rule) == (20, "wallet=kakaopay (gateway.toml), raised to the floor")
    high = policy.markup(Sale("m1", "alipay_cn", "p1", "THB/CNY"))
    assert (high.bps, high.rule) == (400, "wallet=alipay_cn (gateway.toml), held at the cap")
    with pytest.raises(ValueError, match="floor"):
        MarkupPolicy(default_bps=150, floor_bps=500, cap_bps=400)


def test_duplicate_scopes_are_refused() -> None:
    with pytest.raises(ValueError, match="two markup rules"):
        check_unique([MarkupRule(1, wallet="kakaopay"), MarkupRule(2, wallet="kakaopay")])
    with pytest.raises(ValueError, match="two markup rules"):
        MarkupPolicy(default_bps=1, rules=(MarkupRule(1), MarkupRule(2)))
    check_unique([MarkupRule(1, wallet="kakaopay"), MarkupRule(1, wallet="kakaopay", pair="A/B")])


def test_specificity_weights_make_each_dimension_set_unique() -> None:
    names = ("merchant", "wallet", "partner", "pair")
    seen = {}
    for size in range(len(names) + 1):
        for chosen in itertools.combinations(names, size):
            rule = MarkupRule(0, **{name: "x" for name in chosen})
            assert rule.specificity not in seen, (chosen, seen.get(rule.specificity))
            seen[rule.specificity] = chosen
    assert len(seen) == 16


def test_rules_refuse_bad_bps() -> None:
    for bad in (-1, True, 1.5):
        with pytest.raises(ValueError, match="bps"):
            MarkupRule(bad)  # type: ignore[arg-type]
