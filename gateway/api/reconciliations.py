"""Reconciliations API handlers (API.md, Reconciliation; operator keys only).

- `GET /v1/reconciliations?partner=&business_date=&limit=&starting_after=`: newest first.
- `GET /v1/reconciliations/{id}`: partner, day, currency, counts per category, `report_url`.
- `GET /v1/reconciliations/{id}/report`: the line-by-line CSV, as written when it ran.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp import web

from gateway.api.parsing import parse_limit
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.render import dumps, rfc3339
from gateway.merchants.auth import Role
from gateway.reconciliation.matching import Category
from gateway.settlement.model import parse_business_date
from gateway.storage.tables import metadata

__all__ = ["reconciliation_view", "routes"]

routes = web.RouteTableDef()

_table = metadata.tables["reconciliations"]
_SUMMARY = [c for c in _table.c if c.name != "report"]
_LIST_PARAMETERS = frozenset({"partner", "business_date", "limit", "starting_after"})


def reconciliation_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "reconciliation",
        "partner": row["partner"],
        "business_date": row["business_date"],
        "currency": row["currency"],
        "counts": {c.value: row[c.value] for c in Category},
        "report_sha256": row["report_sha256"],
        "report_url": f"/v1/reconciliations/{row['id']}/report",
        "created_at": rfc3339(row["created_at"]),
    }


async def _operator(request: web.Request) -> None:
    principal = await request.app[KEYS].authenticate(request.headers.get("Authorization"))
    principal.require(Role.OPERATOR)


def _json(body: Any) -> web.Response:
    return web.Response(text=dumps(body), content_type="application/json")


@routes.get("/v1/reconciliations")
async def list_reconciliations(request: web.Request) -> web.Response:
    await _operator(request)
    unknown = set(request.query) - _LIST_PARAMETERS
    if unknown:
        name = sorted(unknown)[0]
        raise InvalidRequest(f"Unknown query parameter {name}.", param=name)
    limit, starting_after = parse_limit(request.query)
    stmt = sa.select(*_SUMMARY)
    if "partner" in request.query:
        stmt = stmt.where(_table.c.partner == request.query["partner"])
    if "business_date" in request.query:
        try:
            day = parse_business_date(request.query["business_date"])
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="business_date") from exc
        stmt = stmt.where(_table.c.business_date == day.isoformat())
    if starting_after is not None:
        stmt = stmt.where(_table.c.id < starting_after)
    stmt = stmt.order_by(_table.c.id.desc()).limit(limit + 1)
    async with request.app[CONTEXT].db.reader.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(stmt)).mappings()]
    return _json(
        {
            "object": "list",
            "data": [reconciliation_view(r) for r in rows[:limit]],
            "has_more": len(rows) > limit,
        }
    )


async def _one(request: web.Request, *columns: sa.ColumnElement[Any]) -> dict[str, Any]:
    await _operator(request)
    stmt = sa.select(*columns).where(_table.c.id == request.match_info["reconciliation_id"])
    async with request.app[CONTEXT].db.reader.connect() as conn:
        row = (await conn.execute(stmt)).mappings().first()
    if row is None:
        raise NotFound("No such reconciliation.")
    return dict(row)


@routes.get("/v1/reconciliations/{reconciliation_id}")
async def get_reconciliation(request: web.Request) -> web.Response:
    return _json(reconciliation_view(await _one(request, *_SUMMARY)))


@routes.get("/v1/reconciliations/{reconciliation_id}/report")
async def get_reconciliation_report(request: web.Request) -> web.Response:
    row = await _one(request, _table.c.id, _table.c.report)
    return web.Response(
        text=row["report"],
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{row["id"]}.csv"'},
    )
