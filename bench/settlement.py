"""The settlement benchmark (issues #6 and #16): closing and exporting one merchant's batch of N
payments, beside one plain SQL aggregate over the same rows and one PostgreSQL `COPY` of the
same frozen lines, in one run; memory must stay flat as N grows.

    .venv/bin/python -m bench.settlement [--sizes 100000,1000000] [--database postgresql|sqlite]
                                         [--quick] [--no-http] [--out bench/results] [--no-docs]

Per database and per N, on a fresh database (SQLite: a file in the temp dir; PostgreSQL: a
`bench_<random>` database, dropped at the end):

1. **generate**: one TH merchant (THB, Asia/Bangkok, 150 bps + 1.00 THB per payment) and N
   payments that `succeeded` on one business date through `th-siampay` (70 % Alipay CN in CNY,
   20 % Kakao Pay in KRW, 10 % TrueMoney in THB), and a merchant refund on 5 % of them (half full,
   half partial), bulk-inserted (COPY with asyncpg's `copy_records_to_table` on PostgreSQL,
   `executemany` on SQLite). Every column is what the lifecycle stores when a payment or refund
   succeeds: the quote's rate and payer amount (`fx.convert_minor` at the ECB mid + the markup),
   the fees and FX revenue of `gateway/payments/booking.py` (`ledger.merchant_fee`,
   `routing.partner_fee`, `ledger.fx_revenue`, and the refund's `merchant_refund_fee`,
   `partner_refund_fee`, `fx_revenue_reversed`, `refunds.service.cumulative_payer_value`), both
   business dates, `partner_completed_at`, the payment's refund counters. The journal, the
   attempts and the events are not written: a batch reads only payments and refunds (the
   journal only for cancelled payments, reversed elsewhere, of which there are none here).
   Then `VACUUM ANALYZE` (PostgreSQL), as autovacuum would have done by closing time;
2. **measure**, every step its own process, so that its peak RSS (the child's VmHWM, read by
   the child as it ends; not `ru_maxrss`, which Linux carries over from the parent across fork
   and exec) is its own:
   - `aggregate`: one SQL statement, `count`/`sum(amount_value)`/`sum(merchant_fee)` of the
     merchant's succeeded payments and merchant refunds of that day (run before the close and
     again after the export; the faster one is the ratio's denominator);
   - `close`: `gateway settle --date D --merchant M --force`, the operator's command, run in the
     child through `gateway.cli.main` so that the time of the command itself is told apart from
     the interpreter's start-up, with its SQL timed by statement kind (SQLAlchemy's events, and
     what it runs on asyncpg's own connections: `read_lines`, the line query's cursor, and
     `copy_lines`, the binary COPY of the frozen lines; these run at once, so they overlap);
   - `copy` (PostgreSQL only): `COPY (SELECT <the file's columns> FROM settlement_lines WHERE
     batch_id = '<id>' ORDER BY seq) TO STDOUT WITH (FORMAT csv)` through asyncpg's
     `copy_from_query` into a sink that counts the bytes: the same lines as the file, straight
     out of the database (run after the close and again after the download; the faster one is
     the denominator of export ÷ copy and download ÷ copy);
   - `export`: `gateway settlements export --date D --merchant M --out DIR`, the same way;
   - `http` (unless `--no-http`): `gateway serve` on that database, and the file downloaded once
     with a finance key (`GET /v1/settlements/{id}/file`); the server's VmHWM before and after;
   - the floor of the close (PostgreSQL only, after the sizes are taken): `lines_out`, the
     close's own line query (`settlement_batches._line_rows`, without JIT) as a binary
     `COPY (…) TO STDOUT` into a sink that counts the bytes, and `lines_in`, the same frozen
     lines as a binary `COPY … FROM STDIN` into an empty table like `settlement_lines` (its
     indexes and foreign key), made in a transaction rolled back: what the close must read and
     write at the least, without Python;
3. **verify**: the exported file's rows, its `total` row equal to the sum of its lines, the lines'
   sums equal to the aggregate (and to what was generated), `net = amount − fee` on every line,
   its SHA-256 and size equal to those stored when the batch closed (and in the manifest), the
   download's bytes and `Content-Digest` the same, and the file's stored parts
   (`settlement_file_parts`, read back part by part) hashing to the batch's `file_sha256`.

Reported per step and N: the command's own time, the process's wall time, peak RSS and its growth
over the interpreter with its imports; and issue #16's targets, PASS/FAIL (printed, never
enforced): close ÷ aggregate ≤ 10, export ÷ copy ≤ 2 and download ÷ copy ≤ 2 (per N), and memory
flat: the peak at the largest N ≤ the peak at the smallest + 20 MB (per step).
The business date is three weeks back, outside `durations.settlement_lookback`, so the
settlement worker of the `gateway serve` started for the download never touches its batches.

`--quick` (N = 2,000 on SQLite, and on PostgreSQL when one answers) is the smoke size that
`tests/bench/test_settlement_bench_smoke.py` runs; it writes no docs. A full run writes
`bench/results/settlement-<ts>.json` and `docs/settlement-benchmark.md` (keeping that file's
hand-written "Reading the numbers").

Exit status: 0 when every check holds, 1 when one failed, 2 on error (the temp dir with every
process's log is then kept), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import dataclasses
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "settlement-benchmark.md"
READING = "## Reading the numbers"
_PLACEHOLDER = "_To be written after a full run._"

PARTNER = "th-siampay"
CURRENCY = "THB"
ZONE = "Asia/Bangkok"
MDR_BPS = 150
FIXED_FEE = 100  # minor units: 1.00 THB per payment
WALLETS = (("alipay_cn", "CNY", 0.70), ("kakaopay", "KRW", 0.20), ("truemoney", "THB", 0.10))
REFUND_SHARE = 0.05
MEMORY_MARGIN_MB = 20.0
FULL_SIZES = (100_000, 1_000_000)
QUICK_SIZE = 2_000
STEP_TIMEOUT_S = 3600.0
MEASURED = ("aggregate", "close", "copy", "export", "http")
FLAT_STEPS = ("close", "export", "http")
CLOSE_LIMIT = 10.0  # issue #16: close ≤ 10 × the aggregate
STREAM_LIMIT = 2.0  # issue #16: export and download ≤ 2 × the COPY of the same lines

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_STANDARD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_TO_CROCKFORD = bytes.maketrans(_STANDARD.encode(), _ALPHABET.encode())


def _log(message: str) -> None:
    print(f"[settlement {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- generation ----------------------------------------------------------------------------------


def _id(prefix: str, moment: datetime, rng: random.Random) -> str:
    """An id like `gateway.core.ids.new_id` made at `moment` (ids sort by creation)."""
    number = (int(moment.timestamp() * 1000) << 82) | (rng.getrandbits(80) << 2)
    encoded = base64.b32encode(number.to_bytes(17, "big")).translate(_TO_CROCKFORD)
    return f"{prefix}_{encoded[1:27].decode()}"


class Pricing:
    """What the lifecycle books for an amount, through the gateway's own functions (cached per
    amount: prices repeat)."""

    def __init__(self, config_dir: Path) -> None:
        import fx
        from gateway.core.config import load_settings

        settings = load_settings(config_dir, None, {})
        self.partner = settings.partner(PARTNER)
        # generated data priced offline, from the rates shipped with fx (no feed to fetch)
        source = fx.parse_ecb_xml(fx.default_ecb_file().read_bytes())
        self.rate_set = source
        self.markup_bps = settings.fx.markup_bps
        base = fx.get_currency(CURRENCY)
        # payer currency -> (quote rate, mid rate), None without FX
        self.rates: dict[str, tuple[Decimal, Decimal] | None] = {}
        for _wallet, code, _share in WALLETS:
            if code == CURRENCY:
                self.rates[code] = None
                continue
            mid = source.mid_rate(base, fx.get_currency(code)).rate
            self.rates[code] = (fx.quote_rate(mid, settings.fx.markup_bps), mid)
        self._payments: dict[tuple[int, str], tuple[int, int, int, int]] = {}

    def rate_texts(self, payer_currency: str) -> tuple[str | None, str | None]:
        import fx

        rates = self.rates[payer_currency]
        return (
            (None, None) if rates is None else (fx.format_rate(rates[0]), fx.format_rate(rates[1]))
        )

    def payment(self, value: int, payer_currency: str) -> tuple[int, int, int, int]:
        """(payer value, merchant fee, partner fee, FX revenue), as `booking.book_payment`."""
        key = (value, payer_currency)
        found = self._payments.get(key)
        if found is None:
            import fx
            from gateway.ledger import postings as ledger
            from gateway.partners.routing import partner_fee

            base, payer = fx.get_currency(CURRENCY), fx.get_currency(payer_currency)
            rates = self.rates[payer_currency]
            payer_value = value if rates is None else fx.convert_minor(value, rates[0], base, payer)
            found = (
                payer_value,
                ledger.merchant_fee(value, MDR_BPS, FIXED_FEE),
                partner_fee(self.partner, fx.Money(payer_value, payer)),
                ledger.fx_revenue(
                    fx.Money(value, base),
                    fx.Money(payer_value, payer),
                    None if rates is None else rates[1],
                ),
            )
            self._payments[key] = found
        return found

    def refund(self, payment: dict[str, Any], value: int) -> tuple[int, int, int, int]:
        """(payer value, merchant fee, partner fee, FX revenue) given back by the first refund
        of `value` on `payment`, as `refunds.create_refund` and `booking.book_refund`."""
        from gateway.ledger import postings as ledger
        from gateway.refunds.service import cumulative_payer_value
        from gateway.storage import rows

        # The generated rows carry a rate without a stored quote: name one, so the payment
        # reads back as priced (a payment with a rate always has its quote in the gateway).
        priced = {**payment, "quote_id": "qt_bench" if payment["rate"] else None}
        payer_value = cumulative_payer_value(rows.payment(priced), value)
        return (
            payer_value,
            ledger.merchant_refund_fee(value, MDR_BPS),
            ledger.partner_refund_fee(payer_value, self.partner.fees.bps),
            ledger.fx_revenue_reversed(payment["fx_revenue"], payment["amount_value"], 0, value),
        )


@dataclasses.dataclass
class Generated:
    payments: int = 0
    payments_amount: int = 0
    payments_fees: int = 0
    refunds: int = 0
    refunds_amount: int = 0
    refunds_fees: int = 0
    seconds: float = 0.0


def _amount(rng: random.Random) -> int:
    """A shop price: 20 to 5,000 THB, log-uniform, whole baht (one in ten with satang)."""
    baht = int(math.exp(rng.uniform(math.log(20), math.log(5000))))
    satang = rng.choice((25, 50, 75)) if rng.random() < 0.1 else 0
    return baht * 100 + satang


def _wallet(rng: random.Random) -> tuple[str, str]:
    pick = rng.random()
    for wallet, currency, share in WALLETS:
        if pick < share:
            return wallet, currency
        pick -= share
    return WALLETS[-1][0], WALLETS[-1][1]


def day_window(day: date) -> tuple[datetime, datetime]:
    """When the day's payments complete: 00:00:05 to 22:30 Bangkok time, inside the merchant's
    business date (cut-off 00:00) and the partner's (23:00) alike."""
    zone = ZoneInfo(ZONE)
    start = datetime.combine(day, wall_time(0, 0, 5), zone).astimezone(UTC)
    end = datetime.combine(day, wall_time(22, 30), zone).astimezone(UTC)
    return start, end


def generate(
    pricing: Pricing,
    *,
    n: int,
    day: date,
    merchant_id: str,
    refund_share: float,
    seed: int,
    totals: Generated,
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """The day's payments in creation order, each with its refund (or None)."""
    rng = random.Random(seed)
    start, end = day_window(day)
    span = (end - start).total_seconds()
    day_text = day.isoformat()
    route_reason = f"licensed in TH, serves {{wallet}}; priority {pricing.partner.priority}"
    for i in range(n):
        completed = start + timedelta(seconds=(i + rng.random()) * span / n)
        created = completed - timedelta(seconds=rng.uniform(0.8, 3.0))
        wallet, payer_currency = _wallet(rng)
        value = _amount(rng)
        payer_value, merchant_fee, partner_fee, fx_revenue = pricing.payment(value, payer_currency)
        rate, mid = pricing.rate_texts(payer_currency)
        payment_id = _id("pay", created, rng)
        code = f"28{rng.getrandbits(53):016d}"
        payment: dict[str, Any] = {
            "id": payment_id,
            "merchant_id": merchant_id,
            "merchant_reference": f"order-{day:%Y%m%d}-{i:07d}",
            "idempotency_key": f"{rng.getrandbits(128):032x}",
            "status": "succeeded",
            "amount_value": value,
            "currency": CURRENCY,
            "payer_value": payer_value,
            "payer_currency": payer_currency,
            "wallet": wallet,
            "partner": PARTNER,
            "route_reason": route_reason.format(wallet=wallet),
            "quote_id": None,
            "rate": rate,
            "mid_rate": mid,
            "markup_bps": pricing.markup_bps if rate else None,
            "rate_source": pricing.rate_set.source if rate else None,
            "rate_set_id": pricing.rate_set.id if rate else None,
            "rate_as_of": pricing.rate_set.published_at if rate else None,
            "quote_expires_at": created + timedelta(minutes=5) if rate else None,
            "code_mask": code[:6] + "*" * 8 + code[-4:],
            "code_hash": f"{rng.getrandbits(256):064x}",
            "store_id": f"store-{i % 12:02d}",
            "terminal_id": f"pos-{i % 5}",
            "metadata_json": None,
            "failure_code": None,
            "failure_message": None,
            "partner_reference": f"2{day:%Y%m%d}{i:012d}",
            "partner_completed_at": completed,
            "created_at": created,
            "updated_at": completed,
            "refunded_value": 0,
            "reserved_value": 0,
            "reserved_payer_value": 0,
            "cancel_status": None,
            "cancel_requested_at": None,
            "merchant_fee": merchant_fee,
            "partner_fee": partner_fee,
            "fx_revenue": fx_revenue,
            "merchant_business_date": day_text,
            "partner_business_date": day_text,
            "next_action_at": None,
            "resolve_deadline": created + timedelta(seconds=60),
            "lease_owner": None,
            "lease_expires_at": None,
            "payment_method": "wallet_code",
            "qr_code": None,
            "qr_expires_at": None,
            "version": 1,
        }
        totals.payments += 1
        totals.payments_amount += value
        totals.payments_fees += merchant_fee
        refund: dict[str, Any] | None = None
        if rng.random() < refund_share:
            full = rng.random() < 0.5
            amount = value if full else max(100, (value * rng.randint(10, 90) // 100) // 100 * 100)
            r_payer, r_merchant_fee, r_partner_fee, r_fx = pricing.refund(payment, amount)
            r_done = completed + timedelta(seconds=rng.uniform(60, 4 * 3600))
            if r_done >= end:
                r_done = completed + (end - completed) * rng.random()
            r_created = r_done - timedelta(seconds=rng.uniform(0.5, 2.0))
            refund_id = _id("rf", r_created, rng)
            refund = {
                "id": refund_id,
                "payment_id": payment_id,
                "merchant_id": merchant_id,
                "kind": "merchant",
                "status": "succeeded",
                "amount_value": amount,
                "currency": CURRENCY,
                "payer_value": r_payer,
                "payer_currency": payer_currency,
                "partner": PARTNER,
                "partner_request_id": refund_id,
                "reason": "customer return" if full else "partial return",
                "failure_code": None,
                "failure_message": None,
                "partner_reference": f"R{day:%Y%m%d}{i:012d}",
                "partner_completed_at": r_done,
                "merchant_fee": r_merchant_fee,
                "partner_fee": r_partner_fee,
                "fx_revenue": r_fx,
                "merchant_business_date": day_text,
                "partner_business_date": day_text,
                "refund_calls": 1,
                "inquiries": 0,
                "created_at": r_created,
                "updated_at": r_done,
                "next_action_at": None,
                "lease_owner": None,
                "lease_expires_at": None,
                "version": 1,
            }
            payment["refunded_value"] = payment["reserved_value"] = amount
            payment["reserved_payer_value"] = r_payer
            payment["updated_at"] = r_done
            payment["version"] = 3
            totals.refunds += 1
            totals.refunds_amount += amount
            totals.refunds_fees += r_merchant_fee
        yield payment, refund


def _chunks(
    rows: Iterator[tuple[dict[str, Any], dict[str, Any] | None]], size: int
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    payments: list[dict[str, Any]] = []
    refunds: list[dict[str, Any]] = []
    for payment, refund in rows:
        payments.append(payment)
        if refund is not None:
            refunds.append(refund)
        if len(payments) >= size:
            yield payments, refunds
            payments, refunds = [], []
    if payments or refunds:
        yield payments, refunds


async def load_postgres(
    dsn: str, rows: Iterator[tuple[dict[str, Any], dict[str, Any] | None]]
) -> None:
    """COPY the payments in chunks, then the refunds (they reference their payments)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        refunds: list[dict[str, Any]] = []
        columns: list[str] | None = None
        for payments, chunk_refunds in _chunks(rows, 20_000):
            columns = columns or list(payments[0])
            records = [tuple(p[c] for c in columns) for p in payments]
            await conn.copy_records_to_table("payments", records=records, columns=columns)
            refunds += chunk_refunds
        if refunds:
            names = list(refunds[0])
            for at in range(0, len(refunds), 20_000):
                records = [tuple(r[c] for c in names) for r in refunds[at : at + 20_000]]
                await conn.copy_records_to_table("refunds", records=records, columns=names)
        await conn.execute("VACUUM ANALYZE payments")
        await conn.execute("VACUUM ANALYZE refunds")
    finally:
        await conn.close()


def load_sqlite(path: Path, rows: Iterator[tuple[dict[str, Any], dict[str, Any] | None]]) -> None:
    """executemany through SQLAlchemy Core (its types store the timestamps as the gateway does)."""
    import sqlalchemy as sa

    from gateway.storage.tables import metadata

    payments, refunds_table = metadata.tables["payments"], metadata.tables["refunds"]
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        refunds: list[dict[str, Any]] = []
        with engine.begin() as conn:
            for chunk, chunk_refunds in _chunks(rows, 20_000):
                conn.execute(payments.insert(), chunk)
                refunds += chunk_refunds
            for at in range(0, len(refunds), 20_000):
                conn.execute(refunds_table.insert(), refunds[at : at + 20_000])
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


# --- raw SQL on either database ---------------------------------------------------------------


class RawDb:
    """One connection with the plain driver: sqlite3, or asyncpg (`?` placeholders on both)."""

    def __init__(self, url: str, conn: Any) -> None:
        self.url = url
        self.conn = conn

    @property
    def sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    @classmethod
    async def connect(cls, url: str) -> RawDb:
        if url.startswith("sqlite"):
            import sqlite3

            return cls(url, sqlite3.connect(url.split(":///", 1)[1]))
        import asyncpg

        return cls(url, await asyncpg.connect(pg_dsn(url)))

    async def fetch(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.sqlite:
            return [tuple(row) for row in self.conn.execute(sql, params).fetchall()]
        parts = sql.split("?")
        numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], 1))
        return [tuple(row) for row in await self.conn.fetch(numbered, *params)]

    async def close(self) -> None:
        if self.sqlite:
            self.conn.close()
        else:
            await self.conn.close()


def pg_dsn(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


async def query(url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    db = await RawDb.connect(url)
    try:
        return await db.fetch(sql, *params)
    finally:
        await db.close()


def copy_select(batch_id: str) -> str:
    """The COPY denominator's query: the batch's frozen lines, every column its file has (the
    CSV's `id` is `object_id`), in file order, the `total` row included. asyncpg's
    `copy_from_query(…, format="csv")` sends it as `COPY (<this>) TO STDOUT (FORMAT 'csv')`."""
    from gateway.settlement import csvfile
    from gateway.storage.tables import metadata

    table = metadata.tables["settlement_lines"]
    names = [{"id": "object_id"}.get(c, c) for c in csvfile.COLUMNS]
    missing = [name for name in names if name not in table.c]
    if missing:
        raise RuntimeError(f"settlement_lines has no {missing}: the COPY would not match the file")
    quoted = batch_id.replace("'", "''")
    return (
        f"SELECT {', '.join(names)} FROM settlement_lines WHERE batch_id = '{quoted}' ORDER BY seq"
    )


def line_query(merchant: str, day: str) -> str:
    """The close's own line query (`settlement_batches._line_rows`: the batch's lines in file
    order, numbered), as PostgreSQL runs it, values inline."""
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    from gateway.settlement.model import BatchKey, BatchType
    from gateway.storage.settlement_batches import _line_rows

    key = BatchKey(BatchType.MERCHANT, merchant, CURRENCY, date.fromisoformat(day))
    stmt = _line_rows(key, "postgresql")
    compiled = stmt.compile(dialect=dialect(), compile_kwargs={"literal_binds": True})  # type: ignore[no-untyped-call]
    return str(compiled)


FLOOR_TABLE = "bench_floor_lines"
"""The table the write floor copies the lines into (made in a transaction rolled back)."""


AGGREGATE_SQL = (
    "SELECT 'payment', count(*), sum(amount_value), sum(merchant_fee) FROM payments"
    " WHERE merchant_id = ? AND merchant_business_date = ? AND status = 'succeeded'"
    " UNION ALL"
    " SELECT 'refund', count(*), sum(amount_value), sum(merchant_fee) FROM refunds"
    " WHERE merchant_id = ? AND merchant_business_date = ? AND kind = 'merchant'"
    " AND status = 'succeeded'"
)


# --- the steps (each run in a child process: `--step NAME`) -------------------------------------


def _status_mb(field_name: str) -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def _statement_kind(statement: str) -> str:
    text = " ".join(statement.split()).lower()
    if text.startswith("insert into settlement_lines") and " select " in text:
        return "freeze"
    if "from settlement_lines" in text and "count(" in text:
        return "totals"
    if "from settlement_lines" in text and "order by settlement_lines.seq" in text:
        return "pages"
    if text.startswith("insert into settlement_file_parts"):
        return "store_parts"
    if "from settlement_file_parts" in text:
        return "read_parts"
    if "union all" in text:
        return "find_open"
    return "other"


class SqlClock:
    """The time the child spends in each kind of SQL statement (SQLAlchemy's cursor events)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def install(self) -> None:
        import asyncpg.connection
        import asyncpg.cursor
        import sqlalchemy as sa

        sa.event.listen(sa.engine.Engine, "before_cursor_execute", self._before)
        sa.event.listen(sa.engine.Engine, "after_cursor_execute", self._after)
        # What the close runs on asyncpg's own connection, unseen by SQLAlchemy's events: the
        # line query's server-side cursor, and the binary COPY of the frozen lines.
        cursor, connection = asyncpg.cursor.Cursor, asyncpg.connection.Connection
        cursor.fetch = self._timed("read_lines", cursor.fetch)
        connection.copy_records_to_table = self._timed(
            "copy_lines", connection.copy_records_to_table
        )

    def _timed(self, kind: str, method: Any) -> Any:
        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self._add(kind, time.perf_counter() - started)

        return timed

    def _add(self, kind: str, took: float) -> None:
        self.seconds[kind] = self.seconds.get(kind, 0.0) + took
        self.count[kind] = self.count.get(kind, 0) + 1

    def _before(self, conn: Any, *_args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def _after(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        took = time.perf_counter() - conn.info["bench_started"].pop()
        self._add(_statement_kind(statement), took)


def run_step(args: argparse.Namespace) -> int:
    """The child: one measured step; its figures as JSON in `--result`."""
    url = os.environ["DATABASE_URL"]
    out: dict[str, Any] = {"step": args.step}
    if args.step == "aggregate":

        async def aggregate() -> tuple[float, list[tuple[Any, ...]]]:
            db = await RawDb.connect(url)
            try:
                started = time.perf_counter()
                rows = await db.fetch(
                    AGGREGATE_SQL, args.merchant, args.date, args.merchant, args.date
                )
                return time.perf_counter() - started, rows
            finally:
                await db.close()

        out["rss_before_mb"] = _status_mb("VmRSS")
        seconds, rows = asyncio.run(aggregate())
        out["seconds"] = seconds
        out["aggregate"] = {str(r[0]): [int(v or 0) for v in r[1:]] for r in rows}
    elif args.step == "copy":
        import asyncpg

        select = copy_select(args.batch)  # imports the gateway's tables before the RSS is read

        async def copy() -> tuple[float, int, int]:
            conn = await asyncpg.connect(pg_dsn(url))
            size = chunks = 0

            async def sink(chunk: bytes) -> None:
                nonlocal size, chunks
                size += len(chunk)
                chunks += 1

            try:
                started = time.perf_counter()
                await conn.copy_from_query(select, output=sink, format="csv")
                return time.perf_counter() - started, size, chunks
            finally:
                await conn.close()

        out["rss_before_mb"] = _status_mb("VmRSS")
        out["seconds"], out["bytes"], out["chunks"] = asyncio.run(copy())
        out["sql"] = f"COPY ({select}) TO STDOUT (FORMAT 'csv')"
    elif args.step == "lines_out":
        import asyncpg

        select = line_query(args.merchant, args.date)

        async def lines_out() -> tuple[float, int]:
            conn = await asyncpg.connect(pg_dsn(url))
            size = 0

            async def sink(chunk: bytes) -> None:
                nonlocal size
                size += len(chunk)

            try:
                await conn.execute("SET jit = off")  # as the close runs it
                started = time.perf_counter()
                await conn.copy_from_query(select, output=sink, format="binary")
                return time.perf_counter() - started, size
            finally:
                await conn.close()

        out["rss_before_mb"] = _status_mb("VmRSS")
        out["seconds"], out["bytes"] = asyncio.run(lines_out())
    elif args.step == "lines_in":
        import asyncpg

        from gateway.storage.tables import metadata

        frozen = [c.name for c in metadata.tables["settlement_lines"].columns]
        quoted = args.batch.replace("'", "''")
        lines_sql = (
            f"SELECT {', '.join(frozen)} FROM settlement_lines WHERE batch_id = '{quoted}'"
            " ORDER BY seq"
        )
        # An empty table like settlement_lines (its indexes and foreign key), made in the
        # transaction and rolled back with it: the same lines written as the close writes them,
        # without meeting the batch's own rows (their keys) in the indexes.
        make_table = (
            f"CREATE TABLE {FLOOR_TABLE} (LIKE settlement_lines INCLUDING DEFAULTS"
            " INCLUDING CONSTRAINTS INCLUDING INDEXES);"
            f" ALTER TABLE {FLOOR_TABLE} ADD FOREIGN KEY (batch_id)"
            " REFERENCES settlement_batches (id)"
        )
        source = Path(args.export_dir) / "lines.bin"

        async def lines_in() -> tuple[float, int]:
            conn = await asyncpg.connect(pg_dsn(url))
            try:
                await conn.copy_from_query(lines_sql, output=str(source), format="binary")
                transaction = conn.transaction()
                await transaction.start()
                try:
                    await conn.execute(make_table)
                    started = time.perf_counter()
                    await conn.copy_to_table(
                        FLOOR_TABLE, source=str(source), columns=frozen, format="binary"
                    )
                    return time.perf_counter() - started, source.stat().st_size
                finally:
                    await transaction.rollback()
            finally:
                await conn.close()
                source.unlink(missing_ok=True)

        out["rss_before_mb"] = _status_mb("VmRSS")
        out["seconds"], out["bytes"] = asyncio.run(lines_in())
    else:
        from gateway import cli

        clock = SqlClock()
        clock.install()
        argv = ["--config-dir", args.config_dir]
        if args.step == "close":
            argv += ["settle", "--date", args.date, "--merchant", args.merchant, "--force"]
        elif args.step == "export":
            argv += ["settlements", "export", "--date", args.date, "--merchant", args.merchant]
            argv += ["--out", args.export_dir]
        else:
            raise SystemExit(f"unknown step {args.step}")
        out["rss_before_mb"] = _status_mb("VmRSS")
        started = time.perf_counter()
        code = cli.main(argv, standalone_mode=False)
        out["seconds"] = time.perf_counter() - started
        if code not in (None, 0):
            raise SystemExit(f"gateway {' '.join(argv[2:4])} exited with {code}")
        out["sql_seconds"] = clock.seconds
        out["sql_statements"] = clock.count
    out["vm_hwm_mb"] = _status_mb("VmHWM")
    Path(args.result).write_text(json.dumps(out))
    return 0


# --- the orchestrator ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Options:
    sizes: list[int]
    databases: list[str]
    http: bool
    quick: bool
    out: Path
    docs: bool
    keep: bool
    refund_share: float
    seed: int


class Bench:
    def __init__(self, options: Options, tmp: Path) -> None:
        from bench.__main__ import _child_env, _copy_configs, _postgres_server
        from bench._procs import Children

        self.options = options
        self.tmp = tmp
        self.logs = tmp / "logs"
        self.children = Children(self.logs)
        self.config_dir = _copy_configs(tmp)
        self.env = _child_env(self.config_dir)
        self.pg_server = _postgres_server()
        self.pg_databases: list[str] = []
        self.pricing = Pricing(self.config_dir)
        self._running: subprocess.Popen[bytes] | None = None

    # databases ------------------------------------------------------------------------------

    def postgres_reachable(self) -> str | None:
        from bench._checks import pg_fetch

        try:
            asyncio.run(pg_fetch(self.pg_server, "SELECT 1"))
        except Exception as exc:
            return f"no PostgreSQL server ({type(exc).__name__}: {exc})"[:200]
        return None

    def postgres_facts(self) -> dict[str, str]:
        from bench._checks import pg_fetch

        names = ("server_version", "shared_buffers", "work_mem", "synchronous_commit")
        rows = asyncio.run(pg_fetch(self.pg_server, *(f"SHOW {name}" for name in names)))
        return {name: str(found[0][0]) for name, found in zip(names, rows, strict=True)}

    def new_database(self, database: str, n: int) -> str:
        from bench.__main__ import _with_database
        from bench._checks import pg_fetch
        from gateway.core.config import normalise_database_url
        from gateway.storage.migrate import upgrade

        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{self.tmp / f'settlement-{n}.db'}"
        else:
            import secrets

            name = f"bench_{secrets.token_hex(6)}"
            asyncio.run(pg_fetch(self.pg_server, f'CREATE DATABASE "{name}"'))
            self.pg_databases.append(name)
            url = normalise_database_url(_with_database(self.pg_server, name))
        upgrade(url)
        return url

    def drop_database(self, url: str) -> None:
        if url.startswith("sqlite"):
            path = Path(url.split(":///", 1)[1])
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
            return
        name = url.rsplit("/", 1)[1]
        self._drop(name)

    def _drop(self, name: str) -> None:
        from bench._checks import pg_fetch

        with contextlib.suppress(Exception):
            asyncio.run(pg_fetch(self.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        with contextlib.suppress(ValueError):
            self.pg_databases.remove(name)

    def drop_all(self) -> None:
        for name in list(self.pg_databases):
            self._drop(name)

    # children --------------------------------------------------------------------------------

    def step(self, name: str, url: str, merchant: str, day: date, **extra: str) -> dict[str, Any]:
        """One measured step in a child process of its own: its figures, its wall time and its
        peak RSS (its VmHWM) and CPU time (`wait4`)."""
        result = self.tmp / f"step-{name}.json"
        result.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "bench.settlement", "--step", name, "--result", str(result)]
        argv += ["--config-dir", str(self.config_dir), "--merchant", merchant, "--date", str(day)]
        for key, value in extra.items():
            argv += [f"--{key.replace('_', '-')}", value]
        log_path = self.logs / f"{name}.log"
        started = time.perf_counter()
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv,
                env={**self.env, "DATABASE_URL": url},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._running = proc
        watchdog = threading.Timer(STEP_TIMEOUT_S, _kill_group, (proc.pid,))
        watchdog.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
            self._running = None
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        if proc.returncode != 0 or not result.exists():
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"step {name} exited with {proc.returncode}:\n{tail}")
        data: dict[str, Any] = json.loads(result.read_text())
        data["wall_seconds"] = wall
        # The child's own VmHWM, not `ru_maxrss`: Linux carries the high-water mark across
        # fork + exec, so a child's `ru_maxrss` is never below this (larger) orchestrator's.
        data["peak_rss_mb"] = data["vm_hwm_mb"]
        data["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
        return data

    def kill_running(self) -> None:
        if self._running is not None:
            _kill_group(self._running.pid)
        self.children.kill_all()

    def http_step(self, url: str, batch_id: str, key: str, sha256: str) -> dict[str, Any]:
        """`gateway serve` on the database, and the batch's file downloaded once."""
        from bench._procs import cpu_seconds, free_port, gateway_command, peak_rss_mb

        port = free_port()
        server = self.children.spawn(
            "gateway-serve",
            [
                *gateway_command(),
                "--config-dir",
                str(self.config_dir),
                "serve",
                "--port",
                str(port),
            ],
            env={**self.env, "DATABASE_URL": url},
            port=port,
            cwd=REPO,
            ready_timeout=60,
        )
        try:
            headers = {"Authorization": f"Bearer {key}"}
            with urllib.request.urlopen(
                urllib.request.Request(f"{server.url}/v1/settlements/{batch_id}", headers=headers),
                timeout=60,
            ) as answer:
                batch = json.loads(answer.read())
            before, cpu_before = peak_rss_mb(server.pid), cpu_seconds(server.pid)
            digest = hashlib.sha256()
            size = 0
            started = time.perf_counter()
            first_64k: float | None = None  # the header row, then the first page of lines
            request = urllib.request.Request(
                f"{server.url}/v1/settlements/{batch_id}/file", headers=headers
            )
            with urllib.request.urlopen(request, timeout=STEP_TIMEOUT_S) as answer:
                headers_at = time.perf_counter() - started
                content_digest = answer.headers.get("Content-Digest", "")
                while chunk := answer.read1(1 << 16):  # what has arrived, not a full 64 KiB
                    digest.update(chunk)
                    size += len(chunk)
                    if first_64k is None and size >= 1 << 16:
                        first_64k = time.perf_counter() - started
            seconds = time.perf_counter() - started
            after, cpu_after = peak_rss_mb(server.pid), cpu_seconds(server.pid)
        finally:
            self.children.stop(server)
        expected_header = f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"
        return {
            "step": "http",
            "seconds": seconds,
            "headers_seconds": headers_at,
            "first_64k_seconds": first_64k,
            "cpu_seconds": None
            if cpu_before is None or cpu_after is None
            else round(cpu_after - cpu_before, 2),
            "bytes": size,
            "sha256": digest.hexdigest(),
            "content_digest_ok": content_digest == expected_header,
            "batch_status": batch.get("status"),
            "rss_before_mb": before,
            "peak_rss_mb": after,
        }

    # one size --------------------------------------------------------------------------------

    def one_size(self, database: str, n: int) -> dict[str, Any]:
        from bench.__main__ import _loadavg
        from gateway.core.config import load_settings
        from gateway.merchants import admin
        from gateway.merchants.auth import Role
        from gateway.storage.db import open_database

        settings = load_settings(self.config_dir, None, {})
        # Three weeks back, beyond the settlement worker's lookback: only `gateway settle` closes
        # it (the worker of the `gateway serve` started for the download never looks at it).
        lookback = settings.durations.settlement_lookback
        day = datetime.now(UTC).date() - max(timedelta(days=21), lookback + timedelta(days=7))
        url = self.new_database(database, n)
        try:

            async def prepare() -> tuple[str, str]:
                db = open_database(url)
                try:
                    merchant = await admin.create_merchant(
                        db,
                        name="Bench Bangkok Store",
                        country="TH",
                        currency=CURRENCY,
                        timezone=ZONE,
                        cutoff="00:00",
                        mdr_bps=MDR_BPS,
                        fixed_fee=FIXED_FEE,
                    )
                    key = await admin.create_key(db, role=Role.FINANCE, merchant_id=merchant)
                    return merchant, key
                finally:
                    await db.dispose()

            merchant, key = asyncio.run(prepare())
            generated = Generated()
            rows = generate(
                self.pricing,
                n=n,
                day=day,
                merchant_id=merchant,
                refund_share=self.options.refund_share,
                seed=self.options.seed + n,
                totals=generated,
            )
            _log(f"{database} N={n:,}: generating and loading")
            started = time.perf_counter()
            if database == "sqlite":
                load_sqlite(Path(url.split(":///", 1)[1]), rows)
            else:
                asyncio.run(load_postgres(pg_dsn(url), rows))
            generated.seconds = time.perf_counter() - started
            _log(
                f"{database} N={n:,}: {generated.payments:,} payments and {generated.refunds:,} "
                f"refunds in {generated.seconds:.1f} s; load average {_loadavg()}"
            )
            result: dict[str, Any] = {
                "database": database,
                "n": n,
                "business_date": day.isoformat(),
                "generated": dataclasses.asdict(generated),
                "loadavg_before": _loadavg(),
                "steps": {},
            }
            steps = result["steps"]
            steps["aggregate"] = self.step("aggregate", url, merchant, day)
            _log(f"{database} N={n:,}: aggregate {steps['aggregate']['seconds']:.3f} s")
            steps["close"] = self.step("close", url, merchant, day)
            _log(f"{database} N={n:,}: close {steps['close']['seconds']:.2f} s")
            batch = self.batch_row(url, merchant, day)
            copies: list[dict[str, Any]] = []
            if database == "postgresql" and batch is not None:
                copies.append(self.step("copy", url, merchant, day, batch=batch["id"]))
                steps["copy"] = copies[0]
                _log(f"{database} N={n:,}: copy {copies[0]['seconds']:.2f} s")
            export_dir = self.tmp / f"export-{database}-{n}"
            steps["export"] = self.step("export", url, merchant, day, export_dir=str(export_dir))
            _log(f"{database} N={n:,}: export {steps['export']['seconds']:.2f} s")
            if self.options.http and batch is not None:
                steps["http"] = self.http_step(url, batch["id"], key, batch["file_sha256"])
                _log(f"{database} N={n:,}: http {steps['http']['seconds']:.2f} s")
            if copies and batch is not None:
                copies.append(self.step("copy", url, merchant, day, batch=batch["id"]))
                result["copy_again"] = copies[1]
                _log(f"{database} N={n:,}: copy again {copies[1]['seconds']:.2f} s")
            again = self.step("aggregate", url, merchant, day)
            result["aggregate_again"] = again
            result["aggregate_seconds"] = min(steps["aggregate"]["seconds"], again["seconds"])
            result["close_over_aggregate"] = steps["close"]["seconds"] / max(
                result["aggregate_seconds"], 1e-9
            )
            result["copy_seconds"] = min(c["seconds"] for c in copies) if copies else None
            result["targets"] = targets(result)
            result["sizes_mb"] = self.sizes(url)
            if database == "postgresql" and batch is not None:
                # What the close cannot go below: its line query alone, and the same lines
                # COPYed into a table like settlement_lines (rolled back).
                floor_dir = self.tmp / f"floor-{database}-{n}"
                floor_dir.mkdir(exist_ok=True)
                result["lines_out"] = self.step("lines_out", url, merchant, day)
                result["lines_in"] = self.step(
                    "lines_in", url, merchant, day, batch=batch["id"], export_dir=str(floor_dir)
                )
                read, write = result["lines_out"]["seconds"], result["lines_in"]["seconds"]
                _log(f"{database} N={n:,}: floors: lines out {read:.2f} s, in {write:.2f} s")
            parts = self.stored_parts(url, batch["id"]) if batch is not None else None
            result["stored_parts"] = parts
            result["checks"] = verify(
                generated,
                steps["aggregate"]["aggregate"],
                batch,
                export_dir,
                steps.get("http"),
                parts=parts,
            )
            result["loadavg_after"] = _loadavg()
            if not self.options.keep:
                shutil.rmtree(export_dir, ignore_errors=True)
            return result
        finally:
            self.drop_database(url)

    def batch_row(self, url: str, merchant: str, day: date) -> dict[str, Any] | None:
        names = [
            "id",
            "line_count",
            "payments_count",
            "payments_amount",
            "refunds_count",
            "refunds_amount",
            "fees",
            "net",
            "file_sha256",
            "file_bytes",
        ]
        rows = asyncio.run(
            query(
                url,
                f"SELECT {', '.join(names)} FROM settlement_batches"
                " WHERE type = 'merchant' AND owner = ? AND business_date = ?",
                merchant,
                day.isoformat(),
            )
        )
        return dict(zip(names, rows[0], strict=True)) if rows else None

    def stored_parts(self, url: str, batch_id: str) -> dict[str, Any]:
        """The batch's file as stored at closing, read back one part at a time (memory: one
        part): its parts, their sizes, SHA-256 and total size."""
        from gateway.settlement.closing import FILE_PART_BYTES

        async def read() -> dict[str, Any]:
            db = await RawDb.connect(url)
            digest = hashlib.sha256()
            sizes: list[int] = []
            started = time.perf_counter()
            try:
                while True:
                    rows = await db.fetch(
                        "SELECT data FROM settlement_file_parts WHERE batch_id = ? AND seq = ?",
                        batch_id,
                        len(sizes) + 1,
                    )
                    if not rows:
                        break
                    data = bytes(rows[0][0])
                    digest.update(data)
                    sizes.append(len(data))
                (count,) = (
                    await db.fetch(
                        "SELECT count(*) FROM settlement_file_parts WHERE batch_id = ?", batch_id
                    )
                )[0]
            finally:
                await db.close()
            return {
                "parts": len(sizes),
                "parts_in_table": int(count),
                "bytes": sum(sizes),
                "smallest_part": min(sizes, default=0),
                "largest_part": max(sizes, default=0),
                # every part but the last at least `closing.FILE_PART_BYTES`
                "parts_full": all(size >= FILE_PART_BYTES for size in sizes[:-1]),
                "sha256": digest.hexdigest(),
                "seconds": time.perf_counter() - started,
            }

        return asyncio.run(read())

    def sizes(self, url: str) -> dict[str, float]:
        if url.startswith("sqlite"):
            path = Path(url.split(":///", 1)[1])
            return {"database": round(path.stat().st_size / 2**20, 1)}
        rows = asyncio.run(
            query(
                url,
                "SELECT pg_total_relation_size('payments'), pg_total_relation_size('refunds'),"
                " pg_total_relation_size('settlement_lines'),"
                " pg_total_relation_size('settlement_file_parts'),"
                " pg_database_size(current_database())",
            )
        )
        names = ("payments", "refunds", "settlement_lines", "settlement_file_parts", "database")
        return {k: round(int(v) / 2**20, 1) for k, v in zip(names, rows[0], strict=True)}


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --- verification --------------------------------------------------------------------------------


def _minor(text: str) -> int:
    """A rendered amount (`-12.50`, `1234`) back in minor units (the file writes exactly the
    currency's decimals, so dropping the point is exact)."""
    return int(text.replace(".", ""))


def verify(
    generated: Generated,
    aggregate: dict[str, list[int]],
    batch: dict[str, Any] | None,
    export_dir: Path,
    http: dict[str, Any] | None,
    *,
    parts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    checks: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str = "") -> None:
        checks.append((name, ok, detail))

    pay_count, pay_amount, pay_fees = aggregate.get("payment", [0, 0, 0])
    ref_count, ref_amount, ref_fees = aggregate.get("refund", [0, 0, 0])
    check(
        "aggregate = generated",
        (pay_count, pay_amount, pay_fees, ref_count, ref_amount, ref_fees)
        == (
            generated.payments,
            generated.payments_amount,
            generated.payments_fees,
            generated.refunds,
            generated.refunds_amount,
            generated.refunds_fees,
        ),
        f"{pay_count} payments, {ref_count} refunds",
    )
    if batch is None:
        check("batch closed", False, "no settlement_batches row")
        return _summary(checks)
    check(
        "batch totals = aggregate",
        (
            batch["payments_count"],
            batch["payments_amount"],
            batch["refunds_count"],
            batch["refunds_amount"],
            batch["fees"],
            batch["net"],
            batch["line_count"],
        )
        == (
            pay_count,
            pay_amount,
            ref_count,
            ref_amount,
            pay_fees - ref_fees,
            pay_amount - ref_amount - (pay_fees - ref_fees),
            pay_count + ref_count,
        ),
        f"net {batch['net']}",
    )
    if parts is not None:
        check(
            "file stored in parts",
            parts["parts"] > 0
            and parts["parts"] == parts["parts_in_table"]
            and parts["parts_full"],
            f"{parts['parts']} parts of {parts['smallest_part']:,}–{parts['largest_part']:,} bytes",
        )
        check(
            "stored parts sha256 = stored",
            parts["sha256"] == batch["file_sha256"] and parts["bytes"] == batch["file_bytes"],
            parts["sha256"],
        )
    files = sorted(export_dir.glob("merchant_*.csv"))
    if len(files) != 1:
        check("one exported file", False, f"found {[f.name for f in files]}")
        return _summary(checks)
    path = files[0]
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
    check("file sha256 = stored", digest.hexdigest() == batch["file_sha256"], digest.hexdigest())
    check(
        "file bytes = stored", path.stat().st_size == batch["file_bytes"], str(path.stat().st_size)
    )
    manifest = json.loads((export_dir / "manifest.json").read_text())
    entry = manifest["files"][0] if manifest["files"] else {}
    check(
        "manifest = stored",
        entry.get("sha256") == batch["file_sha256"] and entry.get("rows") == batch["line_count"],
    )
    counts = {"payment": 0, "refund": 0, "other": 0}
    sums = {"payment": [0, 0], "refund": [0, 0]}  # amount, fee
    amount = fee = net = 0
    net_ok = True
    total: dict[str, str] | None = None
    with path.open(newline="", encoding="utf-8") as text:
        for row in csv.DictReader(text):
            if row["record_type"] == "total":
                total = row
                continue
            kind = row["record_type"] if row["record_type"] in sums else "other"
            counts[kind] += 1
            a, f, t = _minor(row["amount"]), _minor(row["fee"]), _minor(row["net"])
            if kind in sums:
                sums[kind][0] += a
                sums[kind][1] += f
            amount, fee, net = amount + a, fee + f, net + t
            net_ok = net_ok and t == a - f
    check(
        "file rows = aggregate",
        (counts["payment"], counts["refund"], counts["other"]) == (pay_count, ref_count, 0),
        f"{counts['payment']} payment and {counts['refund']} refund rows",
    )
    check("net = amount − fee on every row", net_ok)
    check(
        "file sums = aggregate",
        sums == {"payment": [pay_amount, pay_fees], "refund": [-ref_amount, -ref_fees]},
    )
    check(
        "total row = sum of rows",
        total is not None
        and total["id"] == str(pay_count + ref_count)
        and (_minor(total["amount"]), _minor(total["fee"]), _minor(total["net"]))
        == (amount, fee, net),
    )
    if http is not None:
        check(
            "download sha256 = stored",
            http["sha256"] == batch["file_sha256"] and http["bytes"] == batch["file_bytes"],
        )
        check("Content-Digest = stored", bool(http["content_digest_ok"]))
    return _summary(checks)


def _summary(checks: list[tuple[str, bool, str]]) -> dict[str, Any]:
    return {
        "ok": all(ok for _, ok, _ in checks),
        "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks],
    }


# --- the run -----------------------------------------------------------------------------------


def _target(
    name: str, over: float | None, under: float | None, limit: float, why: str
) -> dict[str, Any]:
    if over is None or under is None:
        return {"name": name, "ratio": None, "limit": limit, "status": "n/a", "why": why}
    ratio = over / max(under, 1e-9)
    status = "PASS" if ratio <= limit else "FAIL"
    return {"name": name, "ratio": ratio, "limit": limit, "status": status, "why": ""}


def targets(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #16's per-N targets: close ≤ 10 × the aggregate, export and download ≤ 2 × the
    COPY of the same lines (the faster of its two runs; PostgreSQL only)."""
    steps = run["steps"]
    copy = run.get("copy_seconds")
    no_copy = "no COPY on SQLite" if run["database"] == "sqlite" else "no COPY"
    http = steps.get("http")
    return [
        _target(
            "close ÷ aggregate",
            steps["close"]["seconds"],
            run["aggregate_seconds"],
            CLOSE_LIMIT,
            "",
        ),
        _target("export ÷ copy", steps["export"]["seconds"], copy, STREAM_LIMIT, no_copy),
        _target(
            "download ÷ copy",
            None if http is None else http["seconds"],
            copy,
            STREAM_LIMIT,
            "no download (--no-http)" if http is None else no_copy,
        ),
    ]


def flatness(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per database and step: the peak RSS at the largest N against the smallest N's + margin."""
    verdicts: list[dict[str, Any]] = []
    for database in sorted({r["database"] for r in runs}):
        mine = sorted((r for r in runs if r["database"] == database), key=lambda r: r["n"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        for step in FLAT_STEPS:
            if step not in small["steps"] or step not in large["steps"]:
                continue
            low, high = small["steps"][step]["peak_rss_mb"], large["steps"][step]["peak_rss_mb"]
            verdicts.append(
                {
                    "database": database,
                    "step": step,
                    "small_n": small["n"],
                    "large_n": large["n"],
                    "small_mb": low,
                    "large_mb": high,
                    "status": "PASS" if high <= low + MEMORY_MARGIN_MB else "FAIL",
                }
            )
    return verdicts


def run(options: Options, tmp: Path, bench: Bench) -> dict[str, Any]:
    from bench.__main__ import _loadavg, _machine

    started = time.monotonic()
    result: dict[str, Any] = {
        "machine": _machine(),
        "config": {
            "sizes": options.sizes,
            "databases": options.databases,
            "refund_share": options.refund_share,
            "wallets": [list(w) for w in WALLETS],
            "http": options.http,
            "quick": options.quick,
            "seed": options.seed,
            "memory_margin_mb": MEMORY_MARGIN_MB,
        },
        "runs": [],
        "skipped": {},
    }
    try:
        for database in options.databases:
            if database == "postgresql":
                why = bench.postgres_reachable()
                if why is not None:
                    result["skipped"][database] = why
                    _log(f"skipping postgresql: {why}")
                    continue
                result["machine"]["postgresql"] = bench.postgres_facts()
            for n in options.sizes:
                result["runs"].append(bench.one_size(database, n))
    finally:
        bench.drop_all()
    result["machine"]["loadavg_end"] = _loadavg()
    result["memory_flat"] = flatness(result["runs"])
    result["ok"] = bool(result["runs"]) and all(r["checks"]["ok"] for r in result["runs"])
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


# --- reporting ---------------------------------------------------------------------------------


def _s(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _mb(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} MB"


def _growth(step: dict[str, Any]) -> str:
    before, peak = step.get("rss_before_mb"), step.get("peak_rss_mb")
    return "–" if before is None or peak is None else f"+{peak - before:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def _rows(run: dict[str, Any]) -> list[list[str]]:
    lines: list[list[str]] = []
    for name in MEASURED:
        step = run["steps"].get(name)
        if step is None:
            continue
        label = {
            "aggregate": "plain SQL aggregate",
            "close": "`gateway settle --force` (close)",
            "copy": "COPY (SELECT …) TO STDOUT",
            "export": "`gateway settlements export`",
            "http": "`GET …/file` (gateway serve)",
        }[name]
        wall = step.get("wall_seconds")
        lines.append(
            [
                label,
                _s(step["seconds"]),
                _s(wall),
                _mb(step.get("peak_rss_mb")),
                _growth(step),
            ]
        )
    return lines


def _breakdown(step: dict[str, Any]) -> str:
    sql: dict[str, float] = step.get("sql_seconds", {})
    parts = [
        f"{kind} {_s(sql[kind])}"
        for kind in (
            "find_open",
            "freeze",
            "totals",
            "pages",
            "read_lines",
            "copy_lines",
            "store_parts",
            "read_parts",
        )
        if kind in sql
    ]
    rest = step["seconds"] - sum(sql.values())
    other = f"other SQL {_s(sql.get('other', 0.0))}"
    if rest < 0:  # the close reads, renders and writes its lines at once: the times overlap
        return ", ".join([*parts, other]) + " (overlapping: they add up to more than the close)"
    return ", ".join([*parts, other, f"Python {_s(rest)}"])


def _floor(run: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """The close's floor, if measured: the line query's seconds, the COPY in's, their sum ÷
    the aggregate, and the close ÷ their sum."""
    if "lines_out" not in run or "lines_in" not in run:
        return None
    read, write = run["lines_out"]["seconds"], run["lines_in"]["seconds"]
    of_aggregate = (read + write) / max(run["aggregate_seconds"], 1e-9)
    return read, write, of_aggregate, run["steps"]["close"]["seconds"] / (read + write)


def _targets(run: dict[str, Any]) -> list[dict[str, Any]]:
    # Results saved before issue #16's targets have none stored: work them out.
    if "targets" in run:
        return list(run["targets"])
    return targets({"copy_seconds": None, **run})


def _ratio(target: dict[str, Any]) -> str:
    ratio = target["ratio"]
    if ratio is None:
        return "n/a"
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def _verdict(target: dict[str, Any]) -> str:
    if target["ratio"] is None:
        return f"{target['name']} n/a ({target['why']})"
    return f"{target['name']} {_ratio(target)} (≤ {target['limit']:g}×): {target['status']}"


def _memory_status(result: dict[str, Any]) -> str:
    verdicts = result.get("memory_flat") or []
    if not verdicts:
        return "n/a (one size only)"
    return "PASS" if all(v["status"] == "PASS" for v in verdicts) else "FAIL"


def render_summary(result: dict[str, Any]) -> str:
    lines: list[str] = []
    machine = result["machine"]
    lines.append(
        f"settlement benchmark: {machine['nproc']} cores, load average "
        f"{machine['loadavg_start']} → {machine.get('loadavg_end', '?')}"
    )
    for run in result["runs"]:
        gen = run["generated"]
        rows = gen["payments"] + gen["refunds"]
        lines.append("")
        lines.append(
            f"{run['database']} N={run['n']:,} ({rows:,} rows in the file, "
            f"{run['steps']['close'].get('sql_statements', {}).get('pages', 0)} pages); "
            f"generated in {gen['seconds']:.1f} s"
        )
        lines.append(f"  {'step':<36} {'time':>10} {'process':>10} {'peak RSS':>9} {'growth':>7}")
        for row in _rows(run):
            lines.append(f"  {row[0]:<36} {row[1]:>10} {row[2]:>10} {row[3]:>9} {row[4]:>7}")
        if "copy_again" in run:
            lines.append(
                f"  COPY again after the download: {_s(run['copy_again']['seconds'])} "
                f"({run['steps']['copy']['bytes'] / 2**20:.1f} MB of CSV)"
            )
        lines.append("  targets (issue #16): " + "; ".join(_verdict(t) for t in _targets(run)))
        lines.append(f"  close: {_breakdown(run['steps']['close'])}")
        if (floor := _floor(run)) is not None:
            read, write, of_aggregate, close_ratio = floor
            lines.append(
                f"  floor: line query alone {_s(read)} + COPY of the lines in {_s(write)} = "
                f"{of_aggregate:.0f}× the aggregate; close ÷ floor {close_ratio:.2f}"
            )
        lines.append(f"  export: {_breakdown(run['steps']['export'])}")
        failed = [c for c in run["checks"]["checks"] if not c["ok"]]
        lines.append(
            "  checks: "
            + ("all passed" if not failed else "FAILED: " + "; ".join(c["name"] for c in failed))
            + f" ({len(run['checks']['checks'])})"
        )
    if result["memory_flat"]:
        lines.append("")
        lines.append(
            f"memory flat (peak at largest N ≤ smallest + {MEMORY_MARGIN_MB:.0f} MB): "
            + _memory_status(result)
        )
        for v in result["memory_flat"]:
            lines.append(
                f"  {v['database']} {v['step']}: {v['small_mb']:.0f} MB at {v['small_n']:,} → "
                f"{v['large_mb']:.0f} MB at {v['large_n']:,}: {v['status']}"
            )
    for database, why in result["skipped"].items():
        lines.append(f"skipped {database}: {why}")
    return "\n".join(lines)


def kept_reading(previous: str | None) -> str:
    if not previous or READING not in previous:
        return _PLACEHOLDER
    body = previous.split(READING, 1)[1].split("\n## ", 1)[0].strip()
    return body or _PLACEHOLDER


def _n(run: dict[str, Any]) -> int:
    return int(run["n"])


def _lines_of(run: dict[str, Any]) -> int:
    return int(run["generated"]["payments"] + run["generated"]["refunds"])


def _per_second(run: dict[str, Any], step: str) -> str:
    found = run["steps"].get(step)
    return "–" if found is None else f"{_lines_of(run) / found['seconds'] / 1000:.0f}k"


def _download(http: dict[str, Any]) -> str:
    text = f"{http['bytes'] / 2**20:.1f} MB"
    if "first_64k_seconds" in http:
        return (
            f"{text}; response headers after {_s(http['headers_seconds'])}, the first 64 KiB "
            f"after {_s(http['first_64k_seconds'])}"
        )
    # Older results timed the first `read(64 KiB)` of the body.
    return f"{text}; the first read of 64 KiB after {_s(http.get('first_byte_seconds'))}"


def _database_section(database: str, runs: list[dict[str, Any]]) -> list[str]:
    title = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}.get(database, database)
    lines = [f"## {title}", "", "Time of the operation itself (lines per second in brackets):", ""]
    lines += _table(
        [
            "N (file lines)",
            "aggregate",
            "close",
            "COPY",
            "export",
            "download",
            "close ÷ aggregate",
            "export ÷ COPY",
            "download ÷ COPY",
        ],
        [
            [
                f"{run['n']:,} ({_lines_of(run):,})",
                _s(run["aggregate_seconds"]),
                f"{_s(run['steps']['close']['seconds'])} ({_per_second(run, 'close')})",
                "n/a" if run.get("copy_seconds") is None else _s(run["copy_seconds"]),
                f"{_s(run['steps']['export']['seconds'])} ({_per_second(run, 'export')})",
                f"{_s(run['steps']['http']['seconds'])} ({_per_second(run, 'http')})"
                if "http" in run["steps"]
                else "–",
            ]
            + [f"**{_ratio(t)}** {t['status']}" for t in _targets(run)]
            for run in runs
        ],
    )
    lines += [
        "",
        f"Targets (issue #16): close ≤ {CLOSE_LIMIT:g} × the aggregate, export and download ≤ "
        f"{STREAM_LIMIT:g} × the COPY (the faster of its two runs, after the close and after the "
        "download). Peak RSS of each step's process, and its growth during the step:",
        "",
    ]
    lines += _table(
        ["N", "aggregate", "close", "COPY", "export", "download (server)"],
        [
            [f"{run['n']:,}"]
            + [
                f"{_mb(run['steps'][step]['peak_rss_mb'])} ({_growth(run['steps'][step])})"
                if step in run["steps"]
                else "–"
                for step in MEASURED
            ]
            for run in runs
        ],
    )
    lines.append("")
    for run in runs:
        gen, steps = run["generated"], run["steps"]
        lines += [
            f"N = {run['n']:,}: {gen['payments']:,} payments + {gen['refunds']:,} refunds, "
            f"generated and loaded in {gen['seconds']:.1f} s; load average "
            f"{run['loadavg_before']} before the steps, {run['loadavg_after']} after.",
            "",
            "- whole processes (start-up included): "
            + ", ".join(
                f"{step} {_s(steps[step]['wall_seconds'])}"
                for step in ("aggregate", "close", "copy", "export")
                if step in steps
            )
            + f"; aggregate {_s(steps['aggregate']['seconds'])} before the close, "
            f"{_s(run['aggregate_again']['seconds'])} after the export",
            f"- close, by SQL statement: {_breakdown(steps['close'])}",
            f"- export, by SQL statement: {_breakdown(steps['export'])}",
        ]
        if "copy" in steps:
            copy = steps["copy"]
            again = run.get("copy_again", {}).get("seconds")
            lines.append(
                f"- COPY: {copy['bytes'] / 2**20:.1f} MB of CSV in {copy.get('chunks', '?'):,} "
                f"chunks; {_s(copy['seconds'])} after the close, {_s(again)} after the download"
            )
        if (floor := _floor(run)) is not None:
            read, write, of_aggregate, close_ratio = floor
            lines.append(
                f"- floor: the close's line query alone (`COPY (…) TO STDOUT`, binary, without "
                f"JIT) {_s(read)} ({run['lines_out']['bytes'] / 2**20:.0f} MB), the same lines "
                f"COPYed into a table like settlement_lines (binary, rolled back) {_s(write)}: "
                f"together "
                f"{_s(read + write)} = {of_aggregate:.0f}× the aggregate; the close "
                f"took {close_ratio:.2f}× that"
            )
        parts = run.get("stored_parts")
        if parts:
            lines.append(
                f"- stored file: {parts['parts']} parts of {parts['smallest_part'] / 2**20:.2f}–"
                f"{parts['largest_part'] / 2**20:.2f} MB, {parts['bytes'] / 2**20:.1f} MB "
                f"(read back and hashed in {_s(parts['seconds'])})"
            )
        http = steps.get("http")
        cpu = [
            f"{step} {_s(steps[step]['cpu_seconds'])}"
            for step in MEASURED
            if step in steps and steps[step].get("cpu_seconds") is not None
        ]
        if cpu:
            lines.append(
                "- CPU time of the process (the server's, during the download): " + ", ".join(cpu)
            )
        if http is not None:
            lines.append(f"- download: {_download(http)}")
        lines.append("- sizes (MB): " + ", ".join(f"{k} {v}" for k, v in run["sizes_mb"].items()))
        checks = run["checks"]["checks"]
        failed = [c["name"] for c in checks if not c["ok"]]
        lines.append(
            f"- checks: all {len(checks)} passed ({'; '.join(c['name'] for c in checks)})"
            if not failed
            else "- checks: **FAILED**: " + "; ".join(failed)
        )
        lines.append("")
    return lines


def render_markdown(result: dict[str, Any], previous: str | None = None) -> str:
    machine = result["machine"]
    config = result["config"]
    pg = machine.get("postgresql")
    lines = [
        "# Settlement benchmark",
        "",
        "What closing and exporting one merchant's daily settlement batch costs as it grows,",
        "beside the cost of one plain SQL aggregate over the same rows and one PostgreSQL `COPY` "
        "of the same frozen lines in the same run (issues #6 and #16). "
        f"Generated by `python -m bench.settlement` on {machine['date']}; the raw figures are in",
        "`bench/results/settlement-<ts>.json` (not committed).",
        "",
        "```sh",
        ".venv/bin/python -m bench.settlement          # 100k and 1M on PostgreSQL; rewrites this",
        ".venv/bin/python -m bench.settlement --quick  # smoke: 2,000 on SQLite and PostgreSQL",
        ".venv/bin/python -m bench.settlement --sizes 10000,100000 --database sqlite --no-docs",
        "```",
        "",
        "## Set-up",
        "",
        f"- **Machine**: {machine['nproc']} cores ({machine['cpu_model']}), {machine['mem_gb']} GB "
        f"RAM, Python {machine['python']}, {machine['kernel']}; shared with other engineers' test "
        f"runs: 1/5/15-minute load average {machine['loadavg_start']} at the start, "
        f"{machine.get('loadavg_end', '?')} at the end.",
    ]
    if pg:
        lines.append(
            f"- **PostgreSQL** {pg['server_version']} on the same machine, stock settings "
            f"(shared_buffers {pg['shared_buffers']}, work_mem {pg['work_mem']}, "
            f"synchronous_commit {pg['synchronous_commit']})."
        )
    lines += [
        f"- **Data**: per N, a fresh database with one merchant (THB, {ZONE}, {MDR_BPS} bps + "
        f"{FIXED_FEE / 100:.2f} THB) and N payments succeeded on one business date through "
        f"`{PARTNER}` ("
        + ", ".join(f"{share:.0%} {wallet} in {ccy}" for wallet, ccy, share in WALLETS)
        + f"), {config['refund_share']:.0%} of them refunded (half in full); COPY-loaded with "
        "every column the lifecycle stores (fees, FX, business dates), then `VACUUM ANALYZE`.",
        "- **Steps**, each its own process (peak RSS = that process's VmHWM): the aggregate "
        "(one `SELECT count(*), sum(amount_value), sum(merchant_fee)` over the day's payments, "
        "`UNION ALL` the same over its refunds), `gateway settle --date D --merchant M --force`, "
        "on PostgreSQL `COPY (SELECT <the file's columns> FROM settlement_lines WHERE "
        "batch_id = '<id>' ORDER BY seq) TO STDOUT (FORMAT 'csv')` through asyncpg's "
        "`copy_from_query` into a sink counting the bytes (after the close, and again after the "
        "download), `gateway settlements export --date D --merchant M --out DIR`, and one "
        "download of the file from `gateway serve` with a finance key (the server's VmHWM); "
        "then, on PostgreSQL, the close's floor: its own line query alone (a binary "
        "`COPY (…) TO STDOUT` without JIT, into a sink counting the bytes), and the same frozen "
        "lines as a binary `COPY … FROM STDIN` into an empty table like `settlement_lines` (its "
        "indexes and foreign key), in a transaction rolled back.",
        f"- **This run**: sizes {', '.join(f'{n:,}' for n in config['sizes'])} on "
        f"{', '.join(config['databases'])}.",
        "- **time** is the operation inside the process (the query; the CLI command after its "
        "imports; the download); **process** is the whole child from `exec` to exit; "
        "**growth** is the peak RSS over the process's RSS just before the operation (the "
        "interpreter with the gateway imported; for the server, after start-up and one request).",
        "",
    ]
    lines += ["## Targets (issue #16)", ""]
    rows: list[list[str]] = []
    for run in sorted(result["runs"], key=lambda r: (r["database"], r["n"])):
        for t in _targets(run):
            rows.append(
                [
                    run["database"],
                    f"{run['n']:,}",
                    t["name"],
                    f"≤ {t['limit']:g}×",
                    _ratio(t),
                    f"**{t['status']}**" if t["ratio"] is not None else f"n/a ({t['why']})",
                ]
            )
    for v in result["memory_flat"]:
        rows.append(
            [
                v["database"],
                f"{v['small_n']:,} → {v['large_n']:,}",
                f"peak RSS, {v['step']}",
                f"≤ +{MEMORY_MARGIN_MB:.0f} MB",
                f"{v['small_mb']:.0f} → {v['large_mb']:.0f} MB",
                f"**{v['status']}**",
            ]
        )
    lines += _table(["database", "N", "target", "limit", "measured", ""], rows)
    lines.append("")
    for database in dict.fromkeys(run["database"] for run in result["runs"]):
        lines += _database_section(
            database, sorted((r for r in result["runs"] if r["database"] == database), key=_n)
        )
    if result["memory_flat"]:
        lines += [
            "## Memory: flat as N grows?",
            "",
            f"Peak RSS at the largest N against the smallest N + {MEMORY_MARGIN_MB:.0f} MB "
            "(reported, not enforced):",
            "",
        ]
        lines += _table(
            ["database", "step", "smallest N", "largest N", ""],
            [
                [
                    v["database"],
                    v["step"],
                    f"{v['small_mb']:.0f} MB at {v['small_n']:,}",
                    f"{v['large_mb']:.0f} MB at {v['large_n']:,}",
                    f"**{v['status']}**",
                ]
                for v in result["memory_flat"]
            ],
        )
        lines.append("")
    for database, why in result["skipped"].items():
        lines += [f"Not run: {database}: {why}", ""]
    lines += [READING, "", kept_reading(previous), ""]
    return "\n".join(lines)


# --- command line --------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not sizes or any(size < 1 for size in sizes):
        raise argparse.ArgumentTypeError("sizes must be ≥ 1")
    return sizes


def _databases(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or any(n not in ("sqlite", "postgresql") for n in names):
        raise argparse.ArgumentTypeError("databases: sqlite, postgresql")
    return names


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.settlement",
        description="Close and export a settlement batch of N payments vs one SQL aggregate "
        "(see docs/settlement-benchmark.md).",
    )
    parser.add_argument("--sizes", type=_sizes, default=None, help="default 100000,1000000")
    parser.add_argument(
        "--database",
        "--databases",
        dest="databases",
        type=_databases,
        default=None,
        help="postgresql (default), sqlite, or both: sqlite,postgresql",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke size: N={QUICK_SIZE:,} on SQLite and (if one answers) PostgreSQL, no docs",
    )
    parser.add_argument("--no-http", action="store_true", help="skip the download step")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--no-docs", action="store_true", help=f"do not rewrite {DOCS.name}")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, SQLite)")
    parser.add_argument("--refund-share", type=float, default=REFUND_SHARE)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="RESULT_JSON",
        help=f"only rewrite docs/{DOCS.name} from a saved result (no run)",
    )
    # The child's side (one measured step): not for people.
    parser.add_argument(
        "--step",
        choices=("aggregate", "close", "copy", "export", "lines_out", "lines_in"),
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--batch", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--config-dir", help=argparse.SUPPRESS)
    parser.add_argument("--merchant", help=argparse.SUPPRESS)
    parser.add_argument("--date", help=argparse.SUPPRESS)
    parser.add_argument("--export-dir", help=argparse.SUPPRESS)
    return parser


def parse_options(args: argparse.Namespace) -> Options:
    quick: bool = args.quick
    return Options(
        sizes=args.sizes or ([QUICK_SIZE] if quick else list(FULL_SIZES)),
        databases=args.databases or (["sqlite", "postgresql"] if quick else ["postgresql"]),
        http=not args.no_http,
        quick=quick,
        out=args.out,
        docs=not (quick or args.no_docs),
        keep=args.keep,
        refund_share=args.refund_share,
        seed=args.seed,
    )


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.step is not None:
        return run_step(args)
    if args.render is not None:
        result = json.loads(args.render.read_text())
        DOCS.write_text(render_markdown(result, DOCS.read_text() if DOCS.exists() else None))
        print(f"docs:   {DOCS}")
        return 0
    options = parse_options(args)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-settlement-"))
    (tmp / "logs").mkdir()
    keep = options.keep
    bench: Bench | None = None
    try:
        bench = Bench(options, tmp)
        result = run(options, tmp, bench)
    except KeyboardInterrupt as exc:
        _log(f"interrupted ({exc or 'SIGINT'}): stopping every child process")
        return 130
    except Exception as exc:
        _log(f"failed: {type(exc).__name__}: {exc}")
        _log(f"logs kept in {tmp / 'logs'}")
        keep = True
        return 2
    finally:
        if bench is not None:
            bench.kill_running()
            bench.drop_all()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = options.out / f"settlement-{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(render_summary(result))
    print(f"\nresult: {path}  ({result['elapsed_s']} s)")
    if options.docs and result["runs"]:
        previous = DOCS.read_text() if DOCS.exists() else None
        DOCS.write_text(render_markdown(result, previous))
        print(f"docs:   {DOCS}")
    if keep:
        print(f"temp:   {tmp}")
    if not result["runs"]:
        _log("nothing was measured")
        return 2
    print("checks: " + ("all passed" if result["ok"] else "FAILED (see above)"))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
