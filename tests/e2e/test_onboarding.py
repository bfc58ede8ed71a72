"""A new partner is onboarded by configuration alone (issue #4): a copy of configs/ plus ONE new
partner TOML file, and the gateway routes payments through it, its sandbox included. No Python
is written for it: its protocol family (WalletRest) is already in `adapters.PROTOCOLS`.

The shipped ECB file (fx/data/ecb-eurofxref-2022-07-08.xml) has no VND, so a Vietnamese partner
loads and is routed to, but a VND payment that needs FX answers `503 rate_unavailable` (no
partner is called). The payments that succeed go through an Indonesian partner instead (IDR is
in the ECB file): IDR has exponent 2, KRW exponent 0, so 10^(e_payer − e_merchant) is exercised
too. Each payer amount is recomputed here with Decimal from the ECB file, independently of `fx`.

A broken partner file is refused at load (or, for a secret, when resolving credentials) with a
`ConfigError` naming the file, the key and a fix.
"""

from __future__ import annotations

import os
import secrets
import shutil
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_HALF_UP, Context, Decimal
from pathlib import Path

import aiohttp
import pytest

import fx
from gateway.core.config import ConfigError, Settings, load_settings, resolve_credentials
from gateway.merchants.auth import Role
from gateway.sandboxes import sandbox_environment, start_sandboxes
from tests.e2e.conftest import Gateway, code, start_gateway_app, with_partner_urls
from tests.support.seeding import Shop, seed

REPO = Path(__file__).resolve().parents[2]
MARKUP_BPS = 150  # configs/gateway.toml [fx] markup_bps
ALIPAY_CN, KAKAOPAY, GCASH = "28", "81", "63"


def partner_toml(
    partner_id: str,
    *,
    market: str,
    timezone: str,
    port: int,
) -> str:
    """A demo WalletRest partner file; every name and number in it is fictitious."""
    env = partner_id.upper().replace("-", "_")
    return f"""\
# A DEMO partner written by tests/e2e/test_onboarding.py: fictitious.
id = "{partner_id}"
display_name = "{partner_id} (demo)"
markets = ["{market}"]
timezone = "{timezone}"
cutoff = "00:00"
protocol = "walletrest"
base_url = "http://127.0.0.1:{port}"
priority = 10

[licence]
regulator = "Demo Regulator"
number = "DEMO-{env}-0001"

[wallets]
alipay_cn = "CNY"
kakaopay = "KRW"

[credentials]
api_key = "{env}_API_KEY"
signing_secret = "{env}_SIGNING_SECRET"

[fees]
bps = 40

[sandbox]
enabled = true
port = {port}
"""


VN = "vn-saigonpay"
VN_FILE = partner_toml(VN, market="VN", timezone="Asia/Ho_Chi_Minh", port=9108)
ID = "id-nusapay"
ID_FILE = partner_toml(ID, market="ID", timezone="Asia/Jakarta", port=9109)


def config_dir_with(root: Path, partner_id: str, text: str) -> Path:
    """A copy of the shipped configs/ plus one partner file: the only thing written."""
    config_dir = root / "configs"
    shutil.copytree(REPO / "configs", config_dir)
    (config_dir / "partners" / f"{partner_id}.toml").write_text(text)
    return config_dir


# --- FX, recomputed from the ECB file and API.md ---------------------------------------------

_PER_EUR = {
    cube.attrib["currency"]: Decimal(cube.attrib["rate"])
    for cube in ET.parse(fx.default_ecb_file()).iter()
    if cube.tag.endswith("Cube") and "currency" in cube.attrib
}
EXPONENTS = {"VND": 0, "KRW": 0, "IDR": 2, "CNY": 2}


def _significant(value: Decimal) -> Decimal:
    return Context(prec=10, rounding=ROUND_HALF_UP).plus(value)


def ecb_rate(merchant_currency: str, payer_currency: str) -> Decimal:
    mid = _significant(
        Context(prec=60).divide(_PER_EUR[payer_currency], _PER_EUR[merchant_currency])
    )
    return _significant(mid * (1 + Decimal(MARKUP_BPS) / 10_000))


def payer_value(value: int, rate: str, merchant_currency: str, payer_currency: str) -> int:
    shift = EXPONENTS[payer_currency] - EXPONENTS[merchant_currency]
    exact = Decimal(value) * Decimal(rate) * Decimal(10) ** shift
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# --- a gateway on the extended configuration ---------------------------------------------------


@asynccontextmanager
async def onboarded(
    config_dir: Path, database_url: str, *, country: str, currency: str, timezone: str
) -> AsyncIterator[Gateway]:
    """Settings from `config_dir`, its sandboxes (the new one included), a merchant of the new
    market with a pos key ("pos"), and the gateway: exactly what an operator would do."""
    settings: Settings = load_settings(
        config_dir=config_dir, profile="test", env={**os.environ, "DATABASE_URL": database_url}
    )
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    try:
        settings = with_partner_urls(settings, running.urls)
        shop = Shop("Onboarding Test Shop", country, currency, timezone, keys={"pos": Role.POS})
        seeded = await seed(settings.database.url, {"new": shop}, operator_key=None)
        runner, url = await start_gateway_app(settings, env)
        try:
            async with aiohttp.ClientSession() as session:
                yield Gateway(url, settings, env, session, running, seeded.keys, seeded.merchants)
        finally:
            await runner.cleanup()
    finally:
        await running.stop()


def charges(gateway: Gateway, partner: str) -> list[tuple[str, fx.Money]]:
    """(partner request id, amount) of every charge at the partner's WalletRest sandbox, whose
    ledger writes major-unit decimal strings."""
    return [
        (e.payment_request_id, fx.from_major_str(e.amount.value, e.amount.currency))
        for e in gateway.ledger(partner).entries
        if e.kind == "charge"
    ]


# --- onboarding -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "payer_currency", "value"),
    [
        pytest.param(KAKAOPAY, "KRW", 15_000_000, id="kakaopay-KRW"),  # 150,000.00 IDR
        pytest.param(ALIPAY_CN, "CNY", 15_000_000, id="alipay_cn-CNY"),
        pytest.param(KAKAOPAY, "KRW", 98_765_432, id="kakaopay-KRW-odd"),
    ],
)
async def test_a_partner_added_by_one_toml_file_takes_payments(
    tmp_path: Path, database_url: str, prefix: str, payer_currency: str, value: int
) -> None:
    config_dir = config_dir_with(tmp_path, ID, ID_FILE)
    async with onboarded(
        config_dir, database_url, country="ID", currency="IDR", timezone="Asia/Jakarta"
    ) as gateway:
        partner = gateway.settings.partner(ID)
        assert partner.protocol == "walletrest" and partner.markets == ("ID",)
        assert partner.source_file == "configs/partners/id-nusapay.toml"
        assert {"ID_NUSAPAY_API_KEY", "ID_NUSAPAY_SIGNING_SECRET"} <= set(gateway.env)

        answer = await gateway.pay(code(prefix, "0000"), value, "IDR", key="pos")
        assert answer.status == 201, answer.body
        payment = answer.body
        assert payment["status"] == "succeeded", payment
        assert payment["partner"] == ID
        assert payment["amount"] == {"currency": "IDR", "value": value}
        rate = payment["quote"]["rate"]
        assert Decimal(rate) == ecb_rate("IDR", payer_currency)
        expected = payer_value(value, rate, "IDR", payer_currency)
        assert payment["payer_amount"] == {"currency": payer_currency, "value": expected}
        # Charged once, exactly the payer amount, by the new partner's own sandbox.
        [attempt] = await gateway.attempts(payment["id"])
        assert attempt["partner"] == ID
        assert charges(gateway, ID) == [
            (attempt["partner_request_id"], fx.Money.of(expected, payer_currency))
        ]
        got = await gateway.request("GET", f"/v1/payments/{payment['id']}", key="pos")
        assert got.status == 200 and got.body == payment


async def test_a_vietnamese_partner_is_routed_but_vnd_has_no_rate(
    tmp_path: Path, database_url: str
) -> None:
    """VND is not in the shipped ECB file: the VN partner is found (no `no_route`), but a
    payment needing FX answers 503 rate_unavailable, stores nothing and calls no partner."""
    assert "VND" not in _PER_EUR
    config_dir = config_dir_with(tmp_path, VN, VN_FILE)
    async with onboarded(
        config_dir, database_url, country="VN", currency="VND", timezone="Asia/Ho_Chi_Minh"
    ) as gateway:
        assert gateway.settings.partner(VN).markets == ("VN",)
        for prefix in (KAKAOPAY, ALIPAY_CN):
            reference = f"VN-{secrets.token_hex(4)}"
            answer = await gateway.pay(
                code(prefix, "0000"), 250_000, "VND", key="pos", reference=reference
            )
            assert answer.status == 503 and answer.error == "rate_unavailable", answer.body
            assert int(answer.headers["Retry-After"]) >= 1
            listed = await gateway.request(
                "GET", f"/v1/payments?merchant_reference={reference}", key="pos"
            )
            assert listed.body["data"] == []
        # Routing runs before pricing: a wallet the VN partner does not serve is no_route, so
        # the 503s above mean the new partner was found and only the rate was missing.
        other = await gateway.pay(code(GCASH, "0000"), 250_000, "VND", key="pos")
        assert other.status == 422 and other.error == "no_route", other.body
        assert gateway.ledger(VN).payments == {} and gateway.ledger(VN).entries == []


# --- a broken partner file ---------------------------------------------------------------------

VN_FILE_NAME = "configs/partners/vn-saigonpay.toml"
VN_ENV_WITHOUT_SECRET = {"VN_SAIGONPAY_API_KEY": "demo-key"}  # VN_SAIGONPAY_SIGNING_SECRET unset

# case: (the file's text, where it fails, the key named, words the message must carry)
BROKEN = {
    "unknown-protocol": (
        VN_FILE.replace('protocol = "walletrest"', 'protocol = "wallet-rest"'),
        "load",
        "protocol",
        ["'wallet-rest' is not a known protocol family", "use one of: alipayplus, walletrest"],
    ),
    "unknown-market": (
        VN_FILE.replace('markets = ["VN"]', 'markets = ["VX"]'),
        "load",
        "markets[0]",
        ["'VX' is not an ISO 3166-1 alpha-2 country code", "use a code such as 'VN'"],
    ),
    "unknown-wallet": (
        VN_FILE.replace('kakaopay = "KRW"', 'paypay = "JPY"'),
        "load",
        "wallets.paypay",
        ["'paypay' is not a wallet in wallets.toml", "alipay_cn", "add [wallets.paypay]"],
    ),
    "negative-fee": (
        VN_FILE.replace("bps = 40", "bps = -5"),
        "load",
        "fees.bps",
        ["(got -5)", "use a value of at least 0"],
    ),
    "credential-not-named": (
        VN_FILE.replace('signing_secret = "VN_SAIGONPAY_SIGNING_SECRET"\n', ""),
        "load",
        "credentials.signing_secret",
        [
            "protocol walletrest needs the credential 'signing_secret'",
            "VN_SAIGONPAY_SIGNING_SECRET",
        ],
    ),
    "credential-env-var-unset": (
        VN_FILE,
        "resolve",
        "credentials.signing_secret",
        ["environment variable VN_SAIGONPAY_SIGNING_SECRET is not set", "export it"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_partner_file_is_refused_naming_file_key_and_fix(
    tmp_path: Path, case: str
) -> None:
    text, stage, key, words = BROKEN[case]
    assert text != VN_FILE or stage == "resolve"  # each case makes its one mistake
    config_dir = config_dir_with(tmp_path, VN, text)
    with pytest.raises(ConfigError) as raised:
        settings = load_settings(config_dir=config_dir, profile="test", env={})
        assert stage == "resolve", "the file loaded"
        resolve_credentials(settings.partner(VN), VN_ENV_WITHOUT_SECRET)
    [problem] = raised.value.problems  # this one mistake, and nothing else
    assert (problem.file, problem.key) == (VN_FILE_NAME, key)
    assert problem.message and problem.fix
    message = str(raised.value)
    assert message.startswith(f"{VN_FILE_NAME}: {key}: "), message
    assert ". Fix: " in message
    for word in words:
        assert word in message, message


def test_the_same_partner_file_resolves_once_its_secrets_are_set(tmp_path: Path) -> None:
    config_dir = config_dir_with(tmp_path, VN, VN_FILE)
    settings = load_settings(config_dir=config_dir, profile="test", env={})
    env = {**VN_ENV_WITHOUT_SECRET, "VN_SAIGONPAY_SIGNING_SECRET": "demo-secret"}
    assert resolve_credentials(settings.partner(VN), env) == {
        "api_key": "demo-key",
        "signing_secret": "demo-secret",
    }
