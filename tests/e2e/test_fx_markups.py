"""Markups by rule over real HTTP: gateway.toml's, a partner file's and the merchant's own
rules; the most specific wins, within the floor and the cap, and the quote names it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

import fx
from gateway.core.config import Settings
from gateway.core.config.partners import PartnerMarkup
from gateway.core.config.sections import MarkupRuleSettings
from gateway.merchants import admin
from gateway.sandboxes import RunningSandboxes
from gateway.storage.db import open_database
from tests.e2e.conftest import Gateway, code, start_gateway_app
from tests.support.seeding import SHOPS, seed
from tests.support.waiting import eventually


def _with_markups(settings: Settings) -> Settings:
    fx_cfg = settings.fx.model_copy(
        update={
            "markup_floor_bps": 10,
            "markup_cap_bps": 500,
            "markups": [MarkupRuleSettings(bps=80, wallet="alipay_cn")],
        }
    )
    partners = tuple(
        p.model_copy(update={"markups": (PartnerMarkup(bps=60, pair="THB/CNY"),)})
        if p.id == "th-siampay"
        else p
        for p in settings.partners
    )
    return settings.model_copy(update={"fx": fx_cfg, "partners": partners})


@pytest.fixture
async def gateway(
    sandboxes_and_env: tuple[Settings, dict[str, str], RunningSandboxes],
) -> AsyncIterator[Gateway]:
    settings, env, running = sandboxes_and_env
    settings = _with_markups(settings)
    seeded = await seed(settings.database.url, SHOPS)
    runner, url = await start_gateway_app(settings, env)
    async with aiohttp.ClientSession() as session:
        try:
            yield Gateway(url, settings, env, session, running, seeded.keys, seeded.merchants)
        finally:
            await runner.cleanup()


async def _quote(gateway: Gateway, wallet: str) -> dict[str, Any]:
    answer = await gateway.request(
        "POST",
        "/v1/fx/quotes",
        json={"amount": {"currency": "THB", "value": 125050}, "wallet": wallet},
        idempotency_key=secrets.token_hex(8),
    )
    assert answer.status == 201, answer.body
    body: dict[str, Any] = answer.body
    return body


def _marked_up(quote: dict[str, Any]) -> bool:
    """The quote's rate is its mid plus its markup, as fx computes it."""
    return fx.quote_rate(Decimal(quote["mid_rate"]), quote["markup_bps"]) == Decimal(quote["rate"])


async def test_the_most_specific_rule_prices_and_is_named(gateway: Gateway) -> None:
    alipay = await _quote(gateway, "alipay_cn")  # wallet (4) beats th-siampay's pair (2 + 1)
    assert (alipay["markup_bps"], alipay["markup_rule"]) == (80, "wallet=alipay_cn (gateway.toml)")
    kakao = await _quote(gateway, "kakaopay")  # no rule for THB/KRW: the default
    assert (kakao["markup_bps"], kakao["markup_rule"]) == (150, "default (150 bps)")
    assert _marked_up(alipay) and _marked_up(kakao)
    stored = await gateway.read(f"/v1/fx/quotes/{alipay['id']}")
    assert stored["markup_rule"] == alipay["markup_rule"]

    merchant = gateway.merchants["th"]
    db = open_database(gateway.settings.database.url)
    try:
        await admin.set_markup(
            db, merchant_id=merchant, bps=120, wallet="kakaopay", wallets=["kakaopay"]
        )
        # the merchant's own rule (8 + 4) wins once the key cache has the new merchant row
        own = f"merchant={merchant} wallet=kakaopay (merchant)"
        quote = await eventually(lambda: _quote_if(gateway, "kakaopay", own), timeout=5)
        assert quote["markup_bps"] == 120 and _marked_up(quote)
        await admin.set_markup(db, merchant_id=merchant, bps=900, wallets=["kakaopay"])
        capped = await eventually(
            lambda: _quote_if(
                gateway, "alipay_cn", f"merchant={merchant} (merchant), held at the cap"
            ),
            timeout=5,
        )
        assert capped["markup_bps"] == 500
        with pytest.raises(admin.AdminError, match="merchant's currency, THB"):
            await admin.set_markup(db, merchant_id=merchant, bps=1, pair="JPY/KRW")
        with pytest.raises(admin.AdminError, match="no wallet"):
            await admin.set_markup(db, merchant_id=merchant, bps=1, wallet="nope", wallets=[])
    finally:
        await db.dispose()
    # the earlier quote keeps its markup and rule, and a payment on it pays exactly that
    paid = await gateway.pay(code("28", "0000"), 125050, quote_id=alipay["id"])
    assert paid.status == 201, paid.body
    assert paid.body["payer_amount"] == alipay["payer_amount"]


async def _quote_if(gateway: Gateway, wallet: str, rule: str) -> dict[str, Any] | None:
    quote = await _quote(gateway, wallet)
    return quote if quote["markup_rule"] == rule else None


async def test_display_rates_match_what_a_quote_would_use(gateway: Gateway) -> None:
    shown = await gateway.read("/v1/fx/rates?base=THB")
    assert shown["object"] == "fx_rates" and shown["base"] == "THB"
    assert shown["unavailable"] == []
    by_wallet = {entry["wallet"]: entry for entry in shown["rates"]}
    assert "truemoney" not in by_wallet  # pays in THB: no FX
    alipay = by_wallet["alipay_cn"]
    assert (alipay["currency"], alipay["markup_bps"]) == ("CNY", 80)
    quote = await _quote(gateway, "alipay_cn")
    for field in ("rate", "mid_rate", "markup_bps", "markup_rule", "rate_source", "rate_set"):
        assert alipay[field] == quote[field], field
    assert by_wallet["kakaopay"]["markup_rule"] == "default (150 bps)"
    wrong = await gateway.request("GET", "/v1/fx/rates?base=JPY")
    assert wrong.status == 400 and wrong.body["error"]["param"] == "base"
    finance = await gateway.request("GET", "/v1/fx/rates", key="operator")
    assert finance.status == 403
