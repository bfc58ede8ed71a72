"""The notifications load generator (issue #15): a partner's signed notifications, JSON out.

    python -m bench.notify_load --config-dir DIR --partner th-siampay --sandbox URL \\
        --gateway URL [--server-pid PID] [--concurrency 64] [--warmup 50] [--timeout 30]

1. Reads the order codes pending at the sandbox partner (`GET /_sandbox/orders` and
   `/_sandbox/ledger`: every one must still be pending, none charged).
2. Mirrors them into a replica of that sandbox made in this process by the code `gateway
   sandbox` runs (`gateway.sandboxes.sandbox_app`, from the same config and the same keys in the
   environment: the partner's private key the orchestrator generated): each order's payment
   approved as a scan approves it (`settle_order`), then its notification made by the sandbox's
   own notifier (`OrderDesk.notification_for` → `AlipayPlusOrders.notification`): the body, the
   headers and the RSA signature the partner sends, to the notify URL the gateway gave with
   the order. Nothing is copied here, and the real sandbox is never told (it charges nothing and
   notifies nobody: its own notifier stays idle). Built, in the order the codes were made,
   before any clock starts; their `request-time` is then, so every round must end within the
   gateway's tolerance (5 minutes).
3. Sends them in two rounds, each closed loop at `--concurrency` (`bench.load.closed_loop`),
   the first `--warmup` of them unmeasured first: `booked` (each books its payment) then
   `replayed` (the same bytes again: each finds its payment final). Around each round it reads
   the gateway's `/metrics`: `gateway_partner_notifications_total` by verdict and the partner
   calls the gateway made meanwhile (`gateway_partner_call_seconds_count`: its resolver's
   inquiries of the payments still pending).

Output: `orders`, `request_ids`, `build` (seconds, CPU ms per notification) and per round the
counts (`acknowledged_s`: HTTP 200 with `result.resultStatus` S, warm-up included), `statuses`,
wall time, notifications/s (acknowledged S, measured part), client latency and the gateway's own
time (`Server-Timing`) as p50/p95/p99, the load generator's and (with `--server-pid`) the
gateway's CPU ms per notification, `verdicts` and `partner_calls` (deltas over the round).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench._procs import group_cpu_seconds
from bench.load import Plan, Sample, closed_loop, percentiles

__all__ = ["ROUNDS", "build_notifications", "main", "metric_counts"]

ROUNDS = ("booked", "replayed")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.loads(answer.read())


def build_notifications(config_dir: Path, partner_id: str, sandbox_url: str) -> list[Any]:
    """The notification of each order code pending at `sandbox_url`, each paid, as the
    partner's sandbox would send it (`OutboundNotification`s, in the order the codes were
    made). `RuntimeError` when an order is no longer pending or was charged."""
    from adapters import SystemClock
    from adapters._sandbox.order_routes import ORDERS
    from adapters._sandbox.scenarios import Outcome, Scenario
    from adapters.alipayplus import codes
    from adapters.alipayplus import models as wire
    from adapters.alipayplus.sandbox.ledger import PaymentStatus, SandboxLedger
    from adapters.sandboxes import SANDBOXES
    from fx import from_minor_str
    from gateway.core.config import load_settings, resolve_credentials
    from gateway.sandboxes import sandbox_app

    settings = load_settings(config_dir, None, os.environ)
    partner = next((p for p in settings.partners if p.id == partner_id), None)
    if partner is None or partner.protocol != "alipayplus":
        raise RuntimeError(f"{partner_id}: not an Alipay+ partner of this config")
    replica = sandbox_app(settings, partner, os.environ, SystemClock())
    desk = replica[ORDERS]
    ledger = replica[SANDBOXES[partner.protocol].ledger]
    assert isinstance(ledger, SandboxLedger)
    recipient = resolve_credentials(partner, os.environ)["client_id"]  # who the orders came from

    orders: dict[str, Any] = _get_json(f"{sandbox_url}/_sandbox/orders")["orders"]
    books = _get_json(f"{sandbox_url}/_sandbox/ledger")
    if books["entries"]:
        raise RuntimeError(f"the sandbox has {len(books['entries'])} money movements already")
    records: dict[str, Any] = books["payments"]
    built = []
    for request_id in sorted(orders, key=lambda r: (records[r]["created_at"], r)):
        order, record = orders[request_id], records[request_id]
        if order["state"] != "pending" or record["status"] != PaymentStatus.PROCESSING:
            raise RuntimeError(f"order {request_id} is {order['state']} at the sandbox")
        amount = wire.Amount.model_validate(record["amount"])
        mirrored = ledger.record(
            payment_request_id=request_id,
            amount=amount,
            merchant_amount=wire.Amount.model_validate(record["merchant_amount"])
            if record["merchant_amount"]
            else None,
            code=None,
            scenario=Scenario.ORDER,
            status=PaymentStatus.PROCESSING,
            result_code=codes.PAYMENT_IN_PROCESS,
            expires_at=datetime.fromisoformat(record["expires_at"]),
        )
        mirrored.payment_id = record["payment_id"]  # the real sandbox's ids and times
        mirrored.created_at = datetime.fromisoformat(record["created_at"])
        ledger.settle_order(mirrored, Outcome.APPROVE)  # the tourist scans and pays
        mirror = desk.open(
            payment_request_id=request_id,
            payment_id=record["payment_id"],
            amount=from_minor_str(amount.value, amount.currency),
            notify_url=order["notify_url"],
            recipient=recipient,
            fingerprint="mirror",
            base_url=sandbox_url,
            expires_at=datetime.fromisoformat(order["expires_at"]),
        )
        built.append(desk.notification_for(mirror))
    return built


def metric_counts(text: str, partner: str) -> dict[str, dict[str, float]]:
    """From a Prometheus exposition: this partner's notification verdicts, and its calls by
    `operation outcome`."""
    verdicts: dict[str, float] = {}
    calls: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels_text, value = match.groups()
        labels = dict(_LABEL.findall(labels_text or ""))
        if labels.get("partner") != partner:
            continue
        if name == "gateway_partner_notifications_total":
            verdicts[labels.get("verdict", "?")] = float(value)
        elif name == "gateway_partner_call_seconds_count":
            calls[f"{labels.get('operation', '?')} {labels.get('outcome', '?')}"] = float(value)
    return {"verdicts": verdicts, "partner_calls": calls}


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, int]:
    out = {k: int(v - before.get(k, 0.0)) for k, v in after.items()}
    return {k: v for k, v in sorted(out.items()) if v}


def _acked(sample: Sample) -> bool:
    return sample.status == 200 and sample.result_status == "S"


async def _counts(session: aiohttp.ClientSession, gateway: str, partner: str) -> Any:
    async with session.get(f"{gateway}/metrics") as answer:
        return metric_counts(await answer.text(), partner)


async def drive(args: argparse.Namespace, notes: Sequence[Any]) -> dict[str, Any]:
    """Both rounds over one connection pool; each round's figures."""
    urls = {note.url for note in notes}
    if len(urls) != 1:
        raise RuntimeError(f"the orders name {len(urls)} notify URLs: {sorted(urls)[:3]}")
    url = urls.pop()
    bodies, headers = [n.body for n in notes], [dict(n.headers) for n in notes]
    warm = Plan(bodies[: args.warmup], headers[: args.warmup])
    plan = Plan(bodies[args.warmup :], headers[args.warmup :])
    connector = aiohttp.TCPConnector(limit=args.concurrency, limit_per_host=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    rounds: dict[str, Any] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        for name in ROUNDS:
            before = await _counts(session, args.gateway, args.partner)
            warm_samples = await closed_loop(session, url, warm, args.concurrency)
            server0 = group_cpu_seconds(args.server_pid) if args.server_pid else None
            cpu0 = time.process_time()
            started = time.perf_counter()
            samples = await closed_loop(session, url, plan, args.concurrency)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu0
            server1 = group_cpu_seconds(args.server_pid) if args.server_pid else None
            after = await _counts(session, args.gateway, args.partner)
            everything = [*warm_samples, *samples]
            statuses = Counter(
                f"{s.status} {s.result_status or s.error or ''}".strip() for s in everything
            )
            n = max(1, len(samples))
            rounds[name] = {
                "warmup": len(warm_samples),
                "requests": len(samples),
                "sent_total": len(everything),
                "acknowledged_s": sum(1 for s in everything if _acked(s)),
                "statuses": dict(statuses),
                "wall_s": round(wall, 4),
                "per_s": round(sum(1 for s in samples if _acked(s)) / wall, 1) if wall else 0.0,
                "latency_ms": percentiles([s.latency_ms for s in samples]),
                "own_ms": percentiles([s.own_ms for s in samples if s.own_ms is not None]),
                "response_bytes": round(sum(s.response_bytes for s in samples) / n),
                "loadgen_cpu_ms_per_note": round(cpu * 1000 / n, 3),
                "server_cpu_ms_per_note": round((server1 - server0) * 1000 / n, 3)
                if server0 is not None and server1 is not None
                else None,
                "verdicts": _delta(after["verdicts"], before["verdicts"]),
                "partner_calls": _delta(after["partner_calls"], before["partner_calls"]),
            }
    return {"notify_url": url, "rounds": rounds}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify_load", description=__doc__)
    parser.add_argument("--config-dir", type=Path, required=True, help="the bench's config copy")
    parser.add_argument("--partner", default="th-siampay")
    parser.add_argument("--sandbox", required=True, help="the sandbox partner's base URL")
    parser.add_argument("--gateway", required=True, help="the gateway's base URL (/metrics)")
    parser.add_argument("--server-pid", type=int, default=None, help="its process group (CPU)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured, first in each round")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.warmup < 0:
        parser.error("--concurrency must be ≥ 1, --warmup ≥ 0")
    cpu0, started = time.process_time(), time.perf_counter()
    notes = build_notifications(args.config_dir, args.partner, args.sandbox.rstrip("/"))
    if len(notes) <= args.warmup:
        parser.error(f"{len(notes)} orders at the sandbox: not more than --warmup")
    build = {
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_ms_per_note": round((time.process_time() - cpu0) * 1000 / len(notes), 3),
    }
    result = asyncio.run(drive(args, notes))
    request_ids = [json.loads(note.body)["paymentRequestId"] for note in notes]
    out = {"orders": len(notes), "build": build, **result, "request_ids": request_ids}
    sys.stdout.write(json.dumps(out, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
