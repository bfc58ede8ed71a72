"""The FX benchmark's checks (`python -m bench.quotes`): the answers, and the database after a
gateway target's server stopped.

Every answer must be `201` with `"object": "fx_quote"` and a distinct id; the database must hold
as many quotes as requests were sent (warm-up included), with the ids answered, and one completed
Idempotency-Key (answer `201`) per quote; with a refresh every second, the refresher must have
stored more than the first set.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench._checks import pg_fetch
from bench._procs import GroupMemory, Server

if TYPE_CHECKING:
    from bench.quotes import QuotesSpec

__all__ = ["Running", "answers", "check_quotes", "median_run", "public", "read_quotes"]

_QUERIES = (
    ("quote_ids", "SELECT id FROM quotes"),
    (
        "quote_keys",
        "SELECT count(*) FROM idempotency_keys WHERE resource_id LIKE 'qt_%' "
        "AND state = 'completed' AND response_status = 201",
    ),
    ("rate_sets", "SELECT count(*) FROM rate_sets WHERE source = 'ecb'"),
)


def read_quotes(url: str) -> dict[str, Any]:
    statements = [sql for _, sql in _QUERIES]
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1])
        try:
            rows = [conn.execute(sql).fetchall() for sql in statements]
        finally:
            conn.close()
    else:
        rows = asyncio.run(pg_fetch(url, *statements))
    return {
        "quote_ids": [r[0] for r in rows[0]],
        "quote_keys": int(rows[1][0][0]),
        "rate_sets": int(rows[2][0][0]),
    }


def answers(runs: list[dict[str, Any]]) -> dict[str, Any]:
    sent = sum(r["sent_total"] for r in runs)
    good = sum(r["succeeded_total"] for r in runs)
    ids = [i for r in runs for i in r["ids"]]
    problems = []
    if good != sent:
        statuses: dict[str, int] = {}
        for r in runs:
            for k, v in r["statuses"].items():
                statuses[k] = statuses.get(k, 0) + v
        problems.append(f"{sent - good} of {sent} answers not 201 fx_quote: {statuses}")
    if len(set(ids)) != sent:
        problems.append(f"{len(set(ids))} distinct quote ids for {sent} requests")
    return {"sent": sent, "good": good, "distinct_ids": len(set(ids)), "problems": problems}


def check_quotes(
    runs: list[dict[str, Any]], db: dict[str, Any], *, refresh: bool
) -> dict[str, Any]:
    check = answers(runs)
    problems: list[str] = check["problems"]
    answered = {i for r in runs for i in r["ids"]}
    stored = db["quote_ids"]
    if len(stored) != check["sent"]:
        problems.append(f"{len(stored)} quotes in the database for {check['sent']} requests")
    if set(stored) != answered:
        problems.append(f"{len(set(stored) ^ answered)} quote ids differ (answered vs stored)")
    if db["quote_keys"] != check["sent"]:
        problems.append(f"{db['quote_keys']} completed quote Idempotency-Keys for {check['sent']}")
    if refresh and db["rate_sets"] < 2:
        problems.append(f"refresher stored {db['rate_sets']} rate set(s): it did not refresh")
    check.update(db_quotes=len(stored), db_keys=db["quote_keys"], ok=not problems)
    return check


def public(run: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in run.items() if k != "ids"}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median throughput (the lower middle one for an even count), its figures."""
    ordered = sorted(runs, key=lambda r: r["quotes_per_s"])
    mid = ordered[(len(ordered) - 1) // 2]
    return {
        "quotes_per_s": mid["quotes_per_s"],
        "quotes_per_s_all": [r["quotes_per_s"] for r in runs],
        "latency_ms": mid["latency_ms"],
        "own_ms": mid["own_ms"],
        "response_bytes": mid["response_bytes"],
        "server_cpu_ms_per_request": mid.get("server_cpu_ms_per_request"),
        "loadgen_cpu_ms_per_request": round(mid["loadgen_cpu_s"] * 1000 / mid["requests"], 3),
    }


@dataclass
class Running:
    """A gateway target of `bench.quotes` while it runs (its feed, server, database, POS key,
    runs), then its report."""

    spec: QuotesSpec
    feed_server: Server
    server: Server = None  # type: ignore[assignment]  # set once started
    url: str = ""
    key: str = ""
    runs: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # of its own runs
    fetched: int = 0  # new sets the feed served during its own runs
    feed: dict[str, Any] = field(default_factory=dict)  # the feed's last stats
    memory: GroupMemory | None = None

    def report(self) -> dict[str, Any]:
        """What the runs measured and the database holds (read after the server stopped)."""
        db = read_quotes(self.url)
        return {
            "database": self.spec.database,
            "refresh_interval": self.spec.refresh or "as shipped (15m)",
            "runs": [public(r) for r in self.runs],
            **median_run(self.runs),
            "peak_rss_mb": self.memory.total_mb if self.memory else None,
            "feed": {
                "currencies": self.feed["currencies"],
                "sets_served_during_runs": self.fetched,
                "per_second": round(self.fetched / self.seconds, 2) if self.seconds else None,
                "served": self.feed["served"],
                "not_modified": self.feed["not_modified"],
            },
            "rate_sets_stored": db["rate_sets"],
            "integrity": check_quotes(self.runs, db, refresh=self.spec.refresh is not None),
        }
