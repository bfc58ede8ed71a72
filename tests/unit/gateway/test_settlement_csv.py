"""The settlement file format (API.md, Settlements) and the batch values: pure, no database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fx
from gateway.settlement import csvfile
from gateway.settlement.model import (
    BatchKey,
    BatchType,
    ClosedBatch,
    Totals,
    batch_id,
    batch_view,
    closable_at,
    day_end,
    latest_closable_date,
    parse_batch_id,
    parse_business_date,
)


def _line(**values: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "record_type": "payment",
        "object_id": "pay_1",
        "payment_id": "pay_1",
        "merchant_reference": "POS-1",
        "partner": "th-siampay",
        "wallet": "alipay_cn",
        "succeeded_at": datetime(2026, 11, 26, 7, 8, 9, 123456, tzinfo=UTC),
        "currency": "THB",
        "amount": 125050,
        "payer_currency": "CNY",
        "payer_amount": 23253,
        "fx_rate": "0.185948",
        "fee": 1876,
        "net": 123174,
        "fx_mid_rate": "0.1832",
        "fx_markup_bps": 150,
        "fx_rate_source": "ecb",
        "fx_rate_set": "rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50",
        "fx_rate_as_of": datetime(2026, 11, 25, 15, 0, tzinfo=UTC),
        "payment_method": "wallet_code",
    }
    line.update(values)
    return line


API_MD_HEADER = (
    "record_type,id,payment_id,merchant_reference,partner,wallet,succeeded_at,currency,"
    "amount,payer_currency,payer_amount,fx_rate,fee,net"
)
API_MD_ROW = (
    "payment,pay_1,pay_1,POS-1,th-siampay,alipay_cn,2026-11-26T07:08:09.123Z,THB,1250.50,"
    "CNY,232.53,0.185948,18.76,1231.74"
)


def test_header_is_the_contract() -> None:
    """Format 1 is API.md's; format 2 (batches closed now) appends, never reorders."""
    assert csvfile.header(1) == API_MD_HEADER + "\n"
    assert csvfile.FORMAT == 2
    assert csvfile.header() == (
        API_MD_HEADER + ",fx_mid_rate,fx_markup_bps,fx_rate_source,fx_rate_set,fx_rate_as_of,"
        "payment_method\n"
    )
    with pytest.raises(ValueError, match="unknown settlement file format 3"):
        csvfile.header(3)


def test_a_payment_row() -> None:
    """A batch closed as format 1 renders as it did, whatever its lines now hold."""
    assert csvfile.render_line(_line(), 1) == API_MD_ROW + "\n"
    assert csvfile.render_line(_line()) == (
        API_MD_ROW + ",0.1832,150,ecb,rs_3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50,2026-11-25T15:00:00.000Z,"
        "wallet_code\n"
    )


def test_fx_terms_explain_the_rate() -> None:
    """fx_rate = fx_mid_rate × (1 + fx_markup_bps / 10^4), to the quote's 10 digits."""
    cells = dict(
        zip(csvfile.columns(2), next(csv.reader([csvfile.render_line(_line())])), strict=True)
    )
    mid, bps = Decimal(cells["fx_mid_rate"]), int(cells["fx_markup_bps"])
    assert fx.quote_rate(mid, bps) == Decimal(cells["fx_rate"])


def test_lines_without_fx_leave_the_terms_empty() -> None:
    no_fx = dict.fromkeys(
        ("payer_currency", "payer_amount", "fx_rate", "fx_mid_rate", "fx_markup_bps",
         "fx_rate_source", "fx_rate_set", "fx_rate_as_of")
    )  # fmt: skip
    cells = next(csv.reader([csvfile.render_line(_line(**no_fx))]))
    assert len(cells) == 20 and cells[14:] == ["", "", "", "", "", "wallet_code"]


@pytest.mark.parametrize(
    ("currency", "value", "text"),
    [
        ("JPY", 1234, "1234"),
        ("JPY", -1234, "-1234"),
        ("JPY", 0, "0"),
        ("KWD", 1250, "1.250"),
        ("KWD", -5, "-0.005"),
        ("KWD", 1, "0.001"),
        ("THB", 125050, "1250.50"),
        ("THB", -5, "-0.05"),
        ("THB", 0, "0.00"),
        ("BHD", 123456, "123.456"),
    ],
)
def test_amounts_have_the_currency_decimals(currency: str, value: int, text: str) -> None:
    assert csvfile.format_amount(value, currency) == text


def test_no_amount_is_an_empty_cell() -> None:
    assert csvfile.format_amount(None, "THB") is None
    assert csvfile.format_amount(100, None) is None
    row = csvfile.render_line(_line(payer_currency=None, payer_amount=None, fx_rate=None))
    assert next(csv.reader([row]))[9:12] == ["", "", ""]


def test_refunds_are_negative_and_net_is_amount_minus_fee() -> None:
    row = csvfile.render_line(
        _line(
            record_type="refund",
            object_id="rf_1",
            currency="JPY",
            amount=-1000,
            payer_amount=-4811,
            fee=-15,
            net=-985,
        )
    )
    cells = next(csv.reader([row]))
    assert cells[0] == "refund" and cells[8] == "-1000" and cells[12] == "-15"
    assert cells[13] == "-985" and cells[10] == "-48.11"


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        ('=HYPERLINK("x")', '"\'=HYPERLINK(""x"")"'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("a,b", '"a,b"'),
        ('say "hi"', '"say ""hi"""'),
        ("two\nlines", '"two\nlines"'),
        ("cr\rhere", '"cr\rhere"'),
        ("plain-text", "plain-text"),
        ("", ""),
        (None, ""),
        ("ไทย 東京", "ไทย 東京"),
    ],
)
def test_text_cells_are_guarded_then_quoted(text: str | None, cell: str) -> None:
    assert csvfile.cell(text) == cell


def test_numbers_are_not_guarded() -> None:
    assert csvfile.cell("-12.50", number=True) == "-12.50"
    row = csvfile.render_line(_line(merchant_reference="-7", amount=-1250, fee=-19, net=-1231))
    cells = next(csv.reader([row]))
    assert cells[3] == "'-7" and cells[8] == "-12.50"


def test_total_row() -> None:
    total = {
        "record_type": "total",
        "object_id": "3",
        "currency": "KWD",
        "amount": 1250,
        "fee": -1,
        "net": 1251,
    }
    assert csvfile.render_line(total, 1) == "total,3,,,,,,KWD,1.250,,,,-0.001,1.251\n"
    assert csvfile.render_line(total) == "total,3,,,,,,KWD,1.250,,,,-0.001,1.251,,,,,,\n"


def test_a_whole_file_reads_back_with_a_csv_reader() -> None:
    lines = [
        _line(merchant_reference='=cmd|" /C calc"!A0'),
        _line(record_type="refund", object_id="rf_2", amount=-50, fee=-1, net=-49),
        {"record_type": "total", "object_id": "2", "currency": "THB", "amount": 125000,
         "fee": 1875, "net": 123125},
    ]  # fmt: skip
    data = b"".join(csvfile.render_lines(lines, with_header=True))
    assert data.count(b"\n") == 4 and b"\r" not in data
    rows = list(csv.DictReader(io.StringIO(data.decode(), newline="")))
    assert rows[0]["merchant_reference"] == '\'=cmd|" /C calc"!A0'
    assert rows[1]["amount"] == "-0.50" and rows[2]["id"] == "2"
    assert rows[1]["fx_markup_bps"] == "150" and rows[2]["fx_rate_source"] == ""


def test_file_digest() -> None:
    digest = csvfile.FileDigest()
    for chunk in (b"ab", b"", b"c"):
        digest.update(chunk)
    assert digest.bytes == 3
    assert digest.hexdigest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


_TEXTS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(["=1+1", "+33", "-7", "@SUM(A1)", 'a"b', "a,b", "two\nlines", "cr\r", ""]),
)
_MOMENTS = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda moment: moment.replace(tzinfo=UTC)
    ),
    st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from([ZoneInfo("Asia/Bangkok"), ZoneInfo("America/New_York")]),
    ),
    st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1)),  # naive
)
_AMOUNTS = st.one_of(st.none(), st.integers(min_value=-(10**13), max_value=10**13))
_CURRENCIES = st.sampled_from([None, "JPY", "THB", "KWD", "CNY", "KRW", "BHD"])
_LINES = st.fixed_dictionaries(
    {
        "record_type": st.sampled_from(["payment", "refund", "reversal", "total", "=x"]),
        "object_id": _TEXTS,
        "payment_id": _TEXTS,
        "merchant_reference": _TEXTS,
        "partner": _TEXTS,
        "wallet": _TEXTS,
        "succeeded_at": _MOMENTS,
        "currency": _CURRENCIES,
        "amount": _AMOUNTS,
        "payer_currency": _CURRENCIES,
        "payer_amount": _AMOUNTS,
        "fx_rate": _TEXTS,
        "fee": _AMOUNTS,
        "net": _AMOUNTS,
        "fx_mid_rate": _TEXTS,
        "fx_markup_bps": st.one_of(st.none(), st.integers(min_value=-5, max_value=10**6)),
        "fx_rate_source": _TEXTS,
        "fx_rate_set": _TEXTS,
        "fx_rate_as_of": _MOMENTS,
        "payment_method": _TEXTS,
    }
)


@given(st.lists(_LINES, max_size=8), st.sampled_from([1, 2]), st.integers(0, 2))
def test_the_line_renderer_writes_render_lines_bytes(
    lines: list[dict[str, Any]], file_format: int, start: int
) -> None:
    """The closing's renderer (rows of `LINE_FIELDS`, after `start` fields it skips) writes
    exactly what `render_line` writes, whatever the cells hold."""
    rows = [
        ("skipped",) * start + tuple(line[name] for name in csvfile.LINE_FIELDS) for line in lines
    ]
    renderer = csvfile.LineRenderer(file_format)
    expected = "".join(csvfile.render_line(line, file_format) for line in lines)
    assert renderer.render(rows, start) == expected
    assert renderer.render(rows, start) == expected  # the same again, from what it remembers


def test_the_line_renderer_forgets_what_it_remembers_once_full() -> None:
    lines = [_line(fx_rate=f"0.{n}", partner=f"p{n}") for n in range(csvfile._MEMO_ENTRIES + 10)]
    rows = [tuple(line[name] for name in csvfile.LINE_FIELDS) for line in lines]
    renderer = csvfile.LineRenderer()
    assert renderer.render(rows) == "".join(map(csvfile.render_line, lines))
    assert len(renderer._text) <= csvfile._MEMO_ENTRIES
    with pytest.raises(ValueError, match="unknown settlement file format 3"):
        csvfile.LineRenderer(3)


@given(st.text(max_size=30))
def test_any_text_survives_a_round_trip(text: str) -> None:
    rendered = csvfile.cell(text)
    rows = list(csv.reader(io.StringIO(f"x,{rendered}\n", newline="")))
    assert len(rows) == 1
    parsed = rows[0][1]
    guarded = text.startswith(("=", "+", "-", "@"))
    assert parsed == ("'" + text if guarded else text)


# --- ids, days ---------------------------------------------------------------------------------


def test_batch_ids_are_deterministic_and_fit_an_event_object_id() -> None:
    key = BatchKey(BatchType.MERCHANT, "mer_01jd8x6k0a1b2c3d4e5f6g7h8j", "THB", date(2026, 11, 26))
    assert batch_id(key) == key.id == batch_id(BatchKey(*dataclass_values(key)))
    assert key.id.startswith("stl_20261126m") and len(key.id) == 36
    assert parse_batch_id(key.id) == (BatchType.MERCHANT, date(2026, 11, 26))
    other = BatchKey(BatchType.PARTNER, "th-siampay", "THB", date(2026, 11, 26))
    assert other.id != key.id and other.id.startswith("stl_20261126p")
    assert BatchKey(BatchType.MERCHANT, key.owner, "THB", date(2026, 11, 27)).id > key.id
    for bad in ("stl_", "stl_20261332m" + "a" * 23, "pay_x", key.id + "x", key.id.upper()):
        assert parse_batch_id(bad) is None


def dataclass_values(key: BatchKey) -> tuple[Any, ...]:
    return key.type, key.owner, key.currency, key.business_date


@pytest.mark.parametrize("text", ["2026-11-26"])
def test_business_dates_parse_strictly(text: str) -> None:
    assert parse_business_date(text) == date(2026, 11, 26)
    for bad in ("2026-1-26", "26-11-2026", "2026-11-31", "2026-11-26T00:00", " 2026-11-26"):
        with pytest.raises(ValueError):
            parse_business_date(bad)


def test_day_end_and_closing_time() -> None:
    bangkok = ZoneInfo("Asia/Bangkok")
    day = date(2026, 11, 26)
    # A 00:00 cut-off: the day ends at the next local midnight.
    assert day_end(day, bangkok, time(0, 0)) == datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    # A 23:00 cut-off: 23:00 local on the day itself (23:30 already belongs to the next day).
    assert day_end(day, bangkok, time(23, 0)) == datetime(2026, 11, 26, 16, 0, tzinfo=UTC)
    grace = timedelta(hours=2)
    due = closable_at(day, bangkok, time(0, 0), grace)
    assert due == datetime(2026, 11, 26, 19, 0, tzinfo=UTC)
    assert latest_closable_date(due, bangkok, time(0, 0), grace) == day
    before = due - timedelta(microseconds=1)
    assert latest_closable_date(before, bangkok, time(0, 0), grace) == day - timedelta(days=1)


def test_day_end_across_daylight_saving() -> None:
    new_york = ZoneInfo("America/New_York")
    # 2026-03-08 springs forward at 02:00: a 02:30 cut-off acts at 03:00 EDT (07:00 UTC).
    assert day_end(date(2026, 3, 8), new_york, time(2, 30)) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    # A 00:00 cut-off on the short day: the next midnight is 04:00 UTC (EDT).
    assert day_end(date(2026, 3, 8), new_york, time(0, 0)) == datetime(2026, 3, 9, 4, 0, tzinfo=UTC)


def test_batch_view() -> None:
    key = BatchKey(BatchType.PARTNER, "jp-sakurapay", "CNY", date(2026, 11, 26))
    totals = Totals(2, 1000, 1, 300, 5, 695)
    view = batch_view(key, totals, None)
    assert view["status"] == "open" and view["file"] is None and view["closed_at"] is None
    assert view["merchant_id"] is None and view["partner"] == "jp-sakurapay"
    assert view["net"] == {"currency": "CNY", "value": 695}
    stored = ClosedBatch(
        key=key,
        totals=totals,
        file_sha256="ab" * 32,
        file_bytes=400,
        file_format=1,
        forced=False,
        closed_by="test",
        closed_at=datetime(2026, 11, 26, 17, 0, tzinfo=UTC),
    )
    closed = batch_view(key, totals, stored)
    assert closed["status"] == "closed" and closed["closed_at"] == "2026-11-26T17:00:00.000Z"
    assert closed["file"] == {
        "sha256": "ab" * 32,
        "rows": 3,
        "bytes": 400,
        "url": f"/v1/settlements/{key.id}/file",
    }
    assert Totals.of({"payments_count": None, "net": 5, "fees": 0, "payments_amount": 1,
                      "refunds_count": 0, "refunds_amount": 0}).net == 5  # fmt: skip


def test_the_openapi_batch_schema_is_the_view() -> None:
    from gateway.api.openapi import openapi_document

    doc = openapi_document()
    schema = doc["components"]["schemas"]["SettlementBatch"]
    key = BatchKey(BatchType.MERCHANT, "mer_1", "THB", date(2026, 11, 26))
    shown = set(batch_view(key, Totals(), None))
    assert set(schema["properties"]) == set(schema["required"]) == shown
    assert set(schema["examples"][0]) == shown
    file_route = doc["paths"]["/v1/settlements/{batch_id}/file"]["get"]
    assert (
        "batch_not_closed"
        in file_route["responses"]["409"]["content"]["application/json"]["examples"]
    )


@given(
    st.integers(min_value=-(10**15), max_value=10**15),
    st.sampled_from(["JPY", "THB", "KWD", "CLP", "BHD", "USD", "CNY"]),
)
def test_amounts_render_as_money_formats_them(value: int, currency: str) -> None:
    import fx

    assert csvfile.format_amount(value, currency) == fx.Money.of(value, currency).format()


def test_the_renderer_reads_rows_in_the_frozen_lines_order() -> None:
    """`BatchClosing.lines` hands the renderer rows in `settlement_lines`' column order."""
    from gateway.storage import settlement_batches

    assert settlement_batches.LINE_FIELDS == csvfile.LINE_FIELDS
