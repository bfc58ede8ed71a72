"""Reconciliations in the OpenAPI document (operator keys only; the reconciliation's schema is
the wire type's)."""

from gateway.api.openapi.errors import error_responses
from gateway.api.openapi.parts import (
    JSON,
    headers,
    json_response,
    path_id,
    query_date,
    query_limit,
    query_text,
    ref,
)

__all__ = ["paths"]


def paths() -> JSON:
    reconciliation_id = path_id("reconciliation_id", "rec_")
    return {
        "/v1/reconciliations": {
            "get": {
                "operationId": "listReconciliations",
                "tags": ["Reconciliation"],
                "summary": "Reconciliations, newest first (`gateway reconcile` makes them)",
                "x-roles": ["operator"],
                "parameters": [
                    query_text("partner", "Only this partner's reconciliations."),
                    query_date("Only reconciliations of this business date (`YYYY-MM-DD`)."),
                    query_limit(),
                    query_text(
                        "starting_after",
                        "A reconciliation id: the page starts after it (older ones).",
                    ),
                ],
                "responses": {
                    "200": json_response(
                        '`{"object": "list", "data": [...], "has_more": bool}`.',
                        ref("schemas", "ReconciliationList"),
                    ),
                    **error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/reconciliations/{reconciliation_id}": {
            "get": {
                "operationId": "getReconciliation",
                "tags": ["Reconciliation"],
                "summary": "A reconciliation's counts",
                "x-roles": ["operator"],
                "parameters": [reconciliation_id],
                "responses": {
                    "200": json_response("The reconciliation.", ref("schemas", "Reconciliation")),
                    **error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/reconciliations/{reconciliation_id}/report": {
            "get": {
                "operationId": "getReconciliationReport",
                "tags": ["Reconciliation"],
                "summary": "The line-by-line report (CSV)",
                "description": "Columns: `category,record_type,partner_request_id,gateway_id,"
                "partner_reference,currency,gateway_amount,partner_amount,gateway_fee,"
                "partner_fee,gateway_fx_rate,partner_fx_rate,detail`; amounts in major units.",
                "x-roles": ["operator"],
                "parameters": [reconciliation_id],
                "responses": {
                    "200": {
                        "description": "The report.",
                        "headers": headers("Content-Disposition"),
                        "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
                    },
                    **error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
    }
