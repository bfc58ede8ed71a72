"""`gateway fx explain pay_...`: how a payment's payer amount came about, recomputed from stored
data alone (the payment, its quote, the rate set the quote was priced from).

Each step is recomputed with the same arithmetic the quote used, and compared with what was
stored: the cross mid rate from the set's two per-base rates, the customer rate from the mid and
the markup, the payer amount from the amount and the rate. `matches` is true only when every
step gives back exactly the stored figure.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import fx
from gateway.storage import payments as payments_repo
from gateway.storage import rates as rates_repo
from gateway.storage.db import Database

__all__ = ["Explanation", "explain_payment"]


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    what: str
    arithmetic: str
    stored: str
    recomputed: str

    @property
    def matches(self) -> bool:
        return self.stored == self.recomputed


@dataclasses.dataclass(frozen=True, slots=True)
class Explanation:
    payment_id: str
    heading: tuple[str, ...]
    steps: tuple[Step, ...]

    @property
    def matches(self) -> bool:
        return bool(self.steps) and all(step.matches for step in self.steps)

    def lines(self) -> list[str]:
        out = [*self.heading]
        for step in self.steps:
            verdict = "ok" if step.matches else f"MISMATCH: stored {step.stored}"
            out.append(f"{step.what}: {step.arithmetic} = {step.recomputed}  [{verdict}]")
        out.append("recomputed from stored data: " + ("matches" if self.matches else "DIFFERS"))
        return out


class NotExplainable(LookupError):
    """No such payment, or one without FX (same currency)."""


async def explain_payment(db: Database, payment_id: str) -> Explanation:
    payment = await payments_repo.get_payment(db, payment_id)
    if payment is None:
        raise NotExplainable(f"no payment {payment_id}")
    if payment.quote is None:
        raise NotExplainable(f"{payment_id} is paid in the merchant's currency: no FX")
    held = await payments_repo.get_quote(db, payment.quote.id)
    if held is None:
        raise NotExplainable(f"{payment_id}: its quote {payment.quote.id} is not stored")
    quote = held.quote
    amount, payer = payment.amount, payment.payer_amount
    heading = [
        f"payment {payment_id}: {fx.to_major_str(amount)} {amount.currency.code} paid as "
        f"{fx.to_major_str(payer)} {payer.currency.code} with {payment.wallet}",
        f"quote {quote.id}: rate source {quote.rate_source}, published "
        f"{quote.rate_as_of.isoformat()}, markup {quote.markup_bps} bps "
        f"({quote.markup_rule or 'rule not recorded'})",
    ]
    steps: list[Step] = []
    rate_set = await rates_repo.get_rate_set(db, quote.rate_set) if quote.rate_set else None
    if rate_set is None:
        heading.append("rate set: not recorded (a quote from before rate sets were stored)")
    else:
        per_base = {c: rate_set.rates.get(c) for c in (amount.currency.code, payer.currency.code)}
        legs = ", ".join(
            f"1 {rate_set.base.code} = {fx.format_rate(v)} {c}"
            for c, v in per_base.items()
            if v is not None
        )
        heading.append(f"rate set {rate_set.id}: {rate_set.source}, {legs}")
        mid = rate_set.mid_rate(amount.currency, payer.currency).rate
        steps.append(
            Step(
                "mid rate",
                f"{_text(per_base[payer.currency.code])} / {_text(per_base[amount.currency.code])}"
                ", half-up to 10 significant digits",
                fx.format_rate(quote.mid_rate),
                fx.format_rate(mid),
            )
        )
    rate = fx.quote_rate(quote.mid_rate, quote.markup_bps)
    steps.append(
        Step(
            "rate",
            f"{fx.format_rate(quote.mid_rate)} × (1 + {quote.markup_bps}/10000), half-up to "
            "10 significant digits",
            payment.quote.rate,
            fx.format_rate(rate),
        )
    )
    payer_value = fx.convert_minor(amount.value, rate, amount.currency, payer.currency)
    shift = payer.currency.exponent - amount.currency.exponent
    steps.append(
        Step(
            f"payer amount ({payer.currency.code} minor units)",
            f"half-up({amount.value} × {fx.format_rate(rate)} × 10^{shift})",
            str(payer.value),
            str(payer_value),
        )
    )
    return Explanation(payment_id, tuple(heading), tuple(steps))


def _text(rate: Decimal | None) -> str:
    return "?" if rate is None else fx.format_rate(rate)
