"""Markups by rule: which basis points a quote adds to the mid rate, and why.

A rule names any of a merchant, a wallet, a partner and a currency pair, and matches a sale
that has all it names. The most specific matching rule wins, specificity being a weight per
dimension named: merchant 8, wallet 4, partner 2, pair 1. The weights are powers of two, so
two rules of equal specificity name the same dimensions, and two such rules that both match a
sale name the same values: a duplicate, refused where rules are made (`check_unique`). So the
winner is always one rule: the choice is total and deterministic. No rule matching: the
default. The result is then held within the floor and the cap.

Pure: no I/O. Rules come from gateway.toml (`[[fx.markups]]`), partner files (`[[markups]]`,
the partner implied) and each merchant's own (`gateway merchants fx set`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gateway.core.config import Settings
from gateway.quotes.model import MarkupRule, Sale

__all__ = ["AppliedMarkup", "MarkupPolicy", "check_unique", "markup_policy"]


def check_unique(rules: Iterable[MarkupRule]) -> None:
    """`ValueError` naming the first two rules with the same scope (they would tie)."""
    seen: dict[tuple[tuple[str, str], ...], MarkupRule] = {}
    for rule in rules:
        if rule.scope in seen:
            raise ValueError(f"two markup rules for {rule.label()} and {seen[rule.scope].label()}")
        seen[rule.scope] = rule


@dataclasses.dataclass(frozen=True, slots=True)
class AppliedMarkup:
    bps: int
    rule: str
    """The rule that applied (its label), and the floor or cap when one held it."""


@dataclasses.dataclass(frozen=True, slots=True)
class MarkupPolicy:
    default_bps: int
    floor_bps: int = 0
    cap_bps: int = 10_000
    rules: tuple[MarkupRule, ...] = ()
    """From the configuration (gateway.toml and partner files), checked unique."""

    def __post_init__(self) -> None:
        if not 0 <= self.floor_bps <= self.cap_bps:
            raise ValueError(f"need 0 <= floor ({self.floor_bps}) <= cap ({self.cap_bps})")
        check_unique(self.rules)

    def markup(self, sale: Sale, merchant_rules: Iterable[MarkupRule] = ()) -> AppliedMarkup:
        """The most specific rule matching `sale` (the merchant's own among them), within the
        floor and the cap."""
        matching = [r for r in (*self.rules, *merchant_rules) if r.matches(sale)]
        if matching:
            best = max(matching, key=lambda rule: rule.specificity)
            bps, rule = best.bps, best.label()
        else:
            bps, rule = self.default_bps, f"default ({self.default_bps} bps)"
        if bps < self.floor_bps:
            return AppliedMarkup(self.floor_bps, f"{rule}, raised to the floor")
        if bps > self.cap_bps:
            return AppliedMarkup(self.cap_bps, f"{rule}, held at the cap")
        return AppliedMarkup(bps, rule)


def markup_policy(settings: Settings) -> MarkupPolicy:
    """The configured default, floor, cap and rules (gateway.toml's and each partner file's)."""
    cfg = settings.fx
    rules = [
        MarkupRule(bps=r.bps, wallet=r.wallet, partner=r.partner, pair=r.pair) for r in cfg.markups
    ]
    for partner in settings.partners:
        origin = partner.source_file or f"partners/{partner.id}.toml"
        rules += [
            MarkupRule(bps=r.bps, wallet=r.wallet, partner=partner.id, pair=r.pair, origin=origin)
            for r in partner.markups
        ]
    return MarkupPolicy(
        default_bps=cfg.markup_bps,
        floor_bps=cfg.markup_floor_bps,
        cap_bps=cfg.markup_cap_bps,
        rules=tuple(rules),
    )
