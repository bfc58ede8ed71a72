"""Settlement end to end, on both databases: a business day of mixed traffic through the real
gateway and its sandbox partners, for a merchant in Bangkok and one in Tokyo, closed by the
settlement worker as the injectable clock passes each cut-off (+ grace), then checked file by
file against the files' own arithmetic, the journal and the sandboxes' ledgers; and the errors
of the settlements API.

Time is moved with one clock shared by the gateway and the sandboxes (`SystemClock` with an
offset), so "the next day" takes no waiting. Business day D is 2027-03-10:
- Tokyo (merchant and jp-sakurapay, cut-off 00:00) ends D at 15:00 UTC;
- th-siampay (Bangkok, cut-off 23:00) ends D at 16:00 UTC;
- the Bangkok merchant (cut-off 00:00) ends D at 17:00 UTC.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from click.testing import CliRunner

import fx
from adapters import SystemClock
from gateway.bootstrap import create_app
from gateway.cli import main
from gateway.merchants.auth import Role
from gateway.settlement.model import BatchKey, BatchType
from gateway.storage.db import open_database
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e import conftest as e2e
from tests.e2e._ledger import assert_books_balance
from tests.e2e.conftest import Answer, Gateway, code, with_partner_urls
from tests.support.seeding import Shop, seed
from tests.support.waiting import eventually, wait_final

D = date(2027, 3, 10)
D1 = D + timedelta(days=1)


def at(day: date, hour: int, minute: int = 0, second: int = 0, ms: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, ms * 1000, tzinfo=UTC)


@pytest.fixture(scope="module", params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_database(request)


@dataclass
class Day:
    """The gateway, its clock, and the two merchants' ids."""

    gateway: Gateway
    clock: SystemClock
    th: str
    jp: str

    def to(self, moment: datetime) -> None:
        """Move the shared clock forward to `moment`."""
        self.clock.advance(moment - self.clock.now())

    def batch(self, kind: str, owner: str, currency: str, day: date) -> str:
        return BatchKey(BatchType(kind), owner, currency, day).id

    async def get(self, path: str, key: str = "operator", **kw: Any) -> Answer:
        return await self.gateway.request("GET", path, key=key, **kw)

    async def until_closed(self, batch_id: str, timeout: float = 8.0) -> dict[str, Any]:
        return await wait_final(
            lambda: self.gateway.read(f"/v1/settlements/{batch_id}", key="operator"),
            final={"closed"},
            timeout=timeout,
        )


SHOPS = {
    "th": Shop(
        "Chatuchak Silk",
        "TH",
        "THB",
        "Asia/Bangkok",
        mdr_bps=150,
        fixed_fee=500,
        keys={"th_pos": Role.POS, "th_finance": Role.FINANCE},
    ),
    "jp": Shop(
        "Asakusa Fans",
        "JP",
        "JPY",
        "Asia/Tokyo",
        mdr_bps=200,
        fixed_fee=10,
        keys={"jp_pos": Role.POS, "jp_finance": Role.FINANCE},
    ),
}


async def _day(database_url: str, start: datetime) -> AsyncIterator[Day]:
    from gateway.sandboxes import sandbox_environment, start_sandboxes

    clock = SystemClock(offset=start - datetime.now(UTC))
    settings = e2e.test_settings(database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}, clock=clock
    )
    settings = with_partner_urls(settings, running.urls)
    seeded = await seed(settings.database.url, SHOPS)
    th, jp = seeded.merchants["th"], seeded.merchants["jp"]
    runner = web.AppRunner(create_app(settings, clock=clock, env=env), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with aiohttp.ClientSession() as session:
            gateway = Gateway(url, settings, env, session, running, seeded.keys, seeded.merchants)
            yield Day(gateway, clock, th, jp)
    finally:
        await runner.cleanup()
        await running.stop()


@pytest.fixture
async def day(database_url: str) -> AsyncIterator[Day]:
    async for value in _day(database_url, at(D, 13)):  # 20:00 in Bangkok, 22:00 in Tokyo
        yield value


# --- helpers -----------------------------------------------------------------------------------


async def _pay(day: Day, last4: str, value: int, *, jp: bool = False, **kw: Any) -> dict[str, Any]:
    currency, key = ("JPY", "jp_pos") if jp else ("THB", "th_pos")
    answer = await day.gateway.pay(code("28", last4), value, currency, key=key, **kw)
    assert answer.status == 201, answer.body
    if answer.body["status"] == "processing":
        return await _final(day, answer.body["id"], key)
    if last4 == "0000":
        assert answer.body["status"] == "succeeded", answer.body
    return dict(answer.body)


async def _final(day: Day, payment_id: str, key: str) -> dict[str, Any]:
    return await day.gateway.wait_final(payment_id, key=key)


async def _refund(day: Day, payment: dict[str, Any], value: int) -> dict[str, Any]:
    jp = payment["amount"]["currency"] == "JPY"
    answer = await day.gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/refunds",
        key="jp_pos" if jp else "th_pos",
        json={"amount": {"currency": payment["amount"]["currency"], "value": value}},
        idempotency_key=secrets.token_hex(8),
    )
    assert answer.status == 201 and answer.body["status"] == "succeeded", answer.body
    return dict(answer.body)


async def _cancel(day: Day, payment: dict[str, Any]) -> None:
    jp = payment["amount"]["currency"] == "JPY"
    answer = await day.gateway.request(
        "POST",
        f"/v1/payments/{payment['id']}/cancel",
        key="jp_pos" if jp else "th_pos",
        json={},
        idempotency_key=secrets.token_hex(8),
    )
    assert answer.status == 200 and answer.body["status"] == "cancelled", answer.body


async def _download(day: Day, batch: dict[str, Any], key: str = "operator") -> bytes:
    """The file, checked against its Content-Digest and the batch's `file.sha256`."""
    async with day.gateway.session.get(
        day.gateway.url + batch["file"]["url"],
        headers={"Authorization": f"Bearer {day.gateway.keys[key]}"},
    ) as response:
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Request-Id"].startswith("req_")
        data = await response.read()
        digest = hashlib.sha256(data).digest()
        assert (
            response.headers["Content-Digest"] == f"sha-256=:{base64.b64encode(digest).decode()}:"
        )
    assert digest.hex() == batch["file"]["sha256"] and len(data) == batch["file"]["bytes"]
    return data


def _minor(text: str, currency: str) -> int:
    return fx.Money.parse(text, currency).value


def _lines(data: bytes, batch: dict[str, Any]) -> list[dict[str, str]]:
    """The rows of a file after checking its arithmetic: the total row sums the lines, and
    net = amount − fee on every line, and the totals are the batch's."""
    text = data.decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    *lines, total = list(csv.DictReader(io.StringIO(text, newline="")))
    currency = batch["currency"]
    assert total["record_type"] == "total" and int(total["id"]) == len(lines)
    assert len(lines) == batch["file"]["rows"]
    for name in ("amount", "fee", "net"):
        assert sum(_minor(r[name], currency) for r in lines) == _minor(total[name], currency)
    for row in lines:
        assert row["currency"] == currency
        assert row["record_type"] in {"payment", "refund"}
        amount, fee, net = (_minor(row[n], currency) for n in ("amount", "fee", "net"))
        assert net == amount - fee
        assert (amount < 0) == (row["record_type"] == "refund")
    assert _minor(total["net"], currency) == batch["net"]["value"]
    assert _minor(total["fee"], currency) == batch["fees"]["value"]
    payments = [_minor(r["amount"], currency) for r in lines if r["record_type"] == "payment"]
    assert batch["payments"] == {
        "count": len(payments),
        "amount": {"currency": currency, "value": sum(payments)},
    }
    return lines


async def _journal_balance(url: str, batch: dict[str, Any]) -> int:
    """What the journal says the batch is worth: −merchant_payable of the merchant's
    (currency, day), or partner_receivable of the partner's."""
    lines = metadata.tables["journal_lines"]
    merchant = batch["type"] == "merchant"
    db = open_database(url)
    try:
        async with db.reader.connect() as conn:
            total = await conn.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(lines.c.amount), 0)).where(
                    lines.c.account == ("merchant_payable" if merchant else "partner_receivable"),
                    (lines.c.merchant_id if merchant else lines.c.partner)
                    == (batch["merchant_id"] if merchant else batch["partner"]),
                    lines.c.currency == batch["currency"],
                    lines.c.business_date == batch["business_date"],
                )
            )
    finally:
        await db.dispose()
    return -int(total) if merchant else int(total)


async def _stored_date(url: str, payment_id: str) -> str:
    payments = metadata.tables["payments"]
    db = open_database(url)
    try:
        async with db.reader.connect() as conn:
            found = await conn.scalar(
                sa.select(payments.c.merchant_business_date).where(payments.c.id == payment_id)
            )
    finally:
        await db.dispose()
    return str(found)


def _cli(url: str, *args: str) -> Any:
    env = {"DATABASE_URL": url, "GATEWAY_PROFILE": "test"}
    return CliRunner().invoke(main, list(args), env=env)


# --- the day -----------------------------------------------------------------------------------


async def test_a_business_day_in_two_zones(day: Day, tmp_path: Path) -> None:
    url = day.gateway.settings.database.url
    th_batch = day.batch("merchant", day.th, "THB", D)
    jp_batch = day.batch("merchant", day.jp, "JPY", D)
    siam_batch = day.batch("partner", "th-siampay", "CNY", D)
    sakura_batch = day.batch("partner", "jp-sakurapay", "CNY", D)

    # 13:00 UTC: Bangkok 20:00, Tokyo 22:00, both on D.
    p1 = await _pay(day, "0000", 100_000)
    p2 = await _pay(day, "0000", 123_457)
    declined = await _pay(day, "0051", 50_000)
    assert declined["status"] == "failed"
    unknown = await _pay(day, "0091", 77_700)  # times out, inquiry finds it charged
    assert unknown["status"] == "succeeded"
    th_cancelled = await _pay(day, "0000", 64_000)
    await _cancel(day, th_cancelled)
    p6 = await _pay(day, "0000", 50_000)
    r1 = await _refund(day, p1, 30_000)  # partial, same day
    j1 = await _pay(day, "0000", 12_345, jp=True)
    jp_declined = await _pay(day, "0054", 3_000, jp=True)
    assert jp_declined["status"] == "failed"
    jp_cancelled = await _pay(day, "0000", 8_000, jp=True)
    await _cancel(day, jp_cancelled)
    jr1 = await _refund(day, j1, 2_000)

    # Open batches are computed live; their files do not exist yet.
    listed = await day.get(f"/v1/settlements?business_date={D}")
    assert listed.status == 200, listed.body
    assert {b["id"] for b in listed.body["data"]} == {th_batch, jp_batch, siam_batch, sakura_batch}
    assert all(b["status"] == "open" and b["file"] is None for b in listed.body["data"])
    mine = await day.get(f"/v1/settlements?business_date={D}", key="th_finance")
    assert [b["id"] for b in mine.body["data"]] == [th_batch]
    live = mine.body["data"][0]
    assert live["payments"]["count"] == 4 and live["refunds"]["count"] == 1
    assert live["net"]["value"] == await _journal_balance(url, live)
    early = await day.get(f"/v1/settlements/{th_batch}/file", key="th_finance")
    assert early.status == 409 and early.error == "batch_not_closed", early.body

    # Just before Tokyo's midnight a payment starts, and its answer comes after the close.
    day.to(at(D, 14, 59, 59, 600))
    reference = f"LATE-{secrets.token_hex(4)}"
    paying = asyncio.create_task(_pay(day, "0091", 4_321, jp=True, reference=reference))

    async def created() -> dict[str, Any] | None:
        found = await day.gateway.read(f"/v1/payments?merchant_reference={reference}", key="jp_pos")
        return found if found["data"] else None

    found = await eventually(created, timeout=1.0, interval=0.01)
    assert found["data"][0]["status"] == "processing"
    day.to(at(D, 15, 0, 0, 300))  # Tokyo's D is over (and its 100 ms grace)
    jp_closed = await day.until_closed(jp_batch)
    late = await paying
    assert late["status"] == "succeeded"
    assert late["updated_at"] > jp_closed["closed_at"]
    assert await _stored_date(url, late["id"]) == D1.isoformat()  # the next day's line
    await day.until_closed(sakura_batch)
    assert (await day.get(f"/v1/settlements/{th_batch}")).body["status"] == "open"

    # th-siampay's D ends at 23:00 in Bangkok; the merchant's D goes on until midnight.
    day.to(at(D, 16, 0, 0, 300))
    await day.until_closed(siam_batch)
    day.to(at(D, 16, 30))
    r2 = await _refund(day, p2, 20_000)  # merchant's D, partner's D + 1
    day.to(at(D, 17, 0, 0, 300))
    await day.until_closed(th_batch)

    # The next day: a refund of a payment of D, and more traffic.
    day.to(at(D1, 3))
    r3 = await _refund(day, p6, 50_000)
    jr2 = await _refund(day, j1, 1_000)
    p7 = await _pay(day, "0000", 9_999)
    day.to(at(D1, 17, 0, 0, 300))  # every D + 1 batch is due
    for kind, owner, currency in (
        ("merchant", day.th, "THB"),
        ("merchant", day.jp, "JPY"),
        ("partner", "th-siampay", "CNY"),
        ("partner", "jp-sakurapay", "CNY"),
    ):
        await day.until_closed(day.batch(kind, owner, currency, D1))

    # Every file: its own arithmetic, the journal, a second download byte-identical.
    files: dict[str, list[dict[str, str]]] = {}
    downloads: dict[str, bytes] = {}
    for when in (D, D1):
        answer = await day.get(f"/v1/settlements?business_date={when}&status=closed&limit=100")
        batches = answer.body["data"]
        assert len(batches) == 4 and not answer.body["has_more"]
        for batch in batches:
            data = await _download(day, batch)
            assert await _download(day, batch) == data
            files[batch["id"]] = _lines(data, batch)
            downloads[batch["id"]] = data
            assert batch["net"]["value"] == await _journal_balance(url, batch), batch
    assert not (await day.get("/v1/settlements?status=open")).body["data"]

    def ids(batch_id: str) -> list[str]:
        return [row["id"] for row in files[batch_id]]

    assert ids(th_batch) == [p1["id"], p2["id"], unknown["id"], p6["id"], r1["id"], r2["id"]]
    assert ids(day.batch("merchant", day.th, "THB", D1)) == [p7["id"], r3["id"]]
    assert ids(siam_batch) == [p1["id"], p2["id"], unknown["id"], p6["id"], r1["id"]]
    assert ids(day.batch("partner", "th-siampay", "CNY", D1)) == [p7["id"], r2["id"], r3["id"]]
    assert ids(jp_batch) == [j1["id"], jr1["id"]]
    assert ids(day.batch("merchant", day.jp, "JPY", D1)) == [late["id"], jr2["id"]]
    assert ids(sakura_batch) == [j1["id"], jr1["id"]]
    assert ids(day.batch("partner", "jp-sakurapay", "CNY", D1)) == [late["id"], jr2["id"]]
    everything = b"".join(downloads.values()).decode()
    for absent in (declined, th_cancelled, jp_declined, jp_cancelled):
        assert absent["id"] not in everything
    jp_row = files[jp_batch][0]
    assert jp_row["amount"] == "12345" and jp_row["fee"] == "257"  # 2 % + 10 JPY, no decimals
    assert files[th_batch][4]["amount"] == "-300.00" and files[th_batch][4]["fee"] == "-4.50"

    # Every figure explained: each line's FX columns are its payment's quote terms as the API
    # showed them (a refund's too: it is priced at its payment's rate, and shows that quote).
    quotes = {p["id"]: p["quote"] for p in (p1, p2, unknown, p6, p7, j1, late)}
    for refund, payment in ((r1, p1), (r2, p2), (r3, p6), (jr1, j1), (jr2, j1)):
        assert refund["quote"] == payment["quote"] and refund["quote"]["markup_bps"] >= 0
    terms = ("rate", "mid_rate", "markup_bps", "rate_source", "rate_set", "rate_as_of")
    for rows in files.values():
        for row in rows:
            quote = quotes[row["payment_id"]]
            assert [row[f"fx_{name}"] for name in terms] == [str(quote[n]) for n in terms], row
            assert row["payment_method"] == "wallet_code", row

    # Each partner batch is what its sandbox charged, less what it refunded and reversed.
    for partner in ("th-siampay", "jp-sakurapay"):
        charged = sum(
            int(e.amount.value) * (1 if e.kind == "charge" else -1)
            for e in day.gateway.ledger(partner).entries
        )
        batched = sum(
            _minor(row["amount"], "CNY")
            for when in (D, D1)
            for row in files[day.batch("partner", partner, "CNY", when)]
        )
        assert batched == charged, partner

    # The merchants were told, with the Batch object.
    events = await day.get("/v1/events?type=settlement.closed", key="th_finance")
    assert sorted(e["data"]["id"] for e in events.body["data"]) == sorted(
        [th_batch, day.batch("merchant", day.th, "THB", D1)]
    )
    assert all(e["data"]["status"] == "closed" for e in events.body["data"])
    # ...and each payment and refund event carries the same quote terms as the API's answers.
    for kind, made in (("payment", (p1, p7)), ("refund", (r1, r3))):
        told = await day.get(f"/v1/events?type={kind}.succeeded&limit=100", key="th_finance")
        sent = {e["data"]["id"]: e["data"]["quote"] for e in told.body["data"]}
        assert all(sent[m["id"]] == m["quote"] is not None for m in made), kind

    # The operator's export, twice: the same bytes as the API's, manifest included.
    first, second = tmp_path / "one", tmp_path / "two"
    for out in (first, second):
        result = await asyncio.to_thread(
            _cli, url, "settlements", "export", "--date", D.isoformat(), "--out", str(out)
        )
        assert result.exit_code == 0, result.output
    names = sorted(p.name for p in first.iterdir())
    assert len(names) == 6 and "manifest.json" in names and "SHA256SUMS" in names
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    exported = {p.read_bytes() for p in first.iterdir() if p.suffix == ".csv"}
    assert exported == {downloads[b] for b in (th_batch, jp_batch, siam_batch, sakura_batch)}

    # `gateway settle` finds nothing left to do: it reports what is closed, and closes nothing.
    result = await asyncio.to_thread(_cli, url, "settle", "--date", D.isoformat())
    assert result.exit_code == 0, result.output
    assert result.output.count("already closed") == 4 and "closed:" not in result.output.replace(
        "already closed:", ""
    )
    await assert_books_balance(day.gateway)


# --- the API's errors --------------------------------------------------------------------------


@pytest.fixture
async def later_day(database_url: str) -> AsyncIterator[Day]:
    async for value in _day(database_url, at(date(2027, 4, 2), 3)):
        yield value


async def test_bad_requests(later_day: Day) -> None:
    day = later_day
    when = date(2027, 4, 2)
    await _pay(day, "0000", 10_000)
    await _pay(day, "0000", 1_000, jp=True)
    th_batch = day.batch("merchant", day.th, "THB", when)
    jp_batch = day.batch("merchant", day.jp, "JPY", when)
    partner_batch = day.batch("partner", "th-siampay", "CNY", when)

    async def error(path: str, key: str, status: int, code_: str) -> None:
        answer = await day.get(path, key=key)
        assert (answer.status, answer.error) == (status, code_), (path, key, answer.body)
        assert answer.headers["Request-Id"].startswith("req_")

    assert (await day.get(f"/v1/settlements/{th_batch}", key="th_finance")).status == 200
    await error(f"/v1/settlements/{th_batch}/file", "th_finance", 409, "batch_not_closed")
    await error(f"/v1/settlements/{jp_batch}", "th_finance", 404, "not_found")
    await error(f"/v1/settlements/{jp_batch}/file", "th_finance", 404, "not_found")
    await error(f"/v1/settlements/{partner_batch}", "th_finance", 404, "not_found")
    unknown = day.batch("merchant", day.th, "THB", when + timedelta(days=30))
    for missing in (unknown, "stl_nope", "pay_0123"):
        await error(f"/v1/settlements/{missing}", "operator", 404, "not_found")
        await error(f"/v1/settlements/{missing}/file", "operator", 404, "not_found")
    for query in ("business_date=2027-4-2", "business_date=2027-02-30", "business_date=x",
                  "status=pending", "type=refund", "limit=0", "colour=blue"):  # fmt: skip
        await error(f"/v1/settlements?{query}", "operator", 400, "invalid_request")
    for path in (
        "/v1/settlements",
        f"/v1/settlements/{th_batch}",
        f"/v1/settlements/{th_batch}/file",
    ):
        await error(path, "th_pos", 403, "forbidden")
        await error(path, "no-such-key", 401, "authentication_failed")
    partners = await day.get("/v1/settlements?type=partner", key="th_finance")
    assert partners.status == 200 and partners.body["data"] == []

    day.to(at(when, 17, 0, 0, 300))  # both merchants' days are over
    closed = await day.until_closed(th_batch)
    await day.until_closed(jp_batch)
    assert (await _download(day, closed, key="th_finance")).startswith(b"record_type,id,")
    await error(f"/v1/settlements/{jp_batch}", "th_finance", 404, "not_found")
    await error(f"/v1/settlements/{jp_batch}/file", "th_finance", 404, "not_found")
    jp_closed = (await day.get(f"/v1/settlements/{jp_batch}", key="jp_finance")).body
    assert (await _download(day, jp_closed, key="jp_finance")).endswith(b"\n")
