"""The cost of one refresh of 40 currencies, step by step, beside baselines of the same run.

    python -m bench.fxrefresh --url DATABASE_URL [--url DATABASE_URL ...] [--migrate]
                              [--iterations 2000] [--store-iterations 200]

One JSON line out. The documents are `bench.fxfeed`'s: the ECB eurofxref-daily.xml layout with
40 currencies, a distinct variant per iteration (every rate moved by at most ±0.25 %), so that each
refresh is a new publication, as `gateway/rates/refresher.py` sees one. Per iteration, in turn
(interleaved, so the machine's noise falls on every step alike):

CPU (once, in this process):
- `parse`: `fx.parse_ecb_xml(body)`, the XML to a checked `RateSet` (its id is a SHA-256);
- `rate_set`: `fx.RateSet(...)` alone, from the already parsed Decimals (inside `parse`);
- `largest_move`: `fx.largest_move(previous, new)`, the refresher's jump check;
- `install`: `RateBook.install(new)` (an `EcbCalendar` book: the set's `current_until`);
- baselines: `json_loads`, `json.loads` of a JSON document of the same content padded to the
  XML's byte size; `xml_parse`, `xml.etree.ElementTree.fromstring` of the XML (expat alone).

Per database `--url` (a real SQLite file, WAL, `synchronous=FULL`; PostgreSQL, `synchronous_commit`
on), through the gateway's own `GroupCommitWriter` and `gateway/storage/rates.py`:
- `claim`: `claim_feed(force=True)`, the refresher's lease (one commit);
- `store`: `finish_feed(rate_set=new)`, the release and the set's row (one commit);
- `reload`: `latest_rate_sets` + `RateBook.install`, what every process does after each poll;
- baseline: `plain_insert`, one `INSERT` of one row holding the same rates JSON, in its own commit
  through the same writer.

A refresh is parse + largest_move + claim + store + install (medians summed); the fetch itself
(HTTP) is not in it. Ratios: parse ÷ json_loads, parse ÷ xml_parse, claim+store ÷ plain_insert,
refresh ÷ plain_insert.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

import fx
from bench import fxfeed

__all__ = ["cpu_steps", "db_steps", "json_twin", "main", "summarise"]

SOURCE = "bench40"  # a source of its own: a gateway's "ecb" rows are never touched
_PLAIN = "bench_plain_rows"
_EUR = fx.get_currency("EUR")


def documents(count: int) -> list[bytes]:
    return [fxfeed.document(rates_=fxfeed.variant(i)) for i in range(count)]


def json_twin(xml: bytes) -> bytes:
    """The XML's content as JSON (subject, sender, day, the rates as written), padded with
    spaces before its last `}` to the XML's byte size."""
    root = ET.fromstring(xml)
    ns = {"ecb": "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"}
    day = root.find("ecb:Cube/ecb:Cube[@time]", ns)
    assert day is not None
    doc = {
        "subject": "Reference rates",
        "sender": {"name": "European Central Bank"},
        "cubes": [
            {
                "time": day.get("time"),
                "rates": [
                    {"currency": c.get("currency"), "rate": c.get("rate")}
                    for c in day.iterfind("ecb:Cube", ns)
                ],
            }
        ],
    }
    text = json.dumps(doc).encode()  # 1,696 bytes for the 40 rates (the XML: 2,009)
    if len(text) < len(xml):
        text = text[:-1] + b" " * (len(xml) - len(text)) + b"}"
    return text


def summarise(samples: Sequence[float]) -> dict[str, float | int]:
    """µs: median, p90, mean, min over the samples (given in seconds)."""
    us = sorted(s * 1e6 for s in samples)
    return {
        "n": len(us),
        "median_us": round(statistics.median(us), 2),
        "p90_us": round(us[min(len(us) - 1, int(0.9 * len(us)))], 2),
        "mean_us": round(statistics.fmean(us), 2),
        "min_us": round(us[0], 2),
    }


def cpu_steps(iterations: int, docs: Sequence[bytes]) -> dict[str, list[float]]:
    """Seconds per step per iteration (module docstring)."""
    parsed = [fx.parse_ecb_xml(doc, source=SOURCE) for doc in docs]
    decimals = [dict(s.rates) for s in parsed]
    published = parsed[0].published_at
    twin = json_twin(docs[0])
    book = fx.RateBook([(SOURCE, fx.EcbCalendar())])
    previous = parsed[-1]
    book.install(previous)
    out: dict[str, list[float]] = {
        k: [] for k in ("parse", "rate_set", "largest_move", "install", "json_loads", "xml_parse")
    }
    clock = time.perf_counter
    for i in range(iterations):
        doc = docs[i % len(docs)]
        t0 = clock()
        new = fx.parse_ecb_xml(doc, source=SOURCE)
        t1 = clock()
        fx.RateSet(SOURCE, _EUR, decimals[i % len(docs)], published)
        t2 = clock()
        move = fx.largest_move(previous, new)
        t3 = clock()
        installed = book.install(new)
        t4 = clock()
        json.loads(twin)
        t5 = clock()
        ET.fromstring(doc)
        t6 = clock()
        if move is None or not installed:
            raise RuntimeError(f"iteration {i}: no move or not installed ({move}, {installed})")
        previous = new
        for key, dt in zip(
            out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
        ):
            out[key].append(dt)
    return out


async def db_steps(url: str, iterations: int, docs: Sequence[bytes]) -> dict[str, Any]:
    """Seconds per step per iteration on the database at `url` (already migrated), and what
    was stored."""
    from gateway.storage import rates as repo
    from gateway.storage.db import open_database
    from gateway.storage.writer import GroupCommitWriter

    sets = [fx.parse_ecb_xml(doc, source=SOURCE) for doc in docs[:iterations]]
    body = json.dumps(
        {c: fx.format_rate(r) for c, r in sets[0].rates.items()}, separators=(",", ":")
    )
    db = open_database(url)
    writer = GroupCommitWriter(db.writer)
    await writer.start()
    out: dict[str, list[float]] = {k: [] for k in ("claim", "store", "plain_insert", "reload")}
    try:

        async def create(conn: AsyncConnection) -> None:
            await conn.execute(
                sa.text(f"CREATE TABLE {_PLAIN} (id VARCHAR(40) PRIMARY KEY, body TEXT NOT NULL)")
            )

        await writer.run(create)
        await writer.run(repo.ensure_feeds([SOURCE], datetime.now(UTC)))
        book = fx.RateBook([(SOURCE, fx.EcbCalendar())])
        clock = time.perf_counter
        for i, rate_set in enumerate(sets):

            async def plain(conn: AsyncConnection, i: int = i) -> None:
                await conn.execute(
                    sa.text(f"INSERT INTO {_PLAIN} (id, body) VALUES (:id, :body)"),
                    {"id": f"row_{i:08d}", "body": body},
                )

            now = datetime.now(UTC)
            t0 = clock()
            claim = await writer.run(
                repo.claim_feed(
                    SOURCE,
                    owner="bench",
                    now=now,
                    lease_until=now + timedelta(seconds=40),
                    force=True,
                )
            )
            t1 = clock()
            if claim is None:
                raise RuntimeError("the feed's lease was not taken")
            done = datetime.now(UTC)
            stored = await writer.run(
                repo.finish_feed(
                    claim,
                    owner="bench",
                    now=done,
                    next_fetch_at=done + timedelta(seconds=1),
                    etag=f'"{rate_set.id}"',
                    rate_set=rate_set,
                )
            )
            t2 = clock()
            await writer.run(plain)
            t3 = clock()
            latest = await repo.latest_rate_sets(db, [SOURCE])
            book.install(latest[SOURCE])
            t4 = clock()
            if not stored or latest[SOURCE].id != rate_set.id:
                raise RuntimeError(f"iteration {i}: the set was not stored and read back")
            for key, dt in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                out[key].append(dt)
        async with db.reader.connect() as conn:
            rows = (
                await conn.execute(
                    sa.text("SELECT count(*) FROM rate_sets WHERE source = :s"), {"s": SOURCE}
                )
            ).scalar_one()
            plain_rows = (
                await conn.execute(sa.text(f"SELECT count(*) FROM {_PLAIN}"))
            ).scalar_one()
    finally:
        await writer.stop()
        await db.dispose()
    return {
        "dialect": db.dialect,
        "steps": {k: summarise(v) for k, v in out.items()},
        "rate_sets_stored": int(rows),
        "plain_rows": int(plain_rows),
        "rates_json_bytes": len(body),
    }


def _median(steps: dict[str, Any], name: str) -> float:
    return float(steps[name]["median_us"])


def run(urls: Sequence[str], iterations: int, store_iterations: int) -> dict[str, Any]:
    docs = documents(max(store_iterations, 64))
    cpu = {k: summarise(v) for k, v in cpu_steps(iterations, docs[:64]).items()}
    result: dict[str, Any] = {
        "currencies": len(fxfeed.rates()),
        "xml_bytes": len(docs[0]),
        "json_bytes": len(json_twin(docs[0])),
        "iterations": iterations,
        "store_iterations": store_iterations,
        "cpu": cpu,
        "cpu_refresh_us": round(
            sum(_median(cpu, k) for k in ("parse", "largest_move", "install")), 2
        ),
        "ratios": {
            "parse_over_json_loads": round(_median(cpu, "parse") / _median(cpu, "json_loads"), 2),
            "parse_over_xml_parse": round(_median(cpu, "parse") / _median(cpu, "xml_parse"), 2),
        },
        "databases": {},
    }
    for url in urls:
        data = asyncio.run(db_steps(url, store_iterations, docs))
        steps = data["steps"]
        store = _median(steps, "claim") + _median(steps, "store")
        refresh = result["cpu_refresh_us"] + store
        plain = _median(steps, "plain_insert")
        data["refresh_us"] = round(refresh, 2)
        data["ratios"] = {
            "claim_store_over_plain_insert": round(store / plain, 2),
            "refresh_over_plain_insert": round(refresh / plain, 2),
            "refresh_cpu_share": round(result["cpu_refresh_us"] / refresh, 3),
        }
        result["databases"][data["dialect"]] = data
    return result


def main(argv: Sequence[str] | None = None) -> None:
    from gateway.core.config.fields import normalise_database_url
    from gateway.storage.migrate import upgrade

    parser = argparse.ArgumentParser(prog="python -m bench.fxrefresh")
    parser.add_argument("--url", action="append", default=[], help="a database (repeatable)")
    parser.add_argument("--migrate", action="store_true", help="migrate each database first")
    parser.add_argument("--iterations", type=int, default=2000, help="CPU steps")
    parser.add_argument("--store-iterations", type=int, default=200, help="database steps")
    args = parser.parse_args(argv)
    if args.iterations < 2 or args.store_iterations < 2:
        parser.error("--iterations and --store-iterations must be ≥ 2")
    urls = [normalise_database_url(url) for url in args.url]
    if args.migrate:
        for url in urls:
            upgrade(url)
    result = run(urls, args.iterations, args.store_iterations)
    sys.stdout.write(json.dumps(result, separators=(",", ":"), default=str) + "\n")


if __name__ == "__main__":
    main()
