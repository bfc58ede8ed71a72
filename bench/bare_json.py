"""The quotes benchmark's baseline: a bare aiohttp JSON endpoint, the limit of aiohttp itself.

    python -m bench.bare_json --port P

`POST /v1/fx/quotes` reads the body, parses it as JSON (`json.loads`), and answers `201` with a
JSON document shaped and sized like the gateway's quote (`gateway.wire.quotes.QUOTE_EXAMPLE`:
a fresh id and timestamps, the amount it was sent, a payer amount at a fixed rate), rendered
with `json.dumps` as the gateway renders its answers, and a `Server-Timing: gateway;dur=` of its
own time, as the gateway sends. No authentication, no validation, no idempotency, no rate book,
no database: what any aiohttp JSON endpoint costs, on this machine, in this run.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

__all__ = ["answer", "create_app", "main"]

_LIFETIME = timedelta(minutes=5)


def _rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def answer(body: Any) -> dict[str, Any]:
    """The quote-like document answered for the parsed request `body`."""
    now = datetime.now(UTC)
    value = int(body["amount"]["value"])
    return {
        "id": "qt_" + secrets.token_hex(13),
        "object": "fx_quote",
        "amount": {"currency": body["amount"]["currency"], "value": value},
        "payer_amount": {"currency": "CNY", "value": value * 185948 // 1000000},
        "rate": "0.185948",
        "mid_rate": "0.1832",
        "markup_bps": 150,
        "markup_rule": "default (150 bps)",
        "rate_source": "ecb",
        "rate_as_of": "2026-11-26T15:00:00.000Z",
        "rate_set": "rs_" + "3f5c0e9d1a7b4c2e8f6a0b1c2d3e4f50",
        "wallet": body["wallet"],
        "created_at": _rfc3339(now),
        "expires_at": _rfc3339(now + _LIFETIME),
    }


def create_app() -> web.Application:
    async def quote(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = json.loads(await request.read())
        text = json.dumps(answer(body), separators=(",", ":"))
        own_ms = (time.perf_counter() - started) * 1000
        return web.Response(
            status=201,
            text=text,
            content_type="application/json",
            headers={"Server-Timing": f"gateway;dur={own_ms:.3f}"},
        )

    app = web.Application()
    app.router.add_post("/v1/fx/quotes", quote)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_json")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
