"""The notifications benchmark (issue #15): partner notifications accepted per second through
`POST /partners/th-siampay/notify`, beside the bare proxy in the same run.

    .venv/bin/python -m bench.notify [--quick] [--payments N] [--concurrency 64]
                                     [--databases sqlite,postgresql] [--out bench/results]

It reuses the main benchmark's machinery (`bench.__main__.Bench`: config copy on free ports,
sandbox keys in the children's environment, fresh databases with a TH/THB merchant and a POS
key, `gateway serve` with production durations). Steps:

1. `baseline-aiohttp`: the bare proxy's payments/s at `--concurrency` (the denominator, as in
   the main benchmark);
2. per database: a sandbox partner (th-siampay, Alipay+) and a gateway; `--payments`
   merchant-presented payments made through the API (`payment_method: merchant_qr`, each an
   order code pending at the sandbox); then, for each, the Alipay+ `notifyPayment` of its
   success, built and RSA-signed here before the clock starts as the partner signs it (the
   sandbox's key, `adapters.alipayplus.signing`), and sent at `--concurrency` (closed loop):
   `booked` (first round: each notification books its payment) and `replayed` (the same
   notifications again: each finds its payment final and is acknowledged). Production durations
   make the gateway's first inquiry come 2 s after a code is shown, after the payments are made
   and before the notifications: it finds them pending, so the notifications book them;
3. integrity: every answer the Alipay+ ack `resultStatus` S; every payment `succeeded`;
   `gateway_partner_notifications_total` counts `booked` = N then `already` = N; `gateway
   ledger verify` passes. The sandbox charged nothing (the notifications are the bench's own):
   this measures the gateway's side.

Prints a table; writes `bench/results/notify-<ts>.json`. Exit status: 0 when every check holds,
1 when one failed, 2 on error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.__main__ import REPO, Bench, GatewaySpec, _interrupt, _log, _machine
from bench.__main__ import parse_options as parse_main_options
from bench._procs import Children, Server, group_cpu_seconds
from bench.load import percentiles

PARTNER = "th-siampay"
_ACK_S = b'"resultStatus":"S"'


def _get(url: str, key: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as r:
        return json.loads(r.read())


async def _present(url: str, key: str, count: int) -> list[str]:
    """`count` merchant-presented payments; their ids (each `requires_customer`)."""
    headers = {"Authorization": f"Bearer {key}"}
    ids: list[str] = []
    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> None:
            body = {
                "merchant_reference": f"NOTIFY-{i}",
                "amount": {"currency": "THB", "value": 10_000 + i},
                "payment_method": {"type": "merchant_qr", "wallet": "alipay_cn"},
            }
            sent = {**headers, "Idempotency-Key": f"notify-{i}"}
            async with session.post(f"{url}/v1/payments", json=body, headers=sent) as answer:
                shown = await answer.json()
                if answer.status != 201 or shown.get("status") != "requires_customer":
                    raise RuntimeError(f"payment {i}: {answer.status} {shown}")
                ids.append(shown["id"])

        for start in range(0, count, 16):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 16, count))))
    return ids


def _notifications(
    orders: dict[str, Any], env: dict[str, str]
) -> list[tuple[str, dict[str, str], bytes]]:
    """Each pending order's success, signed as the partner signs it: (path, headers, body)."""
    from adapters.alipayplus import models as wire
    from adapters.alipayplus.signing import SignatureHeader, build_content, load_private_key, sign

    key = load_private_key(env["TH_SIAMPAY_SANDBOX_PRIVATE_KEY"])
    client_id = env["TH_SIAMPAY_CLIENT_ID"]
    built = []
    for order in orders.values():
        now = datetime.now(UTC).isoformat(timespec="seconds")
        amount = order["amount"]
        body = wire.encode(
            wire.NotifyPaymentRequest.model_validate(
                {
                    "notifyType": "PAYMENT_RESULT",
                    "result": {"resultCode": "SUCCESS", "resultStatus": "S",
                               "resultMessage": "success"},
                    "paymentRequestId": order["payment_request_id"],
                    "paymentId": order["payment_id"],
                    "paymentAmount": {"currency": amount["currency"],
                                      "value": str(amount["value"])},
                    "paymentCreateTime": order["created_at"],
                    "paymentTime": now,
                }
            )
        )  # fmt: skip
        path = "/" + order["notify_url"].split("/", 3)[3]
        content = build_content("POST", path, client_id, now, body)
        signature = SignatureHeader(signature=sign(key, content), key_version=1)
        headers = {
            "Content-Type": "application/json; charset=UTF-8",
            "client-id": client_id,
            "request-time": now,
            "signature": signature.render(),
        }
        built.append((path, headers, body))
    return built


async def _drive(
    url: str, notes: list[tuple[str, dict[str, str], bytes]], concurrency: int
) -> dict[str, Any]:
    """Send every notification once, `concurrency` at a time (closed loop)."""
    latencies: list[float] = []
    acked = 0
    queue = list(reversed(notes))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            nonlocal acked
            while queue:
                path, headers, body = queue.pop()
                started = time.perf_counter()
                async with s.post(url + path, data=body, headers=headers) as answer:
                    text = await answer.read()
                latencies.append((time.perf_counter() - started) * 1000)
                acked += answer.status == 200 and _ACK_S in text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return {
        "sent": len(notes),
        "acknowledged_s": acked,
        "wall_s": round(wall, 3),
        "per_s": round(len(notes) / wall, 1),
        "latency_ms": percentiles(latencies),
    }


def _wait_for_rates(server: Server, key: str, timeout: float = 30.0) -> None:
    """Until the gateway's book holds a fresh CNY rate (its first fetch follows its start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rates = _get(f"{server.url}/v1/fx/rates", key)["rates"]
        if any(rate["currency"] == "CNY" for rate in rates):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name}: no fresh rates:\n{server.log_tail()}")


def _verdicts(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    pattern = rf'gateway_partner_notifications_total{{partner="{PARTNER}",verdict="(\w+)"}} (\S+)'
    return {verdict: float(value) for verdict, value in re.findall(pattern, text)}


def _database_run(bench: Bench, database: str, payments: int, concurrency: int) -> dict[str, Any]:
    spec = GatewaySpec(f"notify-{database}", database)
    sandbox = bench.start_sandbox(spec.name)
    server: Server | None = None
    try:
        url, _merchant, key = bench.prepare_database(spec)
        server = bench.start_gateway(spec, url)
        bench.children.wait_ready(sandbox)
        bench.children.wait_ready(server)
        _wait_for_rates(server, key)
        ids = asyncio.run(_present(server.url, key, payments))
        orders = _get(f"{sandbox.url}/_sandbox/orders")["orders"]
        notes = _notifications(orders, bench.env)
        cpu = group_cpu_seconds(server.pid)
        booked = asyncio.run(_drive(server.url, notes, concurrency))
        cpu_booked = group_cpu_seconds(server.pid)
        replayed = asyncio.run(_drive(server.url, notes, concurrency))
        if cpu is not None and cpu_booked is not None:
            booked["server_cpu_ms"] = round((cpu_booked - cpu) * 1000 / len(notes), 3)
        _log(f"{spec.name}: booked {booked['per_s']:.0f}/s, replayed {replayed['per_s']:.0f}/s")
        statuses = [_get(f"{server.url}/v1/payments/{pid}", key)["status"] for pid in ids]
        verdicts = _verdicts(server.url)
        verify = bench.ledger_verify(url)
    finally:
        if server is not None:
            bench.children.stop(server)
        bench.children.stop(sandbox)
    problems = []
    if len(notes) != payments:
        problems.append(f"{len(notes)} orders at the sandbox for {payments} payments")
    for name, run in (("booked", booked), ("replayed", replayed)):
        if run["acknowledged_s"] != payments:
            problems.append(f"{name}: {run['acknowledged_s']} of {payments} acknowledged S")
    if statuses.count("succeeded") != payments:
        problems.append(f"{statuses.count('succeeded')} of {payments} payments succeeded")
    if verdicts.get("booked", 0) != payments or verdicts.get("already", 0) != payments:
        problems.append(f"verdicts {verdicts}, expected booked = already = {payments}")
    if not verify["ok"]:
        problems.append(f"ledger verify: {verify['summary']}")
    return {
        "booked": booked,
        "replayed": replayed,
        "verdicts": verdicts,
        "ledger_verify": verify,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notify", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smoke size, SQLite only")
    parser.add_argument("--payments", type=int, default=None, help="default 2000 (quick: 100)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    payments = args.payments or (100 if args.quick else 2000)
    databases = ["sqlite"] if args.quick else args.databases.split(",")
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    tmp = Path(tempfile.mkdtemp(prefix="gateway-bench-notify-"))
    (tmp / "logs").mkdir()
    children = Children(tmp / "logs")
    main_options = parse_main_options(
        [
            *("--no-docs", "--concurrency", str(args.concurrency)),
            *("--requests", str(payments), "--databases", ",".join(databases)),
        ]
    )
    bench = Bench(main_options, tmp, children)
    started = time.monotonic()
    try:
        baseline = bench.baseline_target("aiohttp")
        bare = sorted(r["payments_per_s"] for r in baseline["runs"])[len(baseline["runs"]) // 2]
        runs = {}
        for database in databases:
            if database == "postgresql" and bench.postgres_reachable() is not None:
                _log("postgresql: not reachable, skipped")
                continue
            runs[database] = _database_run(bench, database, payments, args.concurrency)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        _log(f"failed: {exc}; logs kept in {tmp / 'logs'}")
        return 2
    finally:
        children.kill_all()
        bench.drop_databases()
    shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "notify",
        "machine": _machine(),
        "concurrency": args.concurrency,
        "payments": payments,
        "baseline_payments_per_s": bare,
        "databases": runs,
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"notify-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'target':<24}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}{'÷ bare':>9}")
    print(f"{'baseline-aiohttp':<24}{bare:>9.0f}{'':>9}{'':>9}{1:>9.2f}")
    for database, run in runs.items():
        for name in ("booked", "replayed"):
            line = run[name]
            latency = line["latency_ms"]
            print(
                f"{f'notify-{database} {name}':<24}{line['per_s']:>9.0f}"
                f"{latency['p50']:>9.2f}{latency['p99']:>9.2f}{line['per_s'] / bare:>9.2f}"
            )
    problems = [f"{db}: {p}" for db, run in runs.items() for p in run["problems"]]
    print(f"result: {path}")
    print("integrity: " + ("ok" if not problems else "PROBLEMS: " + "; ".join(problems)))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
