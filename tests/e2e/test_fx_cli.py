"""`gateway fx rates` and `gateway fx quote`: what a POS is shown and what a quote would be now,
priced by the same code as `GET /v1/fx/rates` and `POST /v1/fx/quotes`, from the rate sets the
gateway stored, and nothing written."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result

import fx
from gateway.cli import main
from gateway.storage.db import open_database
from tests.conftest import DATABASES, REPO, own_database
from tests.e2e.conftest import Gateway
from tests.support.seeding import SIAM_SOUVENIRS, TOKYO_SWEETS, seed
from tests.support.waiting import eventually

SHIPPED = fx.parse_ecb_xml(fx.default_ecb_file().read_bytes())
"""What the test profile's `ecb` source holds: the shipped 2022 file, never stale."""


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Its own database: the book the command line fills holds only this module's sets."""
    yield from own_database(request)


@pytest.fixture(autouse=True)
def _cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("GATEWAY_PROFILE", "test")


async def _cli(*args: str) -> Result:
    # in a thread: the command runs its own event loop
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


def _fields(result: Result) -> dict[str, str]:
    """`gateway fx quote`'s `label  value` lines (after its heading), by label."""
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("what-if quote, NOT stored"), lines[0]
    fields = {}
    for line in lines[1:]:
        label, value = re.split(r" {2,}", line, maxsplit=1)
        fields[label] = value
    return fields


def _table(result: Result) -> list[dict[str, str]]:
    """The rows of the first table in stdout (columns split on two or more spaces), by header."""
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if "  " in line]
    header = re.split(r" {2,}", lines[0])
    return [dict(zip(header, re.split(r" {2,}", line), strict=True)) for line in lines[1:]]


async def _count_quotes(url: str) -> int:
    db = open_database(url)
    try:
        async with db.reader.connect() as conn:
            return int((await conn.execute(sa.text("SELECT count(*) FROM quotes"))).scalar_one())
    finally:
        await db.dispose()


async def test_rates_for_a_merchant_are_what_its_pos_is_shown(gateway: Gateway) -> None:
    merchant = gateway.merchants["th"]
    # the merchant's own rule for one wallet, set as an operator sets it
    ruled = await _cli(
        "merchants", "fx", "set", merchant, "--markup-bps", "120", "--wallet", "kakaopay"
    )
    assert ruled.exit_code == 0, ruled.output

    async def api_shows_the_rule() -> dict[str, Any] | None:
        shown = await gateway.read("/v1/fx/rates")  # the POS key's merchant: th
        kakao = next(r for r in shown["rates"] if r["wallet"] == "kakaopay")
        return shown if kakao["markup_bps"] == 120 else None

    api = await eventually(api_shows_the_rule, timeout=10)  # past the key cache
    as_json = await _cli("fx", "rates", "--merchant", merchant, "--json")
    assert as_json.exit_code == 0, as_json.output
    cli = json.loads(as_json.stdout)

    # the API's document, but for the age, which moves with the clock
    def ageless(doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "rates": [{**r, "age_seconds": None} for r in doc["rates"]]}

    assert ageless(cli) == ageless(api)
    for mine, theirs in zip(cli["rates"], api["rates"], strict=True):
        assert 0 <= mine["age_seconds"] - theirs["age_seconds"] <= 60
    # the figures: the shipped set's cross rate, plus the rule's markup, as fx computes it
    by_wallet = {r["wallet"]: r for r in cli["rates"]}
    assert set(by_wallet) == {"alipay_cn", "kakaopay"} and cli["unavailable"] == []
    assert (by_wallet["alipay_cn"]["markup_bps"], by_wallet["alipay_cn"]["markup_rule"]) == (
        150,
        "default (150 bps)",
    )
    assert by_wallet["kakaopay"]["markup_bps"] == 120
    assert "kakaopay" in by_wallet["kakaopay"]["markup_rule"]
    for rate in cli["rates"]:
        mid = SHIPPED.mid_rate("THB", rate["currency"])
        assert Decimal(rate["mid_rate"]) == mid.rate
        assert Decimal(rate["rate"]) == fx.quote_rate(mid.rate, rate["markup_bps"])
        assert (rate["rate_source"], rate["rate_set"]) == ("ecb", SHIPPED.id)

    # the table says the same
    text = await _cli("fx", "rates", "--merchant", merchant)
    assert "for display only" in text.stdout
    rows = {row["wallet"]: row for row in _table(text)}
    assert set(rows) == set(by_wallet)
    for wallet, row in rows.items():
        rate = by_wallet[wallet]
        assert (row["currency"], row["rate"], row["mid rate"]) == (
            rate["currency"],
            rate["rate"],
            rate["mid_rate"],
        )
        assert (row["markup bps"], row["markup rule"]) == (
            str(rate["markup_bps"]),
            rate["markup_rule"],
        )
        assert (row["source"], row["rate set"]) == ("ecb", SHIPPED.id)


async def test_a_what_if_quote_is_priced_as_the_api_prices_and_is_not_stored(
    gateway: Gateway,
) -> None:
    merchant = gateway.merchants["th"]
    for wallet, major, value in (
        ("alipay_cn", "1250.50", 125050),
        ("kakaopay", "99999.99", 9999999),
        ("alipay_cn", "5.30", 530),  # 100.08 fen: th-siampay's minimum, 1.00 CNY
    ):
        before = await _count_quotes(gateway.settings.database.url)
        shown = _fields(
            await _cli(
                "fx",
                "quote",
                "--merchant",
                merchant,
                "--amount",
                major,
                "--currency",
                "THB",
                "--wallet",
                wallet,
            )
        )
        assert await _count_quotes(gateway.settings.database.url) == before  # a what-if only
        answer = await gateway.request(
            "POST",
            "/v1/fx/quotes",
            json={"amount": {"currency": "THB", "value": value}, "wallet": wallet},
            idempotency_key=secrets.token_hex(8),
        )
        assert answer.status == 201, answer.body
        held = answer.body
        payer = held["payer_amount"]
        assert shown["amount"] == f"{major} THB"
        assert shown["payer amount"] == (
            f"{fx.to_major_str(fx.Money.of(payer['value'], payer['currency']))} "
            f"{payer['currency']} ({payer['value']} minor units)"
        )
        assert (shown["mid rate"], shown["rate"]) == (held["mid_rate"], held["rate"])
        assert (shown["markup bps"], shown["markup rule"]) == (
            str(held["markup_bps"]),
            held["markup_rule"],
        )
        assert (shown["source"], shown["rate set"], shown["published at"]) == (
            held["rate_source"],
            held["rate_set"],
            held["rate_as_of"],
        )
        assert shown["wallet"] == f"{wallet} ({payer['currency']}), first partner th-siampay"
        # and recomputed from the shipped set: mid, markup, half-up payer amount
        mid = SHIPPED.mid_rate("THB", payer["currency"]).rate
        rate = fx.quote_rate(mid, held["markup_bps"])
        assert Decimal(shown["rate"]) == rate
        thb, payer_currency = fx.get_currency("THB"), fx.get_currency(payer["currency"])
        assert fx.convert_minor(value, rate, thb, payer_currency) == payer["value"]
        assert shown["expires at"].endswith("(in 5m00s)")  # the configured quote lifetime


@pytest.fixture
async def shops(database_url: str) -> dict[str, str]:
    """A Thai and a Japanese merchant, without keys: the commands need no running gateway."""
    seeded = await seed(database_url, {"th": SIAM_SOUVENIRS, "jp": TOKYO_SWEETS}, operator_key=None)
    return seeded.merchants


async def _quote(
    merchant: str, amount: str, currency: str = "THB", wallet: str = "alipay_cn", *options: str
) -> Result:
    return await _cli(
        *options,
        "fx",
        "quote",
        "--merchant",
        merchant,
        "--amount",
        amount,
        "--currency",
        currency,
        "--wallet",
        wallet,
    )


@pytest.mark.parametrize(
    ("amount", "says"),
    [
        ("1250.505", "'1250.505' has 3 decimals; THB has 2"),
        ("١٢٥٠٫٥٠", "not a decimal amount"),  # Arabic-Indic digits and separator
        ("１２５０", "not a decimal amount"),  # fullwidth digits
        ("1,250.50", "not a decimal amount"),
        ("1e3", "not a decimal amount"),
        ("+5", "not a decimal amount"),
        (" 12", "not a decimal amount"),
        ("0.00", "not between 1 minor unit and 10^13"),
        ("-1", "not between 1 minor unit and 10^13"),
        ("100000000000.01", "not between 1 minor unit and 10^13"),
    ],
)
async def test_an_amount_is_read_strictly(shops: dict[str, str], amount: str, says: str) -> None:
    result = await _quote(shops["th"], amount)
    assert result.exit_code == 2, result.output
    assert "--amount" in result.output and says in result.output


async def test_refusals_exit_non_zero_and_say_why(shops: dict[str, str]) -> None:
    thai, japanese = shops["th"], shops["jp"]
    cases = [
        (await _quote("mer_nope", "1250.50"), "--merchant", "no merchant mer_nope"),
        (await _quote(thai, "1250.50", wallet="nope"), "--wallet", "Unknown wallet 'nope'"),
        (await _quote(thai, "1250.50", wallet="truemoney"), "--wallet", "no FX quote is needed"),
        (await _quote(thai, "1250", currency="JPY"), "--currency", "merchant's currency, THB"),
        (await _quote(thai, "1250", currency="XXQ"), "--currency", "not a supported"),
        (await _quote(japanese, "1250.5", currency="JPY"), "--amount", "JPY has 0"),
        (await _quote(thai, "0.01"), "--amount", "payer amount would be below 1 minor unit of CNY"),
        (await _quote(thai, "0.03"), "--amount", "No partner is configured for wallet alipay_cn"),
        (await _cli("fx", "rates", "--merchant", "mer_nope"), "--merchant", "no merchant"),
        (await _cli("fx", "rates", "--merchant", thai, "--base", "JPY"), "--base", "THB"),
        (await _cli("fx", "rates", "--base", "XXQ"), "--base", "unsupported currency"),
    ]
    for result, option, says in cases:
        assert result.exit_code == 2, result.output
        assert option in result.output and says in result.output, result.output
    # the Japanese shop's yen amount has no decimals: a quote in won, from the shipped set
    shown = _fields(await _quote(japanese, "1250", currency="JPY", wallet="kakaopay"))
    mid = SHIPPED.mid_rate("JPY", "KRW").rate
    assert Decimal(shown["mid rate"]) == mid and shown["markup bps"] == "150"
    won = fx.convert_minor(
        1250, fx.quote_rate(mid, 150), fx.get_currency("JPY"), fx.get_currency("KRW")
    )
    assert shown["payer amount"] == f"{won} KRW ({won} minor units)"


async def test_the_books_mid_rates(shops: dict[str, str]) -> None:
    result = await _cli("fx", "rates", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["base"], shown["rate_source"], shown["rate_set"]) == ("EUR", "ecb", SHIPPED.id)
    assert shown["stale_at"] is None  # the shipped file never goes stale
    assert {r["currency"]: Decimal(r["mid_rate"]) for r in shown["rates"]} == {
        code: rate for code, rate in SHIPPED.rates.items() if code not in ("EUR", "HRK")
    }
    assert [u["currency"] for u in shown["unavailable"]] == ["HRK"]  # no longer a currency

    text = await _cli("fx", "rates", "--base", "THB")
    assert f"mid rates of 1 THB (no markup) from ecb, rate set {SHIPPED.id}" in text.stdout
    rows = {row["currency"]: row["mid rate"] for row in _table(text)}
    assert "THB" not in rows and rows["EUR"] == fx.format_rate(SHIPPED.mid_rate("THB", "EUR").rate)
    assert rows["CNY"] == fx.format_rate(SHIPPED.mid_rate("THB", "CNY").rate)


STALE_PROFILE = """
[[fx.sources]]                   # one static table, published long ago, current for an hour
name = "pegs"
kind = "static"
as_of = 2024-01-05T16:00:00+01:00
calendar = "fixed"
max_age = "1h"
rates = { THB = "36.541", CNY = "6.8095", KRW = "1321.61" }
"""


async def test_no_fresh_rate_is_a_refusal_that_says_why(
    shops: dict[str, str], tmp_path: Path
) -> None:
    configs = tmp_path / "configs"
    shutil.copytree(REPO / "configs", configs)
    (configs / "profiles" / "stale.toml").write_text(STALE_PROFILE, encoding="utf-8")
    stale = ("--config-dir", str(configs), "--profile", "stale")

    quote = await _quote(shops["th"], "1250.50", "THB", "alipay_cn", *stale)
    assert quote.exit_code == 1, quote.output
    assert (
        "rate_unavailable: no fresh rate for THB->CNY: pegs: rates published "
        "2024-01-05T15:00:00+00:00 went stale at 2024-01-05T16:00:00+00:00"
    ) in quote.output

    shown = await _cli(*stale, "fx", "rates", "--merchant", shops["th"])
    assert shown.exit_code == 0, shown.output  # a report, as GET /v1/fx/rates answers 200
    unavailable = [line for line in shown.stdout.splitlines() if line.startswith("no rate for")]
    assert [line.split(":")[0] for line in unavailable] == [
        "no rate for alipay_cn (CNY)",
        "no rate for kakaopay (KRW)",
    ]
    assert all("went stale" in line for line in unavailable)
    as_json = await _cli(*stale, "fx", "rates", "--merchant", shops["th"], "--json")
    document = json.loads(as_json.stdout)
    assert document["rates"] == [] and len(document["unavailable"]) == 2

    book = await _cli(*stale, "fx", "rates")
    assert book.exit_code == 1
    assert "no fresh rates from EUR: pegs: went stale at 2024-01-05T16:00:00.000Z" in book.output
