"""Settlements API handlers (API.md, Settlements): batches and their files.

- `GET /v1/settlements?business_date=&status=&type=&limit=&starting_after=`: finance keys see
  their merchant's merchant batches, operators every merchant's and every partner's; pos keys
  are `403`. Newest business day first; open batches are computed live.
- `GET /v1/settlements/{id}`: the Batch; another merchant's (or, for finance, a partner's) is
  `404`, like an unknown id.
- `GET /v1/settlements/{id}/file`: the CSV of a closed batch, streamed from its frozen lines,
  with `Content-Digest: sha-256=:<base64>:` (RFC 9530) of the bytes stored when it closed; an
  open batch is `409 batch_not_closed`.
"""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

from aiohttp import payload, web

from gateway.api.parsing import parse_limit
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import BatchNotClosed, InvalidRequest, NotFound
from gateway.core.render import dumps
from gateway.merchants.auth import Principal, Role
from gateway.settlement.batches import Found, file_chunks, find_batch, list_batches
from gateway.settlement.model import BatchType, parse_business_date

__all__ = ["routes"]

routes = web.RouteTableDef()

_READERS = (Role.FINANCE, Role.OPERATOR)
_LIST_PARAMETERS = frozenset({"business_date", "status", "type", "limit", "starting_after"})
_STATUSES = ("open", "closed")
_TYPES = tuple(str(t) for t in BatchType)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(body), status=status, content_type="application/json")


async def _reader(request: web.Request) -> Principal:
    principal = await request.app[KEYS].authenticate(request.headers.get("Authorization"))
    principal.require(*_READERS)
    return principal


def _merchant_scope(principal: Principal) -> str | None:
    return None if principal.role is Role.OPERATOR else principal.merchant_id


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is not None and value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}.", param=name)
    return value


def _business_date(request: web.Request) -> date | None:
    value = request.query.get("business_date")
    if value is None:
        return None
    try:
        return parse_business_date(value)
    except ValueError:
        raise InvalidRequest(
            "business_date must be a date in the form YYYY-MM-DD.", param="business_date"
        ) from None


@routes.get("/v1/settlements")
async def list_settlements(request: web.Request) -> web.Response:
    ctx = request.app[CONTEXT]
    principal = await _reader(request)
    unknown = set(request.query) - _LIST_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown query parameter {name}.", param=name)
    day = _business_date(request)
    status = _choice(request, "status", _STATUSES)
    kind = _choice(request, "type", _TYPES)
    limit, starting_after = parse_limit(request.query)
    views, has_more = await list_batches(
        ctx.db,
        merchant_id=_merchant_scope(principal),
        kind=BatchType(kind) if kind is not None else None,
        day=day,
        status=status,
        limit=limit,
        starting_after=starting_after,
        now=ctx.clock.now(),
        lookback=ctx.settings.durations.settlement_lookback,
    )
    return _json({"object": "list", "data": views, "has_more": has_more})


async def _readable(request: web.Request) -> Found:
    principal = await _reader(request)
    found = await find_batch(
        request.app[CONTEXT].db,
        request.match_info["batch_id"],
        merchant_id=_merchant_scope(principal),
    )
    if found is None:
        raise NotFound("No such settlement batch.")
    return found


@routes.get("/v1/settlements/{batch_id}")
async def get_settlement(request: web.Request) -> web.Response:
    return _json((await _readable(request)).view)


@routes.get("/v1/settlements/{batch_id}/file")
async def get_settlement_file(request: web.Request) -> web.Response:
    found = await _readable(request)
    batch = found.closed
    if batch is None:
        raise BatchNotClosed(
            "The batch is still open: its file exists once it closes, at its business day's "
            "cut-off plus the grace period."
        )
    digest = base64.b64encode(bytes.fromhex(batch.file_sha256)).decode()
    name = batch.file_name
    body = payload.AsyncIterablePayload(
        file_chunks(request.app[CONTEXT].db, batch), content_type="text/csv; charset=utf-8"
    )
    return web.Response(
        body=body,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Digest": f"sha-256=:{digest}:",
            "Content-Disposition": f'attachment; filename="{name}"',
            "ETag": f'"{batch.file_sha256}"',
            "Cache-Control": "private, max-age=31536000, immutable",
        },
    )
