"""The OpenAPI document: structurally sound, and true to the routes, errors and views it describes.

`openapi-spec-validator` is not a dependency, so the structural rules that matter are checked here:
every `$ref` resolves, operations have unique ids and responses, path templates match parameters.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

import fx
from gateway.api import parsing
from gateway.api.events import routes as event_routes
from gateway.api.openapi import openapi_document
from gateway.api.parsing import _IDENTIFIER
from gateway.api.reconciliations import routes as reconciliation_routes
from gateway.api.routes import routes
from gateway.api.settlements import routes as settlement_routes
from gateway.core import errors
from gateway.core.config import PROJECT_ROOT, load_settings
from gateway.merchants.auth import Role
from gateway.payments.views import payment_view
from gateway.quotes.views import quote_view
from tests.factories import make_payment

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
PARAMETER_LOCATIONS = {"query", "header", "path", "cookie"}
STATUS = re.compile(r"[1-5][0-9]{2}|default")


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi_document()


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"only local references are used: {ref}"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def _deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _resolve(doc, node["$ref"])
    return node


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _registered() -> set[tuple[str, str]]:
    """What the app serves: `routes.py`'s table, the events API's and the settlements API's
    (`bootstrap.create_app`)."""
    return {
        (route.method.lower(), route.path)  # type: ignore[attr-defined]
        for table in (routes, event_routes, settlement_routes, reconciliation_routes)
        for route in table
    }


def _documented(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, method, _ in _operations(doc)}


# --- structure --------------------------------------------------------------------------------


def test_is_cached_and_plain_json(doc: dict[str, Any]) -> None:
    assert openapi_document() is doc
    assert json.loads(json.dumps(doc)) == doc  # no tuples, Decimals, datetimes or sets


def test_top_level(doc: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert isinstance(doc["info"]["title"], str) and doc["info"]["title"]
    assert isinstance(doc["info"]["version"], str) and doc["info"]["version"]
    assert "0503" in doc["info"]["description"]  # the sandbox test codes table
    assert set(doc) <= {
        "openapi",
        "info",
        "jsonSchemaDialect",
        "servers",
        "paths",
        "webhooks",
        "components",
        "security",
        "tags",
        "externalDocs",
    }
    assert all(path.startswith("/") for path in doc["paths"])


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs = [node["$ref"] for _, node in _walk(doc) if isinstance(node, dict) and "$ref" in node]
    assert refs
    for ref in refs:
        assert isinstance(ref, str)
        _resolve(doc, ref)


def test_every_component_is_used(doc: dict[str, Any]) -> None:
    used = {node["$ref"] for _, node in _walk(doc) if isinstance(node, dict) and "$ref" in node}
    for section in ("schemas", "parameters", "headers"):
        for name in doc["components"][section]:
            assert f"#/components/{section}/{name}" in used, f"unused {section}/{name}"


def test_operations_have_ids_and_responses(doc: dict[str, Any]) -> None:
    ids = []
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        assert isinstance(operation.get("operationId"), str), where
        ids.append(operation["operationId"])
        assert operation.get("responses"), where
        for status, response in operation["responses"].items():
            assert STATUS.fullmatch(status), f"{where}: {status}"
            assert _deref(doc, response).get("description"), f"{where}: {status}"
        assert any(status.startswith("2") for status in operation["responses"]), where
    assert len(ids) == len(set(ids)), "operationIds must be unique"


def test_parameters_are_well_formed(doc: dict[str, Any]) -> None:
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        params = [_deref(doc, p) for p in operation.get("parameters", [])]
        for param in params:
            assert param["in"] in PARAMETER_LOCATIONS, where
            assert isinstance(param["name"], str) and "schema" in param, where
            if param["in"] == "header":
                assert param["name"].lower() != "authorization", "use the security scheme"
        keys = [(p["name"], p["in"]) for p in params]
        assert len(keys) == len(set(keys)), where
        templated = set(re.findall(r"\{([^}]+)\}", path))
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert templated == in_path, where
        assert all(p["required"] is True for p in params if p["in"] == "path"), where


def test_security_and_tags_are_declared(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "http" and schemes["apiKey"]["scheme"] == "bearer"
    tags = {tag["name"] for tag in doc["tags"]}
    requirements = list(doc["security"])
    for _, _, operation in _operations(doc):
        requirements.extend(operation.get("security", []))
        assert set(operation.get("tags", [])) <= tags
    for requirement in requirements:
        assert set(requirement) <= set(schemes)


def test_roles_per_operation(doc: dict[str, Any]) -> None:
    roles = {role.value for role in Role}
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        assert "x-roles" in operation, where
        assert set(operation["x-roles"]) <= roles, where
        public = operation.get("security") == []
        assert public == (operation["x-roles"] == []), where
        if method == "post":  # writes: pos keys (and operators where noted), never finance
            assert "pos" in operation["x-roles"], where
            assert "finance" not in operation["x-roles"], where


def test_posts_need_an_idempotency_key_and_a_body(doc: dict[str, Any]) -> None:
    for path, method, operation in _operations(doc):
        if method != "post":
            continue
        names = {_deref(doc, p)["name"] for p in operation["parameters"]}
        assert "Idempotency-Key" in names, path
        # A cancel or a redelivery may send no body at all (read as `{}`): the parser says so.
        may_be_empty = path.endswith(("/cancel", "/redeliver"))
        assert operation["requestBody"]["required"] is not may_be_empty, path
        assert "415" in operation["responses"], path  # a body that is not application/json
        answered = [r for s, r in operation["responses"].items() if s.startswith("2")]
        # One 2xx, except a cancel: 200 done, 202 going on in the background.
        assert len(answered) == (2 if path.endswith("/cancel") else 1), path
        assert all("Idempotent-Replayed" in r["headers"] for r in answered), path


def test_every_response_has_request_id_and_server_timing(doc: dict[str, Any]) -> None:
    for path, method, operation in _operations(doc):
        for status, response in operation["responses"].items():
            headers = _deref(doc, response)["headers"]
            assert {"Request-Id", "Server-Timing"} <= set(headers), f"{method} {path} {status}"


# --- true to the implementation ---------------------------------------------------------------


def test_openapi_json_is_registered() -> None:
    """The lead registers GET /openapi.json in routes.py; the document describes it."""
    assert ("get", "/openapi.json") in _registered(), "GET /openapi.json is not registered yet"


def test_documents_exactly_the_registered_routes(doc: dict[str, Any]) -> None:
    registered = _registered()
    documented = _documented(doc)
    assert registered - documented == set(), "registered but not documented"
    assert documented - registered == set(), "documented but not registered"


def _error_classes() -> dict[str, int]:
    return {
        cls.code: cls.status
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.GatewayError)
    }


def test_error_codes_are_those_of_gateway_errors(doc: dict[str, Any]) -> None:
    subclasses = {
        cls.code
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.GatewayError)
        and cls is not errors.GatewayError
    }
    error = doc["components"]["schemas"]["Error"]["properties"]["error"]
    enum = _deref(doc, error["properties"]["code"])["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == subclasses | {"internal_error"}


def test_error_responses_group_codes_by_their_status(doc: dict[str, Any]) -> None:
    statuses = _error_classes()
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        assert "500" in operation["responses"], where
        for status, response in operation["responses"].items():
            media = response.get("content", {}).get("application/json", {})
            if media.get("schema") != {"$ref": "#/components/schemas/Error"}:
                assert not status.startswith(("4", "5")) or path == "/readyz", where
                continue
            codes = set()
            for name, example in media["examples"].items():
                body = example["value"]["error"]
                assert body["code"] == name, where
                assert statuses[name] == int(status), f"{where}: {name} is not {status}"
                codes.add(name)
            retry = codes & {"partner_unavailable", "rate_unavailable"}
            assert bool(retry) == ("Retry-After" in response["headers"]), f"{where} {status}"


def test_request_rules_match_the_parser(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert schemas["Identifier"]["pattern"] == f"^{_IDENTIFIER.pattern}$"
    value = schemas["MoneyInput"]["properties"]["value"]
    assert (value["minimum"], value["maximum"]) == (1, fx.MAX_AMOUNT)
    assert schemas["RefundRequest"]["properties"]["amount"]["$ref"].endswith("/MoneyInput")
    payment = schemas["PaymentRequest"]["properties"]
    assert payment["quote_id"]["$ref"].endswith("/Identifier")  # a string: `null` is refused
    metadata = schemas["Metadata"]
    assert metadata["maxProperties"] == parsing._METADATA_KEYS
    assert (metadata["propertyNames"]["minLength"], metadata["propertyNames"]["maxLength"]) == (
        1,
        40,
    )
    assert metadata["additionalProperties"]["maxLength"] == 500


def test_wallet_rules_cover_the_shipped_wallets(doc: dict[str, Any]) -> None:
    """The schema's wallet code and wallet id patterns admit every shipped wallet's codes and id
    (a wallet taking longer codes than the schema allows would make the schema lie)."""
    schemas = doc["components"]["schemas"]
    code = schemas["PaymentRequest"]["properties"]["payment_method"]["properties"]["code"]
    lengths = re.fullmatch(r"\^\[0-9\]\{(\d+),(\d+)\}\$", code["pattern"])
    assert lengths is not None, code["pattern"]
    wallet = schemas["QuoteRequest"]["properties"]["wallet"]["pattern"]
    wallets = load_settings(PROJECT_ROOT / "configs", env={}).wallets.values()
    assert wallets
    for configured in wallets:
        assert int(lengths[1]) <= configured.code_length.min, configured.id
        assert configured.code_length.max <= int(lengths[2]), configured.id
        assert re.fullmatch(wallet, configured.id), configured.id


def _request_schemas(doc: dict[str, Any], node: Any) -> Iterator[dict[str, Any]]:
    """Every object schema reachable from a request body."""
    node = _deref(doc, node)
    if not isinstance(node, dict):
        return
    if node.get("type") == "object":
        yield node
    for key in ("properties", "additionalProperties", "items"):
        child = node.get(key)
        if isinstance(child, dict) and key == "properties":
            for value in child.values():
                yield from _request_schemas(doc, value)
        elif isinstance(child, dict):
            yield from _request_schemas(doc, child)


def test_request_bodies_refuse_unknown_fields(doc: dict[str, Any]) -> None:
    """API.md: unknown JSON fields in a request are `invalid_request`, at every level."""
    for path, method, operation in _operations(doc):
        body = operation.get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        for node in _request_schemas(doc, schema):
            if "properties" in node:  # metadata is a map: its keys are the merchant's own
                assert node.get("additionalProperties") is False, f"{method} {path}"


def test_query_limits_match_the_parser(doc: dict[str, Any]) -> None:
    limits = [
        param["schema"]
        for _, _, operation in _operations(doc)
        for param in (_deref(doc, p) for p in operation.get("parameters", []))
        if param["in"] == "query" and param["name"] == "limit"
    ]
    assert len(limits) == 4  # payments, events, settlements, reconciliations
    for schema in limits:
        assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, 100)
    assert [parsing.parse_limit({"limit": text})[0] for text in ("1", "100")] == [1, 100]
    for text in ("0", "101"):
        with pytest.raises(errors.InvalidRequest):
            parsing.parse_limit({"limit": text})


def test_links_name_real_operations_and_parameters(doc: dict[str, Any]) -> None:
    """Response links (the stateful tests follow them) point at operations that exist."""
    by_id = {operation["operationId"]: operation for _, _, operation in _operations(doc)}
    links = 0
    for path, method, operation in _operations(doc):
        for response in operation["responses"].values():
            for name, link in _deref(doc, response).get("links", {}).items():
                links += 1
                target = by_id.get(link["operationId"])
                assert target is not None, f"{method} {path}: link {name}"
                names = {_deref(doc, p)["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names, f"{method} {path}: link {name}"
    assert links


@pytest.mark.parametrize(
    ("schema", "view", "sample"),
    [
        ("Payment", payment_view, make_payment),
        ("Quote", quote_view, lambda: defaultdict(lambda: None)),
    ],
)
def test_object_schemas_match_the_views(
    doc: dict[str, Any], schema: str, view: Any, sample: Any
) -> None:
    shown = set(view(sample()))
    described = doc["components"]["schemas"][schema]
    assert set(described["properties"]) == shown
    assert set(described["required"]) == shown
    assert set(described["examples"][0]) == shown
