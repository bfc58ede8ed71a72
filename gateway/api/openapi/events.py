"""Events in the OpenAPI document: reading them, asking for a redelivery, and the webhook that
delivers them (the bodies' schemas are the wire types')."""

from gateway.api.openapi.errors import error_responses
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
from gateway.events.model import EventType
from gateway.wire.events import EVENT_PAYLOAD_EXAMPLE

__all__ = ["paths", "webhooks"]


def paths() -> JSON:
    return {
        "/v1/events": {
            "get": {
                "operationId": "listEvents",
                "tags": ["Events"],
                "summary": "List events, newest first",
                "description": "The caller's merchant's events (an operator key: every "
                "merchant's). Unknown query parameters are `invalid_request`.",
                "x-roles": ALL_ROLES,
                "parameters": [
                    {
                        "name": "type",
                        "in": "query",
                        "description": "Only events of this type.",
                        "schema": {"type": "string", "enum": [str(t) for t in EventType]},
                    },
                    query_limit(),
                    query_text(
                        "starting_after", "An event id: the page starts after it (older ones)."
                    ),
                ],
                "responses": {
                    "200": json_response("A page of events.", ref("schemas", "EventList")),
                    **error_responses("authentication_failed", "invalid_request"),
                },
            }
        },
        "/v1/events/{event_id}": {
            "get": {
                "operationId": "getEvent",
                "tags": ["Events"],
                "summary": "An event and its delivery state",
                "x-roles": ALL_ROLES,
                "parameters": [path_id("event_id", "evt_")],
                "responses": {
                    "200": json_response(
                        "The event.",
                        ref("schemas", "Event"),
                        links=links_to("event_id", "id", "redeliverEvent"),
                    ),
                    **error_responses("authentication_failed", "not_found"),
                },
            }
        },
        "/v1/events/{event_id}/redeliver": {
            "post": {
                "operationId": "redeliverEvent",
                "tags": ["Events"],
                "summary": "Deliver an event again, on a fresh schedule",
                "description": "Makes the event `pending` and due now, with a fresh retry "
                "schedule, whatever its status (`failed`, `no_endpoint` once a URL is set, "
                "even `delivered`). Delivery happens in the background: `202` and the event. "
                "Operator keys may redeliver any merchant's events (their `Idempotency-Key`s "
                "have a scope of their own).",
                "x-roles": ["pos", "operator"],
                "parameters": [
                    path_id("event_id", "evt_"),
                    ref("parameters", "Idempotency-Key"),
                ],
                "requestBody": json_body("RedeliverRequest", {}, required=False),
                "responses": {
                    "202": json_response(
                        "The event, now `pending` (or, with `Idempotent-Replayed: true`, the "
                        "first answer to this Idempotency-Key).",
                        ref("schemas", "Event"),
                        replayed=True,
                        links=links_to("event_id", "id", "getEvent"),
                    ),
                    **error_responses(
                        "authentication_failed",
                        "forbidden",
                        "idempotency_key_missing",
                        "idempotency_key_reused",
                        "idempotency_key_in_use",
                        "request_too_large",
                        "unsupported_media_type",
                        "invalid_request",
                        "not_found",
                        "webhook_not_configured",
                    ),
                },
            }
        },
    }


def webhooks() -> JSON:
    return {
        "event": {
            "post": {
                "operationId": "receiveEvent",
                "tags": ["Events"],
                "summary": "An event, POSTed to the merchant's webhook URL",
                "description": "Verify `Gateway-Signature` before trusting the body: recompute "
                "HMAC-SHA256 over `<t>.<raw body>` with the webhook secret (`whsec_...`), compare "
                "in constant time with each `v1=` (during a secret rotation there is one per "
                "secret), and refuse a `t` far from your clock. Answer 2xx quickly; anything "
                "else (or no answer within 10 s) is retried. At least once, possibly out of "
                "order: dedupe on `id`.",
                "security": [],
                "parameters": [
                    {
                        "name": "Gateway-Signature",
                        "in": "header",
                        "required": True,
                        "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "
                        '"<t>.<raw body>")>`.',
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "Gateway-Event-Id",
                        "in": "header",
                        "required": True,
                        "description": "The event's id, as in the body.",
                        "schema": {"type": "string", "pattern": "^evt_"},
                    },
                ],
                "requestBody": json_body("EventPayload", EVENT_PAYLOAD_EXAMPLE),
                "responses": {
                    "200": {"description": "Any 2xx: received. Anything else is retried."}
                },
            }
        }
    }
