"""Request id, error rendering, and the `Server-Timing` of the gateway's own time."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.api.state import MAX_BODY
from gateway.errors import GatewayError, InvalidRequest, NotFound, RequestTooLarge
from gateway.ids import new_id
from gateway.views import dumps

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
        text=dumps(exc.to_json()),
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
        response = error_response(InvalidRequest(f"{request.method} is not allowed here."))
        response.set_status(exc.status)
    except web.HTTPException as exc:
        response = error_response(InvalidRequest(exc.reason))
        response.set_status(exc.status)
    except Exception:
        log.exception(
            "unhandled error on %s %s (request %s)", request.method, request.path, request_id
        )
        response = web.Response(
            status=500,
            text=dumps({"error": {"code": "internal_error", "message": "Internal error."}}),
            content_type="application/json",
        )
    response.headers["Request-Id"] = request_id
    total_ms = (time.perf_counter() - started) * 1000
    partner_ms = request.get(PARTNER_SECONDS, 0.0) * 1000
    response.headers["Server-Timing"] = (
        f"gateway;dur={total_ms - partner_ms:.3f}, partner;dur={partner_ms:.3f}"
    )
    return response


middlewares = [_request_context]
