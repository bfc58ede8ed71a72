"""Events API handlers (API.md, Events and webhooks): read events, and ask for a redelivery.

- `GET /v1/events/{id}`: pos and finance keys see their merchant's events, operators all;
  another merchant's event is `404`.
- `GET /v1/events?type=&limit=&starting_after=`: newest first, paged like payments.
- `POST /v1/events/{id}/redeliver`: pos keys (their merchant's events) and operators; needs an
  `Idempotency-Key`; the body is `{}` (or empty). `202` with the event, now `pending`.

Every answer is `event_view`: the delivered JSON (`id`, `type`, `created_at`, `data`) plus
`object: "event"` and where its delivery stands.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import idempotency
from gateway.api.body import json_body
from gateway.api.parsing import parse_empty, parse_limit
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.render import dumps
from gateway.events import service
from gateway.events.model import EventType, event_view
from gateway.events.redeliver import redeliver
from gateway.merchants.auth import Principal, Role

__all__ = ["routes"]

routes = web.RouteTableDef()

_READERS = (Role.POS, Role.FINANCE, Role.OPERATOR)
_LIST_PARAMETERS = frozenset({"type", "limit", "starting_after"})
_TYPES = frozenset(str(t) for t in EventType)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        text=body if isinstance(body, str) else dumps(body),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def _principal(request: web.Request) -> Principal:
    return await request.app[KEYS].authenticate(request.headers.get("Authorization"))


@routes.get("/v1/events/{event_id}")
async def get_event(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    principal = await _principal(request)
    principal.require(*_READERS)
    row = await service.get_event(ctx.db, request.match_info["event_id"])
    if row is None:
        raise NotFound("No such event.")
    principal.check_owns(row["merchant_id"], "such event")
    return _json(event_view(row))


@routes.get("/v1/events")
async def list_events(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    principal = await _principal(request)
    principal.require(*_READERS)
    unknown = set(request.query) - _LIST_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown query parameter {name}.", param=name)
    event_type = request.query.get("type")
    if event_type is not None and event_type not in _TYPES:
        raise InvalidRequest(f"type must be one of {', '.join(sorted(_TYPES))}.", param="type")
    limit, starting_after = parse_limit(request.query)
    rows, has_more = await service.list_events(
        ctx.db,
        merchant_id=None if principal.role is Role.OPERATOR else principal.merchant_id,
        event_type=event_type,
        limit=limit,
        starting_after=starting_after,
    )
    return _json({"object": "list", "data": [event_view(r) for r in rows], "has_more": has_more})


@routes.post("/v1/events/{event_id}/redeliver")
async def redeliver_event(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    principal = await _principal(request)
    principal.require(Role.POS, Role.OPERATOR)
    key = idempotency.check_key(request.headers.get("Idempotency-Key"))
    body = await json_body(request, may_be_empty=True)
    parse_empty(body)
    result = await redeliver(
        ctx,
        principal=principal,
        event_id=request.match_info["event_id"],
        key=key,
        request_hash=idempotency.request_hash(ctx, request.method, request.path, body),
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return _json(result.body, result.status, headers)
