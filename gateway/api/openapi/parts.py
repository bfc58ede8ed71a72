"""Building blocks of the OpenAPI document: references, responses, links, parameters, and the
components that are not schemas (security scheme, shared parameters and headers)."""

from typing import Any, Final

__all__ = [
    "ALL_ROLES",
    "JSON",
    "JSON_TYPE",
    "components",
    "headers",
    "json_body",
    "json_response",
    "links_to",
    "path_id",
    "query_date",
    "query_limit",
    "query_text",
    "ref",
]

JSON = dict[str, Any]

JSON_TYPE: Final = "application/json"
ALL_ROLES: Final = ["pos", "finance", "operator"]
# A path segment or query value holds no control character (`parsing.check_url_text`).
_NO_CONTROL: Final = "^[^\\u0000-\\u001f\\u007f]*$"
_DATE: Final = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


def ref(section: str, name: str) -> JSON:
    return {"$ref": f"#/components/{section}/{name}"}


def headers(*names: str) -> JSON:
    return {name: ref("headers", name) for name in ("Request-Id", "Server-Timing", *names)}


def json_response(
    description: str, schema: JSON, *, replayed: bool = False, links: JSON | None = None
) -> JSON:
    response: JSON = {
        "description": description,
        "headers": headers("Idempotent-Replayed") if replayed else headers(),
        "content": {JSON_TYPE: {"schema": schema}},
    }
    if links:
        response["links"] = links
    return response


def links_to(parameter: str, source: str, *operation_ids: str) -> JSON:
    """Links from a response to the operations taking one of its ids as a path parameter."""
    return {
        operation_id: {
            "operationId": operation_id,
            "parameters": {parameter: f"$response.body#/{source}"},
        }
        for operation_id in operation_ids
    }


def json_body(schema: str, example: JSON, *, required: bool = True) -> JSON:
    """`required=False`: no body at all is read as `{}` (cancel, redeliver)."""
    return {
        "required": required,
        "content": {JSON_TYPE: {"schema": ref("schemas", schema), "example": example}},
    }


def _id_schema(prefix: str) -> JSON:
    """An object id: its type prefix, then lower-case letters and digits (opaque)."""
    return {"type": "string", "pattern": f"^{prefix}[0-9a-z]{{1,64}}$"}


def path_id(name: str, prefix: str, schema: JSON | None = None) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The object's id (`{prefix}...`): opaque; an id that does not exist, "
        "or is another merchant's, is `404 not_found`.",
        "schema": schema or _id_schema(prefix),
    }


def query_text(name: str, description: str) -> JSON:
    """A free-text query filter: any text without control characters (those are
    `invalid_request`); a value that matches nothing gives an empty page."""
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "pattern": _NO_CONTROL},
    }


def query_limit() -> JSON:
    return {
        "name": "limit",
        "in": "query",
        "description": "Page size: 1 to 100 in ASCII digits.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    }


def query_date(description: str) -> JSON:
    return {
        "name": "business_date",
        "in": "query",
        "description": description,
        "schema": _DATE,
    }


def components(schemas: JSON) -> JSON:
    """Everything under `components` but the schemas, which the wire types generate."""
    return {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "gw_<role>_<43 url-safe characters>",
                "description": "An API key created by the operator's command line and shown "
                "once. Its role is `pos`, `finance` (both bound to a merchant) or `operator`.",
            }
        },
        "parameters": {
            "Idempotency-Key": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "Scoped to the merchant, kept 48 h by default. Same key and same "
                "request (method, path, parsed body): the first `201` is replayed. Missing or "
                "malformed: `idempotency_key_missing`.",
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
            }
        },
        "headers": {
            "Request-Id": {
                "description": "This request's id; the gateway's log has it.",
                "schema": {"type": "string", "pattern": "^req_"},
            },
            "Server-Timing": {
                "description": "`gateway;dur=<ms>, partner;dur=<ms>`: the gateway's own time and "
                "the time spent waiting for partners.",
                "schema": {"type": "string"},
            },
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored first response to the same "
                "`Idempotency-Key` and request (a snapshot: `GET` shows the current state).",
                "schema": {"type": "string", "enum": ["true"]},
            },
            "Content-Digest": {
                "description": "`sha-256=:<base64 of the SHA-256 of the body>:` (RFC 9530): the "
                "digest stored when the batch closed (the Batch's `file.sha256`, in base64).",
                "schema": {"type": "string", "pattern": "^sha-256=:[A-Za-z0-9+/]{43}=:$"},
            },
            "ETag": {
                "description": "The file's SHA-256 in hex, quoted: the file never changes.",
                "schema": {"type": "string"},
            },
            "Content-Disposition": {
                "description": '`attachment; filename="<type>_<owner>_<currency>_<date>.csv"`.',
                "schema": {"type": "string"},
            },
            "Retry-After": {
                "description": "Seconds to wait before retrying (5 for `partner_unavailable`, "
                "60 for `rate_unavailable`).",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
        "schemas": schemas,
    }
