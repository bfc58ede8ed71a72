"""WalletRest `GET /v1/fx/rates`: the pure transforms, and the client over respx (the adapter's
client runs over `httpx.MockTransport(router.async_handler)`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from adapters import Operation, PartnerRates, RatesRequest, RatesUnavailable, SystemClock
from adapters.walletrest import WalletRestAdapter, build_adapter
from adapters.walletrest.signing import request_content, response_content, sign, verify
from adapters.walletrest.transforms import partner_rates, rates_path

REQUEST = RatesRequest("THB", ("CNY", "KRW"))
PUBLISHED = "2026-12-05T02:00:00+00:00"
EXPIRES = "2026-12-05T02:10:00+00:00"


def answer_body(**overrides: Any) -> dict[str, Any]:
    return {
        "base": "THB",
        "rates": {"CNY": "0.1832", "KRW": "36.10758975"},
        "published_at": PUBLISHED,
        "expires_at": EXPIRES,
    } | overrides


def raw(**overrides: Any) -> bytes:
    return json.dumps(answer_body(**overrides)).encode()


def parse(body: bytes, status: int = 200) -> PartnerRates:
    return partner_rates(status, body, partner_id="krungpay", request=REQUEST)


# --- the request -------------------------------------------------------------------------------


def test_the_path_names_the_base_and_the_quotes_in_order() -> None:
    assert rates_path(REQUEST) == "/v1/fx/rates?base=THB&quotes=CNY,KRW"
    assert rates_path(RatesRequest("EUR", ("JPY",))) == "/v1/fx/rates?base=EUR&quotes=JPY"


# --- the answer --------------------------------------------------------------------------------


def test_a_complete_answer() -> None:
    body = raw()
    assert parse(body) == PartnerRates(
        partner_id="krungpay",
        base="THB",
        rates={"CNY": Decimal("0.1832"), "KRW": Decimal("36.10758975")},
        published_at=datetime(2026, 12, 5, 2, 0, tzinfo=UTC),
        expires_at=datetime(2026, 12, 5, 2, 10, tzinfo=UTC),
        raw=body,
    )


def test_rates_are_rounded_and_extras_left_out() -> None:
    body = raw(rates={"KRW": "36.107589754", "CNY": "0.18604174645", "JPY": "3.77"})
    rates = parse(body)
    assert rates.rates == {"CNY": Decimal("0.1860417465"), "KRW": Decimal("36.10758975")}
    assert list(rates.rates) == ["CNY", "KRW"]
    assert parse(raw(expires_at=None)).expires_at is None
    assert parse(raw(expires_at=None)).published_at == datetime(2026, 12, 5, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("status", "body", "why"),
    [
        (
            400,
            {
                "error": {
                    "type": "invalid_request",
                    "code": "currency_not_supported",
                    "message": "x",
                }
            },
            "HTTP 400, invalid_request currency_not_supported: x",
        ),
        (401, {"error": {"type": "authentication_error"}}, "HTTP 401, authentication_error"),
        (500, {"error": {"type": "api_error"}}, "HTTP 500, api_error"),
        (503, b"<html>down", "HTTP 503, unparseable"),
        (201, answer_body(), "HTTP 201"),
    ],
)
def test_any_other_status_is_unavailable_with_its_error(status: int, body: Any, why: str) -> None:
    encoded = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(RatesUnavailable, match=why) as info:
        parse(encoded, status)
    assert info.value.http_status == status


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>oops", "unparseable"),
        (b"", "unparseable"),
        (b"[]", "unparseable"),
        (raw(rates={"CNY": 0.1832, "KRW": "36.1"}), "unparseable .*rates.CNY"),
        (raw(rates={"CNY": 1, "KRW": "36.1"}), "unparseable"),
        (raw(rates=["CNY", "0.18"]), "unparseable"),
        (raw(rates=None), "unparseable"),
        (raw(published_at=None), "unparseable"),
        (
            json.dumps({"rates": {"CNY": "0.1", "KRW": "1"}, "published_at": PUBLISHED}).encode(),
            "unparseable",
        ),
        (raw(base="USD"), "another base"),
        (raw(rates={"CNY": "0.1832"}), "no rate for KRW"),
        (raw(rates={}), "no rate for CNY, KRW"),
        (raw(published_at="2026-12-05T02:00:00"), "published_at"),
        (raw(published_at="yesterday"), "published_at"),
        (raw(expires_at="later"), "expires_at is not"),
        (raw(expires_at="2026-12-05T01:59:59+00:00"), "expires_at is before"),
    ],
)
def test_a_malformed_or_partial_answer_is_unavailable(body: bytes, why: str) -> None:
    with pytest.raises(RatesUnavailable, match=why) as info:
        parse(body)
    assert info.value.http_status == 200
    assert info.value.message.startswith("fx_rates of krungpay: ")


@pytest.mark.parametrize(
    "rate",
    [
        "0",
        "0.00",
        "-0.1832",
        "+0.1832",
        "1E-3",
        "1e3",
        "NaN",
        "Infinity",
        "-Infinity",
        "",
        "0x1",
        " 1",
        "1" * 65,
    ],
)
def test_a_rate_that_is_no_positive_plain_decimal_is_unavailable(rate: str) -> None:
    with pytest.raises(RatesUnavailable, match="the CNY rate"):
        parse(raw(rates={"CNY": rate, "KRW": "36.1"}))


def test_json_nan_and_infinity_are_refused_too() -> None:
    for constant in (b"NaN", b"Infinity", b"-Infinity", b"1e-3"):
        body = raw(rates={"CNY": "@", "KRW": "36.1"}).replace(b'"@"', constant)
        with pytest.raises(RatesUnavailable, match="unparseable"):
            parse(body)


# --- the client over respx ---------------------------------------------------------------------

BASE_URL = "https://wallet.test"
API_KEY = "sk_test_0123456789abcdef"
SECRET = "whsec_" + "s" * 40
NOW = datetime(2026, 12, 5, 2, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def signed(
    status: int, body: bytes, *, secret: str = SECRET, timestamp: str = TS
) -> httpx.Response:
    headers = {
        "content-type": "application/json",
        "x-timestamp": timestamp,
        "x-signature": sign(secret, response_content(timestamp, status, body)),
    }
    return httpx.Response(status, content=body, headers=headers)


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def http(router: respx.Router) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as client:
        yield client


def make_adapter(http: httpx.AsyncClient, **timeouts: float) -> WalletRestAdapter:
    return build_adapter(
        partner_id="krungpay-sbx",
        base_url=BASE_URL,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts={op: 2.0 for op in Operation} | {Operation(k): v for k, v in timeouts.items()},
        clock=FixedClock(),
    )


@pytest.fixture
def adapter(http: httpx.AsyncClient) -> WalletRestAdapter:
    return make_adapter(http)


async def test_a_signed_get_and_a_verified_answer(
    router: respx.Router, adapter: WalletRestAdapter
) -> None:
    body = raw()
    route = router.get("/v1/fx/rates").mock(return_value=signed(200, body))
    rates = await adapter.fetch_rates(REQUEST)
    assert (rates.partner_id, rates.raw) == ("krungpay-sbx", body)
    assert rates.rates == {"CNY": Decimal("0.1832"), "KRW": Decimal("36.10758975")}

    request = route.calls.last.request
    assert request.method == "GET" and request.content == b""
    assert request.url.raw_path == b"/v1/fx/rates?base=THB&quotes=CNY,KRW"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Idempotency-Key" not in request.headers
    content = request_content(TS, "GET", "/v1/fx/rates?base=THB&quotes=CNY,KRW", b"")
    assert request.headers["X-Timestamp"] == TS
    assert verify(SECRET, content, request.headers["X-Signature"])


@pytest.mark.parametrize(
    ("answer", "why", "status"),
    [
        (httpx.Response(200, content=raw()), "HTTP 200, unsigned", 200),
        (signed(200, raw(), secret="x" * 40), "does not verify", 200),
        (signed(200, raw(), timestamp=str(int(NOW.timestamp()) - 3600)), "tolerance", 200),
        (
            signed(400, b'{"error":{"type":"invalid_request","code":"currency_not_supported"}}'),
            "currency_not_supported",
            400,
        ),
        (httpx.Response(500, text="oops"), "HTTP 500, unsigned", 500),
        (signed(500, b'{"error":{"type":"api_error"}}'), "HTTP 500, api_error", 500),
        (signed(200, b"<html>oops"), "unparseable", 200),
        (httpx.ReadError("connection reset"), "ReadError", None),
        (httpx.ConnectError("connection refused"), "ConnectError", None),
    ],
)
async def test_what_cannot_be_trusted_raises(
    router: respx.Router, adapter: WalletRestAdapter, answer: Any, why: str, status: int | None
) -> None:
    if isinstance(answer, Exception):
        router.get("/v1/fx/rates").mock(side_effect=answer)
    else:
        router.get("/v1/fx/rates").mock(return_value=answer)
    with pytest.raises(RatesUnavailable, match=why) as info:
        await adapter.fetch_rates(REQUEST)
    assert info.value.http_status == status


async def test_a_tampered_answer_is_refused(
    router: respx.Router, adapter: WalletRestAdapter
) -> None:
    good = signed(200, raw())
    tampered = httpx.Response(
        200, content=raw().replace(b"0.1832", b"0.1833"), headers=good.headers
    )
    router.get("/v1/fx/rates").mock(return_value=tampered)
    with pytest.raises(RatesUnavailable, match="does not verify"):
        await adapter.fetch_rates(REQUEST)


async def test_the_call_is_bounded_by_the_fx_rates_timeout(
    router: respx.Router, http: httpx.AsyncClient
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return signed(200, raw())

    router.get("/v1/fx/rates").mock(side_effect=slow)
    adapter = make_adapter(http, fx_rates=0.05)
    started = asyncio.get_running_loop().time()
    with pytest.raises(RatesUnavailable, match="fx_rates: TimeoutError"):
        await adapter.fetch_rates(REQUEST)
    assert asyncio.get_running_loop().time() - started < 2
