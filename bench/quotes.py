"""The FX benchmark (issue #14): quotes per second through `POST /v1/fx/quotes` beside a bare
aiohttp JSON endpoint in the same run, and the cost of a refresh of 40 currencies.

    .venv/bin/python -m bench.quotes [--quick] [--requests N] [--concurrency 64] [--repeat 5]
                                     [--databases sqlite,postgresql] [--targets NAME,...]
                                     [--out bench/results] [--no-docs] [--render RESULT_JSON]
                                     [--profile-gateway DIR]

It reuses the main benchmark's machinery (`bench.__main__.Bench`: the temp copy of `configs/` on
free ports, sandbox keys in the children's environment, fresh databases migrated with a TH/THB
merchant and a POS key made by the CLI, `gateway serve` with production durations; `bench._procs`
for the processes; `bench.load --kind quotes` for the load). Every piece is its own process:

1. `bare-json` (`bench/bare_json.py`): an aiohttp app that parses the JSON body and answers a
   quote-sized JSON document: the limit of aiohttp for such a request, every ratio's denominator.
   It is driven before the first group of targets and after each group, so each target's ratio
   is against the mean of the bare runs on either side of it (the machine is shared and noisy);
2. per database, its targets side by side: one sandbox partner and, per target, a rate feed
   (`bench/fxfeed.py`: the ECB layout with 40 currencies; the `[[fx.sources]]` "ecb" url of the
   config copy points at it), a fresh database and `gateway serve`; once each rate book holds the
   feed's set (`GET /v1/fx/rates`), closed-loop runs of `--requests` quotes (after `--warmup`) at
   `--concurrency`, `--repeat` times per target, alternated (A B, B A, A B...) so that the
   machine's drift falls on both alike:
   - `quotes-sqlite`, `quotes-postgresql`: `fx.refresh_interval` as shipped (15 min: one fetch at
     start-up; the refresher polls every minute);
   - `quotes-sqlite+refresh1s`, `quotes-postgresql+refresh1s`: `fx.refresh_interval = "1s"` and a
     feed answering a new variant of the 40 rates on every fetch, so the refresher fetches,
     checks, stores and installs a new set every second (and reloads the book every 100 ms). Its
     refreshes go on while the other target is measured, too: the ratio of the two shows the
     refresher's effect on its own process's quotes; its cost to the machine is bounded by
     step 4's figures;
3. integrity: every answer `201` `fx_quote` with a distinct id; in the database as many quotes as
   requests sent (warm-up included), their ids those answered, one completed Idempotency-Key each;
4. `bench/fxrefresh.py` (its own process): the cost of a refresh of 40 currencies, step by step,
   on a fresh SQLite file and PostgreSQL database, beside `json.loads` and a plain INSERT;
5. `bench/results/quotes-<ts>.json`, a summary, and `docs/benchmarks-fx.md` (unless `--no-docs`
   or `--quick`; its "Reading the numbers" section is written by hand and kept).

PostgreSQL is used as in the main benchmark (`DATABASE_URL`, or 127.0.0.1:5432), else skipped.
Exit status: 0 when every integrity check holds, 1 when one failed, 2 on error (the temp dir and
every process's log are kept), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import re
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.__main__ import (
    REPO,
    Bench,
    GatewaySpec,
    _loadavg,
    _log,
    _machine,
    _postgres_version,
    _with_database,
    orchestrate,
)
from bench.__main__ import parse_options as parse_main_options
from bench._checks import pg_fetch
from bench._fxchecks import Running, answers, median_run, public
from bench._fxreport import render_markdown, render_summary
from bench._procs import (
    Children,
    Server,
    free_port,
    group_cpu_seconds,
    group_peak_rss,
)

BARE = "bare-json"
DOCS = REPO / "docs" / "benchmarks-fx.md"
REFRESH_FAST = "1s"


@dataclass(frozen=True)
class QuotesSpec:
    name: str
    database: str  # "sqlite" | "postgresql"
    refresh: str | None = None  # fx.refresh_interval; None: as shipped


SPECS = (
    QuotesSpec("quotes-sqlite", "sqlite"),
    QuotesSpec("quotes-sqlite+refresh1s", "sqlite", REFRESH_FAST),
    QuotesSpec("quotes-postgresql", "postgresql"),
    QuotesSpec("quotes-postgresql+refresh1s", "postgresql", REFRESH_FAST),
)


@dataclass(frozen=True)
class Options:
    concurrency: int
    requests: int
    bare_requests: int
    warmup: int
    repeat: int
    databases: list[str]
    targets: list[str]
    iterations: int
    store_iterations: int
    out: Path
    docs: bool
    quick: bool
    keep: bool
    profile_dir: Path | None = None


class QuotesBench:
    def __init__(self, options: Options, tmp: Path, children: Children) -> None:
        self.options = options
        self.children = children
        main = parse_main_options(["--no-docs", "--databases", ",".join(options.databases)])
        main = dataclasses.replace(main, keep=options.keep, profile_dir=options.profile_dir)
        self.bench = Bench(main, tmp, children)
        self.tmp = tmp

    # pieces ------------------------------------------------------------------------------------

    def spawn(self, name: str, module: str, *args: str) -> Server:
        port = free_port()
        argv = [self.bench.python, "-m", module, "--port", str(port), *args]
        return self.children.spawn(name, argv, env=self.bench.env, port=port, cwd=REPO, wait=False)

    def point_fx(self, feed: Server, refresh: str | None) -> None:
        """The config copy's "ecb" source at `feed`, fetched every `refresh` (None: as shipped)."""
        path = self.bench.config_dir / "gateway.toml"
        text, n = re.subn(
            r'^url = "http://127\.0\.0\.1:\d+/fx/eurofxref-daily\.xml"',
            f'url = "{feed.url}/fx/eurofxref-daily.xml"',
            path.read_text(),
            flags=re.M,
        )
        if n != 1:
            raise RuntimeError("gateway.toml: no single sandbox-fed [[fx.sources]] url")
        shipped = re.search(
            r'^refresh_interval = "[^"]*"', (REPO / "configs" / "gateway.toml").read_text(), re.M
        )
        assert shipped is not None
        line = f'refresh_interval = "{refresh}"' if refresh else shipped.group(0)
        text, n = re.subn(r'^refresh_interval = "[^"]*"', line, text, flags=re.M)
        if n != 1:
            raise RuntimeError("gateway.toml: no single fx.refresh_interval line")
        path.write_text(text)

    @staticmethod
    def get_json(url: str, key: str | None = None) -> Any:
        request = urllib.request.Request(
            url, headers={"Authorization": f"Bearer {key}"} if key else {}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read())

    def wait_for_rates(
        self, server: Server, key: str, *, other_than: str | None = None, timeout: float = 30.0
    ) -> str:
        """Until the gateway's book holds a fresh set with CNY (its first fetch is after it
        listens), other than `other_than` if given; its id. `GET /v1/fx/rates` writes nothing."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                rates = self.get_json(f"{server.url}/v1/fx/rates", key)["rates"]
                for rate in rates:
                    if rate["currency"] == "CNY" and rate["rate_set"] != other_than:
                        return str(rate["rate_set"])
            except OSError:
                pass
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.name}: no fresh rates:\n{server.log_tail()}")
            time.sleep(0.1)

    def load(self, server: Server, key: str, requests: int) -> dict[str, Any]:
        tag = f"Q{secrets.token_hex(4)}"
        argv = [self.bench.python, "-m", "bench.load", "--kind", "quotes"]
        argv += ["--url", f"{server.url}/v1/fx/quotes", "--tag", tag]
        argv += ["--concurrency", str(self.options.concurrency)]
        argv += ["--requests", str(requests), "--warmup", str(self.options.warmup)]
        cpu_before = group_cpu_seconds(server.pid)
        env = {**self.bench.env, "BENCH_POS_KEY": key}
        out = self.children.run(argv, env=env, timeout=600, cwd=REPO)
        cpu_after = group_cpu_seconds(server.pid)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["quotes_per_s"] = result.pop("payments_per_s")
        result["ids"] = result.pop("payment_ids")
        if cpu_before is not None and cpu_after is not None:
            result["server_cpu_ms_per_request"] = round(
                (cpu_after - cpu_before) * 1000 / max(1, result["sent_total"]), 3
            )
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during the run:\n{server.log_tail()}")
        _log(
            f"{server.name} c={self.options.concurrency}: {result['quotes_per_s']:.0f}/s, "
            f"p50 {result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms"
            + (f", {result['failed_total']} failed" if result["failed_total"] else "")
        )
        return result

    def runs(self, server: Server, key: str, requests: int) -> list[dict[str, Any]]:
        return [self.load(server, key, requests) for _ in range(self.options.repeat)]

    # targets -----------------------------------------------------------------------------------

    def bare_round(self, bare: Server) -> dict[str, Any]:
        runs = self.runs(bare, "bare", self.options.bare_requests)
        return {"runs": [public(r) for r in runs], **median_run(runs), **answers(runs)}

    def quotes_group(self, specs: list[QuotesSpec]) -> dict[str, dict[str, Any]]:
        """The targets of one database side by side (one sandbox; per target a feed, a database
        and a gateway), their runs alternated A B, B A, A B... so that the machine's drift falls
        on each alike."""
        label = "+".join(spec.name for spec in specs)
        sandbox = self.bench.start_sandbox(label)  # the partners' sandbox, as the main bench
        running: list[Running] = []
        try:
            for spec in specs:
                feed = self.spawn(
                    f"feed-{spec.name}", "bench.fxfeed", *(["--vary"] if spec.refresh else [])
                )
                running.append(Running(spec, feed_server=feed))
                self.point_fx(feed, spec.refresh)  # read by the gateway as it starts, below
                gateway = GatewaySpec(spec.name, spec.database)
                running[-1].url, _merchant, running[-1].key = self.bench.prepare_database(gateway)
                running[-1].server = self.bench.start_gateway(gateway, running[-1].url)
                self.children.wait_ready(feed)
                self.children.wait_ready(running[-1].server)
            self.children.wait_ready(sandbox)
            for target in running:
                first = self.wait_for_rates(target.server, target.key)
                if target.spec.refresh:  # refreshing already: the next set is in the book
                    self.wait_for_rates(target.server, target.key, other_than=first)
            for i in range(self.options.repeat):
                for target in running if i % 2 == 0 else running[::-1]:
                    before = self.get_json(f"{target.feed_server.url}/_feed/stats")
                    started = time.monotonic()
                    target.runs.append(self.load(target.server, target.key, self.options.requests))
                    target.seconds += time.monotonic() - started
                    target.feed = self.get_json(f"{target.feed_server.url}/_feed/stats")
                    target.fetched += target.feed["served"] - before["served"]
            for target in running:
                target.memory = group_peak_rss(target.server.pid)
        finally:
            for target in running:
                if target.server is not None:
                    self.children.stop(target.server)  # graceful: the writer drains first
                self.children.stop(target.feed_server)
            self.children.stop(sandbox)
        return {target.spec.name: target.report() for target in running}

    def refresh_cost(self) -> dict[str, Any]:
        """`python -m bench.fxrefresh` on a fresh SQLite file (and PostgreSQL database)."""
        urls = [f"sqlite+aiosqlite:///{self.tmp / 'fxrefresh.db'}"]
        if "postgresql" in self.options.databases and self.bench.postgres_reachable() is None:
            name = f"bench_{secrets.token_hex(6)}"
            asyncio.run(pg_fetch(self.bench.pg_server, f'CREATE DATABASE "{name}"'))
            self.bench.pg_databases.append(name)
            urls.append(_with_database(self.bench.pg_server, name))
        argv = [self.bench.python, "-m", "bench.fxrefresh", "--migrate"]
        argv += ["--iterations", str(self.options.iterations)]
        argv += ["--store-iterations", str(self.options.store_iterations)]
        for url in urls:
            argv += ["--url", url]
        out = self.children.run(argv, env=self.bench.env, timeout=600, cwd=REPO)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        _log(
            f"refresh of {result['currencies']} currencies: CPU {result['cpu_refresh_us']:.0f} µs; "
            + ", ".join(
                f"{k} {v['refresh_us'] / 1000:.2f} ms" for k, v in result["databases"].items()
            )
        )
        return result


# --- the run ------------------------------------------------------------------------------------


def run(options: Options, tmp: Path, children: Children) -> dict[str, Any]:
    started = time.monotonic()
    qb = QuotesBench(options, tmp, children)
    machine = _machine()
    result: dict[str, Any] = {
        "benchmark": "quotes",
        "machine": machine,
        "config": {
            "concurrency": options.concurrency,
            "requests": options.requests,
            "bare_requests": options.bare_requests,
            "warmup": options.warmup,
            "repeat": options.repeat,
            "targets": options.targets,
            "databases": options.databases,
            "iterations": options.iterations,
            "store_iterations": options.store_iterations,
            "quick": options.quick,
            "profile": "production (configs/gateway.toml, no overlay)",
        },
        "bare": [],
        "targets": {},
        "skipped": {},
    }
    bare = qb.spawn(BARE, "bench.bare_json")
    postgres: str | None = None
    try:
        children.wait_ready(bare)
        _log(f"target {BARE}")
        result["bare"].append(qb.bare_round(bare))
        specs = {spec.name: spec for spec in SPECS}
        groups: dict[str, list[QuotesSpec]] = {}  # per database, in the order given
        for spec in (specs[name] for name in options.targets):
            why = None if spec.database in options.databases else "not requested (--databases)"
            if why is None and spec.database == "postgresql":
                if postgres is None:
                    postgres = qb.bench.postgres_reachable() or ""
                    if not postgres:
                        machine["postgresql"] = _postgres_version(qb.bench.pg_server)
                why = postgres or None
            if why is not None:
                result["skipped"][spec.name] = why
                _log(f"skipping {spec.name}: {why}")
                continue
            groups.setdefault(spec.database, []).append(spec)
        for group in groups.values():
            _log("targets " + ", ".join(spec.name for spec in group) + " (runs alternated)")
            reports = qb.quotes_group(group)
            before = result["bare"][-1]
            result["bare"].append(qb.bare_round(bare))
            after = result["bare"][-1]
            for name, data in reports.items():
                data["bare_quotes_per_s"] = round(
                    (before["quotes_per_s"] + after["quotes_per_s"]) / 2, 1
                )
                data["ratio"] = round(data["quotes_per_s"] / data["bare_quotes_per_s"], 3)
                data["bare_rounds"] = [len(result["bare"]) - 2, len(result["bare"]) - 1]
                result["targets"][name] = data
        children.stop(bare)
        _log("refresh cost")
        result["refresh_cost"] = qb.refresh_cost()
        if "postgresql" in result["refresh_cost"]["databases"] and not machine.get("postgresql"):
            machine["postgresql"] = _postgres_version(qb.bench.pg_server)
    finally:
        qb.bench.drop_databases()
    result["refresh_effect"] = _refresh_effect(result["targets"])
    machine["loadavg_end"] = _loadavg()
    problems = [f"{BARE}: {p}" for b in result["bare"] for p in b["problems"]]
    problems += [
        f"{n}: {p}" for n, t in result["targets"].items() for p in t["integrity"]["problems"]
    ]
    result["integrity"] = {"problems": problems, "ok": not problems}
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _refresh_effect(targets: dict[str, Any]) -> dict[str, Any]:
    """Per database: quotes/s with a refresh every second ÷ without, raw and each normalised
    by its own bare runs (the same ones when they ran side by side)."""
    out: dict[str, Any] = {}
    for database in ("sqlite", "postgresql"):
        plain = targets.get(f"quotes-{database}")
        fast = targets.get(f"quotes-{database}+refresh1s")
        if plain and fast:
            out[database] = {
                "ratio": round(fast["quotes_per_s"] / plain["quotes_per_s"], 3),
                "ratio_normalised": round(fast["ratio"] / plain["ratio"], 3),
            }
    return out


def _names(text: str, allowed: tuple[str, ...]) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or any(n not in allowed for n in names):
        raise argparse.ArgumentTypeError(f"some of: {', '.join(allowed)}")
    return names


def parse_options(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quotes",
        description="Quotes/s against a bare aiohttp JSON endpoint; a 40-currency refresh's cost.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke size (< 30 s), no docs")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--requests", type=int, default=None, help="per run (default 2000)")
    parser.add_argument(
        "--bare-requests", type=int, default=None, help="per bare run (default 4 × --requests)"
    )
    parser.add_argument("--warmup", type=int, default=None, help="per run (default 100)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per target (default 5)")
    parser.add_argument(
        "--databases",
        type=lambda t: _names(t, ("sqlite", "postgresql")),
        default=None,
        help="sqlite,postgresql (default both; --quick: sqlite)",
    )
    parser.add_argument(
        "--targets",
        type=lambda t: _names(t, tuple(s.name for s in SPECS)),
        default=[s.name for s in SPECS],
        help="quotes targets, run in this order (bare-json always runs)",
    )
    parser.add_argument("--iterations", type=int, default=None, help="refresh CPU steps (2000)")
    parser.add_argument("--store-iterations", type=int, default=None, help="refresh DB steps (200)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--no-docs", action="store_true", help=f"do not rewrite docs/{DOCS.name}")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DBs)")
    parser.add_argument(
        "--render", type=Path, default=None, metavar="RESULT_JSON", help="only rewrite the docs"
    )
    parser.add_argument(
        "--profile-gateway",
        type=Path,
        default=None,
        metavar="DIR",
        help="run each gateway under cProfile, writing DIR/<target>.prof (no docs)",
    )
    args = parser.parse_args(argv)
    quick: bool = args.quick
    requests = args.requests or (200 if quick else 2000)
    options = Options(
        concurrency=args.concurrency,
        requests=requests,
        bare_requests=args.bare_requests or 4 * requests,
        warmup=args.warmup if args.warmup is not None else (20 if quick else 100),
        repeat=args.repeat or (1 if quick else 5),
        databases=args.databases or (["sqlite"] if quick else ["sqlite", "postgresql"]),
        targets=args.targets,
        iterations=args.iterations or (300 if quick else 2000),
        store_iterations=args.store_iterations or (30 if quick else 200),
        out=args.out,
        docs=not (args.no_docs or quick or args.profile_gateway),
        quick=quick,
        keep=args.keep,
        profile_dir=args.profile_gateway.resolve() if args.profile_gateway else None,
    )
    if min(options.concurrency, requests, options.bare_requests, options.repeat) < 1:
        parser.error("--concurrency, --requests, --bare-requests and --repeat must be ≥ 1")
    if options.warmup < 0:
        parser.error("--warmup must be ≥ 0")
    if min(options.iterations, options.store_iterations) < 2:
        parser.error("--iterations and --store-iterations must be ≥ 2")
    return options, args.render


def write_docs(result: dict[str, Any]) -> None:
    DOCS.write_text(render_markdown(result, DOCS.read_text() if DOCS.exists() else None))


def main(argv: list[str] | None = None) -> int:
    options, render = parse_options(argv)
    if render is not None:
        write_docs(json.loads(render.read_text()))
        print(f"docs:   {DOCS}")
        return 0
    return orchestrate("quotes", options, run, render_summary, write_docs, DOCS)


if __name__ == "__main__":
    sys.exit(main())
