"""Merchant API handlers: parse, authorise, call a service, serialise. Nothing else."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from aiohttp import web

from gateway import idempotency
from gateway.api.body import json_body
from gateway.api.middlewares import PARTNER_SECONDS
from gateway.api.parsing import (
    parse_create_payment,
    parse_create_quote,
    parse_create_refund,
    parse_empty,
    parse_limit,
)
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import InvalidRequest
from gateway.core.metrics import CONTENT_TYPE_LATEST
from gateway.core.render import dumps
from gateway.ledger import fx_book
from gateway.merchants.auth import Principal
from gateway.merchants.model import Merchant
from gateway.payments import cancels
from gateway.payments import service as payments
from gateway.payments.views import payment_view
from gateway.quotes import service as quotes
from gateway.quotes.views import quote_view
from gateway.rates.views import rate_sources_view
from gateway.refunds import service as refunds
from gateway.refunds.views import refund_view

__all__ = ["routes"]

routes = web.RouteTableDef()


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=body if isinstance(body, str) else dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def _principal(request: web.Request) -> Principal:
    return await request.app[KEYS].authenticate(request.headers.get("Authorization"))


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return _json({"status": "ok"})


@routes.get("/openapi.json")
async def openapi(_request: web.Request) -> web.Response:
    from gateway.api.openapi import openapi_document

    return _json(openapi_document())


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    ctx.metrics.breakers(
        {partner: str(state["breaker"]) for partner, state in ctx.health.snapshot().items()}
    )
    ctx.metrics.rate_sources(ctx.rates.states(ctx.clock.now()), ctx.clock.now())
    return web.Response(body=ctx.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    checks: dict[str, Any] = {"config": "ok"}
    ready = True
    try:
        async with asyncio.timeout(ctx.settings.durations.readiness_timeout.total_seconds()):
            await ctx.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # readiness reports, it does not raise
        checks["database"] = f"unavailable: {type(exc).__name__}"
        ready = False
    checks["partners"] = ctx.health.snapshot()
    checks["fx"] = rate_sources_view(ctx.rates.states(ctx.clock.now()), ctx.clock.now())
    return _json(
        {"status": "ready" if ready else "not_ready", "checks": checks}, 200 if ready else 503
    )


@dataclasses.dataclass(frozen=True, slots=True)
class _Post:
    """What every idempotent POST starts with: the caller's merchant, the key, the parsed body
    and the request's identity (method, path, body)."""

    merchant: Merchant
    key: str
    body: dict[str, Any]
    digest: str


async def _idempotent_post(request: web.Request, *, may_be_empty: bool = False) -> _Post:
    principal = await _principal(request)
    merchant = principal.merchant_for_writes()
    key = idempotency.check_key(request.headers.get("Idempotency-Key"))
    body = await json_body(request, may_be_empty=may_be_empty)
    digest = idempotency.request_hash(request.app[CONTEXT], request.method, request.path, body)
    return _Post(merchant, key, body, digest)


def _answer(status: int, body: str, replayed: bool) -> web.Response:
    return _json(body, status, {"Idempotent-Replayed": "true"} if replayed else None)


@routes.post("/v1/fx/quotes")
async def create_quote(request: web.Request) -> web.Response:
    post = await _idempotent_post(request)
    result = await quotes.create_quote(
        request.app[CONTEXT],
        merchant=post.merchant,
        key=post.key,
        request_hash=post.digest,
        parsed=parse_create_quote(post.body),
    )
    return _answer(result.status, result.body, result.replayed)


@routes.get("/v1/fx/rates")
async def display_rates(request: web.Request) -> web.Response:
    principal = await _principal(request)
    base = request.query.get("base")
    return _json(quotes.display_rates(request.app[CONTEXT], principal, base))


@routes.get("/v1/fx/position")
async def fx_position(request: web.Request) -> web.Response:
    principal = await _principal(request)
    book = await fx_book.fx_position(
        request.app[CONTEXT],
        principal,
        day=request.query.get("date"),
        currency=request.query.get("currency"),
    )
    return _json(fx_book.view(book))


@routes.get("/v1/fx/quotes/{quote_id}")
async def get_quote(request: web.Request) -> web.Response:
    principal = await _principal(request)
    row = await quotes.get_quote(request.app[CONTEXT], principal, request.match_info["quote_id"])
    return _json(quote_view(row))


@routes.post("/v1/payments")
async def create_payment(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    post = await _idempotent_post(request)
    result = await payments.create_payment(
        request.app[CONTEXT],
        merchant=post.merchant,
        key=post.key,
        request_hash=post.digest,
        command=dataclasses.replace(
            parse_create_payment(post.body), notify_base=_public_url(request)
        ),
        started_at=started,
    )
    request[PARTNER_SECONDS] = result.partner_seconds
    return _answer(result.status, result.body, result.replayed)


def _public_url(request: web.Request) -> str:
    """Where partners reach this gateway: `server.public_url`, else the URL the POS called."""
    configured = request.app[CONTEXT].settings.server.public_url
    return str(configured) if configured is not None else str(request.url.origin())


@routes.get("/v1/payments/{payment_id}")
async def get_payment(request: web.Request) -> web.Response:
    principal = await _principal(request)
    payment_id = request.match_info["payment_id"]
    return _json(
        payment_view(await payments.get_payment(request.app[CONTEXT], principal, payment_id))
    )


@routes.get("/v1/payments")
async def list_payments(request: web.Request) -> web.Response:
    principal = await _principal(request)
    unknown = set(request.query) - {"merchant_reference", "limit", "starting_after"}
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown query parameter {name}.", param=name)
    limit, starting_after = parse_limit(request.query)
    found, has_more = await payments.list_payments(
        request.app[CONTEXT],
        principal,
        merchant_reference=request.query.get("merchant_reference"),
        limit=limit,
        starting_after=starting_after,
    )
    return _json({"object": "list", "data": [payment_view(p) for p in found], "has_more": has_more})


@routes.post("/v1/payments/{payment_id}/cancel")
async def cancel_payment(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    post = await _idempotent_post(request, may_be_empty=True)
    parse_empty(post.body)
    result = await cancels.cancel_payment(
        request.app[CONTEXT],
        merchant=post.merchant,
        key=post.key,
        request_hash=post.digest,
        payment_id=request.match_info["payment_id"],
        started_at=started,
    )
    request[PARTNER_SECONDS] = result.partner_seconds
    return _answer(result.status, result.body, result.replayed)


@routes.post("/v1/payments/{payment_id}/refunds")
async def create_refund(request: web.Request) -> web.Response:
    started = asyncio.get_running_loop().time()
    post = await _idempotent_post(request)
    amount, reason = parse_create_refund(post.body)
    result = await refunds.create_refund(
        request.app[CONTEXT],
        merchant=post.merchant,
        key=post.key,
        request_hash=post.digest,
        payment_id=request.match_info["payment_id"],
        amount=amount,
        reason=reason,
        started_at=started,
    )
    request[PARTNER_SECONDS] = result.partner_seconds
    return _answer(result.status, result.body, result.replayed)


@routes.get("/v1/payments/{payment_id}/refunds")
async def list_payment_refunds(request: web.Request) -> web.Response:
    principal = await _principal(request)
    payment_id = request.match_info["payment_id"]
    rows = await refunds.list_refunds(request.app[CONTEXT], principal, payment_id)
    return _json({"object": "list", "data": [refund_view(r) for r in rows], "has_more": False})


@routes.get("/v1/refunds/{refund_id}")
async def get_refund(request: web.Request) -> web.Response:
    principal = await _principal(request)
    row = await refunds.get_refund(request.app[CONTEXT], principal, request.match_info["refund_id"])
    return _json(refund_view(row))
