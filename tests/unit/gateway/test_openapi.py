"""The OpenAPI document: structurally sound, and true to the routes, errors and views it describes.

`openapi-spec-validator` is not a dependency, so the structural rules that matter are checked here:
every `$ref` resolves, operations have unique ids and responses, path templates match parameters.
The schemas are generated from the wire types (`gateway/wire/`); real rendered views are
validated against them, and the parser's limits are checked at the schema's boundaries.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import jsonschema_rs
import pytest

import fx
from gateway.api import parsing
from gateway.api.events import routes as event_routes
from gateway.api.openapi import openapi_document
from gateway.api.parsing import _IDENTIFIER
from gateway.api.presented import presented_routes
from gateway.api.reconciliations import reconciliation_view
from gateway.api.reconciliations import routes as reconciliation_routes
from gateway.api.routes import routes
from gateway.api.settlements import routes as settlement_routes
from gateway.core import errors
from gateway.core.config import PROJECT_ROOT, load_settings
from gateway.events.model import EventType, event_row, event_view
from gateway.merchants.auth import Role
from gateway.partners.health import Health
from gateway.payments.model import CancelStatus, Failure, PaymentStatus
from gateway.payments.views import payment_view
from gateway.quotes.model import QuoteUse
from gateway.quotes.views import quote_view
from gateway.reconciliation.matching import Category
from gateway.refunds.model import Refund, RefundKind, RefundStatus
from gateway.refunds.views import refund_view
from gateway.settlement.model import BatchKey, BatchType, ClosedBatch, Totals, batch_view
from gateway.wire.reconciliations import ReconciliationCounts
from tests.factories import NOW, make_payment, make_quote

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
        for table in (
            routes,
            event_routes,
            settlement_routes,
            reconciliation_routes,
            presented_routes,
        )
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
        if method == "post" and not path.startswith("/partners/"):
            # writes: pos keys (and operators where noted), never finance; partners sign theirs
            assert "pos" in operation["x-roles"], where
            assert "finance" not in operation["x-roles"], where


def test_posts_need_an_idempotency_key_and_a_body(doc: dict[str, Any]) -> None:
    for path, method, operation in _operations(doc):
        if method != "post" or path.startswith("/partners/"):  # a partner's: its protocol's
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
    error = _deref(doc, doc["components"]["schemas"]["Error"]["properties"]["error"])
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
                # readiness, and a partner's acknowledgment, answer in their own shape
                assert not status.startswith(("4", "5")) or path in (
                    "/readyz",
                    "/partners/{partner_id}/notify",
                ), where
                continue
            codes = set()
            for name, example in media["examples"].items():
                body = example["value"]["error"]
                assert body["code"] == name, where
                assert statuses[name] == int(status), f"{where}: {name} is not {status}"
                codes.add(name)
            retry = codes & {"partner_unavailable", "rate_unavailable"}
            assert bool(retry) == ("Retry-After" in response["headers"]), f"{where} {status}"


def _money(value: Any) -> dict[str, Any]:
    return {"currency": "THB", "value": value}


def _payment_body(**fields: Any) -> dict[str, Any]:
    return {
        "merchant_reference": "R1",
        "amount": _money(100),
        "payment_method": {"type": "wallet_code", "code": "281234567890120000"},
        **fields,
    }


def _refused(parse: Callable[[dict[str, Any]], Any], body: dict[str, Any]) -> bool:
    try:
        parse(body)
    except errors.GatewayError:
        return True
    return False


def test_request_rules_match_the_parser(doc: dict[str, Any]) -> None:
    """The schema's limits are where the parser's are: the last value taken and the first refused
    (both come from the same wire types, so this guards the generation, not a copy)."""
    schemas = doc["components"]["schemas"]
    assert schemas["Identifier"]["pattern"] == f"^{_IDENTIFIER.pattern}$"
    pay = parsing.parse_create_payment
    for name in ("merchant_reference", "store_id", "terminal_id", "quote_id"):
        assert not _refused(pay, _payment_body(**{name: "a" * 64}))
        assert _refused(pay, _payment_body(**{name: "a" * 65})), name
        assert _refused(pay, _payment_body(**{name: None})), name  # `null` is not a string
    value = _deref(doc, schemas["MoneyInput"])["properties"]["value"]
    assert (value["minimum"], value["maximum"]) == (1, fx.MAX_AMOUNT)
    for taken in (value["minimum"], value["maximum"]):
        assert not _refused(pay, _payment_body(amount=_money(taken)))
    for refused in (value["minimum"] - 1, value["maximum"] + 1, 1.0, True):
        assert _refused(pay, _payment_body(amount=_money(refused))), refused
    assert schemas["RefundRequest"]["properties"]["amount"]["$ref"].endswith("/MoneyInput")
    assert schemas["PaymentRequest"]["properties"]["quote_id"]["$ref"].endswith("/Identifier")
    metadata = schemas["Metadata"]
    keys, values = metadata["propertyNames"], metadata["additionalProperties"]
    widest = {f"k{i:0{keys['maxLength'] - 1}}": "v" * values["maxLength"] for i in range(20)}
    assert len(widest) == metadata["maxProperties"]
    assert not _refused(pay, _payment_body(metadata=widest))
    assert _refused(pay, _payment_body(metadata={**widest, "one": "more"}))
    assert _refused(pay, _payment_body(metadata={"k" * (keys["maxLength"] + 1): "v"}))
    assert _refused(pay, _payment_body(metadata={"": "v"}))
    assert keys["minLength"] == 1
    assert _refused(pay, _payment_body(metadata={"k": "v" * (values["maxLength"] + 1)}))
    reason = schemas["RefundRequest"]["properties"]["reason"]
    refund = parsing.parse_create_refund
    for length in (reason["minLength"], reason["maxLength"]):
        assert not _refused(refund, {"amount": _money(1), "reason": "r" * length})
    for length in (reason["minLength"] - 1, reason["maxLength"] + 1):
        assert _refused(refund, {"amount": _money(1), "reason": "r" * length})


def test_request_fields_are_the_parsers(doc: dict[str, Any]) -> None:
    """Each request schema's fields and required fields are those the parser takes and needs."""
    schemas = doc["components"]["schemas"]
    parsers: list[tuple[str, Callable[[dict[str, Any]], Any], dict[str, Any]]] = [
        ("PaymentRequest", parsing.parse_create_payment, _payment_body()),
        ("QuoteRequest", parsing.parse_create_quote, {"amount": _money(1), "wallet": "x"}),
        ("RefundRequest", parsing.parse_create_refund, {"amount": _money(1)}),
        ("CancelRequest", parsing.parse_empty, {}),
        ("RedeliverRequest", parsing.parse_empty, {}),
    ]
    for name, parse, minimal in parsers:
        schema = schemas[name]
        assert set(minimal) == set(schema.get("required", [])), name
        assert not _refused(parse, minimal), name
        for field in schema.get("required", []):
            assert _refused(parse, {k: v for k, v in minimal.items() if k != field}), field
        assert _refused(parse, {**minimal, "unknown": 1}), name


def test_wallet_rules_cover_the_shipped_wallets(doc: dict[str, Any]) -> None:
    """The schema's wallet code and wallet id patterns admit every shipped wallet's codes and id
    (a wallet taking longer codes than the schema allows would make the schema lie)."""
    schemas = doc["components"]["schemas"]
    code = schemas["WalletCodeInput"]["properties"]["code"]
    lengths = re.fullmatch(r"\^\[0-9\]\{(\d+),(\d+)\}\$", code["pattern"])
    assert lengths is not None, code["pattern"]
    wallet = schemas["QuoteRequest"]["properties"]["wallet"]["pattern"]
    assert schemas["MerchantQrInput"]["properties"]["wallet"]["pattern"] == wallet
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


def _refund(**overrides: Any) -> Refund:
    fields: dict[str, Any] = {
        "id": "rf_1",
        "payment_id": "pay_1",
        "merchant_id": "mer_1",
        "kind": RefundKind.MERCHANT,
        "status": RefundStatus.PROCESSING,
        "amount": fx.Money(2500, fx.get_currency("THB")),
        "payer_amount": fx.Money(465, fx.get_currency("CNY")),
        "quote": QuoteUse.of(make_quote().quote),
        "partner": "alipayplus-th",
        "partner_request_id": "rfa_1",
        "reason": None,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Refund(**(fields | overrides))


def _closed(key: BatchKey, totals: Totals) -> ClosedBatch:
    return ClosedBatch(
        key=key,
        totals=totals,
        file_sha256="0" * 64,
        file_bytes=612,
        file_format=1,
        forced=False,
        closed_by="test",
        closed_at=NOW,
    )


def _events() -> list[dict[str, Any]]:
    made = event_row(
        EventType.PAYMENT_SUCCEEDED,
        merchant_id="mer_1",
        data=dict(payment_view(make_payment(status=PaymentStatus.SUCCEEDED))),
        now=NOW,
    )
    delivered = made | {
        "delivery_status": "delivered",
        "delivery_attempts": 2,
        "delivered_at": NOW,
        "last_error": "HTTP 500",
    }
    return [event_view(made), event_view(delivered)]


def _batches() -> list[Any]:
    totals = Totals(2, 250100, 1, 50000, 3002, 197098)
    merchant = BatchKey(BatchType.MERCHANT, "mer_1", "THB", date(2026, 11, 26))
    partner = BatchKey(BatchType.PARTNER, "alipayplus-th", "CNY", date(2026, 11, 26))
    return [
        batch_view(merchant, totals, None),
        batch_view(partner, Totals(), _closed(partner, Totals())),
    ]


def _reconciliations() -> list[Any]:
    row = {
        "id": "rec_1",
        "partner": "alipayplus-th",
        "business_date": "2026-11-26",
        "currency": "CNY",
        "report_sha256": "0" * 64,
        "created_at": datetime(2026, 11, 27, 4, tzinfo=UTC),
    }
    return [reconciliation_view(row | {c.value: 1 for c in Category})]


_VIEWS: dict[str, Callable[[], list[Any]]] = {
    "Payment": lambda: [
        payment_view(make_payment()),
        payment_view(
            make_payment(
                status=PaymentStatus.FAILED,
                failure=Failure("insufficient_funds", "The wallet's balance is too low."),
                quote=QuoteUse.of(make_quote().quote),
                store_id="s1",
                terminal_id="t1",
                metadata={"k": "v"},
                partner_reference="2026112614031100001",
            )
        ),
        payment_view(
            make_payment(
                status=PaymentStatus.CANCELLED,
                cancel_status=CancelStatus.CONFIRMED,
                cancel_requested_at=NOW,
            )
        ),
    ],
    "Refund": lambda: [
        refund_view(_refund()),
        refund_view(
            _refund(status=RefundStatus.FAILED, failure=Failure("partner_declined", "No."))
        ),
        refund_view(_refund(status=RefundStatus.SUCCEEDED, reason="returned goods")),
        refund_view(_refund(quote=None, payer_amount=fx.Money(2500, fx.get_currency("THB")))),
    ],
    "Quote": lambda: [quote_view(make_quote())],
    "Event": _events,
    "SettlementBatch": _batches,
    "Reconciliation": _reconciliations,
    "Breaker": lambda: list(Health(["p1"], failures=3, cooldown=30).snapshot().values()),
    "Error": lambda: [
        errors.InvalidRequest("Unknown field amount.cents.", param="amount.cents").to_json(),
        errors.DuplicateMerchantReference("Used.", payment_id="pay_1").to_json(),
        errors.PartnerUnavailable("Retry later.", partner="p1").to_json(),
    ],
}


@pytest.mark.parametrize("schema", sorted(_VIEWS))
def test_rendered_views_match_their_schema(doc: dict[str, Any], schema: str) -> None:
    """What the views really render validates against the schema (closed objects, every field
    required, so a field added to one and not the other fails here as well as in mypy)."""
    validator = jsonschema_rs.Draft202012Validator(
        {"components": doc["components"], "$ref": f"#/components/schemas/{schema}"},
        validate_formats=True,
    )
    for view in _VIEWS[schema]():
        rendered = json.loads(json.dumps(view))
        errors_found = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(rendered)]
        assert errors_found == [], rendered


def test_examples_match_their_schema(doc: dict[str, Any]) -> None:
    for name, schema in doc["components"]["schemas"].items():
        validator = jsonschema_rs.Draft202012Validator(
            {"components": doc["components"], "$ref": f"#/components/schemas/{name}"},
            validate_formats=True,
        )
        examples = schema.get("examples", []) + ([schema["example"]] if "example" in schema else [])
        for example in examples:
            assert validator.is_valid(example), name


def test_reconciliation_counts_are_the_categories() -> None:
    assert list(ReconciliationCounts.__annotations__) == [c.value for c in Category]
