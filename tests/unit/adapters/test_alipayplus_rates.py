"""Alipay+ `inquireExchangeRate`: the pure transforms, and the client over respx.

respx's default mocker patches httpx's own transports, not the aiohttp one, so the adapter gets a
client over `httpx.MockTransport(router.async_handler)`, as in `test_alipayplus_client`.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from adapters import Operation, PartnerRates, RatesRequest, RatesUnavailable, SystemClock
from adapters.alipayplus import AlipayPlusAdapter, build_adapter, generate_keypair
from adapters.alipayplus import models as wire
from adapters.alipayplus.signing import (
    SignatureHeader,
    build_content,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from adapters.alipayplus.transforms import exchange_rate_body, partner_rates, read_json

REQUEST = RatesRequest("THB", ("CNY", "KRW"))
START = "2026-12-05T10:00:00+08:00"
EXPIRY = "2026-12-05T10:10:00+08:00"


def quote(pair: str = "THB/CNY", price: Any = 0.1832, **fields: Any) -> dict[str, Any]:
    return {
        "quoteId": f"Q-{pair}",
        "quoteCurrencyPair": pair,
        "quotePrice": price,
        "quoteStartTime": START,
        "quoteExpiryTime": EXPIRY,
        "guaranteed": False,
    } | fields


SUCCESS = {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"}


def body(*quotes: dict[str, Any], result: Any = SUCCESS, text: str | None = None) -> bytes:
    """An answer's bytes; `quotePrice` Decimals are written as JSON numbers from their text."""
    payload: dict[str, Any] = {"result": result, "quotes": list(quotes)}
    raw = json.dumps(payload, default=str)
    for entry in quotes:  # json.dumps quotes what `default` returns: unquote the Decimals
        if isinstance(entry.get("quotePrice"), Decimal):
            raw = raw.replace(f'"{entry["quotePrice"]}"', str(entry["quotePrice"]), 1)
    return (text if text is not None else raw).encode()


def both() -> bytes:
    return body(quote("THB/CNY", Decimal("0.1832")), quote("THB/KRW", Decimal("36.10758975")))


def parse(raw: bytes, request: RatesRequest = REQUEST) -> PartnerRates:
    return partner_rates(raw, partner_id="antom", request=request)


# --- the request -------------------------------------------------------------------------------


def test_the_body_is_one_pair_per_quote_selling_the_base() -> None:
    assert wire.encode(exchange_rate_body(REQUEST)) == (
        b'{"currencyPairs":[{"sellCurrency":"THB","buyCurrency":"CNY"},'
        b'{"sellCurrency":"THB","buyCurrency":"KRW"}],"productCode":"IN_STORE_PAYMENT"}'
    )


# --- the answer --------------------------------------------------------------------------------


def test_a_complete_answer_is_read_from_its_number_text() -> None:
    raw = both()
    assert b'"quotePrice": 0.1832' in raw and b'"quotePrice": 36.10758975' in raw
    rates = parse(raw)
    assert rates == PartnerRates(
        partner_id="antom",
        base="THB",
        rates={"CNY": Decimal("0.1832"), "KRW": Decimal("36.10758975")},
        published_at=datetime(2026, 12, 5, 2, 0, tzinfo=UTC),
        expires_at=datetime(2026, 12, 5, 2, 10, tzinfo=UTC),
        raw=raw,
    )
    assert list(rates.rates) == ["CNY", "KRW"]
    assert all(type(rate) is Decimal for rate in rates.rates.values())


def test_a_number_whose_float_would_differ_keeps_its_digits() -> None:
    # As a float, 0.18604174645 is 0.1860417464499999...: half-up would then give ...464.
    raw = body(quote("THB/CNY", Decimal("0.18604174645")), quote("THB/KRW", 36))
    rates = parse(raw)
    assert rates.rates == {"CNY": Decimal("0.1860417465"), "KRW": Decimal(36)}


def test_string_prices_are_read_like_numbers() -> None:
    raw = body(quote("THB/CNY", "0.1832"), quote("THB/KRW", "36.107589754"))
    assert parse(raw).rates == {"CNY": Decimal("0.1832"), "KRW": Decimal("36.10758975")}


def test_the_set_is_as_fresh_as_its_oldest_quote() -> None:
    raw = body(
        quote("THB/KRW", "36.1", quoteStartTime="2026-12-05T01:59:00Z"),
        quote("THB/CNY", "0.18", quoteExpiryTime="2026-12-05T02:05:00+00:00"),
    )
    rates = parse(raw)
    assert rates.published_at == datetime(2026, 12, 5, 1, 59, tzinfo=UTC)
    assert rates.expires_at == datetime(2026, 12, 5, 2, 5, tzinfo=UTC)
    no_expiry = body(quote("THB/CNY", "0.18", quoteExpiryTime=None))
    assert parse(no_expiry, RatesRequest("THB", ("CNY",))).expires_at is None


def test_numbers_are_read_as_text() -> None:
    assert read_json(b'{"a": 0.1, "b": 2, "c": NaN, "d": -Infinity, "e": 1e5}') == {
        "a": "0.1",
        "b": "2",
        "c": "NaN",
        "d": "-Infinity",
        "e": "1e5",
    }


@pytest.mark.parametrize(
    ("result", "code"),
    [
        ({"resultStatus": "F", "resultCode": "PARAM_ILLEGAL"}, "F PARAM_ILLEGAL"),
        ({"resultStatus": "F", "resultCode": "CURRENCY_NOT_SUPPORT"}, "F CURRENCY_NOT_SUPPORT"),
        ({"resultStatus": "F", "resultCode": "PROCESS_FAIL"}, "F PROCESS_FAIL"),
        ({"resultStatus": "U", "resultCode": "UNKNOWN_EXCEPTION"}, "U UNKNOWN_EXCEPTION"),
        ({"resultStatus": "F", "resultCode": "ACCESS_DENIED"}, "F ACCESS_DENIED"),
        ({"resultStatus": "S", "resultCode": "ALMOST"}, "S ALMOST"),
        ({"resultStatus": "F", "resultCode": "SUCCESS"}, "F SUCCESS"),
        ({"resultCode": "SUCCESS"}, "- SUCCESS"),
        ({"resultStatus": "S"}, "S -"),
        (None, "has no result"),
    ],
)
def test_anything_but_s_success_is_unavailable_with_its_code(result: Any, code: str) -> None:
    raw = body(quote("THB/CNY", "0.1832"), quote("THB/KRW", "36.1"), result=result)
    with pytest.raises(RatesUnavailable, match=code) as info:
        parse(raw)
    assert info.value.http_status == 200
    assert info.value.message.startswith("fx_rates of antom: ")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"<html>oops", "not JSON"),
        (b"", "not JSON"),
        (b'{"result": ', "not JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON|unparseable"),
        (b"[]", "unparseable"),
        (b'{"result": "S", "quotes": []}', "unparseable"),
        (json.dumps({"result": SUCCESS, "quotes": {"a": 1}}).encode(), "unparseable"),
        (json.dumps({"result": SUCCESS, "quotes": [quote(price=True)]}).encode(), "unparseable"),
        (json.dumps({"result": SUCCESS, "quotes": [quote(price={})]}).encode(), "unparseable"),
        (json.dumps({"result": SUCCESS}).encode(), "no quote for THB/CNY, THB/KRW"),
        (json.dumps({"result": SUCCESS, "quotes": None}).encode(), "no quote for THB/CNY"),
    ],
)
def test_a_malformed_body_is_unavailable(raw: bytes, why: str) -> None:
    with pytest.raises(RatesUnavailable, match=why):
        parse(raw)


@pytest.mark.parametrize(
    ("quotes", "why"),
    [
        ([quote("THB/CNY", "0.18")], "no quote for THB/KRW"),
        ([quote("THB/CNY", "0.18"), quote("THB/CNY", "0.18"), quote("THB/KRW", "36")], "twice"),
        ([quote("CNY/THB", "5.4"), quote("THB/KRW", "36")], "not asked for"),
        ([quote("THB/CNY", "0.18"), quote("THB/KRW", "36"), quote("THB/JPY", "3")], "not asked"),
        ([quote("THBCNY", "0.18"), quote("THB/KRW", "36")], "quoteCurrencyPair"),
        ([quote("thb/cny", "0.18"), quote("THB/KRW", "36")], "quoteCurrencyPair"),
        ([quote(None, "0.18"), quote("THB/KRW", "36")], "quoteCurrencyPair"),
        ([quote(price=None), quote("THB/KRW", "36")], "quotePrice of THB/CNY"),
        ([quote(quoteStartTime=None), quote("THB/KRW", "36")], "quoteStartTime of THB/CNY"),
        (
            [quote(quoteStartTime="2026-12-05T10:00:00"), quote("THB/KRW", "36")],
            "quoteStartTime of THB/CNY",
        ),
        ([quote(quoteExpiryTime="soon"), quote("THB/KRW", "36")], "quoteExpiryTime of THB/CNY"),
        (
            [quote(quoteExpiryTime="2026-12-05T09:59:59+08:00"), quote("THB/KRW", "36")],
            "before its quoteStartTime",
        ),
    ],
)
def test_a_missing_or_unasked_quote_or_bad_field_is_unavailable(
    quotes: list[dict[str, Any]], why: str
) -> None:
    with pytest.raises(RatesUnavailable, match=why):
        parse(body(*quotes))


@pytest.mark.parametrize(
    "price",
    [
        "0",
        "0.0",
        "-0.1832",
        "1E-3",
        "1e3",
        "NaN",
        "Infinity",
        "-Infinity",
        "",
        " 0.1832",
        "0x1",
        "1" * 65,
    ],
)
def test_a_price_string_that_is_no_positive_plain_decimal_is_unavailable(price: str) -> None:
    with pytest.raises(RatesUnavailable, match="quotePrice of THB/CNY"):
        parse(body(quote("THB/CNY", price), quote("THB/KRW", "36")))


@pytest.mark.parametrize(
    "number",
    ["0", "0.0", "-0.1832", "-1", "1E-3", "1.5e3", "NaN", "Infinity", "-Infinity"],
)
def test_a_price_number_that_is_no_positive_plain_decimal_is_unavailable(number: str) -> None:
    raw = body(quote("THB/CNY", "@"), quote("THB/KRW", "36"))
    raw = raw.replace(b'"@"', number.encode())
    assert json.loads(raw)  # valid JSON to Python's reader (NaN and Infinity included)
    with pytest.raises(RatesUnavailable, match="quotePrice of THB/CNY"):
        parse(raw)


# --- the client over respx ---------------------------------------------------------------------

BASE_URL = "https://partner.test"
CLIENT_ID = "SANDBOX_GATEWAY"
PATH = "/ams/sandbox/api/v1/payments/inquireExchangeRate"
RESPONSE_TIME = "2026-12-05T10:00:01+08:00"


@functools.cache
def keys() -> dict[str, str]:
    merchant_private, merchant_public = generate_keypair()
    partner_private, partner_public = generate_keypair()
    return {
        "merchant_private": merchant_private,
        "merchant_public": merchant_public,
        "partner_private": partner_private,
        "partner_public": partner_public,
    }


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return datetime(2026, 12, 5, 2, 0, 0, tzinfo=UTC)


def signed(
    request: httpx.Request, raw: bytes, *, signing_key: str | None = None, status: int = 200
) -> httpx.Response:
    content = build_content("POST", request.url.path, CLIENT_ID, RESPONSE_TIME, raw)
    key = load_private_key(signing_key or keys()["partner_private"])
    header = SignatureHeader(signature=sign(key, content))
    return httpx.Response(
        status,
        content=raw,
        headers={
            "client-id": CLIENT_ID,
            "response-time": RESPONSE_TIME,
            "signature": header.render(),
            "content-type": "application/json; charset=UTF-8",
        },
    )


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def http(router: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        yield client


def make_adapter(http: httpx.AsyncClient, **timeouts: float) -> AlipayPlusAdapter:
    return build_adapter(
        partner_id="antom-sbx",
        base_url=BASE_URL,
        credentials={
            "client_id": CLIENT_ID,
            "private_key": keys()["merchant_private"],
            "partner_public_key": keys()["partner_public"],
        },
        http=http,
        timeouts={op: 2.0 for op in Operation} | {Operation(k): v for k, v in timeouts.items()},
        clock=FixedClock(),
    )


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> AlipayPlusAdapter:
    return make_adapter(http)


async def test_the_request_is_signed_like_pay_and_the_answer_verified(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    raw = both()
    route = router.post(PATH).mock(side_effect=lambda r: signed(r, raw))
    rates = await adapter.fetch_rates(REQUEST)
    assert (rates.partner_id, rates.raw) == ("antom-sbx", raw)
    assert rates.rates == {"CNY": Decimal("0.1832"), "KRW": Decimal("36.10758975")}

    request = route.calls.last.request
    assert request.content == wire.encode(exchange_rate_body(REQUEST))
    assert request.headers["client-id"] == CLIENT_ID
    assert request.headers["Request-Time"] == "2026-12-05T02:00:00+00:00"
    assert request.headers["Content-Type"] == "application/json; charset=UTF-8"
    parsed = SignatureHeader.parse(request.headers["Signature"])
    content = build_content(
        "POST", PATH, CLIENT_ID, request.headers["Request-Time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, parsed.signature)


def _unsigned(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=both(), headers={"content-type": "application/json"})


def _wrong_key(request: httpx.Request) -> httpx.Response:
    return signed(request, both(), signing_key=keys()["merchant_private"])


def _tampered(request: httpx.Request) -> httpx.Response:
    response = signed(request, both())
    return httpx.Response(
        200, content=response.content.replace(b"0.1832", b"0.1833"), headers=response.headers
    )


def _refusal(request: httpx.Request) -> httpx.Response:
    result = {"resultStatus": "F", "resultCode": "CURRENCY_NOT_SUPPORT", "resultMessage": "no"}
    return signed(request, json.dumps({"result": result}).encode())


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="Internal Server Error")


def _signed_server_error(request: httpx.Request) -> httpx.Response:
    return signed(request, both(), status=502)


def _reset(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset")


def _refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    ("answer", "why", "status"),
    [
        (_unsigned, "unsigned", 200),
        (_wrong_key, "does not verify", 200),
        (_tampered, "does not verify", 200),
        (_refusal, "F CURRENCY_NOT_SUPPORT: no", 200),
        (_server_error, "HTTP 500", 500),
        (_signed_server_error, "HTTP 502", 502),
        (_reset, "ReadError", None),
        (_refused, "ConnectError", None),
    ],
)
async def test_what_cannot_be_trusted_raises(
    router: respx.Router, adapter: AlipayPlusAdapter, answer: Any, why: str, status: int | None
) -> None:
    router.post(PATH).mock(side_effect=answer)
    with pytest.raises(RatesUnavailable, match=why) as info:
        await adapter.fetch_rates(REQUEST)
    assert info.value.http_status == status


async def test_the_call_is_bounded_by_the_fx_rates_timeout(
    router: respx.Router, http: httpx.AsyncClient
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return signed(request, both())

    router.post(PATH).mock(side_effect=slow)
    adapter = make_adapter(http, fx_rates=0.05)
    started = asyncio.get_running_loop().time()
    with pytest.raises(RatesUnavailable, match="fx_rates: TimeoutError"):
        await adapter.fetch_rates(REQUEST)
    assert asyncio.get_running_loop().time() - started < 2
