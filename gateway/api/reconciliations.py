"""Reconciliations API handlers (API.md, Reconciliation; operator keys only).

- `GET /v1/reconciliations?partner=&business_date=&limit=&starting_after=`: newest first.
- `GET /v1/reconciliations/{id}`: partner, day, currency, counts per category, `report_url`.
- `GET /v1/reconciliations/{id}/report`: the line-by-line CSV, as written when it ran.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.api.parsing import parse_limit
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.render import dumps, rfc3339
from gateway.merchants.auth import Role
from gateway.reconciliation import service
from gateway.reconciliation.matching import Category
from gateway.settlement.model import parse_business_date
from gateway.wire.reconciliations import Reconciliation

__all__ = ["reconciliation_view", "routes"]

routes = web.RouteTableDef()

_LIST_PARAMETERS = frozenset({"partner", "business_date", "limit", "starting_after"})


def reconciliation_view(row: dict[str, Any]) -> Reconciliation:
    return {
        "id": row["id"],
        "object": "reconciliation",
        "partner": row["partner"],
        "business_date": row["business_date"],
        "currency": row["currency"],
        "counts": {
            "matched": row[Category.MATCHED],
            "missing_at_partner": row[Category.MISSING_AT_PARTNER],
            "missing_at_gateway": row[Category.MISSING_AT_GATEWAY],
            "amount_mismatch": row[Category.AMOUNT_MISMATCH],
            "fx_mismatch": row[Category.FX_MISMATCH],
            "fee_mismatch": row[Category.FEE_MISMATCH],
        },
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
    day = None
    if "business_date" in request.query:
        try:
            day = parse_business_date(request.query["business_date"])
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="business_date") from exc
    rows, has_more = await service.list_reconciliations(
        request.app[CONTEXT].db,
        partner=request.query.get("partner"),
        day=day,
        limit=limit,
        starting_after=starting_after,
    )
    return _json(
        {
            "object": "list",
            "data": [reconciliation_view(r) for r in rows],
            "has_more": has_more,
        }
    )


async def _run_id(request: web.Request) -> str:
    """The reconciliation the path names, once the caller is known to be an operator."""
    await _operator(request)
    return request.match_info["reconciliation_id"]


def _found(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None:
        raise NotFound("No such reconciliation.")
    return row


@routes.get("/v1/reconciliations/{reconciliation_id}")
async def get_reconciliation(request: web.Request) -> web.Response:
    run_id = await _run_id(request)
    row = _found(await service.get_reconciliation(request.app[CONTEXT].db, run_id))
    return _json(reconciliation_view(row))


@routes.get("/v1/reconciliations/{reconciliation_id}/report")
async def get_reconciliation_report(request: web.Request) -> web.Response:
    run_id = await _run_id(request)
    row = _found(await service.get_report(request.app[CONTEXT].db, run_id))
    return web.Response(
        text=row["report"],
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{row["id"]}.csv"'},
    )
