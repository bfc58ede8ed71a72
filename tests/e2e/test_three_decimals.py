"""KWD (ISO 4217 exponent 3) end to end: a Kuwaiti merchant, a tourist paying with Alipay in CNY.

The shipped ECB file has no KWD, so the test builds its own configuration directory: a copy of
configs/ whose `test` profile uses static rates, plus a demo partner licensed in Kuwait. Every
payer amount is recomputed here from the quote's rate string with Decimal, independently of fx.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Context, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from gateway.core.config import Settings, load_settings
from gateway.merchants.auth import Role
from gateway.sandboxes import sandbox_environment, start_sandboxes
from tests.e2e.conftest import Gateway, code, start_gateway_app, with_partner_urls
from tests.support.seeding import Shop, seed

pytestmark = pytest.mark.asyncio(loop_scope="module")

REPO = Path(__file__).resolve().parents[2]
PARTNER = "kw-gulfpay"
# 1 EUR in each currency. KWD -> CNY mid = 7.1 / 0.3125 = 22.72; with 150 bps, 23.0608.
STATIC_RATES = {
    "THB": "36.541",
    "CNY": "7.1",
    "JPY": "157.85",
    "KRW": "1450.12",
    "PHP": "63.87",
    "KWD": "0.3125",
}
MARKUP_BPS = 150
MAX_VALUE = 10**13

PROFILE_FX = """
[[fx.sources]]
name = "static"
kind = "static"
as_of = 2026-11-26T16:00:00+01:00

[fx.sources.rates]
""" + "".join(f'{ccy} = "{rate}"\n' for ccy, rate in STATIC_RATES.items())

KW_PARTNER = """\
# A DEMO partner for tests: GulfPay, its licence and every number below are fictitious.
id = "kw-gulfpay"
display_name = "GulfPay K.S.C. (demo)"
markets = ["KW"]
timezone = "Asia/Kuwait"
cutoff = "00:00"
protocol = "alipayplus"
base_url = "http://127.0.0.1:9103"
priority = 10

[licence]
regulator = "Central Bank of Kuwait"
number = "DEMO-CBK-EPAY-0007"

[wallets]
alipay_cn = "CNY"

[credentials]
client_id = "KW_GULFPAY_CLIENT_ID"
private_key = "KW_GULFPAY_PRIVATE_KEY"
partner_public_key = "KW_GULFPAY_PUBLIC_KEY"

[fees]
bps = 50

[sandbox]
enabled = true
port = 9103
private_key_env = "KW_GULFPAY_SANDBOX_PRIVATE_KEY"
"""


def _significant(value: Decimal, digits: int = 10) -> Decimal:
    return Context(prec=digits, rounding=ROUND_HALF_UP).plus(value).normalize()


def expected_rates() -> tuple[Decimal, Decimal]:
    """(mid, rate) for KWD -> CNY, as API.md defines them, computed here from the static rates."""
    exact = Context(prec=60)
    mid = _significant(exact.divide(Decimal(STATIC_RATES["CNY"]), Decimal(STATIC_RATES["KWD"])))
    rate = _significant(mid * (1 + Decimal(MARKUP_BPS) / 10_000))
    return mid, rate


def payer_value(value: int, rate: str) -> int:
    """round_half_up(value × rate × 10^(e_CNY − e_KWD)) = value × rate / 10, half-up."""
    exact = Decimal(value) * Decimal(rate) * Decimal(10) ** (2 - 3)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


_MID, _RATE = expected_rates()
# The largest KWD amount whose CNY payer amount is still ≤ 10^13 fen; one more is too much.
LARGEST = int(((MAX_VALUE + Decimal("0.5")) * 10 / _RATE).to_integral_value(ROUND_CEILING)) - 1
assert payer_value(LARGEST, str(_RATE)) <= MAX_VALUE < payer_value(LARGEST + 1, str(_RATE))


def build_config_dir(root: Path) -> Path:
    config_dir = root / "configs"
    shutil.copytree(REPO / "configs", config_dir)
    profile = config_dir / "profiles" / "test.toml"
    # the static table replaces the profile's rate sources (the shipped file has no KWD)
    text = re.sub(r"\[\[fx\.sources\]\].*?\n\n", "", profile.read_text(), count=1, flags=re.S)
    profile.write_text(text + PROFILE_FX)
    (config_dir / "partners" / f"{PARTNER}.toml").write_text(KW_PARTNER)
    return config_dir


@dataclass
class Kuwait:
    gateway: Gateway
    merchant_id: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def kuwait(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Kuwait]:
    config_dir = build_config_dir(tmp_path_factory.mktemp("kwd"))
    settings: Settings = load_settings(
        config_dir=config_dir,
        profile="test",
        env={**os.environ, "DATABASE_URL": module_database_url},
    )
    assert [(s.name, s.kind) for s in settings.fx.sources] == [("static", "static")]
    assert settings.partner(PARTNER).markets == ("KW",)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    settings = with_partner_urls(settings, running.urls)
    shop = Shop("Souq Sharq Gifts", "KW", "KWD", "Asia/Kuwait", keys={"kw_pos": Role.POS})
    seeded = await seed(settings.database.url, {"kw": shop}, operator_key=None)
    keys, merchant_id = seeded.keys, seeded.merchants["kw"]
    runner, url = await start_gateway_app(settings, env)
    async with aiohttp.ClientSession() as session:
        try:
            yield Kuwait(
                Gateway(url, settings, env, session, running, keys, {"kw": merchant_id}),
                merchant_id,
            )
        finally:
            await runner.cleanup()
            await running.stop()


async def make_quote(gateway: Gateway, value: int) -> Any:
    return await gateway.request(
        "POST",
        "/v1/fx/quotes",
        key="kw_pos",
        json={"amount": {"currency": "KWD", "value": value}, "wallet": "alipay_cn"},
        idempotency_key=secrets.token_hex(8),
    )


def charges(gateway: Gateway, partner_request_id: str) -> list[tuple[str, str]]:
    return [
        (e.amount.currency, e.amount.value)
        for e in gateway.ledger(PARTNER).entries
        if e.kind == "charge" and e.payment_request_id == partner_request_id
    ]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(1250, id="1.250_KWD"),
        pytest.param(1, id="0.001_KWD"),
        pytest.param(999, id="0.999_KWD"),
        pytest.param(3125, id="3.125_KWD_a_tie"),  # 7206.5 fen: half-up 7207, half-even 7206
        pytest.param(10**12, id="1e9_KWD"),
        pytest.param(LARGEST, id="largest"),
    ],
)
async def test_kwd_payment_round_trip(kuwait: Kuwait, value: int) -> None:
    gateway = kuwait.gateway
    answer = await gateway.pay(code("28", "0000"), value, "KWD", key="kw_pos")
    assert answer.status == 201, answer.body
    payment = answer.body
    assert payment["status"] == "succeeded", payment
    assert payment["partner"] == PARTNER and payment["wallet"] == "alipay_cn"
    assert payment["amount"] == {"currency": "KWD", "value": value}
    assert type(payment["amount"]["value"]) is int
    rate = payment["quote"]["rate"]
    assert Decimal(rate) == _RATE
    expected = payer_value(value, rate)
    assert payment["payer_amount"] == {"currency": "CNY", "value": expected}
    if value == 3125:
        assert expected == 7207
    # The partner charged exactly that, once, in minor units of CNY.
    attempts = await gateway.attempts(payment["id"])
    assert len(attempts) == 1
    assert charges(gateway, attempts[0]["partner_request_id"]) == [("CNY", str(expected))]
    got = await gateway.request("GET", f"/v1/payments/{payment['id']}", key="kw_pos")
    assert got.status == 200 and got.body == payment


@pytest.mark.parametrize("value", [LARGEST + 1, MAX_VALUE], ids=["largest+1", "1e13"])
async def test_kwd_payer_amount_over_the_bound_is_invalid_amount(
    kuwait: Kuwait, value: int
) -> None:
    gateway = kuwait.gateway
    charged = len(gateway.ledger(PARTNER).entries)
    answer = await gateway.pay(code("28", "0000"), value, "KWD", key="kw_pos")
    assert answer.status == 400 and answer.error == "invalid_amount", answer.body
    assert answer.body["error"]["param"] == "amount.value"
    quote = await make_quote(gateway, value)
    assert quote.status == 400 and quote.error == "invalid_amount", quote.body
    assert len(gateway.ledger(PARTNER).entries) == charged


async def test_kwd_amount_in_major_units_is_refused(kuwait: Kuwait) -> None:
    answer = await kuwait.gateway.pay(code("28", "0000"), 1.25, "KWD", key="kw_pos")  # type: ignore[arg-type]
    assert answer.status == 400 and answer.error == "invalid_amount", answer.body


async def test_kwd_quote_then_payment(kuwait: Kuwait) -> None:
    gateway = kuwait.gateway
    answer = await make_quote(gateway, 1250)
    assert answer.status == 201, answer.body
    quote = answer.body
    assert quote["amount"] == {"currency": "KWD", "value": 1250}
    assert quote["wallet"] == "alipay_cn"
    assert quote["rate_source"] == "static" and quote["markup_bps"] == MARKUP_BPS
    assert Decimal(quote["mid_rate"]) == _MID and Decimal(quote["rate"]) == _RATE
    # 1.250 KWD × 23.0608 = 28.826 CNY: 2882.6 fen, half-up 2883.
    assert quote["payer_amount"] == {"currency": "CNY", "value": payer_value(1250, quote["rate"])}
    assert quote["payer_amount"]["value"] == 2883
    got = await gateway.request("GET", f"/v1/fx/quotes/{quote['id']}", key="kw_pos")
    assert got.status == 200 and got.body == quote

    paid = await gateway.pay(code("28", "0000"), 1250, "KWD", key="kw_pos", quote_id=quote["id"])
    assert paid.status == 201 and paid.body["status"] == "succeeded", paid.body
    assert paid.body["quote"]["id"] == quote["id"] and paid.body["quote"]["rate"] == quote["rate"]
    assert paid.body["amount"] == quote["amount"]
    assert paid.body["payer_amount"] == quote["payer_amount"]
    attempts = await gateway.attempts(paid.body["id"])
    assert charges(gateway, attempts[0]["partner_request_id"]) == [("CNY", "2883")]
