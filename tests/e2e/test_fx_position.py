"""The FX book: positions and markup revenue from the journal, valued at the latest mids."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.conftest import DATABASES, own_database
from tests.e2e.conftest import Gateway, code


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The book sums the whole journal: no other module's payments in it."""
    yield from own_database(request)


async def test_positions_and_revenue_follow_the_journal(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    paid = []
    for prefix, value in (("28", 125050), ("28", 99900), ("81", 250000), ("81", 1003)):
        answer = await gateway.pay(code(prefix, "0000"), value)
        assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
        paid.append(answer.body)
    payer = {"CNY": 0, "KRW": 0}
    for body in paid:
        payer[body["payer_amount"]["currency"]] += body["payer_amount"]["value"]

    book = await gateway.read("/v1/fx/position?currency=THB", key="operator")
    lines = {line["currency"]: line for line in book["currencies"]}
    assert set(lines) == {"THB", "CNY", "KRW"}
    # short the merchant's THB, long the payer currencies less the markup booked as revenue
    assert lines["THB"]["position"] == -sum(body["amount"]["value"] for body in paid)
    for code_ in ("CNY", "KRW"):
        line = lines[code_]
        assert line["position"] + line["revenue"] == payer[code_]
        assert line["revenue"] > 0 and line["position_change"] == line["position"]
    assert lines["THB"]["value"] == lines["THB"]["position"] and lines["THB"]["mid"] == "1"
    # valued at the mids they were booked at, the positions cancel but for rounding: each
    # payment's payer-side leg was rounded to half a payer minor unit, then each value once
    exponents = {"CNY": 2, "KRW": 0}
    bound = sum(
        Decimal("0.5") * Decimal(lines[b["payer_amount"]["currency"]]["mid"])
        * 10 ** (2 - exponents[b["payer_amount"]["currency"]])
        for b in paid
    ) + len(lines)  # fmt: skip
    assert book["unrealised"] is not None and abs(book["unrealised"]) <= bound
    assert book["unavailable"] == []

    monkeypatch.setenv("DATABASE_URL", gateway.settings.database.url)
    monkeypatch.setenv("GATEWAY_PROFILE", "test")
    out = tmp_path / "book.csv"
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["fx", "position", "--currency", "THB", "--csv", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "unrealised" in result.output and "CNY" in result.output
    rows = [line.split(",") for line in out.read_text().splitlines()]
    assert rows[0][:4] == ["date", "currency", "position", "position_change"]
    assert {r[1]: int(r[2]) for r in rows[1:]} == {c: lines[c]["position"] for c in lines}

    yesterday = await gateway.read("/v1/fx/position?date=2020-01-01", key="operator")
    assert yesterday["currencies"] == [] and yesterday["unrealised"] == 0
    for query, param in (("date=2020-13-01", "date"), ("currency=XXQ", "currency")):
        bad = await gateway.request("GET", f"/v1/fx/position?{query}", key="operator")
        assert bad.status == 400 and bad.body["error"]["param"] == param
    pos = await gateway.request("GET", "/v1/fx/position")
    assert pos.status == 403
