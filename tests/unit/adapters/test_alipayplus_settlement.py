"""The Alipay+ settlement file: the pure CSV parser, and the client's wire format over respx.

respx's default mocker patches httpx's own transports, not the aiohttp one, so the adapter gets a
client over `httpx.MockTransport(router.async_handler)`, as in `test_alipayplus_client`.
"""

from __future__ import annotations

import functools
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
from adapters.alipayplus.transforms import settlement_file, settlement_file_body
from fx import Money

DAY = date(2026, 11, 26)
REQUEST = SettlementFileRequest(DAY)
HEADER = ",".join(wire.SETTLEMENT_COLUMNS)
PAYMENT_ROW = (
    "20261126CNY,2026-11-26,PAYMENT,att_1,SBXP1,,,25012,CNY,330,CNY,24682,CNY,"
    "125050,THB,THB/CNY,0.2000159936,2026-11-26T22:30:01+07:00"
)
REFUND_ROW = (
    "20261126CNY,2026-11-26,REFUND,att_1,SBXP1,rfa_1,SBXRF1,-10000,CNY,-120,CNY,-9880,CNY,"
    ",,,,2026-11-26T22:31:00+07:00"
)


def csv_file(*rows: str, header: str = HEADER, end: bool = True) -> bytes:
    lines = [header, *rows] + (["<END>"] if end else [])
    return ("\n".join(lines) + "\n").encode()


def parse(raw: bytes, request: SettlementFileRequest = REQUEST) -> tuple[SettlementLine, ...]:
    return settlement_file(raw, partner_id="antom", request=request).lines


# --- the parser ----------------------------------------------------------------------------------


def test_a_payment_and_its_refund() -> None:
    raw = csv_file(PAYMENT_ROW, REFUND_ROW)
    parsed = settlement_file(raw, partner_id="antom", request=REQUEST)
    assert (parsed.partner_id, parsed.business_date, parsed.raw) == ("antom", DAY, raw)
    payment, refund = parsed.lines
    assert payment == SettlementLine(
        record_type="payment",
        partner_request_id="att_1",
        partner_reference="SBXP1",
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
        partner_reference="SBXRF1",
        payment_partner_request_id="att_1",
        amount=Money.of(10000, "CNY"),  # positive: what was returned
        fee=Money.of(120, "CNY"),  # positive: the fee given back
        merchant_amount=None,
        fx_rate=None,
        completed_at=datetime(2026, 11, 26, 15, 31, tzinfo=UTC),
    )
    assert payment.net == Money.of(24682, "CNY") and refund.net == Money.of(-9880, "CNY")


def test_an_empty_file() -> None:
    assert parse(csv_file()) == ()


def test_columns_in_any_order_extra_columns_crlf_and_a_bom() -> None:
    columns = list(wire.SETTLEMENT_COLUMNS)
    cells = dict(zip(columns, PAYMENT_ROW.split(","), strict=True))
    reordered = [*reversed(columns), "customerId"]
    row = ",".join([*(cells[c] for c in reversed(columns)), "C1"])
    raw = "\ufeff" + "\r\n".join([",".join(reordered), row, "<END>"]) + "\r\n"
    [line] = parse(raw.encode())
    assert line.partner_request_id == "att_1" and line.amount == Money.of(25012, "CNY")


def test_the_order_and_quote_columns_are_optional() -> None:
    optional = {"orderAmountValue", "orderCurrency", "quoteCurrencyPair", "quotePrice"}
    keep = [i for i, c in enumerate(wire.SETTLEMENT_COLUMNS) if c not in optional]
    header = ",".join(wire.SETTLEMENT_COLUMNS[i] for i in keep)
    row = ",".join(PAYMENT_ROW.split(",")[i] for i in keep)
    [line] = parse(csv_file(row, header=header))
    assert (line.merchant_amount, line.fx_rate) == (None, None)
    assert line.amount == Money.of(25012, "CNY")


def test_a_currency_filter_is_checked() -> None:
    assert parse(csv_file(PAYMENT_ROW), SettlementFileRequest(DAY, "CNY"))
    with pytest.raises(SettlementFileUnavailable, match="currency"):
        parse(csv_file(PAYMENT_ROW), SettlementFileRequest(DAY, "KRW"))


def _cell(row: str, column: str, value: str) -> str:
    cells = row.split(",")
    cells[wire.SETTLEMENT_COLUMNS.index(column)] = value
    return ",".join(cells)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (csv_file(PAYMENT_ROW, end=False), "truncated"),
        (b"", "truncated"),
        (b"\xff\xfe", "UTF-8"),
        (csv_file(PAYMENT_ROW, header=HEADER.replace("paymentId,", "")), "header lacks paymentId"),
        (csv_file(PAYMENT_ROW, header=HEADER.replace("transactionTime", "time")), "header lacks"),
        (csv_file(header="settlementBatchId"), "header lacks"),
        (csv_file(PAYMENT_ROW + ",P", header=HEADER + ",paymentId"), "repeated column"),
        (csv_file(PAYMENT_ROW + ",x"), "line 2 has 19 cells"),
        (csv_file(_cell(PAYMENT_ROW, "settlementDate", "2026-11-27")), "date"),
        (csv_file(_cell(PAYMENT_ROW, "transactionType", "CAPTURE")), "transactionType"),
        (csv_file(_cell(PAYMENT_ROW, "transactionAmountValue", "250.12")), "transactionAmount"),
        (
            csv_file(
                PAYMENT_ROW.replace(",25012,", ",-25012,")
                .replace(",330,", ",-330,")
                .replace(",24682,", ",-24682,")
            ),
            "sign",
        ),
        (csv_file(_cell(PAYMENT_ROW, "feeAmountValue", "331")), "settlementAmountValue"),
        (csv_file(_cell(PAYMENT_ROW, "feeCurrency", "THB")), "feeCurrency"),
        (csv_file(_cell(PAYMENT_ROW, "transactionCurrency", "ZZZ")), "transactionCurrency"),
        (csv_file(_cell(PAYMENT_ROW, "paymentId", "")), "paymentId"),
        (csv_file(_cell(PAYMENT_ROW, "refundId", "SBXRF1")), "refund"),
        (csv_file(_cell(REFUND_ROW, "refundRequestId", "")), "refundRequestId"),
        (csv_file(_cell(REFUND_ROW, "transactionAmountValue", "10000")), "settlement|sign"),
        (csv_file(_cell(PAYMENT_ROW, "quotePrice", "abc")), "quotePrice"),
        (csv_file(_cell(PAYMENT_ROW, "quotePrice", "-1")), "quotePrice"),
        (csv_file(_cell(PAYMENT_ROW, "orderAmountValue", "")), "orderAmountValue"),
        (csv_file(_cell(PAYMENT_ROW, "orderAmountValue", "0")), "orderAmountValue"),
        (csv_file(_cell(PAYMENT_ROW, "transactionTime", "2026-11-26T22:30:01")), "transactionTime"),
        (csv_file('"unterminated,' + PAYMENT_ROW), "CSV|cells|truncated"),
    ],
)
def test_a_file_that_does_not_hold_is_unreadable(raw: bytes, why: str) -> None:
    with pytest.raises(SettlementFileUnavailable, match=why) as info:
        parse(raw)
    assert "antom" in str(info.value)


def test_the_request_body() -> None:
    assert wire.encode(settlement_file_body(SettlementFileRequest(DAY, "CNY"))) == (
        b'{"settlementDate":"2026-11-26","settlementCurrency":"CNY"}'
    )
    assert wire.encode(settlement_file_body(REQUEST)) == b'{"settlementDate":"2026-11-26"}'


# --- the client over respx ---------------------------------------------------------------------

BASE_URL = "https://partner.test"
CLIENT_ID = "SANDBOX_GATEWAY"
PATH = "/ams/sandbox/api/v1/settlements/file"
RESPONSE_TIME = "2026-11-26T10:00:01+08:00"


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
        return datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)


def signed(
    request: httpx.Request,
    body: bytes,
    *,
    content_type: str = "text/csv; charset=UTF-8",
    signing_key: str | None = None,
    status: int = 200,
) -> httpx.Response:
    content = build_content("POST", request.url.path, CLIENT_ID, RESPONSE_TIME, body)
    key = load_private_key(signing_key or keys()["partner_private"])
    header = SignatureHeader(signature=sign(key, content))
    return httpx.Response(
        status,
        content=body,
        headers={
            "client-id": CLIENT_ID,
            "response-time": RESPONSE_TIME,
            "signature": header.render(),
            "content-type": content_type,
        },
    )


@pytest.fixture
def router() -> respx.Router:
    return respx.Router(base_url=BASE_URL, assert_all_called=False)


@pytest.fixture
async def adapter(router: respx.Router) -> AsyncIterator[AlipayPlusAdapter]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler)) as http:
        yield build_adapter(
            partner_id="antom-sbx",
            base_url=BASE_URL,
            credentials={
                "client_id": CLIENT_ID,
                "private_key": keys()["merchant_private"],
                "partner_public_key": keys()["partner_public"],
            },
            http=http,
            timeouts={op: 2.0 for op in Operation},
            clock=FixedClock(),
        )


async def test_the_request_is_signed_and_the_file_verified(
    router: respx.Router, adapter: AlipayPlusAdapter
) -> None:
    raw = csv_file(PAYMENT_ROW, REFUND_ROW)
    route = router.post(PATH).mock(side_effect=lambda r: signed(r, raw))
    fetched = await adapter.fetch_settlement_file(SettlementFileRequest(DAY, "CNY"))
    assert [line.partner_request_id for line in fetched.lines] == ["att_1", "rfa_1"]
    assert (fetched.partner_id, fetched.raw) == ("antom-sbx", raw)

    request = route.calls.last.request
    assert json.loads(request.content) == {
        "settlementDate": "2026-11-26",
        "settlementCurrency": "CNY",
    }
    assert request.headers["client-id"] == CLIENT_ID
    assert request.headers["Request-Time"] == "2026-11-27T02:00:00+00:00"
    parsed = SignatureHeader.parse(request.headers["Signature"])
    content = build_content(
        "POST", PATH, CLIENT_ID, request.headers["Request-Time"], request.content
    )
    assert verify(load_public_key(keys()["merchant_public"]), content, parsed.signature)


def _unsigned(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=csv_file(PAYMENT_ROW), headers={"content-type": "text/csv"})


def _wrong_key(request: httpx.Request) -> httpx.Response:
    return signed(request, csv_file(PAYMENT_ROW), signing_key=keys()["merchant_private"])


def _tampered(request: httpx.Request) -> httpx.Response:
    response = signed(request, csv_file(PAYMENT_ROW))
    return httpx.Response(
        200, content=response.content.replace(b"25012", b"25013"), headers=response.headers
    )


def _refusal(request: httpx.Request) -> httpx.Response:
    body = {"result": {"resultStatus": "F", "resultCode": "ACCESS_DENIED", "resultMessage": "no"}}
    return signed(request, json.dumps(body).encode(), content_type="application/json")


def _garbled(request: httpx.Request) -> httpx.Response:
    return signed(request, csv_file(_cell(PAYMENT_ROW, "feeAmountValue", "1")))


def _server_error(request: httpx.Request) -> httpx.Response:
    return httpx.Response(500, text="Internal Server Error")


def _reset(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadError("connection reset")


@pytest.mark.parametrize(
    ("answer", "why", "status"),
    [
        (_unsigned, "unsigned", 200),
        (_wrong_key, "does not verify", 200),
        (_tampered, "does not verify", 200),
        (_refusal, "ACCESS_DENIED", 200),
        (_garbled, "settlementAmountValue", 200),
        (_server_error, "HTTP 500", 500),
        (_reset, "ReadError", None),
    ],
)
async def test_what_cannot_be_trusted_raises(
    router: respx.Router, adapter: AlipayPlusAdapter, answer: Any, why: str, status: int | None
) -> None:
    router.post(PATH).mock(side_effect=answer)
    with pytest.raises(SettlementFileUnavailable, match=why) as info:
        await adapter.fetch_settlement_file(REQUEST)
    assert info.value.http_status == status
