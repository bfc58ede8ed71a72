"""The HTTP side of a sandbox's order desk (`adapters._sandbox.orders`): the code's page, the
tourist's scan and the list of orders."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters._sandbox.http import json_response
from adapters._sandbox.orders import CODE_PATH, ORDERS_PATH, SCAN_PATH, OrderDesk, ScanResult
from adapters._sandbox.scans import ScanOptions, ScanRefused

__all__ = ["ORDERS", "install_order_routes"]


def _result_json(desk: OrderDesk, result: ScanResult) -> dict[str, Any]:
    return {
        "state": result.state.value,
        "outcome": result.order.outcome.value if result.order.outcome else None,
        "notify": result.notify.value,
        "notified": result.notified,
        "attempts": result.attempts,
        "order": desk.order_json(result.order),
    }


ORDERS = web.AppKey("sandbox_order_desk", OrderDesk)


def install_order_routes(app: web.Application, desk: OrderDesk) -> None:
    """`GET /oc/{token}`, `POST /_sandbox/scan` and `GET /_sandbox/orders` on `app`, which
    keeps `desk` under `ORDERS` and closes it on cleanup."""
    app[ORDERS] = desk

    async def scan(request: web.Request) -> web.StreamResponse:
        current = request.app[ORDERS]
        try:
            code, options = ScanOptions.parse(await request.read())
        except ValueError as exc:
            return json_response(400, {"error": {"type": "invalid_request", "message": str(exc)}})
        try:
            result = await current.scan(code, options)
        except ScanRefused as refused:
            return json_response(refused.status, refused.to_json())
        return json_response(200, _result_json(current, result))

    async def show_code(request: web.Request) -> web.StreamResponse:
        current = request.app[ORDERS]
        order = current.by_code(request.match_info["token"])
        if order is None:
            return json_response(404, {"error": {"type": "not_found", "message": "no such code"}})
        return json_response(
            200,
            {
                "amount": {"currency": order.amount.currency.code, "value": order.amount.value},
                "state": current.state(order).value,
                "expires_at": order.expires_at.isoformat(),
                "scan": f'POST {SCAN_PATH} with {{"code": "{order.code}"}}',
            },
        )

    async def list_orders(request: web.Request) -> web.StreamResponse:
        return json_response(200, request.app[ORDERS].to_json())

    async def close(_app: web.Application) -> None:
        await desk.close()

    app.router.add_post(SCAN_PATH, scan)
    app.router.add_get(CODE_PATH + "{token}", show_code)
    app.router.add_get(ORDERS_PATH, list_orders)
    app.on_cleanup.append(close)
