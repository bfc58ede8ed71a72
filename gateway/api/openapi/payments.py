"""FX quotes, payments, cancels and refunds in the OpenAPI document: operations, parameters,
request examples, links and error answers (the bodies' schemas are the wire types')."""

from gateway.api.openapi.errors import POST_ERRORS, error_responses
from gateway.api.openapi.parts import (
    ALL_ROLES,
    JSON,
    json_body,
    json_response,
    links_to,
    path_id,
    query_limit,
    query_text,
    ref,
)
from gateway.wire.common import MONEY_EXAMPLE

__all__ = ["paths"]


def paths() -> JSON:
    idempotency_key = ref("parameters", "Idempotency-Key")
    return {
        "/v1/fx/quotes": {
            "post": {
                "operationId": "createQuote",
                "tags": ["FX quotes"],
                "summary": "Quote a merchant amount in a wallet's currency",
                "description": "Prices `amount` (merchant currency) in the wallet's currency at "
                "the current rate plus markup, locked until `expires_at` (5 minutes by default). "
                "Answers `no_route` when no partner in the merchant's market serves the wallet, "
                "so a POS never shows a price it cannot take.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key],
                "requestBody": json_body(
                    "QuoteRequest", {"amount": MONEY_EXAMPLE, "wallet": "alipay_cn"}
                ),
                "responses": {
                    "201": json_response(
                        "The quote (or, with `Idempotent-Replayed: true`, the first answer to "
                        "this Idempotency-Key).",
                        ref("schemas", "Quote"),
                        replayed=True,
                        links=links_to("quote_id", "id", "getQuote"),
                    ),
                    **error_responses(*POST_ERRORS, "no_route", "rate_unavailable"),
                },
            }
        },
        "/v1/fx/rates": {
            "get": {
                "operationId": "getDisplayRates",
                "tags": ["FX quotes"],
                "summary": "Indicative rates for the POS screen",
                "description": "For every wallet the merchant can take in another currency: the "
                "rate a quote would use now (mid plus the markup rule that applies), its source "
                "and age. For display only: a payment is priced by its quote. Wallets without a "
                "fresh rate are listed under `unavailable` with the reason.",
                "x-roles": ["pos"],
                "parameters": [
                    query_text("base", "The merchant's currency (the only base offered).")
                ],
                "responses": {
                    "200": json_response("The rates.", ref("schemas", "DisplayRates")),
                    **error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/fx/position": {
            "get": {
                "operationId": "getFxPosition",
                "tags": ["FX quotes"],
                "summary": "The FX book (operator keys)",
                "description": "Per currency at the end of a UTC day: the open position of the "
                "journal's `fx_position` account, the markup revenue booked (`fx_revenue`), and "
                "their value in `currency` (default EUR) at the latest mids; the sum of the "
                "values is the unrealised result. `gateway fx position` prints the same.",
                "x-roles": ["operator"],
                "parameters": [
                    query_text("date", "A UTC day, YYYY-MM-DD (default: today)."),
                    query_text("currency", "The reporting currency (default EUR)."),
                ],
                "responses": {
                    "200": json_response("The book.", ref("schemas", "FxPosition")),
                    **error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/fx/quotes/{quote_id}": {
            "get": {
                "operationId": "getQuote",
                "tags": ["FX quotes"],
                "summary": "A quote",
                "x-roles": ALL_ROLES,
                "parameters": [path_id("quote_id", "qt_")],
                "responses": {
                    "200": json_response("The quote.", ref("schemas", "Quote")),
                    **error_responses("authentication_failed", "not_found"),
                },
            }
        },
        "/v1/payments": {
            "post": {
                "operationId": "createPayment",
                "tags": ["Payments"],
                "summary": "Take a payment from a scanned wallet code",
                "description": "Answers within the POS wait budget (10 s by default) with `201` "
                "and the Payment. If the partner's outcome is still unknown then, the status is "
                "`processing`: **not paid, do not release the goods**; the gateway keeps "
                "resolving it (inquiry, then reversal) and the POS polls `GET`. A payment "
                "needing FX uses `quote_id` if given, else a quote made on the spot.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key],
                "requestBody": json_body(
                    "PaymentRequest",
                    {
                        "merchant_reference": "POS-17-000123",
                        "amount": MONEY_EXAMPLE,
                        "payment_method": {"type": "wallet_code", "code": "281234567890120000"},
                        "quote_id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
                        "store_id": "bkk-siam-01",
                        "terminal_id": "pos-17",
                    },
                ),
                "responses": {
                    "201": json_response(
                        "The payment, `succeeded`, `failed` or `processing` (or, with "
                        "`Idempotent-Replayed: true`, the first answer to this Idempotency-Key).",
                        ref("schemas", "Payment"),
                        replayed=True,
                        links=links_to(
                            "payment_id",
                            "id",
                            "getPayment",
                            "cancelPayment",
                            "createRefund",
                            "listPaymentRefunds",
                        ),
                    ),
                    **error_responses(
                        *POST_ERRORS,
                        "invalid_payment_code",
                        "not_found",
                        "duplicate_merchant_reference",
                        "quote_expired",
                        "quote_mismatch",
                        "no_route",
                        "partner_unavailable",
                        "rate_unavailable",
                    ),
                },
            },
            "get": {
                "operationId": "listPayments",
                "tags": ["Payments"],
                "summary": "List payments, newest first",
                "description": "The caller's merchant's payments (an operator key: every "
                "merchant's). Unknown query parameters are `invalid_request`.",
                "x-roles": ALL_ROLES,
                "parameters": [
                    query_text("merchant_reference", "Only the payment(s) with this reference."),
                    query_limit(),
                    query_text(
                        "starting_after", "A payment id: the page starts after it (older ones)."
                    ),
                ],
                "responses": {
                    "200": json_response("A page of payments.", ref("schemas", "PaymentList")),
                    **error_responses("authentication_failed", "invalid_request"),
                },
            },
        },
        "/v1/payments/{payment_id}/cancel": {
            "post": {
                "operationId": "cancelPayment",
                "tags": ["Payments"],
                "summary": "Cancel a processing or succeeded payment (irrevocable)",
                "description": "For a payment without refunds whose business days are open. A "
                "cancel during processing wins: a late success is reversed. `200` when the "
                "partner confirms within the POS wait budget, else `202` with "
                "`cancellation.status = pending` (the gateway keeps at it; if the partner "
                "refuses, it refunds in full and the payment still ends `cancelled`). Repeating "
                "it is harmless.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key, path_id("payment_id", "pay_")],
                "requestBody": json_body("CancelRequest", {}, required=False),
                "responses": {
                    "200": json_response(
                        "The payment, `cancelled`.",
                        ref("schemas", "Payment"),
                        replayed=True,
                        links=links_to("payment_id", "id", "getPayment", "createRefund"),
                    ),
                    "202": json_response(
                        "The payment with `cancellation.status = pending`.",
                        ref("schemas", "Payment"),
                        replayed=True,
                        links=links_to("payment_id", "id", "getPayment"),
                    ),
                    **error_responses(
                        *POST_ERRORS,
                        "not_found",
                        "payment_not_cancellable",
                        "cancel_window_exceeded",
                    ),
                },
            }
        },
        "/v1/payments/{payment_id}/refunds": {
            "post": {
                "operationId": "createRefund",
                "tags": ["Refunds"],
                "summary": "Refund part or all of a succeeded payment",
                "description": "Partial and repeated refunds are allowed while succeeded plus "
                "processing refunds stay within the payment, also under concurrent requests. "
                "Answers within the POS wait budget; an unknown partner outcome is `processing` "
                "and resolved by the gateway.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key, path_id("payment_id", "pay_")],
                "requestBody": json_body(
                    "RefundRequest",
                    {"amount": {"currency": "THB", "value": 25000}, "reason": "returned goods"},
                ),
                "responses": {
                    "201": json_response(
                        "The refund, `succeeded`, `failed` or `processing`.",
                        ref("schemas", "Refund"),
                        replayed=True,
                        links={
                            **links_to("refund_id", "id", "getRefund"),
                            **links_to("payment_id", "payment_id", "getPayment", "cancelPayment"),
                        },
                    ),
                    **error_responses(
                        *POST_ERRORS,
                        "not_found",
                        "refund_exceeds_payment",
                        "payment_not_refundable",
                    ),
                },
            },
            "get": {
                "operationId": "listPaymentRefunds",
                "tags": ["Refunds"],
                "summary": "A payment's refunds, newest first",
                "x-roles": ALL_ROLES,
                "parameters": [path_id("payment_id", "pay_")],
                "responses": {
                    "200": json_response(
                        '`{"object": "list", "data": [Refund...], "has_more": false}`.',
                        ref("schemas", "RefundList"),
                    ),
                    **error_responses("authentication_failed", "forbidden", "not_found"),
                },
            },
        },
        "/v1/refunds/{refund_id}": {
            "get": {
                "operationId": "getRefund",
                "tags": ["Refunds"],
                "summary": "A refund, in its current state",
                "x-roles": ALL_ROLES,
                "parameters": [path_id("refund_id", "rf_")],
                "responses": {
                    "200": json_response("The refund.", ref("schemas", "Refund")),
                    **error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/payments/{payment_id}": {
            "get": {
                "operationId": "getPayment",
                "tags": ["Payments"],
                "summary": "A payment, in its current state",
                "x-roles": ALL_ROLES,
                "parameters": [path_id("payment_id", "pay_")],
                "responses": {
                    "200": json_response("The payment.", ref("schemas", "Payment")),
                    **error_responses("authentication_failed", "not_found"),
                },
            }
        },
    }
