"""The webhook sink: a merchant's webhook receiver for the benchmark, in a process of its own.

    BENCH_WEBHOOK_SECRET=whsec_... python -m bench.sink --port P

A merchant's webhook URL (`gateway merchants webhook set MERCHANT --url http://127.0.0.1:P/...`)
points here. Every `POST` (any path) is checked as a merchant's receiver would check it, by
API.md and nothing else: `Gateway-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw
body>")>`, with the timestamp at most 5 minutes away. The check is written out here, not imported
from `gateway.events.signing`, so the gateway's signer is held to the spec rather than to
itself. A good event gets `200` at once; a bad signature `400` (the gateway then retries it on
its schedule, and the run reports it); the sink dedupes on the event id, as receivers must.

For each event id it keeps the type, the object's id, `created_at` (from the body) and when the
first copy arrived, so the orchestrator can compute the delivery lag (created → received) per
run. `GET /_sink/stats` gives the counts; `GET /_sink/events` every event; on SIGTERM the counts
are printed to stdout (the sink's log).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

__all__ = ["SECRET_ENV", "Sink", "check_signature", "create_app", "main"]

SECRET_ENV = "BENCH_WEBHOOK_SECRET"
TOLERANCE_S = 300
HEADER = "Gateway-Signature"


def check_signature(header: str | None, secret: str, body: bytes, now: float) -> str | None:
    """None when `header` signs `body` with `secret` (API.md); else what is wrong with it."""
    if not header:
        return "missing"
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not signatures:
        return "malformed"
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > TOLERANCE_S:
        return "stale"
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    digest = expected.hexdigest()
    if not any(hmac.compare_digest(digest, s.lower()) for s in signatures):
        return "wrong"
    return None


@dataclass
class Sink:
    """What arrived: per event id [type, object id, created_at ms, first arrival ms, copies]."""

    secret: str
    events: dict[str, list[Any]] = field(default_factory=dict)
    posts: int = 0
    duplicates: int = 0
    bad_signatures: Counter[str] = field(default_factory=Counter)
    unparseable: int = 0
    id_mismatches: int = 0
    by_type: Counter[str] = field(default_factory=Counter)

    def receive(self, body: bytes, signature: str | None, event_id_header: str | None) -> int:
        """Record one POST; the HTTP status to answer."""
        now = time.time()
        self.posts += 1
        problem = check_signature(signature, self.secret, body, now)
        if problem is not None:
            self.bad_signatures[problem] += 1
            return 400
        try:
            event = json.loads(body)
            event_id = str(event["id"])
            created = datetime.fromisoformat(event["created_at"]).timestamp()
            kind, object_id = str(event["type"]), str(event["data"]["id"])
        except (ValueError, KeyError, TypeError):
            self.unparseable += 1
            return 400
        if event_id_header is not None and event_id_header != event_id:
            self.id_mismatches += 1
        seen = self.events.get(event_id)
        if seen is not None:
            seen[4] += 1
            self.duplicates += 1
            return 200
        self.events[event_id] = [kind, object_id, round(created * 1000, 1), round(now * 1000, 1), 1]
        self.by_type[kind] += 1
        return 200

    def stats(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "events": len(self.events),
            "duplicates": self.duplicates,
            "bad_signatures": sum(self.bad_signatures.values()),
            "bad_signature_kinds": dict(self.bad_signatures),
            "unparseable": self.unparseable,
            "event_id_header_mismatches": self.id_mismatches,
            "by_type": dict(self.by_type),
        }


SINK = web.AppKey("sink", Sink)


async def _receive(request: web.Request) -> web.Response:
    sink = request.app[SINK]
    body = await request.read()
    status = sink.receive(
        body, request.headers.get(HEADER), request.headers.get("Gateway-Event-Id")
    )
    return web.Response(status=status)


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[SINK].stats())


async def _events(request: web.Request) -> web.Response:
    return web.json_response(request.app[SINK].events)


def create_app(sink: Sink) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app[SINK] = sink
    app.router.add_get("/_sink/stats", _stats)
    app.router.add_get("/_sink/events", _events)
    app.router.add_post("/{tail:.*}", _receive)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sink", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    secret = os.environ.get(SECRET_ENV, "")
    if not secret:
        parser.error(f"{SECRET_ENV} is not set (the merchant's webhook secret)")
    logging.basicConfig(level=logging.WARNING)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        pass
    else:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sink = Sink(secret)
    # run_app turns SIGTERM and SIGINT into a graceful exit; the counts are printed on the way.
    try:
        web.run_app(create_app(sink), host=args.host, port=args.port, access_log=None, print=None)
    finally:
        sys.stdout.write("sink: " + json.dumps(sink.stats()) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
