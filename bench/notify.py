"""The notifications benchmark (issue #15): partners' notifications accepted per second through
`POST /partners/th-siampay/notify`, beside the bare proxy in the same run.

    .venv/bin/python -m bench.notify [--quick] [--payments N] [--warmup W] [--concurrency 64]
                                     [--bare-requests N] [--databases sqlite,postgresql]
                                     [--out bench/results] [--no-docs] [--keep]
                                     [--render RESULT_JSON] [--profile-gateway DIR]

It reuses the main benchmark's machinery (`bench.__main__.Bench`: the temp copy of `configs/` on
free ports, sandbox keys generated into the children's environment, fresh databases migrated
with a TH/THB merchant and a POS key made by the CLI, the sandbox partner, `gateway serve` with
production durations; `bench._procs`; `bench.load`). Every piece is its own process:

1. `baseline-aiohttp` (`bench/baseline.py`, as in the main benchmark): payments/s through the
   bare aiohttp proxy to the sandbox at `--concurrency`, every ratio's denominator. It runs
   before the first database and after each one; a database's ratios are against the mean of
   the rounds either side of it (the machine is shared and noisy);
2. per database (SQLite; PostgreSQL when it answers): a sandbox partner and a gateway; once its
   rate book holds CNY, `python -m bench.load --kind merchant_qr` makes `--warmup` +
   `--payments` merchant-presented payments through the API (`payment_method: merchant_qr`,
   wallet `alipay_cn`, at `--concurrency`: each a `201 requires_customer` with an order code
   pending at th-siampay; its rate is reported too); then `python -m bench.notify_load` builds
   each one's Alipay+ `notifyPayment` of success as the sandbox's own notifier makes and signs
   it (in a replica of the sandbox, with the partner's key the orchestrator generated; the real
   sandbox notifies nobody) and sends them at `--concurrency`, closed loop, the first
   `--warmup` unmeasured: round `booked` (each books its payment), then round `replayed` (the
   same bytes again: each is acknowledged, changing nothing). Production durations: the
   gateway's resolver inquires each pending payment 2 s after its code is shown, then every
   2-10 s; the sandbox answers "in process", so inquiries compete for the gateway but can book
   nothing: every notification of the first round should book its payment;
3. integrity: every order code shown; every notification answered HTTP 200 with the Alipay+
   ack `resultStatus` S; `gateway_partner_notifications_total` (from `/metrics`) counts only
   `booked` (one per payment) in the first round and only `already` in the second; in the
   database every payment `succeeded`, with exactly one `payment` journal entry and one
   `payment.succeeded` event, nothing else journaled or evented; at the sandbox nothing charged
   or cancelled (every order still pending: the notifications are the bench's own); `gateway
   ledger verify` passing;
4. `bench/results/notify-<ts>.json`, a summary, and `docs/benchmarks-notify.md` (unless
   `--no-docs` or `--quick`; its "Reading the numbers" section is written by hand and kept).

Exit status: 0 when every integrity check holds, 1 when one failed, 2 on error (the temp dir and
every process's log are kept), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import secrets
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.__main__ import (
    PARTNER,
    REPO,
    Bench,
    GatewaySpec,
    _loadavg,
    _log,
    _machine,
    _postgres_version,
    orchestrate,
)
from bench.__main__ import parse_options as parse_main_options
from bench._checks import SUCCEEDED_EVENT, read_database
from bench._notifyreport import BARE, render_markdown, render_summary
from bench._procs import Children, Server, group_cpu_seconds, group_peak_rss

DOCS = REPO / "docs" / "benchmarks-notify.md"
DATABASES = ("sqlite", "postgresql")
LINES = ("order_codes", "booked", "replayed")  # each with its per_s and its ratio


@dataclass(frozen=True)
class Options:
    payments: int
    warmup: int
    bare_requests: int
    concurrency: int
    databases: list[str]
    out: Path
    docs: bool
    quick: bool
    keep: bool
    profile_dir: Path | None = None


class NotifyBench:
    def __init__(self, options: Options, tmp: Path, children: Children) -> None:
        self.options = options
        self.children = children
        main = parse_main_options(
            [
                *("--no-docs", "--concurrency", str(options.concurrency)),
                *("--requests", str(options.bare_requests)),
                *("--databases", ",".join(options.databases)),
            ]
        )
        main = dataclasses.replace(
            main, warmup=max(options.warmup, 1), keep=options.keep, profile_dir=options.profile_dir
        )
        self.bench = Bench(main, tmp, children)

    @property
    def total(self) -> int:
        """Payments made per database (warm-up included), hence notifications per round."""
        return self.options.warmup + self.options.payments

    # pieces ------------------------------------------------------------------------------------

    @staticmethod
    def get_json(url: str, key: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return json.loads(r.read())

    def wait_for_rates(self, server: Server, key: str, timeout: float = 30.0) -> None:
        """Until the gateway's book holds a CNY rate (its first fetch follows its start)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                rates = self.get_json(f"{server.url}/v1/fx/rates", key)["rates"]
                if any(rate["currency"] == "CNY" for rate in rates):
                    return
            except OSError:
                pass
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.name}: no fresh rates:\n{server.log_tail()}")
            time.sleep(0.1)

    def alive(self, server: Server) -> None:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} died during the run:\n{server.log_tail()}")

    def make_codes(self, server: Server, key: str) -> dict[str, Any]:
        """`bench.load --kind merchant_qr`: the payments, each showing an order code."""
        argv = [self.bench.python, "-m", "bench.load", "--kind", "merchant_qr"]
        argv += ["--url", f"{server.url}/v1/payments", "--tag", f"N{secrets.token_hex(4)}"]
        argv += ["--concurrency", str(self.options.concurrency)]
        argv += ["--requests", str(self.options.payments), "--warmup", str(self.options.warmup)]
        cpu_before = group_cpu_seconds(server.pid)
        env = {**self.bench.env, "BENCH_POS_KEY": key}
        out = self.children.run(argv, env=env, timeout=900, cwd=REPO)
        cpu_after = group_cpu_seconds(server.pid)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        result["per_s"] = result.pop("payments_per_s")
        if cpu_before is not None and cpu_after is not None:
            result["server_cpu_ms_per_request"] = round(
                (cpu_after - cpu_before) * 1000 / max(1, result["sent_total"]), 3
            )
        result["loadgen_cpu_ms_per_request"] = round(
            result["loadgen_cpu_s"] * 1000 / max(1, result["requests"]), 3
        )
        self.alive(server)
        _log(
            f"{server.name}: {result['succeeded_total']} order codes shown, "
            f"{result['per_s']:.0f}/s, p50 {result['latency_ms']['p50']:.2f} ms"
            + (f", {result['failed_total']} failed" if result["failed_total"] else "")
        )
        return result

    def notify(self, server: Server, sandbox: Server) -> dict[str, Any]:
        """`bench.notify_load`: both rounds of notifications."""
        argv = [self.bench.python, "-m", "bench.notify_load"]
        argv += ["--config-dir", str(self.bench.config_dir), "--partner", PARTNER]
        argv += ["--sandbox", sandbox.url, "--gateway", server.url]
        argv += ["--server-pid", str(server.pid), "--concurrency", str(self.options.concurrency)]
        argv += ["--warmup", str(self.options.warmup)]
        out = self.children.run(argv, env=self.bench.env, timeout=900, cwd=REPO)
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        self.alive(server)
        for name, line in result["rounds"].items():
            _log(
                f"{server.name} {name}: {line['per_s']:.0f}/s, p50 "
                f"{line['latency_ms']['p50']:.2f} ms, p99 {line['latency_ms']['p99']:.2f} ms, "
                f"verdicts {line['verdicts']}"
            )
        return result

    # targets -----------------------------------------------------------------------------------

    def bare_round(self) -> dict[str, Any]:
        target = self.bench.baseline_target("aiohttp")
        run = target["runs"][0]
        return {
            "per_s": run["payments_per_s"],
            "requests": run["requests"],
            "warmup": run["warmup"],
            "latency_ms": run["latency_ms"],
            "own_ms": run["own_ms"],
            "server_cpu_ms_per_request": run["cpu_ms_per_payment"].get("server"),
            "sandbox_cpu_ms_per_request": run["cpu_ms_per_payment"].get("sandbox"),
            "loadgen_cpu_ms_per_request": round(
                run["loadgen_cpu_s"] * 1000 / max(1, run["requests"]), 3
            ),
            "problems": target["integrity"]["problems"],
        }

    def database_run(self, database: str) -> dict[str, Any]:
        spec = GatewaySpec(f"notify-{database}", database)
        sandbox = self.bench.start_sandbox(spec.name)
        server: Server | None = None
        try:
            url, _merchant, key = self.bench.prepare_database(spec)
            server = self.bench.start_gateway(spec, url)
            self.children.wait_ready(sandbox)
            self.children.wait_ready(server)
            self.wait_for_rates(server, key)
            made = self.make_codes(server, key)
            notified = self.notify(server, sandbox)
            partner_books = self.bench.ledger()
            memory = group_peak_rss(server.pid)
        finally:
            if server is not None:
                self.children.stop(server)  # graceful: the writer drains before the DB is read
            self.children.stop(sandbox)
        db = read_database(url)
        verify = self.bench.ledger_verify(url)
        _log(f"{spec.name}: ledger verify: {verify['summary']}")
        problems = self.check(made, notified, partner_books, db, verify)
        payments = list(partner_books["payments"].values())
        return {
            "order_codes": {k: v for k, v in made.items() if k != "payment_ids"},
            "orders": notified["orders"],
            "build": notified["build"],
            "notify_url_path": "/" + notified["notify_url"].split("/", 3)[3],
            **notified["rounds"],
            "database": {
                "by_status": db["by_status"],
                "journal_entries": db["journal_entries"],
                "succeeded_with_one_entry": db["succeeded_with_one_entry"],
                "events": db["events"],
                "succeeded_with_one_event": db["succeeded_with_one_event"],
                "durability": db["durability"],
            },
            "sandbox": {
                "payments": len(payments),
                "by_status": _tally(p["status"] for p in payments),
                "money_movements": len(partner_books["entries"]),
            },
            "ledger_verify": verify,
            "peak_rss_mb": memory.total_mb if memory else None,
            "integrity": {"problems": problems, "ok": not problems},
        }

    def check(
        self,
        made: dict[str, Any],
        notified: dict[str, Any],
        partner_books: dict[str, Any],
        db: dict[str, Any],
        verify: dict[str, Any],
    ) -> list[str]:
        total, problems = self.total, []
        ids = set(made["payment_ids"])
        if made["succeeded_total"] != total or made["failed_total"] or len(ids) != total:
            problems.append(
                f"order codes: {len(ids)} distinct of {total} shown ({made['statuses']})"
            )
        if notified["orders"] != total:
            problems.append(f"{notified['orders']} orders at the sandbox for {total} payments")
        rounds = notified["rounds"]
        for name, line in rounds.items():
            if line["sent_total"] != total or line["acknowledged_s"] != total:
                problems.append(
                    f"{name}: {line['acknowledged_s']} of {line['sent_total']} acknowledged S "
                    f"({line['statuses']})"
                )
        # The sandbox answers every inquiry "in process": only a notification can end one.
        if rounds["booked"]["verdicts"] != {"booked": total}:
            problems.append(f"booked round verdicts {rounds['booked']['verdicts']}, not all booked")
        if rounds["replayed"]["verdicts"] != {"already": total}:
            problems.append(f"replayed round verdicts {rounds['replayed']['verdicts']}")
        if db["by_status"] != {"succeeded": total}:
            problems.append(f"payments by status {db['by_status']}, expected {total} succeeded")
        if db["succeeded_ids"] != ids:
            problems.append("the succeeded payments are not those the POS made")
        if db["attempt_request_ids"] != set(notified["request_ids"]):
            problems.append("the notified request ids are not the payments' attempts")
        if db["succeeded_with_one_entry"] != total or db["journal_entries"] != {"payment": total}:
            problems.append(
                f"journal entries {db['journal_entries']}, {db['succeeded_with_one_entry']} "
                f"payments with exactly one, for {total} payments"
            )
        events = db["events"]
        if db["succeeded_with_one_event"] != total or events != {SUCCEEDED_EVENT: total}:
            problems.append(
                f"events {events}, {db['succeeded_with_one_event']} payments with exactly one "
                f"{SUCCEEDED_EVENT}, for {total} payments"
            )
        statuses = _tally(p["status"] for p in partner_books["payments"].values())
        if statuses != {"PROCESSING": total} or partner_books["entries"]:
            problems.append(
                f"at the sandbox: payments {statuses}, {len(partner_books['entries'])} money "
                "movements (expected every order pending, nothing charged or cancelled)"
            )
        if not verify["ok"]:
            problems.append(f"gateway ledger verify failed: {verify['summary']}")
        return problems


def _tally(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for value in values:
        out[str(value)] = out.get(str(value), 0) + 1
    return out


# --- the run ------------------------------------------------------------------------------------


def run(options: Options, tmp: Path, children: Children) -> dict[str, Any]:
    started = time.monotonic()
    nb = NotifyBench(options, tmp, children)
    machine = _machine()
    result: dict[str, Any] = {
        "benchmark": "notify",
        "machine": machine,
        "config": {
            "concurrency": options.concurrency,
            "payments": options.payments,
            "warmup": options.warmup,
            "bare_requests": options.bare_requests,
            "databases": options.databases,
            "partner": PARTNER,
            "quick": options.quick,
            "profile": "production (configs/gateway.toml, no overlay)",
        },
        "bare": [],
        "databases": {},
        "skipped": {},
    }
    try:
        _log(f"target {BARE}")
        result["bare"].append(nb.bare_round())
        for database in options.databases:
            if database == "postgresql":
                why = nb.bench.postgres_reachable()
                if why is not None:
                    result["skipped"][f"notify-{database}"] = why
                    _log(f"skipping notify-{database}: {why}")
                    continue
                machine["postgresql"] = _postgres_version(nb.bench.pg_server)
            _log(f"target notify-{database}: {nb.total} payments, then their notifications")
            data = nb.database_run(database)
            _log(f"target {BARE}")
            result["bare"].append(nb.bare_round())
            before, after = result["bare"][-2], result["bare"][-1]
            bare = round((before["per_s"] + after["per_s"]) / 2, 1)
            data["bare_rounds"] = [len(result["bare"]) - 2, len(result["bare"]) - 1]
            data["bare_per_s"] = bare
            data["ratios"] = {key: round(data[key]["per_s"] / bare, 3) for key in LINES}
            result["databases"][database] = data
    finally:
        nb.bench.drop_databases()
    machine["loadavg_end"] = _loadavg()
    problems = [
        f"{BARE} #{i + 1}: {p}" for i, b in enumerate(result["bare"]) for p in b["problems"]
    ]
    problems += [
        f"notify-{db}: {p}"
        for db, d in result["databases"].items()
        for p in d["integrity"]["problems"]
    ]
    result["integrity"] = {"problems": problems, "ok": not problems}
    result["elapsed_s"] = round(time.monotonic() - started, 1)
    return result


def _databases(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names or any(n not in DATABASES for n in names):
        raise argparse.ArgumentTypeError(f"some of: {', '.join(DATABASES)}")
    return names


def parse_options(argv: list[str] | None = None) -> tuple[Options, Path | None]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.notify",
        description="Partner notifications accepted per second, beside the bare proxy.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke size, SQLite only, no docs")
    parser.add_argument("--payments", type=int, default=None, help="measured (2000; quick 100)")
    parser.add_argument("--warmup", type=int, default=None, help="unmeasured (50; quick 10)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--bare-requests", type=int, default=None, help="per bare round (4000; quick 400)"
    )
    parser.add_argument(
        "--databases", type=_databases, default=None, help="sqlite,postgresql (quick: sqlite)"
    )
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
        help="run each gateway under cProfile, writing DIR/notify-<database>.prof (no docs)",
    )
    args = parser.parse_args(argv)
    quick: bool = args.quick
    options = Options(
        payments=args.payments or (100 if quick else 2000),
        warmup=args.warmup if args.warmup is not None else (10 if quick else 50),
        bare_requests=args.bare_requests or (400 if quick else 4000),
        concurrency=args.concurrency,
        databases=args.databases or (["sqlite"] if quick else list(DATABASES)),
        out=args.out,
        docs=not (args.no_docs or quick or args.profile_gateway),
        quick=quick,
        keep=args.keep,
        profile_dir=args.profile_gateway.resolve() if args.profile_gateway else None,
    )
    if min(options.payments, options.concurrency, options.bare_requests) < 1:
        parser.error("--payments, --concurrency and --bare-requests must be ≥ 1")
    if options.warmup < 0:
        parser.error("--warmup must be ≥ 0")
    return options, args.render


def write_docs(result: dict[str, Any]) -> None:
    DOCS.write_text(render_markdown(result, DOCS.read_text() if DOCS.exists() else None))


def main(argv: list[str] | None = None) -> int:
    options, render = parse_options(argv)
    if render is not None:
        write_docs(json.loads(render.read_text()))
        print(f"docs:   {DOCS}")
        return 0
    return orchestrate("notify", options, run, render_summary, write_docs, DOCS)


if __name__ == "__main__":
    sys.exit(main())
