"""The benchmark: the gateway against a bare proxy, on SQLite and PostgreSQL, in one run.

    .venv/bin/python -m bench [--quick] [--concurrency 1,16,64] [--requests N]
                              [--databases sqlite,postgresql] [--out bench/results] [--no-docs]

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
     database (migrated, a TH/THB merchant and a POS key made with the CLI), then an open-loop
     run at half of its peak throughput;
3. integrity checks (answers, the database, the sandbox's ledger), `bench/results/<ts>.json`,
   `docs/benchmarks.md` (unless `--no-docs`) and a summary on stdout.

PostgreSQL is used when `DATABASE_URL` names a PostgreSQL server or one answers at
postgresql://postgres@127.0.0.1:5432 (a `bench_<random>` database, dropped at the end).

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
import sqlite3
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench._procs import Children, Server, cpu_seconds, free_port, gateway_command, peak_rss_mb
from bench._report import (
    BASELINE,
    PLAIN,
    evaluate_targets,
    render_markdown,
    render_summary,
)

REPO = Path(__file__).resolve().parent.parent
PARTNER = "th-siampay"  # the TH merchant's partner (Alipay CN -> CNY)
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"

# Variables of the caller's environment that must not leak into the children.
_SCRUB = ("GATEWAY_PROFILE", "DATABASE_URL", "GATEWAY_CONFIG_DIR")


@dataclass(frozen=True)
class Options:
    concurrency: list[int]
    requests: int
    warmup: int
    half_peak_requests: int
    half_peak_seconds: float
    databases: list[str]
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
    from gateway.config import load_settings

    settings = load_settings(config_dir, None, {})
    ports: dict[str, int] = {}
    for partner in settings.partners:
        if not partner.sandbox.enabled:
            continue
        port = free_port()
        while port in ports.values():
            port = free_port()
        ports[partner.id] = port
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
    from gateway.config import load_settings
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


async def _pg(dsn: str, *statements: str) -> list[list[Any]]:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        out: list[list[Any]] = []
        for statement in statements:
            out.append([tuple(r) for r in await conn.fetch(statement)])
        return out
    finally:
        await conn.close()


def _postgres_version(server: str) -> str | None:
    try:
        rows = asyncio.run(_pg(server, "SHOW server_version"))
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

    def start_baseline(self, http: str) -> Server:
        port = free_port()
        return self.children.spawn(
            f"baseline-{http}",
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

    def prepare_database(self, database: str) -> tuple[str, str, str]:
        """A fresh database, migrated, with a merchant and a POS key: (url, merchant, key)."""
        if database == "sqlite":
            url = f"sqlite+aiosqlite:///{self.tmp / 'gateway-sqlite.db'}"
        else:
            name = f"bench_{secrets.token_hex(6)}"
            asyncio.run(_pg(self.pg_server, f'CREATE DATABASE "{name}"'))
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

    def start_gateway(self, database: str, url: str) -> Server:
        port = free_port()
        command = [*self.gateway, "serve", "--port", str(port)]
        if self.options.profile_dir is not None:
            profile = self.options.profile_dir / f"gateway-{database}.prof"
            command = [self.python, "-m", "cProfile", "-o", str(profile), "-m", "gateway.cli"]
            command += [*self.gateway_args, "serve", "--port", str(port)]
        return self.children.spawn(
            f"gateway-{database}",
            command,
            env={**self.env, "DATABASE_URL": url},
            port=port,
            cwd=REPO,
            wait=False,
        )

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
    ) -> dict[str, Any]:
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
        cpu_before = {"server": cpu_seconds(server.pid), "sandbox": cpu_seconds(sandbox.pid)}
        out = self.children.run(argv, env={**self.env, "BENCH_POS_KEY": key}, timeout=600, cwd=REPO)
        cpu_after = {"server": cpu_seconds(server.pid), "sandbox": cpu_seconds(sandbox.pid)}
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        total = result["sent_total"] or 1
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
        result["peak_rss_mb"] = peak_rss_mb(server.pid)
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during the run:\n{server.log_tail()}")
        _log(
            f"{server.name} c={concurrency}{f' rate={rate:.0f}/s' if rate else ''}: "
            f"{result['payments_per_s']:.0f} payments/s, "
            f"p50 {result['latency_ms']['p50']:.2f} ms, p99 {result['latency_ms']['p99']:.2f} ms"
            + (f", own p99 {result['own_ms']['p99']:.2f} ms" if result["own_ms"] else "")
            + (f", {result['failed_total']} failed" if result["failed_total"] else "")
        )
        return result

    def closed_runs(self, server: Server, sandbox: Server, key: str) -> list[dict[str, Any]]:
        return [
            self.load(
                server,
                sandbox,
                key,
                concurrency=c,
                requests=self.options.requests,
                warmup=self.options.warmup,
            )
            for c in self.options.concurrency
        ]

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
                rss = peak_rss_mb(server.pid)
            finally:
                self.children.stop(server)
            integrity = check_integrity(runs, self.ledger(), db=None)
        finally:
            self.children.stop(sandbox)
        return {"runs": [_public(r) for r in runs], "peak_rss_mb": rss, "integrity": integrity}

    def gateway_target(self, database: str) -> dict[str, Any]:
        sandbox = self.start_sandbox(f"gateway-{database}")
        try:
            url, _merchant, key = self.prepare_database(database)
            server = self.start_gateway(database, url)
            try:
                self.children.wait_ready(sandbox)
                self.children.wait_ready(server)
                runs = self.closed_runs(server, sandbox, key)
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
                )
                half["peak_payments_per_s"] = peak["payments_per_s"]
                half["peak_concurrency"] = peak["concurrency"]
                rss = peak_rss_mb(server.pid)
            finally:
                self.children.stop(server)  # graceful: the writer drains before the DB is read
            db = read_database(url)
            integrity = check_integrity([*runs, half], self.ledger(), db=db)
        finally:
            self.children.stop(sandbox)
        return {
            "database_url": re.sub(r"//([^:/@]+):[^@]+@", r"//\1:***@", url),
            "runs": [_public(r) for r in runs],
            "half_peak": _public(half),
            "peak_rss_mb": rss,
            "integrity": integrity,
            "durability": db["durability"],
        }

    def postgres_reachable(self) -> str | None:
        """None when reachable, else why not."""
        try:
            asyncio.run(_pg(self.pg_server, "SELECT 1"))
        except Exception as exc:
            return f"no PostgreSQL server ({type(exc).__name__}: {exc})"[:200]
        return None

    def drop_databases(self) -> None:
        for name in self.pg_databases:
            with contextlib.suppress(Exception):
                asyncio.run(_pg(self.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.pg_databases.clear()


def _public(run: dict[str, Any]) -> dict[str, Any]:
    """A run as stored in the result: without the (long) list of payment ids."""
    return {k: v for k, v in run.items() if k != "payment_ids"}


# --- integrity ------------------------------------------------------------------------------------


def read_database(url: str) -> dict[str, Any]:
    """Payments by status, succeeded payment ids and every attempt's partner request id."""
    queries = (
        "SELECT status, count(*) FROM payments GROUP BY status",
        "SELECT id FROM payments WHERE status = 'succeeded'",
        "SELECT partner_request_id FROM payment_attempts",
        "SELECT count(DISTINCT merchant_reference) FROM payments",
    )
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        conn = sqlite3.connect(path)
        try:
            rows = [conn.execute(q).fetchall() for q in queries]
            durability = f"journal_mode={conn.execute('PRAGMA journal_mode').fetchone()[0]}"
        finally:
            conn.close()
    else:
        rows = asyncio.run(_pg(url, *queries, "SHOW synchronous_commit"))
        durability = f"synchronous_commit={rows.pop()[0][0]}"
    by_status = {str(status): int(n) for status, n in rows[0]}
    return {
        "by_status": by_status,
        "count": sum(by_status.values()),
        "succeeded_ids": {str(r[0]) for r in rows[1]},
        "attempt_request_ids": {str(r[0]) for r in rows[2]},
        "distinct_references": int(rows[3][0][0]),
        "durability": durability,
    }


def check_integrity(
    runs: list[dict[str, Any]], ledger: dict[str, Any], *, db: dict[str, Any] | None
) -> dict[str, Any]:
    sent = sum(r["sent_total"] for r in runs)
    succeeded = sum(r["succeeded_total"] for r in runs)
    failed = sum(r["failed_total"] for r in runs)
    ids = [i for r in runs for i in r["payment_ids"]]
    duplicate_ids = len(ids) - len(set(ids))
    entries = ledger["entries"]
    charges = Counter(e["payment_request_id"] for e in entries if e["kind"] == "charge")
    reversals = sum(1 for e in entries if e["kind"] == "reversal")
    double_charged = sum(n - 1 for n in charges.values() if n > 1)
    total_charges = sum(charges.values())
    problems: list[str] = []
    duplicated = duplicate_ids + double_charged
    if duplicate_ids:
        problems.append(f"{duplicate_ids} payment ids answered twice")
    if double_charged:
        problems.append(f"{double_charged} extra charges of one paymentRequestId")
    if reversals:
        problems.append(f"{reversals} reversals at the sandbox")
    if total_charges != succeeded:
        problems.append(f"sandbox charges {total_charges} != successful payments {succeeded}")
    out: dict[str, Any] = {
        "sent": sent,
        "succeeded": succeeded,
        "failed": failed,
        "duplicated": 0,
        "ledger_charges": total_charges,
        "ledger_payments": len(ledger["payments"]),
    }
    if db is not None:
        out["db_payments"] = db["count"]
        out["db_by_status"] = db["by_status"]
        extra = db["count"] - sent
        if extra > 0:
            duplicated += extra
            problems.append(f"{extra} more payments in the database than requests sent")
        elif extra < 0:
            problems.append(f"{-extra} requests sent left no payment in the database")
        if db["distinct_references"] != db["count"]:
            problems.append("merchant_reference not unique in the database")
        if set(ids) != db["succeeded_ids"]:
            problems.append(
                f"answered ids and the database's succeeded payments differ "
                f"({len(set(ids) ^ db['succeeded_ids'])} ids)"
            )
        strangers = set(charges) - db["attempt_request_ids"]
        if strangers:
            duplicated += len(strangers)
            problems.append(f"{len(strangers)} charges for no attempt in the database")
    out["duplicated"] = duplicated
    out["problems"] = problems
    out["ok"] = failed == 0 and duplicated == 0 and not problems
    return out


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
            _log(f"target {name}")
            result["targets"][name] = bench.baseline_target(http)
        for database in ("sqlite", "postgresql"):
            name = f"gateway-{database}"
            if database not in options.databases:
                result["skipped"][name] = "not requested (--databases)"
                continue
            if database == "postgresql":
                why = bench.postgres_reachable()
                if why is not None:
                    result["skipped"][name] = why
                    _log(f"skipping {name}: {why}")
                    continue
                machine["postgresql"] = _postgres_version(bench.pg_server)
            _log(f"target {name}")
            data = bench.gateway_target(database)
            result["targets"][name] = data
            result["durability"][database] = data.pop("durability")
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
        help="run each gateway under cProfile, writing DIR/gateway-<db>.prof (slows it down)",
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
        databases=args.databases,
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
    # Ctrl-C and SIGTERM both unwind through the `finally`s that kill the children and drop
    # the PostgreSQL database (SIGINT too: a shell may have started us with it ignored).
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
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
    path = options.out / f"{stamp}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(render_summary(result))
    print(f"\nresult: {path}  ({result['elapsed_s']} s)")
    if options.docs:
        write_docs(result)
        print(f"docs:   {DOCS}")
    if keep:
        print(f"temp:   {tmp}")
    integrity = result["integrity"]
    print(
        f"integrity: failed: {integrity['failed']}, duplicated: {integrity['duplicated']}"
        + ("" if integrity["ok"] else f" — PROBLEMS: {'; '.join(integrity['problems'])}")
    )
    return 0 if integrity["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
