"""The benchmark: the gateway against a bare proxy, on SQLite and PostgreSQL, in one run.

    .venv/bin/python -m bench [--quick] [--concurrency 1,16,64] [--requests N]
                              [--databases sqlite,postgresql] [--targets NAME,...]
                              [--out bench/results] [--no-docs]

One run, on this machine, every piece its own process:

1. a temp dir with a copy of `configs/` whose partners' `base_url`s point at free ports, and the
   sandbox keys and `GATEWAY_CODE_HASH_KEY` generated into the children's environment (never
   written to disk);
2. per target, a fresh sandbox partner (`gateway sandbox`), the server under test and, per
   concurrency level, a load generator (`python -m bench.load`):
   - `baseline-aiohttp`: `bench/baseline.py`, a bare aiohttp proxy calling the real adapter over
     the gateway's client stack (httpx over the aiohttp transport): the physical limit;
   - `baseline-plain-httpx`: the same with a plain `httpx.AsyncClient()`;
   - `gateway-sqlite`, `gateway-postgresql`: `gateway serve` (production durations) on a fresh
     database (migrated, a TH/THB merchant and a POS key made with the CLI), then open-loop
     runs at half of its peak throughput (the target's) and at 25 % and 75 % of it (latency
     against load; not with `--quick`);
   - `gateway-sqlite+webhooks`, `gateway-postgresql+webhooks`: the same, with the merchant's
     webhook URL (`gateway merchants webhook set`) pointing at a webhook sink (`bench/sink.py`,
     its own process, checking every signature); after each run the orchestrator waits until
     the sink has every event, and reports deliveries per payment and the delivery lag;
   - `gateway-postgresql-2proc`: `gateway serve --processes 2` (SO_REUSEPORT), CPU and memory
     summed over its process group;
   - after `gateway-postgresql`'s runs, a counting run (`count_round_trips`): a second
     `gateway serve` on the same database and sandbox, its database connections through
     `bench/pgcount.py` (a TCP proxy that counts the PostgreSQL messages after which the client
     waits: Sync, Query, Flush), a warm-up, an idle window (the pollers' round trips) and a
     few hundred payments at c=1: round trips per payment, counted;
3. the bare proxy (`baseline-aiohttp`) again, on a fresh proxy and sandbox, open loop at the
   rates the gateways were offered at 25 % and 50 % of their peaks (`LATENCY_TARGETS`; one run
   per rate within 1 %), so that each gateway's p99 is compared with the proxy's at the same
   offered rate;
4. integrity checks (answers, the database's payments, journal and outbox, `gateway ledger
   verify`, the sandbox's ledger, the sink), `bench/results/<ts>.json`, `docs/benchmarks.md`
   (unless `--no-docs`) and a summary on stdout.

PostgreSQL is used when `DATABASE_URL` names a PostgreSQL server or one answers at
postgresql://postgres@127.0.0.1:5432 (a `bench_<random>` database, dropped at the end).

The targets (issue #16: ratios against the bare proxy of the same run, round trips, memory,
webhooks keeping pace) are evaluated by `bench._report.evaluate_targets`: PASS, FAIL, or SKIP
when the run lacks the data (`--quick`, `--targets`, `--concurrency` without 64...).

Exit status: 0 when every run's integrity holds (the performance targets are reported, not
enforced), 1 when a failed or duplicated payment (or another inconsistency) was found, 2 on error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench._checks import (
    check_integrity,
    merge_integrity,
    pg_fetch,
    read_database,
    webhook_report,
)
from bench._procs import (
    Children,
    Server,
    free_port,
    gateway_command,
    group_cpu_seconds,
    group_peak_rss,
)
from bench._report import (
    BASELINE,
    PLAIN,
    ROUND_TRIP_TARGET,
    evaluate_targets,
    proxy_open_plan,
    render_markdown,
    render_summary,
)
from bench.pgcount import round_trips_between
from bench.sink import SECRET_ENV

REPO = Path(__file__).resolve().parent.parent
PARTNER = "th-siampay"  # the TH merchant's partner (Alipay CN -> CNY)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

# Variables of the caller's environment that must not leak into the children.
_SCRUB = ("GATEWAY_PROFILE", "DATABASE_URL", "GATEWAY_CONFIG_DIR", SECRET_ENV)
SINK_PATH = "/webhooks/gateway"


@dataclass(frozen=True)
class GatewaySpec:
    """A configuration of the gateway under test."""

    name: str
    database: str  # "sqlite" | "postgresql"
    webhooks: bool = False  # the merchant's webhook URL points at the sink
    processes: int = 1  # `gateway serve --processes N`


GATEWAY_SPECS = (
    GatewaySpec("gateway-sqlite", "sqlite"),
    GatewaySpec("gateway-sqlite+webhooks", "sqlite", webhooks=True),
    GatewaySpec("gateway-postgresql", "postgresql"),
    GatewaySpec("gateway-postgresql+webhooks", "postgresql", webhooks=True),
    GatewaySpec("gateway-postgresql-2proc", "postgresql", processes=2),
)
ALL_TARGETS = (BASELINE, PLAIN, *(spec.name for spec in GATEWAY_SPECS))
QUICK_TARGETS = (BASELINE, PLAIN, "gateway-sqlite", "gateway-sqlite+webhooks", "gateway-postgresql")


@dataclass(frozen=True)
class Options:
    concurrency: list[int]
    requests: int
    warmup: int
    half_peak_requests: int
    half_peak_seconds: float
    curve: tuple[float, ...]
    """Fractions of the peak for more open-loop runs beside the half (own latency against load)."""
    drain_seconds: float
    count_requests: int
    """Payments of the round-trip counting run (`count_round_trips`); 0: none."""
    count_idle_seconds: float
    """Its idle window: the round trips the gateway makes without payments (pollers)."""
    databases: list[str]
    targets: list[str]
    out: Path
    docs: bool
    quick: bool
    keep: bool
    profile_dir: Path | None
    render: Path | None


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- set-up: configs, environment, databases ----------------------------------------------------


def _copy_configs(tmp: Path) -> Path:
    config_dir = tmp / "configs"
    shutil.copytree(REPO / "configs", config_dir)
    _point_partners(config_dir)
    return config_dir


def _point_partners(config_dir: Path) -> dict[str, int]:
    """Point each sandbox-enabled partner (base_url, sandbox port) at a free port of its own.

    Done again before each target's sandbox starts, which every process then reads afresh, so
    that a port taken meanwhile by someone else on this machine is never reused.
    """
    from gateway.core.config import load_settings

    settings = load_settings(config_dir, None, {})
    ports: dict[str, int] = {}
    gateway_toml = config_dir / "gateway.toml"
    for partner in settings.partners:
        if not partner.sandbox.enabled:
            continue
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[partner.id] = port
        # a rate feed served by this partner's sandbox ([[fx.sources]] url) moves with it
        gateway_toml.write_text(
            gateway_toml.read_text().replace(
                f'url = "{partner.base_url.rstrip("/")}/', f'url = "http://127.0.0.1:{port}/'
            )
        )
        path = config_dir / "partners" / f"{partner.id}.toml"
        text, n = re.subn(
            r'^base_url = "[^"]*"',
            f'base_url = "http://127.0.0.1:{port}"',
            path.read_text(),
            flags=re.M,
        )
        if n != 1:
            raise RuntimeError(f"{path.name} has no single base_url line")
        text = re.sub(r"^port = \d+", f"port = {port}", text, flags=re.M)  # [sandbox] port
        path.write_text(text)
    settings = load_settings(config_dir, None, {})
    for partner in settings.partners:
        if partner.id in ports and partner.port != ports[partner.id]:
            raise RuntimeError(f"partner {partner.id}: sandbox port not rewritten")
    return ports


def _child_env(config_dir: Path) -> dict[str, str]:
    """The caller's environment, scrubbed, plus fresh sandbox keys (in memory only)."""
    from gateway.core.config import load_settings
    from gateway.sandboxes import sandbox_environment

    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    settings = load_settings(config_dir, None, env)
    for name in sandbox_environment(settings, {}):  # regenerate all, ignore the caller's
        env.pop(name, None)
    env.update(sandbox_environment(settings, env))
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _postgres_server() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://", "postgresql+asyncpg://")):
        return re.sub(r"^[a-z+]+://", "postgresql://", url)
    return DEFAULT_POSTGRES


def _with_database(server: str, name: str) -> str:
    base, _, rest = server.partition("://")
    netloc = rest.split("/", 1)[0]
    return f"{base}://{netloc}/{name}"


def _postgres_version(server: str) -> str | None:
    try:
        rows = asyncio.run(pg_fetch(server, "SHOW server_version"))
    except Exception:
        return None
    return str(rows[0][0][0])


# --- the pieces -----------------------------------------------------------------------------------


class Bench:
    def __init__(self, options: Options, tmp: Path, children: Children) -> None:
        self.options = options
        self.tmp = tmp
        self.children = children
        self.config_dir = _copy_configs(tmp)
        self.sandbox_ports: dict[str, int] = {}
        self.env = _child_env(self.config_dir)
        self.python = sys.executable
        self.gateway_args = ["--config-dir", str(self.config_dir)]
        self.gateway = [*gateway_command(), *self.gateway_args]
        self.pg_databases: list[str] = []
        self.pg_server = _postgres_server()

    # sandbox, baseline, gateway -------------------------------------------------------------

    def start_sandbox(self, label: str) -> Server:
        """A fresh sandbox partner on fresh ports (not waited for: `Children.wait_ready`)."""
        self.sandbox_ports = _point_partners(self.config_dir)
        return self.children.spawn(
            f"sandbox-{label}",
            [*self.gateway, "sandbox"],
            env=self.env,
            port=self.sandbox_ports[PARTNER],
            cwd=REPO,
            wait=False,
        )

    def ledger(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.sandbox_ports[PARTNER]}/_sandbox/ledger"
        with urllib.request.urlopen(url, timeout=60) as answer:
            data: dict[str, Any] = json.loads(answer.read())
            return data

    def start_baseline(self, http: str, label: str | None = None) -> Server:
        port = free_port()
        return self.children.spawn(
            label or f"baseline-{http}",
            [
                self.python,
                "-m",
                "bench.baseline",
                "--config-dir",
                str(self.config_dir),
                "--port",
                str(port),
                "--partner",
                PARTNER,
                "--http",
                http,
            ],
            env=self.env,
            port=port,
            cwd=REPO,
            wait=False,
        )

    def prepare_database(self, spec: GatewaySpec) -> tuple[str, str, str]:
        """A fresh database, migrated, with a merchant and a POS key: (url, merchant, key)."""
        database = spec.database
        if database == "sqlite":
            file_name = re.sub(r"[^a-z0-9]+", "-", spec.name) + ".db"  # one file per target
            url = f"sqlite+aiosqlite:///{self.tmp / file_name}"
        else:
            name = f"bench_{secrets.token_hex(6)}"
            asyncio.run(pg_fetch(self.pg_server, f'CREATE DATABASE "{name}"'))
            self.pg_databases.append(name)
            url = _with_database(self.pg_server, name)
        env = {**self.env, "DATABASE_URL": url}
        self.children.run([*self.gateway, "migrate"], env=env, timeout=120, cwd=REPO)
        merchant = self.children.run(
            [
                *self.gateway,
                "merchants",
                "create",
                "--name",
                "Bench Bangkok Store",
                "--country",
                "TH",
                "--currency",
                "THB",
                "--timezone",
                "Asia/Bangkok",
                "--mdr-bps",
                "150",
            ],
            env=env,
            timeout=60,
            cwd=REPO,
        ).strip()
        if not merchant.startswith("mer_"):
            raise RuntimeError(f"merchants create printed {merchant!r}")
        key = self.children.run(
            [*self.gateway, "keys", "create", "--merchant", merchant, "--role", "pos"],
            env=env,
            timeout=60,
            cwd=REPO,
        ).strip()
        if not key or "\n" in key:
            raise RuntimeError("keys create did not print one key")
        return url, merchant, key

    def start_gateway(self, spec: GatewaySpec, url: str) -> Server:
        port = free_port()
        serve = ["serve", "--port", str(port)]
        if spec.processes > 1:
            serve += ["--processes", str(spec.processes)]
        command = [*self.gateway, *serve]
        if self.options.profile_dir is not None:
            profile = self.options.profile_dir / f"{spec.name}.prof"
            command = [self.python, "-m", "cProfile", "-o", str(profile), "-m", "gateway.cli"]
            command += [*self.gateway_args, *serve]
        return self.children.spawn(
            spec.name,
            command,
            env={**self.env, "DATABASE_URL": url},
            port=port,
            cwd=REPO,
            wait=False,
        )

    def start_sink(self, label: str, url: str, merchant: str) -> Server:
        """The merchant's webhook URL set to a sink on a free port, and the sink started with
        the secret the CLI printed (handed over in the sink's environment, never on disk)."""
        port = free_port()
        secret = self.children.run(
            [
                *self.gateway,
                "merchants",
                "webhook",
                "set",
                merchant,
                "--url",
                f"http://127.0.0.1:{port}{SINK_PATH}",
            ],
            env={**self.env, "DATABASE_URL": url},
            timeout=60,
            cwd=REPO,
        ).strip()
        if not secret.startswith("whsec_") or "\n" in secret:
            raise RuntimeError("merchants webhook set did not print one webhook secret")
        return self.children.spawn(
            f"sink-{label}",
            [self.python, "-m", "bench.sink", "--port", str(port)],
            env={**self.env, SECRET_ENV: secret},
            port=port,
            cwd=REPO,
            wait=False,
        )

    @staticmethod
    def sink_get(sink: Server, what: str) -> Any:
        with urllib.request.urlopen(f"{sink.url}/_sink/{what}", timeout=60) as answer:
            return json.loads(answer.read())

    def drain(self, sink: Server, expected: int) -> tuple[float, int]:
        """Wait until the sink holds `expected` events (or the drain time is up): (seconds
        waited, events still missing)."""
        started = time.monotonic()
        deadline = started + self.options.drain_seconds
        while True:
            got = int(self.sink_get(sink, "stats")["events"])
            if got >= expected or time.monotonic() > deadline:
                return round(time.monotonic() - started, 2), max(0, expected - got)
            time.sleep(0.05)

    def ledger_verify(self, url: str) -> dict[str, Any]:
        """`gateway ledger verify` against the target's database, as an operator runs it."""
        returncode, out, err = self.children.run_status(
            [*self.gateway, "ledger", "verify"],
            env={**self.env, "DATABASE_URL": url},
            timeout=300,
            cwd=REPO,
        )
        summary = (out.strip() or err.strip()[-500:]).replace("\n", "; ")
        return {"ok": returncode == 0, "exit_status": returncode, "summary": summary}

    # load ------------------------------------------------------------------------------------

    def load(
        self,
        server: Server,
        sandbox: Server,
        key: str,
        *,
        concurrency: int,
        requests: int,
        warmup: int,
        rate: float | None = None,
        sink: Server | None = None,
        expected_events: int = 0,
    ) -> dict[str, Any]:
        """One load generator run; with a `sink`, then a wait until it holds `expected_events`
        plus this run's payments (deliveries that lag behind are not left to the next run)."""
        tag = f"B{secrets.token_hex(4)}"
        argv = [
            self.python,
            "-m",
            "bench.load",
            "--url",
            f"{server.url}/v1/payments",
            "--concurrency",
            str(concurrency),
            "--requests",
            str(requests),
            "--warmup",
            str(warmup),
            "--tag",
            tag,
        ]
        if rate is not None:
            argv += ["--rate", f"{rate:.1f}"]
        watched = {"server": server, "sandbox": sandbox, **({"sink": sink} if sink else {})}
        cpu_before = {name: group_cpu_seconds(proc.pid) for name, proc in watched.items()}
        out = self.children.run(argv, env={**self.env, "BENCH_POS_KEY": key}, timeout=600, cwd=REPO)
        cpu_after = {name: group_cpu_seconds(proc.pid) for name, proc in watched.items()}
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        total = result["sent_total"] or 1
        if sink is not None:
            waited, missing = self.drain(sink, expected_events + result["succeeded_total"])
            result["drain_wait_s"], result["undelivered_after_drain"] = waited, missing
            # The server's CPU again, delivery of this run's events included; the sink's.
            cpu_after["server_incl_delivery"] = group_cpu_seconds(server.pid)
            cpu_before["server_incl_delivery"] = cpu_before["server"]
            cpu_after["sink"] = group_cpu_seconds(sink.pid)
        # The CPU figures span warm-up and measured requests alike.
        per_payment: dict[str, float | None] = {}
        for name, before in cpu_before.items():
            after = cpu_after[name]
            per_payment[name] = (
                None
                if before is None or after is None
                else round((after - before) * 1000 / total, 3)
            )
        result["cpu_ms_per_payment"] = per_payment
        memory = group_peak_rss(server.pid)
        result["peak_rss_mb"] = memory.total_mb if memory else None
        result["peak_rss_largest_mb"] = memory.largest_mb if memory else None
        result["os_processes"] = memory.processes if memory else None
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during the run:\n{server.log_tail()}")
        _log(
            f"{server.name} c={concurrency}{f' rate={rate:.0f}/s' if rate else ''}: "
            f"{result['payments_per_s']:.0f} payments/s, "
            f"p50 {result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms"
            + (f", own p99 {result['own_ms']['p99']:.2f} ms" if result["own_ms"] else "")
            + (f", {result['failed_total']} failed" if result["failed_total"] else "")
            + (
                f"; sink drained {result['drain_wait_s']:.1f} s after"
                + (f" ({missing} missing)" if missing else "")
                if sink is not None
                else ""
            )
        )
        return result

    def closed_runs(
        self, server: Server, sandbox: Server, key: str, sink: Server | None = None
    ) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        for c in self.options.concurrency:
            runs.append(
                self.load(
                    server,
                    sandbox,
                    key,
                    concurrency=c,
                    requests=self.options.requests,
                    warmup=self.options.warmup,
                    sink=sink,
                    expected_events=sum(r["succeeded_total"] for r in runs),
                )
            )
        return runs

    # targets -------------------------------------------------------------------------------

    def baseline_target(self, http: str) -> dict[str, Any]:
        label = BASELINE if http == "aiohttp" else PLAIN
        sandbox = self.start_sandbox(label)
        try:
            server = self.start_baseline(http)
            try:
                self.children.wait_ready(sandbox)
                self.children.wait_ready(server)
                runs = self.closed_runs(server, sandbox, "baseline")
                memory = group_peak_rss(server.pid)
            finally:
                self.children.stop(server)
            integrity = check_integrity(runs, self.ledger(), db=None)
        finally:
            self.children.stop(sandbox)
        return {
            "kind": "baseline",
            "runs": [_public(r) for r in runs],
            "peak_rss_mb": memory.total_mb if memory else None,
            "peak_rss_largest_mb": memory.largest_mb if memory else None,
            "os_processes": memory.processes if memory else None,
            "integrity": integrity,
        }

    def gateway_target(self, spec: GatewaySpec) -> dict[str, Any]:
        sandbox = self.start_sandbox(spec.name)
        sink: Server | None = None
        sink_stats: dict[str, Any] | None = None
        arrivals: dict[str, list[Any]] = {}
        try:
            url, merchant, key = self.prepare_database(spec)
            if spec.webhooks:
                sink = self.start_sink(spec.name, url, merchant)
            server = self.start_gateway(spec, url)
            try:
                for child in (sandbox, server, *([sink] if sink else [])):
                    self.children.wait_ready(child)
                if spec.processes > 1:  # every worker listening, not just the first
                    self.children.wait_for_log(server, "Running on", spec.processes)
                runs = self.closed_runs(server, sandbox, key, sink)
                peak = max(runs, key=lambda r: r["payments_per_s"])
                rate = max(1.0, peak["payments_per_s"] / 2)
                # The same number of requests, but no longer than half_peak_seconds.
                cap = int(rate * self.options.half_peak_seconds)
                half = self.load(
                    server,
                    sandbox,
                    key,
                    concurrency=max(256, *self.options.concurrency),
                    requests=max(min(self.options.half_peak_requests, cap), 100),
                    warmup=0,
                    rate=rate,
                    sink=sink,
                    expected_events=sum(r["succeeded_total"] for r in runs),
                )
                half["peak_payments_per_s"] = peak["payments_per_s"]
                half["peak_concurrency"] = peak["concurrency"]
                curve: list[dict[str, Any]] = []
                for fraction in self.options.curve:
                    point_rate = max(1.0, peak["payments_per_s"] * fraction)
                    point = self.load(
                        server,
                        sandbox,
                        key,
                        concurrency=max(256, *self.options.concurrency),
                        requests=max(
                            min(
                                self.options.half_peak_requests,
                                int(point_rate * self.options.half_peak_seconds),
                            ),
                            100,
                        ),
                        warmup=0,
                        rate=point_rate,
                        sink=sink,
                        expected_events=sum(r["succeeded_total"] for r in [*runs, half, *curve]),
                    )
                    point["fraction"] = fraction
                    curve.append(point)
                memory = group_peak_rss(server.pid)
            finally:
                self.children.stop(server)  # graceful: the writer drains before the DB is read
            counted_runs: list[dict[str, Any]] = []
            round_trips: dict[str, Any] | None = None
            if spec.name == ROUND_TRIP_TARGET and self.options.count_requests:
                round_trips, counted_runs = self.count_round_trips(spec, url, sandbox, key)
            if sink is not None:
                sink_stats = self.sink_get(sink, "stats")
                arrivals = self.sink_get(sink, "events")
            ledger = self.ledger()
        finally:
            if sink is not None:
                self.children.stop(sink)
            self.children.stop(sandbox)
        db = read_database(url)
        verify = self.ledger_verify(url)
        _log(f"{spec.name}: ledger verify: {verify['summary']}")
        integrity = check_integrity(
            [*runs, half, *curve, *counted_runs],
            ledger,
            db=db,
            ledger_verify=verify,
            sink=sink_stats,
        )
        data: dict[str, Any] = {
            "kind": "gateway",
            "database": spec.database,
            "webhooks": spec.webhooks,
            "processes": spec.processes,
            "database_url": re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url),
            "runs": [_public(r) for r in runs],
            "half_peak": _public(half),
            "curve": [_public(point) for point in curve],
            "peak_rss_mb": memory.total_mb if memory else None,
            "peak_rss_largest_mb": memory.largest_mb if memory else None,
            "os_processes": memory.processes if memory else None,
            "integrity": integrity,
            "durability": db["durability"],
        }
        if round_trips is not None:
            data["round_trips"] = round_trips
        if sink_stats is not None:
            data["webhooks_report"] = webhook_report(
                [*runs, half, *curve], arrivals, sink_stats, db
            )
        return data

    def count_round_trips(
        self, spec: GatewaySpec, url: str, sandbox: Server, key: str
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """PostgreSQL round trips per payment, counted: (the figures, the runs made).

        A second `gateway serve` on the target's database and sandbox, whose database
        connections go through `bench.pgcount` (a counting TCP proxy). A warm-up (connections
        opened, statements prepared), a pause for the deferred work of its payments (the
        webhook worker marks their events `no_endpoint` on its next look, ≤ 1 s), an idle
        window (the round trips of the pollers alone: webhook worker, resolver sweep, ...),
        then `count_requests` payments at c=1 and the same pause: round trips in that window,
        less the idle rate × its length, ÷ payments. The proxy tells the writer's connections
        (raw asyncpg, `plan_cache_mode` set at start-up) from SQLAlchemy's pool.
        """
        parts = urllib.parse.urlsplit(url)
        upstream = f"{parts.hostname or '127.0.0.1'}:{parts.port or 5432}"
        proxy_port, stats_port = free_port(), free_port()
        while stats_port == proxy_port:
            stats_port = free_port()
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{proxy_port}" if userinfo else f"127.0.0.1:{proxy_port}"
        counted_url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
        settle = 1.5  # > the webhook worker's poll interval (1 s)
        options = self.options
        proxy = self.children.spawn(
            f"pgcount-{spec.name}",
            [
                self.python,
                "-m",
                "bench.pgcount",
                "--port",
                str(proxy_port),
                "--stats-port",
                str(stats_port),
                "--upstream",
                upstream,
            ],
            env=self.env,
            port=stats_port,
            cwd=REPO,
        )

        def stats() -> tuple[float, dict[str, Any]]:
            with urllib.request.urlopen(f"{proxy.url}/stats", timeout=30) as answer:
                return time.monotonic(), json.loads(answer.read())

        try:
            server = self.start_gateway(
                GatewaySpec(f"{spec.name}-counted", "postgresql"), counted_url
            )
            try:
                self.children.wait_ready(server)
                warm = self.load(
                    server,
                    sandbox,
                    key,
                    concurrency=1,
                    requests=max(10, options.warmup),
                    warmup=0,
                )
                time.sleep(settle)
                t0, idle_start = stats()
                time.sleep(options.count_idle_seconds)
                t1, idle_end = stats()
                counted = self.load(
                    server, sandbox, key, concurrency=1, requests=options.count_requests, warmup=0
                )
                time.sleep(settle)
                t2, end = stats()
            finally:
                self.children.stop(server)
        finally:
            self.children.stop(proxy)
        idle = round_trips_between(idle_start, idle_end)
        during = round_trips_between(idle_end, end)
        payments = counted["succeeded_total"]
        idle_s, window_s = t1 - t0, t2 - t1
        kinds: dict[str, Any] = {}
        for kind in sorted(set(idle) | set(during)):
            trips = during.get(kind, {}).get("round_trips", 0)
            idle_trips = idle.get(kind, {}).get("round_trips", 0)
            noise = idle_trips / idle_s * window_s if idle_s > 0 else 0.0
            kinds[kind] = {
                **during.get(kind, {"connections": 0, "round_trips": 0, "by_type": {}}),
                "idle_round_trips": idle_trips,
                "idle_noise": round(noise, 1),
                "raw_per_payment": round(trips / payments, 3) if payments else None,
                "per_payment": round(max(0.0, trips - noise) / payments, 3) if payments else None,
            }
        total = sum(k["round_trips"] for k in kinds.values())
        total_noise = sum(k["idle_noise"] for k in kinds.values())
        figures: dict[str, Any] = {
            "payments": payments,
            "concurrency": 1,
            "warmup_payments": warm["succeeded_total"],
            "idle_s": round(idle_s, 2),
            "window_s": round(window_s, 2),
            "kinds": kinds,
            "round_trips": total,
            "idle_noise": round(total_noise, 1),
            "total_per_payment": round(max(0.0, total - total_noise) / payments, 3)
            if payments
            else None,
            "writer_identified": "writer" in kinds,
            "connections_seen": len(end["connections"]),
            "proxy_errors": end.get("errors", []),
            "run": _public(counted),
        }
        writer = kinds.get("writer")
        _log(
            f"{spec.name}: PostgreSQL round trips per payment (c=1, {payments} payments): "
            + (f"writer {writer['per_payment']}, " if writer else "")
            + f"all connections {figures['total_per_payment']} "
            f"(idle noise {total_noise:.1f} of {total} in {window_s:.1f} s)"
        )
        return figures, [warm, counted]

    def baseline_open_runs(self, plan: list[dict[str, Any]]) -> dict[str, Any]:
        """The bare proxy, open loop, at the rates the gateways were offered (`plan`: from
        `proxy_open_plan`), on a fresh proxy and sandbox after a short warm-up: its runs and
        their integrity."""
        sandbox = self.start_sandbox(f"{BASELINE}-open")
        runs: list[dict[str, Any]] = []
        try:
            server = self.start_baseline("aiohttp", label=f"{BASELINE}-open")
            try:
                self.children.wait_ready(sandbox)
                self.children.wait_ready(server)
                warm = self.load(
                    server,
                    sandbox,
                    "baseline",
                    concurrency=min(16, max(self.options.concurrency)),
                    requests=max(16, self.options.warmup),
                    warmup=0,
                )
                for planned in plan:
                    run = self.load(
                        server,
                        sandbox,
                        "baseline",
                        concurrency=max(256, *self.options.concurrency),
                        requests=planned["requests"],
                        warmup=0,
                        rate=planned["rate"],
                    )
                    run["for"] = planned["for"]
                    runs.append(run)
            finally:
                self.children.stop(server)
            integrity = check_integrity([warm, *runs], self.ledger(), db=None)
        finally:
            self.children.stop(sandbox)
        return {"open_runs": [_public(r) for r in runs], "open_integrity": integrity}

    def postgres_reachable(self) -> str | None:
        """None when reachable, else why not."""
        try:
            asyncio.run(pg_fetch(self.pg_server, "SELECT 1"))
        except Exception as exc:
            return f"no PostgreSQL server ({type(exc).__name__}: {exc})"[:200]
        return None

    def drop_databases(self) -> None:
        for name in self.pg_databases:
            with contextlib.suppress(Exception):
                asyncio.run(
                    pg_fetch(self.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                )
        self.pg_databases.clear()


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """A run as stored in the result: without the (long) list of payment ids."""
    return {k: v for k, v in run.items() if k != "payment_ids"}


# --- the run ----------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gb: float | None = None
    with contextlib.suppress(OSError, ValueError, IndexError):
        meminfo = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_gb = round(int(meminfo.split()[1]) / 1024 / 1024, 1)
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "kernel": f"{platform.system()} {platform.release()}",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "loadavg_start": _loadavg(),
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(options: Options, tmp: Path, children: Children) -> dict[str, Any]:
    started = time.monotonic()
    bench = Bench(options, tmp, children)
    machine = _machine()
    result: dict[str, Any] = {
        "machine": machine,
        "config": {
            "concurrency": options.concurrency,
            "requests": options.requests,
            "warmup": options.warmup,
            "half_peak_requests": options.half_peak_requests,
            "half_peak_max_seconds": options.half_peak_seconds,
            "curve": list(options.curve),
            "drain_max_seconds": options.drain_seconds,
            "count_requests": options.count_requests,
            "count_idle_seconds": options.count_idle_seconds,
            "targets": options.targets,
            "profiled": options.profile_dir is not None,
            "databases": options.databases,
            "quick": options.quick,
            "profile": "production (configs/gateway.toml, no overlay)",
        },
        "targets": {},
        "skipped": {},
        "durability": {},
    }
    try:
        for http in ("aiohttp", "plain"):
            name = BASELINE if http == "aiohttp" else PLAIN
            if name not in options.targets:
                continue
            _log(f"target {name}")
            result["targets"][name] = bench.baseline_target(http)
        postgres: str | None = None  # why not, once asked
        for spec in GATEWAY_SPECS:
            if spec.name not in options.targets:
                continue
            why = _skip_reason(options, spec)
            if why is None and spec.database == "postgresql":
                if postgres is None:
                    postgres = bench.postgres_reachable() or ""
                    if not postgres:
                        machine["postgresql"] = _postgres_version(bench.pg_server)
                why = postgres or None
            if why is not None:
                result["skipped"][spec.name] = why
                _log(f"skipping {spec.name}: {why}")
                continue
            _log(f"target {spec.name}")
            data = bench.gateway_target(spec)
            result["targets"][spec.name] = data
            result["durability"][spec.database] = data.pop("durability")
        plan = proxy_open_plan(result)
        if BASELINE in result["targets"] and plan:
            _log(f"target {BASELINE}, open loop at {len(plan)} of the gateways' offered rates")
            base = result["targets"][BASELINE]
            base.update(bench.baseline_open_runs(plan))
            base["integrity"] = merge_integrity(base["integrity"], base.pop("open_integrity"))
    finally:
        bench.drop_databases()
    machine["loadavg_end"] = _loadavg()
    checks = [t["integrity"] for t in result["targets"].values()]
    result["integrity"] = {
        "failed": sum(c["failed"] for c in checks),
        "duplicated": sum(c["duplicated"] for c in checks),
        "problems": [p for c in checks for p in c["problems"]],
        "ok": all(c["ok"] for c in checks),
    }
    result["targets_check"] = evaluate_targets(result)
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _skip_reason(options: Options, spec: GatewaySpec) -> str | None:
    if spec.database not in options.databases:
        return "not requested (--databases)"
    if spec.processes > 1 and options.profile_dir is not None:
        return "not profiled (cProfile would see only the parent of the worker processes)"
    return None


def _levels(text: str) -> list[int]:
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not levels or any(level < 1 for level in levels):
        raise argparse.ArgumentTypeError("concurrency levels must be ≥ 1")
    return levels


def _databases(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    bad = [n for n in names if n not in ("sqlite", "postgresql")]
    if bad or not names:
        raise argparse.ArgumentTypeError("databases: sqlite, postgresql")
    return names


def _targets(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    bad = [n for n in names if n not in ALL_TARGETS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"targets: {', '.join(ALL_TARGETS)}")
    return names


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Gateway vs bare proxy throughput and latency (see docs/benchmarks.md).",
    )
    parser.add_argument("--quick", action="store_true", help="smoke size (< 1 min), no docs")
    parser.add_argument("--concurrency", type=_levels, default=None, help="default 1,16,64")
    parser.add_argument("--requests", type=int, default=None, help="per run (default 2000)")
    parser.add_argument(
        "--databases", type=_databases, default=["sqlite", "postgresql"], help="sqlite,postgresql"
    )
    parser.add_argument(
        "--targets",
        type=_targets,
        default=None,
        help=f"some of {','.join(ALL_TARGETS)} (default: all; with --quick: "
        f"{','.join(QUICK_TARGETS)})",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--no-docs", action="store_true", help="do not rewrite the docs")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB)")
    parser.add_argument(
        "--render",
        type=Path,
        default=None,
        metavar="RESULT_JSON",
        help="only rewrite docs/benchmarks.md from a saved result (no run)",
    )
    parser.add_argument(
        "--profile-gateway",
        type=Path,
        default=None,
        metavar="DIR",
        help="run each gateway under cProfile, writing DIR/<target>.prof (slows it down)",
    )
    args = parser.parse_args(argv)
    quick: bool = args.quick
    requests = args.requests or (150 if quick else 2000)
    if requests < 1:
        parser.error("--requests must be ≥ 1")
    return Options(
        concurrency=args.concurrency or ([1, 16] if quick else [1, 16, 64]),
        requests=requests,
        warmup=20 if quick else 50,
        half_peak_requests=requests,
        half_peak_seconds=3.0 if quick else 15.0,
        curve=() if quick else (0.25, 0.75),
        drain_seconds=30.0 if quick else 120.0,
        count_requests=30 if quick else 200,
        count_idle_seconds=2.0 if quick else 5.0,
        databases=args.databases,
        targets=args.targets or list(QUICK_TARGETS if quick else ALL_TARGETS),
        out=args.out,
        docs=not (args.no_docs or quick or args.profile_gateway),
        quick=quick,
        keep=args.keep,
        profile_dir=args.profile_gateway.resolve() if args.profile_gateway else None,
        render=args.render,
    )


DOCS = REPO / "docs" / "benchmarks.md"


def write_docs(result: dict[str, Any]) -> None:
    previous = DOCS.read_text() if DOCS.exists() else None
    DOCS.write_text(render_markdown(result, previous))


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    if options.render is not None:
        write_docs(json.loads(options.render.read_text()))
        print(f"docs:   {DOCS}")
        return 0
    return orchestrate(None, options, run, render_summary, write_docs, DOCS, _integrity_line)


def _integrity_line(integrity: dict[str, Any]) -> str:
    return f"integrity: failed: {integrity['failed']}, duplicated: {integrity['duplicated']}" + (
        "" if integrity["ok"] else f" — PROBLEMS: {'; '.join(integrity['problems'])}"
    )


def _problems_line(integrity: dict[str, Any]) -> str:
    return "integrity: " + (
        "ok" if integrity["ok"] else "PROBLEMS: " + "; ".join(integrity["problems"])
    )


def orchestrate(
    kind: str | None,
    options: Any,
    run: Callable[[Any, Path, Children], dict[str, Any]],
    summary: Callable[[dict[str, Any]], str],
    docs: Callable[[dict[str, Any]], None],
    docs_path: Path,
    integrity_line: Callable[[dict[str, Any]], str] = _problems_line,
) -> int:
    """What every benchmark's `main` does around its `run`: a temp dir and its child processes
    (killed however the run ends, SIGTERM and SIGINT included), the result JSON in
    `options.out` (`<kind>-<stamp>.json`), the summary, the docs, the integrity verdict."""
    # Ctrl-C and SIGTERM both unwind through the `finally`s that kill the children and drop
    # the PostgreSQL database (SIGINT too: a shell may have started us with it ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"gateway-bench-{kind}-" if kind else "gateway-bench-"))
    (tmp / "logs").mkdir()
    children = Children(tmp / "logs")
    keep = options.keep
    try:
        result = run(options, tmp, children)
    except KeyboardInterrupt as exc:
        _log(f"interrupted ({exc or 'SIGINT'}): stopping every child process")
        return 130
    except Exception as exc:
        _log(f"failed: {exc}")
        _log(f"logs kept in {tmp / 'logs'}")
        keep = True
        return 2
    finally:
        children.kill_all()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = options.out / (f"{kind}-{stamp}.json" if kind else f"{stamp}.json")
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(summary(result))
    print(f"\nresult: {path}  ({result['elapsed_s']} s)")
    if options.docs:
        docs(result)
        print(f"docs:   {docs_path}")
    if keep:
        print(f"temp:   {tmp}")
    print(integrity_line(result["integrity"]))
    return 0 if result["integrity"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
