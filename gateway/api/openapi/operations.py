"""Operations of the gateway itself in the OpenAPI document: health, readiness, metrics, and the
document."""

from gateway.api.openapi.errors import error_responses
from gateway.api.openapi.parts import JSON, headers, json_response, ref

__all__ = ["paths"]


def paths() -> JSON:
    return {
        "/healthz": {
            "get": {
                "operationId": "getHealth",
                "tags": ["Operations"],
                "summary": "The process is up",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": json_response("Up.", ref("schemas", "Health")),
                    **error_responses(),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "tags": ["Operations"],
                "summary": "Prometheus metrics: payments by status, partner call latency, breakers",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4.",
                        "headers": headers(),
                        "content": {
                            "text/plain; version=0.0.4; charset=utf-8": {
                                "schema": {"type": "string"}
                            }
                        },
                    },
                    **error_responses(),
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "getReadiness",
                "tags": ["Operations"],
                "summary": "Database and configuration ready; partner breaker states",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": json_response("Ready.", ref("schemas", "Readiness")),
                    "503": json_response(
                        "Not ready (`status: not_ready`); `checks` says why.",
                        ref("schemas", "Readiness"),
                    ),
                    **error_responses(),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["Operations"],
                "summary": "This document",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": json_response("The OpenAPI 3.1 document.", {"type": "object"}),
                    **error_responses(),
                },
            }
        },
    }
