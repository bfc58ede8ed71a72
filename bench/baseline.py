"""The baseline: a bare aiohttp proxy doing only what the gateway cannot avoid doing.

    python -m bench.baseline --config-dir DIR --port P [--partner th-siampay] [--http plain]

One inbound HTTP request, one outbound partner call through the real `AlipayPlusAdapter.pay`
(signing the request, verifying the signed answer: the partner protocol's own cost), an answer.
No database, no validation, no idempotency, no FX lookup (a fixed rate), no routing. Credentials
come from the same environment variables as the gateway's (named in the partner's config file).

`--http aiohttp` (default) uses the gateway's client stack, `adapters.new_http_client()` (httpx
over the httpx-aiohttp transport); `--http plain` uses a plain `httpx.AsyncClient()` with its
default pool, to compare the two at the same concurrency.

The answer is `201 {"id": ..., "status": "succeeded"|...}` with a `Server-Timing` header in the
gateway's format (`gateway;dur=` is the proxy's own time here), so the load generator treats both
alike.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiohttp import web

import fx
from adapters import MerchantInfo, Operation, OutcomeStatus, PaymentCode, PayRequest, SystemClock
from adapters._transport import new_http_client
from adapters.alipayplus import build_adapter
from gateway.core.config import load_settings, resolve_credentials
from gateway.core.ids import new_id

__all__ = ["create_app", "main"]

_THB = fx.get_currency("THB")
_CNY = fx.get_currency("CNY")
# A fixed THB -> CNY rate (about the ECB mid plus markup): payer = amount × 0.2 (same exponent).
_RATE_NUM, _RATE_DEN = 2, 10
_MERCHANT = MerchantInfo(id="mer_baseline", name="Baseline Store", country="TH")
_STATUS = {
    OutcomeStatus.SUCCEEDED: "succeeded",
    OutcomeStatus.FAILED: "failed",
    OutcomeStatus.UNKNOWN: "processing",
}

HTTP = web.AppKey("http", httpx.AsyncClient)


def create_app(config_dir: Path, partner_id: str, http_mode: str) -> web.Application:
    settings = load_settings(config_dir, None, os.environ)
    partner = next(p for p in settings.partners if p.id == partner_id)
    http = new_http_client() if http_mode == "aiohttp" else httpx.AsyncClient()
    adapter = build_adapter(
        partner_id=partner.id,
        base_url=partner.base_url,
        credentials=resolve_credentials(partner, os.environ),
        http=http,
        timeouts={Operation(op): s for op, s in settings.partner_timeouts(partner).items()},
        clock=SystemClock(),
    )

    async def pay(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = json.loads(await request.read())
        value = int(body["amount"]["value"])
        payment_id = new_id("pay")
        pay_request = PayRequest(
            partner_request_id=new_id("att"),
            reference=payment_id,
            amount=fx.Money(value, _THB),
            payer_amount=fx.Money(value * _RATE_NUM // _RATE_DEN, _CNY),
            code=PaymentCode(body["payment_method"]["code"]),
            merchant=_MERCHANT,
            requested_at=datetime.now(UTC),
        )
        partner_started = time.perf_counter()
        outcome = await adapter.pay(pay_request)
        partner_ms = (time.perf_counter() - partner_started) * 1000
        answer = {
            "id": payment_id,
            "merchant_reference": body.get("merchant_reference"),
            "status": _STATUS[outcome.status],
            "partner_reference": outcome.partner_reference,
        }
        total_ms = (time.perf_counter() - started) * 1000
        return web.Response(
            status=201,
            text=json.dumps(answer),
            content_type="application/json",
            headers={
                "Server-Timing": f"gateway;dur={total_ms - partner_ms:.3f}, "
                f"partner;dur={partner_ms:.3f}"
            },
        )

    async def close_http(app: web.Application) -> None:
        await http.aclose()

    app = web.Application()
    app[HTTP] = http
    app.router.add_post("/v1/payments", pay)
    app.on_cleanup.append(close_http)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline")
    parser.add_argument("--config-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--partner", default="th-siampay")
    parser.add_argument("--http", choices=("aiohttp", "plain"), default="aiohttp")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = create_app(args.config_dir, args.partner, args.http)
    web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
