"""Merchant-presented payments on the wire: the partners' notifications, and the code
rendered for the till's screen."""

from __future__ import annotations

import io

import segno
from aiohttp import web

from adapters import InboundRequest
from gateway.api.body import raw_body
from gateway.api.state import CONTEXT, KEYS
from gateway.core.errors import NotFound
from gateway.payments import service as payments
from gateway.payments.model import PaymentStatus
from gateway.payments.notifications import receive_notification

__all__ = ["presented_routes"]

presented_routes = web.RouteTableDef()


@presented_routes.post("/partners/{partner_id}/notify")
async def notify(request: web.Request) -> web.Response:
    """A partner's notification: no API key (the partner's signature is checked by its
    adapter, before anything is read), answered in the partner's protocol."""
    body = await raw_body(request)
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        # A repeated field is one value, joined (RFC 9110 5.3): a second signature header can
        # only make the signature unreadable, never choose which one is checked.
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    inbound = InboundRequest(method=request.method, path=request.path, headers=headers, body=body)
    ack = await receive_notification(
        request.app[CONTEXT], request.match_info["partner_id"], inbound
    )
    return web.Response(status=ack.status, body=ack.body, headers=dict(ack.headers))


async def _code(request: web.Request) -> str:
    principal = await request.app[KEYS].authenticate(request.headers.get("Authorization"))
    payment = await payments.get_payment(
        request.app[CONTEXT], principal, request.match_info["payment_id"]
    )
    if payment.qr_code is None:
        raise NotFound("This payment has no code to show.")
    if payment.status is not PaymentStatus.REQUIRES_CUSTOMER or payment.cancel_status is not None:
        raise NotFound(f"This payment's code can no longer be paid (it is {payment.status}).")
    return payment.qr_code


@presented_routes.get("/v1/payments/{payment_id}/qr.svg")
async def qr_svg(request: web.Request) -> web.Response:
    out = io.BytesIO()
    segno.make(await _code(request), error="m").save(out, kind="svg", scale=4, border=4)
    return web.Response(body=out.getvalue(), content_type="image/svg+xml")


@presented_routes.get("/v1/payments/{payment_id}/qr.png")
async def qr_png(request: web.Request) -> web.Response:
    out = io.BytesIO()
    segno.make(await _code(request), error="m").save(out, kind="png", scale=8, border=4)
    return web.Response(body=out.getvalue(), content_type="image/png")
