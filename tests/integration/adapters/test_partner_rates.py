"""A partner's own exchange rates (`fx_rates`), adapter against sandbox over loopback, for every
protocol family.

Each sandbox quotes rates crossed from its ECB-layout feed, so they equal the mid rates `fx`
derives from the same feed; the feed's test switch (`POST /_sandbox/fx_feed`) makes them jump,
fail, unreadable, stale, slow or wrongly signed, and the adapter refuses every answer it cannot
trust with `RatesUnavailable`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters import (
    PROTOCOLS,
    Adapter,
    Operation,
    PartnerRates,
    RatesRequest,
    RatesUnavailable,
    SystemClock,
    alipayplus,
)
from adapters._sandbox import FEED_PATH
from adapters.alipayplus.signing import SignatureHeader, build_content, load_private_key, sign
from adapters.walletrest.signing import request_content, timestamp_of
from adapters.walletrest.signing import sign as hmac_sign
from fx import get_currency, parse_ecb_xml
from tests.support.families import SandboxFamily, running_family

TIMEOUTS = {op: 2.0 for op in Operation if op is not Operation.FX_RATES}  # fx_rates: default
REQUEST = RatesRequest("THB", ("CNY", "KRW", "EUR"))
REFUSALS = {"alipayplus": "CURRENCY_NOT_SUPPORT", "walletrest": "currency_not_supported"}
SERVER_ERRORS = {"alipayplus": "U UNKNOWN_EXCEPTION", "walletrest": "HTTP 500, api_error"}


@pytest.fixture
async def family(protocol_family: str) -> AsyncIterator[SandboxFamily]:
    async with running_family(
        protocol_family, clock=SystemClock(), timeouts=TIMEOUTS, allow_settlement_tamper=True
    ) as running:
        yield running


async def switch(family: SandboxFamily, **body: Any) -> None:
    answer = await family.http.post(f"{family.url}/_sandbox/fx_feed", json=body)
    assert answer.status_code == 200, answer.text


async def feed_mid_rates(family: SandboxFamily, request: RatesRequest) -> dict[str, Decimal]:
    """What `fx` derives from the sandbox's own feed, as the mode serves it."""
    feed = parse_ecb_xml((await family.http.get(family.url + FEED_PATH)).content)
    base = get_currency(request.base)
    return {code: feed.mid_rate(base, get_currency(code)).rate for code in request.quotes}


async def test_the_rates_are_the_feeds_mid_rates_valid_ten_minutes(
    family: SandboxFamily,
) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    rates = await family.adapter.fetch_rates(REQUEST)
    assert isinstance(rates, PartnerRates)
    assert (rates.partner_id, rates.base) == (f"{family.name}-sbx", "THB")
    assert dict(rates.rates) == await feed_mid_rates(family, REQUEST)
    assert rates.rates["CNY"] == Decimal("0.1860417464")  # 6.8095 / 36.602, 10 digits half-up
    assert rates.rates["EUR"] == Decimal("0.02732091143")
    assert before <= rates.published_at <= datetime.now(UTC)
    assert rates.expires_at == rates.published_at + timedelta(minutes=10)
    assert rates.raw


async def test_a_currency_the_partner_does_not_quote_is_refused(family: SandboxFamily) -> None:
    with pytest.raises(RatesUnavailable, match=REFUSALS[family.name]):
        await family.adapter.fetch_rates(RatesRequest("THB", ("CNY", "VND")))
    with pytest.raises(RatesUnavailable, match=REFUSALS[family.name]):
        await family.adapter.fetch_rates(RatesRequest("VND", ("CNY",)))


async def test_a_wrongly_signed_answer_is_refused_until_switched_back(
    family: SandboxFamily,
) -> None:
    await switch(family, mode="bad_signature")
    for _ in range(2):  # the mode stays
        with pytest.raises(RatesUnavailable, match="signature does not verify"):
            await family.adapter.fetch_rates(REQUEST)
    # the ECB feed itself is unsigned and served as usual
    assert (await family.http.get(family.url + FEED_PATH)).status_code == 200
    await switch(family, mode="normal")
    assert (await family.adapter.fetch_rates(REQUEST)).rates["CNY"] == Decimal("0.1860417464")


async def test_a_jump_moves_the_jumped_currency_only(family: SandboxFamily) -> None:
    normal = await family.adapter.fetch_rates(REQUEST)
    await switch(family, mode="jump", currency="CNY")
    jumped = await family.adapter.fetch_rates(REQUEST)
    assert dict(jumped.rates) == await feed_mid_rates(family, REQUEST)
    assert jumped.rates["CNY"] == Decimal("0.232552866")  # 8.5119 / 36.602
    assert jumped.rates["CNY"] / normal.rates["CNY"] > Decimal("1.24")
    assert (jumped.rates["KRW"], jumped.rates["EUR"]) == (normal.rates["KRW"], normal.rates["EUR"])
    await switch(family, mode="jump", currency="THB")  # the base moves: every rate falls
    base_jumped = await family.adapter.fetch_rates(REQUEST)
    assert all(base_jumped.rates[c] < normal.rates[c] for c in REQUEST.quotes)


@pytest.mark.parametrize(
    ("mode", "why"),
    [("error", None), ("garbage", "not JSON|unparseable")],
)
async def test_a_broken_partner_is_unavailable(
    family: SandboxFamily, mode: str, why: str | None
) -> None:
    await switch(family, mode=mode)
    with pytest.raises(RatesUnavailable, match=why or SERVER_ERRORS[family.name]):
        await family.adapter.fetch_rates(REQUEST)


async def test_stale_rates_come_back_as_published_for_the_gateway_to_judge(
    family: SandboxFamily,
) -> None:
    await switch(family, mode="stale")
    rates = await family.adapter.fetch_rates(REQUEST)
    assert rates.expires_at is not None and rates.expires_at < datetime.now(UTC) - timedelta(days=7)
    assert rates.expires_at - rates.published_at == timedelta(minutes=10)


async def test_a_slow_partner_is_cut_off_by_the_fx_rates_timeout(family: SandboxFamily) -> None:
    await switch(family, mode="slow", slow_seconds=3)
    impatient = _with_fx_timeout(family, 0.2)
    with pytest.raises(RatesUnavailable, match=r"fx_rates: (Timeout|ReadTimeout)"):
        await impatient.fetch_rates(REQUEST)


def _with_fx_timeout(family: SandboxFamily, seconds: float) -> Adapter:
    return PROTOCOLS[family.name].build(
        partner_id="impatient",
        base_url=family.url,
        credentials=family.credentials,
        http=family.http,
        timeouts={**TIMEOUTS, Operation.FX_RATES: seconds},
        clock=family.clock,
    )


async def test_a_request_with_a_wrong_signature_is_refused(family: SandboxFamily) -> None:
    if family.name == "alipayplus":
        wrong = {**family.credentials, "private_key": alipayplus.generate_keypair()[0]}
        why = "INVALID_SIGNATURE"
    else:
        wrong = {**family.credentials, "signing_secret": "w" * 40}
        why = "signature does not verify"  # the sandbox's 401 is signed with the real secret
    impostor = PROTOCOLS[family.name].build(
        partner_id="impostor",
        base_url=family.url,
        credentials=wrong,
        http=family.http,
        timeouts=TIMEOUTS,
        clock=family.clock,
    )
    with pytest.raises(RatesUnavailable, match=why):
        await impostor.fetch_rates(REQUEST)


# --- each protocol's own wording ----------------------------------------------------------------


async def _alipayplus_post(family: SandboxFamily, body: bytes) -> dict[str, Any]:
    path = "/ams/sandbox/api/v1/payments/inquireExchangeRate"
    client_id = family.credentials["client_id"]
    when = datetime.now(UTC).isoformat(timespec="seconds")
    key = load_private_key(family.credentials["private_key"])
    signature = SignatureHeader(sign(key, build_content("POST", path, client_id, when, body)))
    answer = await family.http.post(
        family.url + path,
        content=body,
        headers={
            "client-id": client_id,
            "Request-Time": when,
            "Signature": signature.render(),
            "Content-Type": "application/json; charset=UTF-8",
        },
    )
    assert answer.status_code == 200 and answer.headers["signature"]
    return {"raw": answer.content, "json": json.loads(answer.content)}


@pytest.mark.parametrize("protocol_family", ["alipayplus"])
async def test_alipayplus_prices_are_json_numbers_and_bad_pairs_illegal(
    family: SandboxFamily,
) -> None:
    pairs = {"currencyPairs": [{"sellCurrency": "THB", "buyCurrency": "CNY"}]}
    answer = await _alipayplus_post(family, json.dumps(pairs).encode())
    assert b'"quotePrice":0.1860417464,' in answer["raw"]
    (quote,) = answer["json"]["quotes"]
    assert quote["quoteCurrencyPair"] == "THB/CNY" and quote["guaranteed"] is False
    single = await _alipayplus_post(family, b'{"sellCurrency":"THB","buyCurrency":"KRW"}')
    assert [q["quoteCurrencyPair"] for q in single["json"]["quotes"]] == ["THB/KRW"]
    for bad in [
        {},
        {"currencyPairs": []},
        {"currencyPairs": [{"sellCurrency": "THB", "buyCurrency": "THB"}]},
        {"currencyPairs": [{"sellCurrency": "thb", "buyCurrency": "CNY"}]},
        {"currencyPairs": [{"sellCurrency": "THB", "buyCurrency": "CNY"}] * 2},
        {"currencyPairs": [{"sellCurrency": "THB"}]},
    ]:
        refused = await _alipayplus_post(family, json.dumps(bad).encode())
        assert refused["json"]["result"]["resultCode"] == "PARAM_ILLEGAL", bad
        assert "quotes" not in refused["json"]


@pytest.mark.parametrize("protocol_family", ["walletrest"])
async def test_walletrest_rates_are_strings_and_bad_queries_invalid(
    family: SandboxFamily,
) -> None:
    async def get(query: str) -> Any:
        path = "/v1/fx/rates" + (f"?{query}" if query else "")
        when = timestamp_of(datetime.now(UTC))
        secret = family.credentials["signing_secret"]
        return await family.http.get(
            family.url + path,
            headers={
                "Authorization": f"Bearer {family.credentials['api_key']}",
                "X-Timestamp": when,
                "X-Signature": hmac_sign(secret, request_content(when, "GET", path, b"")),
            },
        )

    good = await get("base=THB&quotes=CNY")
    assert good.status_code == 200 and good.json()["rates"] == {"CNY": "0.1860417464"}
    for query in [
        "",
        "base=THB",
        "quotes=CNY",
        "base=THB&quotes=THB",
        "base=THB&quotes=CNY,CNY",
        "base=thb&quotes=CNY",
        "base=THB&quotes=CNY,",
    ]:
        refused = await get(query)
        assert refused.status_code == 400, query
        assert refused.json()["error"]["code"] == "parameter_invalid"


async def test_without_switches_the_rates_cannot_be_made_wrong(protocol_family: str) -> None:
    async with running_family(
        protocol_family, clock=SystemClock(), timeouts=TIMEOUTS, allow_settlement_tamper=False
    ) as family:
        for mode in ("bad_signature", "jump", "error"):
            refused = await family.http.post(f"{family.url}/_sandbox/fx_feed", json={"mode": mode})
            assert refused.status_code == 403
        assert (await family.adapter.fetch_rates(REQUEST)).rates["CNY"] == Decimal("0.1860417464")
