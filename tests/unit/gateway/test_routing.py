"""Routing over the shipped configuration plus in-memory partners: pure, no I/O."""

from __future__ import annotations

import pytest

from fx import Money
from gateway.core.config import load_settings
from gateway.core.errors import InvalidPaymentCode, NoRoute
from gateway.partners.routing import Router, partner_fee


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return load_settings(profile="test", env={})


def _router(settings, **changes):  # type: ignore[no-untyped-def]
    partners = [p.model_copy(update=changes.get(p.id, {})) for p in settings.partners]
    return Router(settings.wallets, partners)


def test_wallet_by_prefix_and_length(settings) -> None:  # type: ignore[no-untyped-def]
    router = _router(settings)
    assert router.identify("281234567890120000").id == "alipay_cn"
    with pytest.raises(InvalidPaymentCode):
        router.identify("28123")  # too short
    with pytest.raises(InvalidPaymentCode):
        router.identify("991234567890120000")  # no wallet


def test_rank_by_priority_then_fee(settings) -> None:  # type: ignore[no-untyped-def]
    wallet = settings.wallets["alipay_cn"]
    amount = Money.of(100_000, "CNY")
    assert [r.partner for r in _router(settings).routes("TH", wallet, amount)] == [
        "th-siampay",
        "th-krungpay",
    ]
    same_priority = {"th-siampay": {"priority": 20}}
    # Equal priority: the cheaper partner first (krungpay 70 bps vs siampay 60 bps + 10 fixed).
    siam = settings.partner("th-siampay")
    krung = settings.partner("th-krungpay")
    assert partner_fee(siam, amount) == 600 + 10 and partner_fee(krung, amount) == 700
    routes = _router(settings, **same_priority).routes("TH", wallet, amount)
    assert [r.partner for r in routes] == ["th-siampay", "th-krungpay"]
    assert "fee 610 CNY" in routes[0].reason


def test_exponent_override_that_cannot_carry_the_amount_is_not_eligible(settings) -> None:  # type: ignore[no-untyped-def]
    wallet = settings.wallets["alipay_cn"]
    router = _router(settings, **{"th-siampay": {"exponent_overrides": {"CNY": 0}}})
    assert [r.partner for r in router.routes("TH", wallet, Money.of(12_345, "CNY"))] == [
        "th-krungpay"
    ]
    assert next(r.partner for r in router.routes("TH", wallet, Money.of(12_300, "CNY"))) == (
        "th-siampay"
    )


def test_no_partner_in_market_or_within_limits_is_no_route(settings) -> None:  # type: ignore[no-untyped-def]
    router = _router(settings)
    with pytest.raises(NoRoute):
        router.routes("JP", settings.wallets["truemoney"])
    with pytest.raises(NoRoute):
        router.routes("TH", settings.wallets["alipay_cn"], Money.of(50, "CNY"))  # below minimums
