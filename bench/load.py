"""The load generator: POS requests against the gateway or the baseline proxy, one JSON line out.

    python -m bench.load --url http://127.0.0.1:8080/v1/payments --key KEY \
        --concurrency 64 --requests 2000 [--rate R] [--warmup 50] [--tag T] [--kind quotes]

Closed loop (default): `--concurrency` workers, each sending its next request as soon as the
previous one is answered, until `--requests` have been sent. Open loop (`--rate R`): request i is
due at t0 + i/R whatever happened to the others (a fixed arrival rate; latency then counts from
when the request was due, so a backlog in this process shows as latency rather than hiding it).

Every request is a fresh sale: its own `Idempotency-Key`, `merchant_reference` (`<tag>-<seq>`,
so the run's payments can be counted in the database) and an Alipay (CNY) wallet code ending in
0000 (approve), distinct per request. Bodies are built before the clock starts. A warm-up (not
measured, same references scheme) runs first at the same concurrency.

`--kind quotes` sends `POST /v1/fx/quotes` bodies instead (`{"amount": THB, "wallet":
"alipay_cn"}`, the amount varying per request, its own `Idempotency-Key` each); an answer counts
as good when it is `201` with `"object": "fx_quote"` (a payment's: `201` `succeeded`).
`--kind merchant_qr` makes merchant-presented payments (`payment_method: {"type": "merchant_qr",
"wallet": "alipay_cn"}`, otherwise as a payment): good when `201` `requires_customer` (an order
code shown at the till, pending at the partner).

`closed_loop` and `Plan` are also the loop of `bench.notify_load` (partners' notifications); a
`Sample` then carries the protocol acknowledgment's `result.resultStatus`.

Output: one JSON object with the counts, wall time (and when the measured requests started and
the last answer came, in Unix seconds), payments/s, client latency and the gateway's own time
(`gateway;dur=` of `Server-Timing`) as p50/p95/p99, and the payment ids.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

__all__ = ["Plan", "Sample", "closed_loop", "main", "percentiles", "server_timing"]

PERCENTILES = (50, 95, 99)


@dataclass(slots=True)
class Sample:
    """One answered (or failed) request."""

    latency_ms: float
    status: int  # HTTP status; 0 for a transport error
    payment_status: str | None = None
    payment_id: str | None = None
    object: str | None = None
    response_bytes: int = 0
    own_ms: float | None = None
    partner_ms: float | None = None
    error: str | None = None
    result_status: str | None = None  # an Alipay+ acknowledgment's `result.resultStatus`


@dataclass
class Plan:
    bodies: list[bytes]
    headers: list[dict[str, str]]
    references: list[str] = field(default_factory=list)


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """Nearest-rank p50/p95/p99 plus mean and max, in the values' unit (rounded to µs)."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    out = {f"p{p}": round(ordered[max(0, math.ceil(p / 100 * n) - 1)], 3) for p in PERCENTILES}
    out["mean"] = round(sum(ordered) / n, 3)
    out["max"] = round(ordered[-1], 3)
    return out


def server_timing(header: str | None) -> dict[str, float]:
    """`gateway;dur=1.234, partner;dur=5.678` -> {"gateway": 1.234, "partner": 5.678}."""
    out: dict[str, float] = {}
    if not header:
        return out
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                with contextlib.suppress(ValueError):
                    out[name.strip()] = float(value)
    return out


def _code(nonce: str, seq: int) -> str:
    """18 digits: alipay_cn prefix 28, 4 digits of run nonce, 8 of sequence, 0000 (approve)."""
    return f"28{nonce}{seq:08d}0000"


KINDS = ("payments", "quotes", "merchant_qr")


def build_plan(
    *, key: str, tag: str, start: int, count: int, amount: int, kind: str = "payments"
) -> Plan:
    nonce = f"{secrets.randbelow(10_000):04d}"
    bodies: list[bytes] = []
    headers: list[dict[str, str]] = []
    references: list[str] = []
    for seq in range(start, start + count):
        reference = f"{tag}-{seq:07d}"
        money = {"currency": "THB", "value": amount + seq % 1000}
        body: dict[str, Any]
        if kind == "quotes":
            body = {"amount": money, "wallet": "alipay_cn"}
        else:
            method = (
                {"type": "merchant_qr", "wallet": "alipay_cn"}
                if kind == "merchant_qr"
                else {"type": "wallet_code", "code": _code(nonce, seq)}
            )
            body = {"merchant_reference": reference, "amount": money, "payment_method": method}
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
        headers.append(
            {
                "Authorization": f"Bearer {key}",
                "Idempotency-Key": f"{reference}-{secrets.token_hex(8)}",
                "Content-Type": "application/json",
            }
        )
        references.append(reference)
    return Plan(bodies, headers, references)


async def _one(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], due: float
) -> Sample:
    try:
        async with session.post(url, data=body, headers=headers) as response:
            raw = await response.read()
            done = time.perf_counter()
            timing = server_timing(response.headers.get("Server-Timing"))
            sample = Sample(
                latency_ms=(done - due) * 1000,
                status=response.status,
                response_bytes=len(raw),
                own_ms=timing.get("gateway"),
                partner_ms=timing.get("partner"),
            )
    except Exception as exc:  # count it, never stop the run
        return Sample((time.perf_counter() - due) * 1000, 0, error=type(exc).__name__)
    try:
        answer: Any = json.loads(raw)
    except ValueError:
        sample.error = "unparseable body"
        return sample
    if isinstance(answer, dict):
        sample.payment_id = answer.get("id")
        sample.payment_status = answer.get("status")
        sample.object = answer.get("object")
        if "error" in answer and isinstance(answer["error"], dict):
            sample.error = str(answer["error"].get("code"))
        result = answer.get("result")
        if isinstance(result, dict) and isinstance(result.get("resultStatus"), str):
            sample.result_status = result["resultStatus"]
    return sample


async def closed_loop(
    session: aiohttp.ClientSession, url: str, plan: Plan, concurrency: int
) -> list[Sample]:
    """Every request of `plan` once, `concurrency` at a time, each worker sending its next as
    soon as its previous one is answered; the samples in the plan's order."""
    samples: list[Sample | None] = [None] * len(plan.bodies)
    counter = iter(range(len(plan.bodies)))

    async def worker() -> None:
        for i in counter:  # a shared iterator: each index goes to exactly one worker
            started = time.perf_counter()
            samples[i] = await _one(session, url, plan.bodies[i], plan.headers[i], started)

    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(plan.bodies)))))
    return [s for s in samples if s is not None]


async def _open_loop(
    session: aiohttp.ClientSession, url: str, plan: Plan, rate: float
) -> list[Sample]:
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Sample]] = []
    t0 = time.perf_counter() + 0.01
    for i in range(len(plan.bodies)):
        due = t0 + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(loop.create_task(_one(session, url, plan.bodies[i], plan.headers[i], due)))
    return list(await asyncio.gather(*tasks))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tag: str = args.tag or f"B{secrets.token_hex(4)}"
    kind: str = args.kind
    warm = build_plan(
        key=args.key, tag=tag, start=0, count=args.warmup, amount=args.amount, kind=kind
    )
    plan = build_plan(
        key=args.key, tag=tag, start=args.warmup, count=args.requests, amount=args.amount, kind=kind
    )
    limit = max(args.concurrency, 1)
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        warm_samples = await closed_loop(session, args.url, warm, args.concurrency)
        cpu0 = time.process_time()
        started_unix = time.time()
        started = time.perf_counter()
        if args.rate:
            samples = await _open_loop(session, args.url, plan, args.rate)
        else:
            samples = await closed_loop(session, args.url, plan, args.concurrency)
        wall = time.perf_counter() - started
        ended_unix = time.time()
        cpu = time.process_time() - cpu0

    def ok(sample: Sample) -> bool:
        if kind == "quotes":
            return sample.status == 201 and sample.object == "fx_quote"
        if kind == "merchant_qr":
            return sample.status == 201 and sample.payment_status == "requires_customer"
        return sample.status == 201 and sample.payment_status == "succeeded"

    succeeded = [s for s in samples if ok(s)]
    failed = [s for s in [*warm_samples, *samples] if not ok(s)]
    statuses = Counter(
        f"{s.status} {s.payment_status or s.error or s.object or ''}".strip()
        for s in [*warm_samples, *samples]
    )
    own = [s.own_ms for s in samples if s.own_ms is not None]
    partner = [s.partner_ms for s in samples if s.partner_ms is not None]
    ids = [s.payment_id for s in [*warm_samples, *samples] if ok(s) and s.payment_id]
    return {
        "tag": tag,
        "kind": kind,
        "mode": "open" if args.rate else "closed",
        "concurrency": args.concurrency,
        "rate": args.rate,
        "warmup": len(warm_samples),
        "requests": len(samples),
        "sent_total": len(warm_samples) + len(samples),
        "succeeded": len(succeeded),
        "succeeded_total": len(succeeded) + sum(1 for s in warm_samples if ok(s)),
        "failed_total": len(failed),
        "statuses": dict(statuses),
        "wall_s": round(wall, 4),
        "started_unix": round(started_unix, 3),
        "ended_unix": round(ended_unix, 3),
        "payments_per_s": round(len(succeeded) / wall, 1) if wall > 0 else 0.0,
        "achieved_rate": round(len(samples) / wall, 1) if wall > 0 else 0.0,
        "latency_ms": percentiles([s.latency_ms for s in samples]),
        "response_bytes": round(sum(s.response_bytes for s in samples) / len(samples))
        if samples
        else 0,
        "own_ms": percentiles(own),
        "partner_ms": percentiles(partner),
        "loadgen_cpu_s": round(cpu, 3),
        "payment_ids": ids,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description="POS load, JSON out.")
    parser.add_argument("--url", required=True, help="the POST /v1/payments (or fx/quotes) URL")
    parser.add_argument("--kind", choices=KINDS, default="payments", help="what to send")
    parser.add_argument("--key", default=os.environ.get("BENCH_POS_KEY", ""), help="POS API key")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=None, help="open loop: requests per second")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--tag", default=None, help="merchant_reference prefix for this run")
    parser.add_argument("--amount", type=int, default=125050, help="THB minor units")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    args = parser.parse_args(argv)
    if args.concurrency < 1 or args.requests < 1 or (args.rate is not None and args.rate <= 0):
        parser.error("--concurrency and --requests must be ≥ 1, --rate > 0")
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
