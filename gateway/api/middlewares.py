"""Request id, error rendering, the `Server-Timing` of the gateway's own time, and signed
requests (`Gateway-Signature`, API.md Authentication)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.api.body import raw_body
from gateway.api.parsing import check_query, check_url_text
from gateway.api.state import CONTEXT, KEYS, MAX_BODY
from gateway.core.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    RequestTooLarge,
)
from gateway.core.ids import new_id
from gateway.core.render import dumps
from gateway.events.signing import SIGNATURE_HEADER

__all__ = ["PARTNER_SECONDS", "error_response", "middlewares"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

PARTNER_SECONDS = web.RequestKey("partner_seconds", float)
REQUEST_ID = web.RequestKey("request_id", str)


def error_response(exc: GatewayError) -> web.Response:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return web.Response(
        status=exc.status,
        text=dumps(exc.to_json()),  # ASCII: quoting what the client sent cannot fail
        content_type="application/json",
        headers=headers,
    )


@web.middleware
async def _request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = new_id("req")
    request[REQUEST_ID] = request_id
    try:
        response = await handler(request)
    except GatewayError as exc:
        response = error_response(exc)
    except web.HTTPRequestEntityTooLarge:
        response = error_response(
            RequestTooLarge(f"The body is larger than {request.app[MAX_BODY]} bytes.")
        )
    except web.HTTPNotFound:
        response = error_response(NotFound(f"No such resource: {request.path}."))
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        response = error_response(
            InvalidRequest(f"{request.method} is not allowed here; allowed: {allowed}.")
        )
        response.set_status(exc.status)
        response.headers["Allow"] = allowed
    except web.HTTPException as exc:
        response = error_response(InvalidRequest(exc.reason))
        response.set_status(exc.status)
    except Exception:
        log.exception(
            "unhandled error on %s %s (request %s)", request.method, request.path, request_id
        )
        response = web.Response(
            status=500,
            text='{"error":{"code":"internal_error","message":"Internal error."}}',
            content_type="application/json",
        )
    response.headers["Request-Id"] = request_id
    total_ms = (time.perf_counter() - started) * 1000
    partner_ms = request.get(PARTNER_SECONDS, 0.0) * 1000
    response.headers["Server-Timing"] = (
        f"gateway;dur={total_ms - partner_ms:.3f}, partner;dur={partner_ms:.3f}"
    )
    return response


_CREDENTIALS = ("Authorization", SIGNATURE_HEADER)
_ONCE = (*_CREDENTIALS, "Idempotency-Key", "Content-Type")


@web.middleware
async def _safe_request(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse repeated credential and body headers, and control characters and unpaired
    surrogates in path segments and the query, before any handler reads them (PostgreSQL
    refuses NUL in text; nothing of ours has them)."""
    for header in _ONCE:
        if len(request.headers.getall(header, ())) > 1:
            # A proxy and we might each read another one: refuse rather than pick.
            error = AuthenticationFailed if header in _CREDENTIALS else InvalidRequest
            raise error(f"Send one {header} header, not several.", param=header)
    for name, value in request.match_info.items():
        check_url_text(value, name)
    if request.query_string:
        check_query(request.rel_url.raw_query_string)
    return await handler(request)


@web.middleware
async def _signed_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check `Gateway-Signature` of a merchant's request before its handler runs.

    Only for routes that exist under /v1 and carry an API key (the handler answers the rest as
    it always did). The key is authenticated here, through the KeyStore's cache, so the
    handler's own lookup is a cache hit. The raw body is read here once: aiohttp keeps it, and
    the handler's `request.read()` gets the same bytes that were verified.
    """
    authorization = request.headers.get("Authorization")
    if (
        authorization is None
        or not request.path.startswith("/v1/")
        or request.match_info.http_exception is not None
    ):
        return await handler(request)
    keys = request.app[KEYS]
    ctx = request.app[CONTEXT]
    principal = await keys.authenticate(authorization)
    await keys.verify_signature(
        principal,
        request.headers.get(SIGNATURE_HEADER),
        method=request.method,
        target=request.raw_path,
        read_body=lambda: raw_body(request),
        now=ctx.clock.now(),
        tolerance=ctx.settings.durations.signature_tolerance,
    )
    return await handler(request)


middlewares = [_request_context, _safe_request, _signed_requests]
