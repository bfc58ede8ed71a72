"""Merchant-presented payments in the OpenAPI document: the code for the till's screen, and
the endpoint partners send their notifications to."""

from gateway.api.openapi.errors import error_responses
from gateway.api.openapi.parts import ALL_ROLES, JSON, headers, path_id

__all__ = ["paths"]


def _image(kind: str, media_type: str) -> JSON:
    return {
        "get": {
            "operationId": f"getPaymentQr{kind.upper()}",
            "tags": ["Payments"],
            "summary": f"The payment's code as a QR image ({kind.upper()})",
            "description": "For the till's screen: `next_action.qr_code` rendered as a QR code "
            "(error correction M). `404 not_found` for a payment without a code (one the POS "
            "scanned).",
            "x-roles": ALL_ROLES,
            "parameters": [path_id("payment_id", "pay_")],
            "responses": {
                "200": {
                    "description": "The image.",
                    "headers": headers(),
                    "content": {media_type: {"schema": {"type": "string"}}},
                },
                **error_responses("authentication_failed", "not_found"),
            },
        }
    }


def paths() -> JSON:
    return {
        "/v1/payments/{payment_id}/qr.svg": _image("svg", "image/svg+xml"),
        "/v1/payments/{payment_id}/qr.png": _image("png", "image/png"),
        "/partners/{partner_id}/notify": {
            "post": {
                "operationId": "receivePartnerNotification",
                "tags": ["Partners"],
                "summary": "A partner's notification of a payment's result",
                "description": "Called by partners, not merchants: no API key. The body and "
                "headers are the partner's protocol (Alipay+: `notifyPayment`, RSA-signed; "
                "WalletRest: `payment.result`, HMAC-signed); the signature and its time are "
                "checked before anything is read. The answer is the protocol's acknowledgment: "
                "processed (booked, or already known), or not processed (a forged, stale or "
                "unreadable notification, an unknown payment, another amount, an outcome that "
                "contradicts the payment's), which the partner sends again.",
                "x-roles": [],
                "security": [],
                "parameters": [
                    {
                        "name": "partner_id",
                        "in": "path",
                        "required": True,
                        "description": "The partner's id in the gateway's configuration.",
                        "schema": {"type": "string", "pattern": "^[a-z0-9-]{1,64}$"},
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                "responses": {
                    "200": {
                        "description": "The protocol's acknowledgment.",
                        "headers": headers(),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    "503": {
                        "description": 'WalletRest\'s "not processed, send it again".',
                        "headers": headers(),
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **error_responses("not_found"),
                },
            }
        },
    }
