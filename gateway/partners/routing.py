"""Which wallet a scanned code belongs to, and which partners may take the payment.

Pure functions over the validated configuration: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from fx import Money, round_half_up
from gateway.core.config import Partner, Wallet
from gateway.core.errors import InvalidPaymentCode, NoRoute

__all__ = ["Route", "Router"]


@dataclasses.dataclass(frozen=True, slots=True)
class Route:
    partner: str
    payer_currency: str
    reason: str


class Router:
    """Wallet by longest matching code prefix; partners by market, wallet and priority."""

    def __init__(self, wallets: Mapping[str, Wallet], partners: Iterable[Partner]) -> None:
        self._wallets = dict(wallets)
        self._partners = sorted(partners, key=lambda p: (p.priority, p.id))
        self._prefixes = sorted(
            ((prefix, wallet) for wallet in self._wallets.values() for prefix in wallet.prefixes),
            key=lambda item: -len(item[0]),
        )

    def wallet(self, wallet_id: str) -> Wallet | None:
        return self._wallets.get(wallet_id)

    def wallets(self) -> list[Wallet]:
        """Every configured wallet, by id."""
        return [self._wallets[wallet_id] for wallet_id in sorted(self._wallets)]

    def identify(self, code: str) -> Wallet:
        """The wallet a code belongs to, or `invalid_payment_code` (the code is never echoed)."""
        if not code.isascii() or not code.isdigit():
            raise InvalidPaymentCode(
                "The payment code must be digits only.", param="payment_method.code"
            )
        for prefix, wallet in self._prefixes:
            if code.startswith(prefix):
                length = wallet.code_length
                if not length.min <= len(code) <= length.max:
                    raise InvalidPaymentCode(
                        f"A {wallet.id} payment code has {length.min} to {length.max} digits.",
                        param="payment_method.code",
                    )
                return wallet
        raise InvalidPaymentCode(
            "The payment code belongs to no wallet the gateway accepts.",
            param="payment_method.code",
        )

    def routes(
        self,
        country: str,
        wallet: Wallet,
        payer_amount: Money | None = None,
        *,
        param: str = "payment_method.code",
    ) -> Sequence[Route]:
        """Partners licensed in the merchant's market that serve the wallet and can carry the
        payer amount (limits, exponent), best first: by priority, then by their fee on it."""
        candidates = [
            p
            for p in self._partners
            if country in p.markets
            and wallet.id in p.wallets
            and (payer_amount is None or _can_carry(p, payer_amount))
        ]
        if not candidates:
            amount = f" for {payer_amount}" if payer_amount is not None else ""
            raise NoRoute(
                f"No partner is configured for wallet {wallet.id} in market {country}{amount}.",
                param=param,
            )
        ranked = sorted(
            ((p.priority, partner_fee(p, payer_amount), p.id, p) for p in candidates),
            key=lambda item: item[:3],
        )
        return [
            Route(
                partner=p.id,
                payer_currency=p.wallets[wallet.id],
                reason=f"licensed in {country}, serves {wallet.id}; priority {priority}"
                + (f", fee {fee} {payer_amount.currency.code} minor" if payer_amount else ""),
            )
            for priority, fee, _id, p in ranked
        ]


def partner_fee(partner: Partner, payer_amount: Money | None) -> int:
    """The partner's fee on this payment, in payer-currency minor units (0 before pricing)."""
    if payer_amount is None:
        return 0
    code = payer_amount.currency.code
    variable = round_half_up(Decimal(payer_amount.value) * partner.fees.bps / 10_000)
    return variable + partner.fees.fixed.get(code, 0)


def _can_carry(partner: Partner, payer_amount: Money) -> bool:
    return _within_limits(partner, payer_amount) and _exact_in_its_exponent(partner, payer_amount)


def _exact_in_its_exponent(partner: Partner, payer_amount: Money) -> bool:
    """A partner that counts this currency in fewer decimals must not have to round it."""
    override = partner.exponent_overrides.get(payer_amount.currency.code)
    if override is None or override >= payer_amount.currency.exponent:
        return True
    step: int = 10 ** (payer_amount.currency.exponent - override)
    return payer_amount.value % step == 0


def _within_limits(partner: Partner, payer_amount: Money) -> bool:
    limit = partner.limits.get(payer_amount.currency.code)
    if limit is None:
        return True
    low = limit.min if limit.min is not None else 1
    high = limit.max if limit.max is not None else payer_amount.value
    return low <= payer_amount.value <= high
