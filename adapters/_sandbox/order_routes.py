"""The HTTP side of a sandbox's order desk (`adapters._sandbox.orders`): the code's page, the
tourist's scan and the list of orders; with an entry desk (`adapters._sandbox.entry`), the
scan of a store's entry code too, the entry code's page (`GET /e/{partner store id}`) and the
list of stores and entry orders (`GET /_sandbox/stores`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters._sandbox.entry import EntryDesk, EntryScanResult
from adapters._sandbox.http import json_response
from adapters._sandbox.orders import CODE_PATH, ORDERS_PATH, SCAN_PATH, OrderDesk, ScanResult
from adapters._sandbox.scans import ScanOptions, ScanRefused
from adapters._sandbox.stores import ENTRY_PATH, STORES_PATH

__all__ = ["ENTRIES", "ORDERS", "install_order_routes"]


def _result_json(desk: OrderDesk, result: ScanResult) -> dict[str, Any]:
    return {
        "state": result.state.value,
        "outcome": result.order.outcome.value if result.order.outcome else None,
        "notify": result.notify.value,
        "notified": result.notified,
        "attempts": result.attempts,
        "order": desk.order_json(result.order),
    }


def _entry_json(desk: OrderDesk, result: EntryScanResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "state": result.state,
        "charged": result.charged,
        "entry_order": result.entry.to_json(),
        "outcome": None,
        "notify": None,
        "notified": False,
        "attempts": 0,
        "order": None,
    }
    if result.scan is not None:
        body |= _result_json(desk, result.scan) | {"state": result.state}
    return body


ORDERS = web.AppKey("sandbox_order_desk", OrderDesk)
ENTRIES = web.AppKey("sandbox_entry_desk", EntryDesk)


def install_order_routes(
    app: web.Application, desk: OrderDesk, entries: EntryDesk | None = None
) -> None:
    """`GET /oc/{token}`, `POST /_sandbox/scan` and `GET /_sandbox/orders` on `app`, which
    keeps `desk` under `ORDERS` and closes it on cleanup; with `entries` (kept under
    `ENTRIES`), scans of entry codes, `GET /e/{partner store id}` and `GET /_sandbox/stores`."""
    app[ORDERS] = desk
    if entries is not None:
        app[ENTRIES] = entries

    async def scan(request: web.Request) -> web.StreamResponse:
        current = request.app[ORDERS]
        try:
            code, options = ScanOptions.parse(await request.read())
        except ValueError as exc:
            return json_response(400, {"error": {"type": "invalid_request", "message": str(exc)}})
        store = entries.stores.by_code(code) if entries is not None else None
        try:
            if store is not None and entries is not None:
                entry = await entries.scan(store, code, options)
                return json_response(200, _entry_json(current, entry))
            result = await current.scan(code, options)
        except ScanRefused as refused:
            return json_response(refused.status, refused.to_json())
        return json_response(200, _result_json(current, result))

    async def show_entry_code(request: web.Request) -> web.StreamResponse:
        assert entries is not None
        store = entries.stores.by_code(request.match_info["partner_store_id"])
        if store is None:
            return json_response(404, {"error": {"type": "not_found", "message": "no such code"}})
        return json_response(
            200,
            {
                "store": store.name,
                "currency": store.currency.code,
                "scan": f'POST {SCAN_PATH} with {{"code": "{store.partner_store_id}", '
                '"amount": "<typed>", "wallet": "<wallet>"}',
            },
        )

    async def list_stores(request: web.Request) -> web.StreamResponse:
        return json_response(200, request.app[ENTRIES].to_json())

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
        if entries is not None:
            await entries.close()

    app.router.add_post(SCAN_PATH, scan)
    app.router.add_get(CODE_PATH + "{token}", show_code)
    app.router.add_get(ORDERS_PATH, list_orders)
    if entries is not None:
        app.router.add_get(ENTRY_PATH + "{partner_store_id}", show_entry_code)
        app.router.add_get(STORES_PATH, list_stores)
    app.on_cleanup.append(close)
