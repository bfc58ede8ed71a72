"""The WalletRest settlement report: the pure parser, and the client's wire format over respx.

respx's default mocker patches httpx's own transports, not the aiohttp one, so the adapter gets a
client over `httpx.MockTransport(router.async_handler)`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from adapters import (
    Operation,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    SystemClock,
)
from adapters.walletrest import WalletRestAdapter, build_adapter
from adapters.walletrest.signing import request_content, response_content, sign, verify
from adapters.walletrest.transforms import settlement_file, settlement_report_path
from fx import Money

DAY = date(2026, 11, 26)
REQUEST = SettlementFileRequest(DAY)
PAYMENT = {
    "object": "settlement_entry",
    "type": "payment",
    "id": "wr_pay_1",
    "request_id": "att_1",
    "payment": "att_1",
    "payment_id": "wr_pay_1",
    "amount": {"currency": "CNY", "value": "250.12"},
    "fee": {"currency": "CNY", "value": "3.30"},
    "net": {"currency": "CNY", "value": "246.82"},
    "merchant_amount": {"currency": "THB", "value": "1250.50"},
    "exchange_rate": "0.2000159936",
    "completed_at": "2026-11-26T15:30:01+00:00",
}
REFUND = {
    "object": "settlement_entry",
    "type": "refund",
    "id": "wr_rf_1",
    "request_id": "rfa_1",
    "payment": "att_1",
    "payment_id": "wr_pay_1",
    "amount": {"currency": "CNY", "value": "100.00"},
    "fee": {"currency": "CNY", "value": "1.20"},
    "net": {"currency": "CNY", "value": "-98.80"},
    "merchant_amount": {"currency": "THB", "value": "500.00"},
    "exchange_rate": "0.2",
    "completed_at": "2026-11-26T15:31:00Z",
}
REPORT: dict[str, Any] = {
    "object": "settlement_report",
    "date": "2026-11-26",
    "currency": None,
    "timezone": "Asia/Bangkok",
    "cutoff": "23:00",
    "entries": [PAYMENT, REFUND],
    "totals": [
        {
            "currency": "CNY",
            "payments": 1,
            "refunds": 1,
            "net": {"currency": "CNY", "value": "148.02"},
        }
    ],
}


def report(**changes: Any) -> dict[str, Any]:
    made = copy.deepcopy(REPORT)
    made.update(changes)
    return made


def entry(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(base), **changes}


def parse(
    body: Any, request: SettlementFileRequest = REQUEST, status: int = 200
) -> tuple[SettlementLine, ...]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return settlement_file(status, raw, partner_id="wr", request=request).lines


# --- the parser ----------------------------------------------------------------------------------


def test_a_payment_and_its_refund() -> None:
    payment, refund = parse(REPORT)
    assert payment == SettlementLine(
        record_type="payment",
        partner_request_id="att_1",
        partner_reference="wr_pay_1",
        payment_partner_request_id="att_1",
        amount=Money.of(25012, "CNY"),
        fee=Money.of(330, "CNY"),
        merchant_amount=Money.of(125050, "THB"),
        fx_rate=Decimal("0.2000159936"),
        completed_at=datetime(2026, 11, 26, 15, 30, 1, tzinfo=UTC),
    )
    assert refund == SettlementLine(
        record_type="refund",
        partner_request_id="rfa_1",
        partner_reference="wr_rf_1",
        payment_partner_request_id="att_1",
        amount=Money.of(10000, "CNY"),
        fee=Money.of(120, "CNY"),
        merchant_amount=Money.of(50000, "THB"),
        fx_rate=Decimal("0.2"),
        completed_at=datetime(2026, 11, 26, 15, 31, tzinfo=UTC),
    )


def test_an_empty_report_and_unknown_fields() -> None:
    assert parse(report(entries=[], totals=[], generated_at="x")) == ()
    [line] = parse(
        report(
            entries=[entry(PAYMENT, merchant_amount=None, exchange_rate=None, extra=1)],
            totals=[{"currency": "CNY", "payments": 1, "refunds": 0, "net": PAYMENT["net"]}],
        )
    )
    assert line.merchant_amount is None and line.fx_rate is None


def test_a_currency_filter_is_checked() -> None:
    assert parse(report(currency="CNY"), SettlementFileRequest(DAY, "CNY"))
    with pytest.raises(SettlementFileUnavailable, match="another currency"):
        parse(REPORT, SettlementFileRequest(DAY, "CNY"))
    with pytest.raises(SettlementFileUnavailable, match="currency asked for"):
        parse(report(currency="KRW"), SettlementFileRequest(DAY, "KRW"))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not json", "unparseable"),
        (report(date="2026-11-27"), "another date"),
        (report(entries=[entry(PAYMENT, type="capture"), REFUND]), r"entries\[0\]: type"),
        (
            report(entries=[entry(PAYMENT, amount={"currency": "CNY", "value": "250.1"}), REFUND]),
            "amount",
        ),
        (report(entries=[entry(PAYMENT, fee={"currency": "CNY", "value": "3.31"}), REFUND]), "net"),
        (
            report(entries=[PAYMENT, entry(REFUND, net={"currency": "CNY", "value": "98.80"})]),
            "net",
        ),
        (
            report(entries=[entry(PAYMENT, fee={"currency": "THB", "value": "3.30"}), REFUND]),
            "currency",
        ),
        (report(entries=[entry(PAYMENT, payment="att_2"), REFUND]), "payment"),
        (report(entries=[entry(PAYMENT, exchange_rate="abc"), REFUND]), "exchange_rate"),
        (report(entries=[entry(PAYMENT, exchange_rate="0"), REFUND]), "exchange_rate"),
        (report(entries=[entry(PAYMENT, completed_at="2026-11-26 15:30"), REFUND]), "completed_at"),
        (
            report(entries=[entry(PAYMENT, completed_at="2026-11-26T15:30:01"), REFUND]),
            "completed_at",
        ),
        (
            report(
                entries=[
                    entry(PAYMENT, merchant_amount={"currency": "THB", "value": "0.00"}),
                    REFUND,
                ]
            ),
            "merchant",
        ),
        (report(entries=[PAYMENT]), "totals"),  # a line lost: the totals no longer agree
        (report(totals=[]), "totals"),
        (
            report(
                totals=[
                    {
                        "currency": "CNY",
                        "payments": 2,
                        "refunds": 1,
                        "net": REPORT["totals"][0]["net"],
                    }
                ]
            ),
            "totals",
        ),
        (report(entries=[entry(PAYMENT, request_id=None), REFUND]), "unparseable"),
    ],
)
def test_a_report_that_does_not_hold_is_unreadable(body: Any, why: str) -> None:
    with pytest.raises(SettlementFileUnavailable, match=why) as info:
        parse(body)
    assert info.value.http_status == 200


@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_an_error_status_raises_with_the_error(status: int) -> None:
    body = {"error": {"type": "invalid_request", "code": "date_invalid", "message": "bad date"}}
    with pytest.raises(
        SettlementFileUnavailable, match=f"HTTP {status}, invalid_request date_invalid"
    ) as info:
        parse(body, status=status)
    assert info.value.http_status == status


def test_the_path() -> None:
    assert settlement_report_path(REQUEST) == "/v1/settlement_reports/2026-11-26"
    assert settlement_report_path(SettlementFileRequest(DAY, "CNY")) == (
        "/v1/settlement_reports/2026-11-26?currency=CNY"
    )


# --- the client over respx ---------------------------------------------------------------------

BASE_URL = "https://wallet.test/base"
API_KEY = "sk_test_0123456789abcdef"
SECRET = "whsec_" + "s" * 40
NOW = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)
TS = str(int(NOW.timestamp()))


class FixedClock(SystemClock):
    def now(self) -> datetime:
        return NOW


def answer(status: int, body: Any, *, secret: str = SECRET, timestamp: str = TS) -> httpx.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "content-type": "application/json",
        "x-timestamp": timestamp,
        "x-signature": sign(secret, response_content(timestamp, status, raw)),
    }
    return httpx.Response(status, content=raw, headers=headers)


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url="https://wallet.test", assert_all_called=False)


@pytest.fixture
async def adapter(router: respx.Router) -> AsyncIterator[WalletRestAdapter]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield build_adapter(
            partner_id="wr-sbx",
            base_url=BASE_URL,
            credentials={"api_key": API_KEY, "signing_secret": SECRET},
            http=http,
            timeouts={op: 2.0 for op in Operation},
            clock=FixedClock(),
        )


async def test_the_request_is_signed_and_the_report_verified(
    router: respx.Router, adapter: WalletRestAdapter
) -> None:
    body = report(currency="CNY")
    route = router.get("/base/v1/settlement_reports/2026-11-26", params={"currency": "CNY"}).mock(
        return_value=answer(200, body)
    )
    fetched = await adapter.fetch_settlement_file(SettlementFileRequest(DAY, "CNY"))
    assert [line.partner_request_id for line in fetched.lines] == ["att_1", "rfa_1"]
    assert (fetched.partner_id, fetched.business_date) == ("wr-sbx", DAY)
    assert json.loads(fetched.raw) == body

    request = route.calls.last.request
    assert request.method == "GET" and request.content == b""
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Idempotency-Key" not in request.headers
    assert request.headers["X-Timestamp"] == TS
    signed = request_content(TS, "GET", "/base/v1/settlement_reports/2026-11-26?currency=CNY", b"")
    assert verify(SECRET, signed, request.headers["X-Signature"])


def _unsigned(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=REPORT)


def _wrong_secret(request: httpx.Request) -> httpx.Response:
    return answer(200, REPORT, secret="x" * 40)


def _stale(request: httpx.Request) -> httpx.Response:
    return answer(200, REPORT, timestamp=str(int(NOW.timestamp()) - 3600))


def _tampered(request: httpx.Request) -> httpx.Response:
    response = answer(200, REPORT)
    return httpx.Response(
        200, content=response.content.replace(b"250.12", b"250.13"), headers=response.headers
    )


def _refusal(request: httpx.Request) -> httpx.Response:
    return answer(401, {"error": {"type": "authentication_error", "code": "api_key_invalid"}})


def _garbled(request: httpx.Request) -> httpx.Response:
    return answer(200, report(entries=[PAYMENT]))


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="Internal Server Error")


def _refused_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


@pytest.mark.parametrize(
    ("reply", "why", "status"),
    [
        (_unsigned, "unsigned", 200),
        (_wrong_secret, "does not verify", 200),
        (_stale, "timestamp", 200),
        (_tampered, "does not verify", 200),
        (_refusal, "HTTP 401, authentication_error", 401),
        (_garbled, "totals", 200),
        (_server_error, "HTTP 500, unsigned", 500),
        (_refused_connection, "ConnectError", None),
    ],
)
async def test_what_cannot_be_trusted_raises(
    router: respx.Router, adapter: WalletRestAdapter, reply: Any, why: str, status: int | None
) -> None:
    router.get("/base/v1/settlement_reports/2026-11-26").mock(side_effect=reply)
    with pytest.raises(SettlementFileUnavailable, match=why) as info:
        await adapter.fetch_settlement_file(REQUEST)
    assert info.value.http_status == status
