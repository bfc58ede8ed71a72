"""Bad input gets the documented error and writes nothing: no row, no key, no partner call.

Every case runs against one gateway per database (module-scoped, so ~90 cases stay fast) whose
TH partner sandbox must never be called: after each case its ledger is still empty and no table
of the database has gained or lost a row. A second gateway per database takes the few tests that
must charge (the Idempotency-Key survives a validation error) or that document known bugs.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa

from gateway.sandboxes import RunningSandboxes, sandbox_environment, start_sandboxes
from gateway.storage import idempotency as records
from gateway.storage import payments as repo
from gateway.storage.db import Database, open_database
from gateway.storage.tables import metadata
from tests.e2e.conftest import (
    Answer,
    Gateway,
    code,
    start_gateway_app,
    with_partner_urls,
)
from tests.e2e.conftest import test_settings as load_test_settings
from tests.support.seeding import SHOPS, seed

pytestmark = pytest.mark.asyncio(loop_scope="module")

REQUEST_TABLES = (repo.payments, repo.attempts, repo.quotes, records.idempotency)


# --- the gateways ------------------------------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def module_database_url(request: pytest.FixtureRequest) -> str:
    """`database_url` of tests/conftest.py, for module-scoped gateways."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


async def _start(database_url: str) -> tuple[Gateway, Any]:
    settings = load_test_settings(database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running: RunningSandboxes = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    settings = with_partner_urls(settings, running.urls)
    seeded = await seed(settings.database.url, SHOPS)
    keys, merchants = seeded.keys, seeded.merchants
    runner, url = await start_gateway_app(settings, env)
    session = aiohttp.ClientSession()
    gateway = Gateway(url, settings, env, session, running, keys, merchants)

    async def stop() -> None:
        await session.close()
        await runner.cleanup()
        await running.stop()

    return gateway, stop


@dataclass
class Shared:
    """The clean gateway, a database handle, and the objects some cases point at."""

    gateway: Gateway
    db: Database
    ids: dict[str, str] = field(default_factory=dict)


async def _quote(gateway: Gateway, value: int, currency: str, key: str) -> str:
    answer = await gateway.request(
        "POST",
        "/v1/fx/quotes",
        key=key,
        json={"amount": {"currency": currency, "value": value}, "wallet": "alipay_cn"},
        idempotency_key=secrets.token_hex(8),
    )
    assert answer.status == 201, answer.body
    return str(answer.body["id"])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(module_database_url: str) -> AsyncIterator[Shared]:
    gateway, stop = await _start(module_database_url)
    db = open_database(module_database_url)
    try:
        ids: dict[str, str] = {}
        # Another merchant's payment, charged by the JP partner (the TH sandbox stays untouched).
        paid = await gateway.pay(code("28", "0000"), 1000, "JPY", key="jp_pos")
        assert paid.status == 201 and paid.body["status"] == "succeeded", paid.body
        ids["jp_payment"] = paid.body["id"]
        ids["jp_quote"] = await _quote(gateway, 1000, "JPY", "jp_pos")
        ids["th_quote"] = await _quote(gateway, 125050, "THB", "th_pos")
        ids["th_expired_quote"] = await _quote(gateway, 125050, "THB", "th_pos")
        async with db.writer.begin() as conn:  # made six minutes ago, expired one minute ago
            await conn.execute(
                sa.update(repo.quotes)
                .where(repo.quotes.c.id == ids["th_expired_quote"])
                .values(
                    created_at=datetime.now(UTC) - timedelta(minutes=6),
                    expires_at=datetime.now(UTC) - timedelta(minutes=1),
                )
            )
        assert gateway.ledger().entries == [] and gateway.ledger().payments == {}
        yield Shared(gateway, db, ids)
    finally:
        await db.dispose()
        await stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dirty(module_database_url: str) -> AsyncIterator[Gateway]:
    """A gateway whose sandboxes may charge: for tests that need a successful payment."""
    gateway, stop = await _start(module_database_url)
    try:
        yield gateway
    finally:
        await stop()


async def row_counts(db: Database) -> dict[str, int]:
    """Rows per table, every table of the schema (the four of a request first among them)."""
    counts: dict[str, int] = {}
    async with db.reader.connect() as conn:
        for table in (*REQUEST_TABLES, *metadata.sorted_tables):
            if table.name not in counts:
                counts[table.name] = int(
                    await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0
                )
    return counts


def ledger_size(gateway: Gateway, partner: str) -> tuple[int, int]:
    ledger = gateway.ledger(partner)
    return len(ledger.entries), len(ledger.payments)


# --- the cases ---------------------------------------------------------------------------------

DROP = object()
Dynamic = Callable[[Shared], Any]


def payment_body(
    *,
    amount: Any = None,
    method: Any = None,
    wallet_code: str | None = None,
    **fields: Any,
) -> Dynamic:
    """A good payment body (fresh reference and code each time) with the given changes."""

    def build(shared: Shared) -> dict[str, Any]:
        body: dict[str, Any] = {
            "merchant_reference": f"R-{secrets.token_hex(6)}",
            "amount": {"currency": "THB", "value": 125050} if amount is None else amount,
            "payment_method": {
                "type": "wallet_code",
                "code": code("28", "0000") if wallet_code is None else wallet_code,
            }
            if method is None
            else method,
        }
        if amount is DROP:
            del body["amount"]
        for name, value in fields.items():
            if value is DROP:
                body.pop(name, None)
            else:
                body[name] = value(shared) if callable(value) else value
        return body

    return build


def thb(value: Any) -> dict[str, Any]:
    return {"currency": "THB", "value": value}


def quote_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"amount": thb(125050), "wallet": "alipay_cn"}
    for name, value in changes.items():
        if value is DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


def raw_payment(**replacements: str) -> bytes:
    """A hand-written payment body (for what json.dumps cannot write)."""
    parts = {
        "reference": '"merchant_reference":"R-RAW-1"',
        "amount": '"amount":{"currency":"THB","value":125050}',
        "method": '"payment_method":{"type":"wallet_code","code":"281234567890120000"}',
    }
    parts.update(replacements)
    return ("{" + ",".join(parts.values()) + "}").encode()


@dataclass(frozen=True)
class Bad:
    name: str
    status: int
    error: str
    param: str | tuple[str | None, ...] | None = None
    """The expected `error.param`; None: absent; a tuple: any of these (None: absent)."""
    method: str = "POST"
    path: str | Dynamic = "/v1/payments"
    body: Any = None
    """A JSON value, or a function of `Shared` returning one."""
    raw: bytes | None = None
    chunked: bool = False
    key: str | None = "th_pos"
    idempotency_key: str | None = "fresh"
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: bool = False
    marks: tuple[Any, ...] = ()


QUOTE_PATH = "/v1/fx/quotes"


def value_case(name: str, value: Any, **kw: Any) -> Bad:
    """amount.value is not an integer 1 ≤ value ≤ 10^13."""
    return Bad(
        name, 400, "invalid_amount", "amount.value", body=payment_body(amount=thb(value)), **kw
    )


def raw_value_case(
    name: str, text: str, error: str = "invalid_amount", param: Any = "amount.value"
) -> Bad:
    """amount.value written as JSON text that json.dumps cannot produce."""
    amount = '"amount":{"currency":"THB","value":' + text + "}"
    return Bad(name, 400, error, param, raw=raw_payment(amount=amount))


def currency_case(name: str, currency: str, error: str = "unsupported_currency") -> Bad:
    amount = {"currency": currency, "value": 1000}
    return Bad(name, 400, error, "amount.currency", body=payment_body(amount=amount))


def shape_case(name: str, param: str, **changes: Any) -> Bad:
    """An unknown, missing or mistyped field: invalid_request naming it."""
    return Bad(name, 400, "invalid_request", param, body=payment_body(**changes))


def code_case(name: str, wallet_code: str) -> Bad:
    body = payment_body(wallet_code=wallet_code)
    return Bad(name, 400, "invalid_payment_code", "payment_method.code", body=body)


def quote_case(name: str, status: int, error: str, param: Any = None, **kw: Any) -> Bad:
    return Bad(name, status, error, param, path=QUOTE_PATH, **kw)


def read_case(name: str, path: str | Dynamic, status: int = 404, **kw: Any) -> Bad:
    error = kw.pop("error", {401: "authentication_failed", 404: "not_found"}.get(status))
    return Bad(name, status, error, method="GET", path=path, idempotency_key=None, **kw)


def known(what: str) -> Dynamic:
    """The id of an object the fixture made (see `shared`)."""
    return lambda shared: shared.ids[what]


OVERSIZE_REFERENCE = '"merchant_reference":"' + "A" * (64 * 1024 + 10) + '"'
CASES: list[Bad] = [
    # --- amount.value: an integer 1 ≤ value ≤ 10^13, never a float -----------------------------
    value_case("value_float", 12.5),
    raw_value_case("value_float_whole", "12.0"),
    raw_value_case("value_exponent", "1e3"),
    value_case("value_negative", -100),
    value_case("value_zero", 0),
    value_case("value_10_14", 10**14),
    value_case("value_10_13_plus_1", 10**13 + 1),
    value_case("value_string", "100"),
    value_case("value_true", True),
    value_case("value_null", None),
    raw_value_case("value_400_digits", "9" * 400),
    raw_value_case("value_nan", "NaN", "invalid_request", None),
    raw_value_case("value_infinity", "Infinity", "invalid_request", None),
    # A payer amount below 1 minor unit (1 satang is 0.19 fen) or above 10^13 (JPY -> CNY fen).
    value_case("payer_amount_below_1", 1),
    Bad(
        "payer_amount_above_10_13",
        400,
        "invalid_amount",
        "amount.value",
        key="jp_pos",
        body=payment_body(amount={"currency": "JPY", "value": 10**13}),
    ),
    # --- amount.currency: a payment currency, and the merchant's -------------------------------
    *(
        currency_case(f"currency_{currency or 'empty'}", currency)
        for currency in ("ABC", "thb", "Thb", "XAU", "XTS", "XXX", "CLF", "BOV", "CHE", "UYW", "")
    ),
    currency_case("currency_usd_not_merchants", "USD", "invalid_amount"),
    currency_case("currency_jpy_not_merchants", "JPY", "invalid_amount"),
    # --- shape: unknown, missing and mistyped fields -------------------------------------------
    shape_case("unknown_field", "tip", tip=100),
    shape_case(
        "unknown_amount_field",
        "amount.exponent",
        amount={"currency": "THB", "value": 100, "exponent": 2},
    ),
    shape_case(
        "unknown_method_field",
        "payment_method.cvv",
        method={"type": "wallet_code", "code": code("28", "0000"), "cvv": "1"},
    ),
    shape_case("missing_reference", "merchant_reference", merchant_reference=DROP),
    shape_case("missing_amount", "amount", amount=DROP),
    shape_case("missing_currency", "amount.currency", amount={"value": 100}),
    shape_case("missing_value", "amount.value", amount={"currency": "THB"}),
    shape_case("amount_not_object", "amount", amount=12550),
    shape_case("missing_method", "payment_method", payment_method=DROP),
    shape_case("missing_method_type", "payment_method.type", method={"code": code("28", "0000")}),
    shape_case(
        "method_type_card",
        "payment_method.type",
        method={"type": "card", "code": code("28", "0000")},
    ),
    shape_case(
        "code_not_string",
        "payment_method.code",
        method={"type": "wallet_code", "code": 281234567890120000},
    ),
    shape_case("reference_with_space", "merchant_reference", merchant_reference="has space"),
    shape_case("reference_65_chars", "merchant_reference", merchant_reference="R" * 65),
    shape_case("reference_empty", "merchant_reference", merchant_reference=""),
    shape_case("reference_non_ascii", "merchant_reference", merchant_reference="R-é-1"),
    shape_case("reference_number", "merchant_reference", merchant_reference=12345),
    shape_case("store_id_bad", "store_id", store_id="a;b"),
    shape_case("terminal_id_65", "terminal_id", terminal_id="T" * 65),
    shape_case("metadata_not_object", "metadata", metadata=["a"]),
    shape_case("metadata_value_number", "metadata.k", metadata={"k": 1}),
    shape_case("quote_id_number", "quote_id", quote_id=7),
    # --- the body as a whole ---------------------------------------------------------------------
    Bad("json_truncated", 400, "invalid_request", raw=b'{"a":'),
    Bad("json_array", 400, "invalid_request", raw=b"[]"),
    Bad("json_array_of_payment", 400, "invalid_request", raw=b"[" + raw_payment() + b"]"),
    Bad("json_string", 400, "invalid_request", raw=b'"pay"'),
    Bad("json_empty", 400, "invalid_request", raw=b""),
    Bad("json_not_utf8", 400, "invalid_request", raw=b'{"merchant_reference":"\xff"}'),
    Bad(
        "duplicate_keys",
        400,
        "invalid_request",
        raw=raw_payment(again='"merchant_reference":"R-RAW-2"'),
    ),
    raw_value_case("duplicate_nested_keys", '1,"value":125050', "invalid_request", None),
    Bad(
        "content_encoding_not_gzip",
        400,
        "invalid_request",
        raw=raw_payment(),
        headers={"Content-Encoding": "gzip"},
    ),
    Bad("oversize", 413, "request_too_large", raw=raw_payment(reference=OVERSIZE_REFERENCE)),
    Bad(
        "oversize_chunked",
        413,
        "request_too_large",
        raw=raw_payment(reference=OVERSIZE_REFERENCE),
        chunked=True,
    ),
    # --- keys, roles and idempotency -----------------------------------------------------------
    Bad(
        "no_idempotency_key",
        400,
        "idempotency_key_missing",
        body=payment_body(),
        idempotency_key=None,
    ),
    Bad(
        "empty_idempotency_key",
        400,
        "idempotency_key_missing",
        ("Idempotency-Key", None),
        body=payment_body(),
        idempotency_key="",
    ),
    Bad(
        "idempotency_key_256",
        400,
        "idempotency_key_missing",
        "Idempotency-Key",
        body=payment_body(),
        idempotency_key="k" * 256,
    ),
    Bad("no_authorization", 401, "authentication_failed", body=payment_body(), key=None),
    Bad("wrong_key", 401, "authentication_failed", body=payment_body(), key="gw_pos_wrong"),
    Bad(
        "basic_auth",
        401,
        "authentication_failed",
        body=payment_body(),
        key=None,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
    ),
    Bad(
        "no_authorization_nor_idempotency_key",
        401,
        "authentication_failed",
        body=payment_body(),
        key=None,
        idempotency_key=None,
    ),
    Bad("finance_key_pays", 403, "forbidden", body=payment_body(), key="th_finance"),
    # --- wallet codes (never echoed back) ------------------------------------------------------
    code_case("code_no_wallet", code("99", "0000")),
    code_case("code_too_short", code("28", "0000", length=12)),
    code_case("code_too_long", code("28", "0000", length=25)),
    code_case("code_with_letters", "28123456ABCD120000"),
    code_case("code_with_spaces", "2812 3456 7890 1200"),
    code_case("code_arabic_digits", "٢٨١٢٣٤٥٦٧٨٩٠١٢٠٠٠٠"),
    code_case("code_empty", ""),
    # --- routing and partners ------------------------------------------------------------------
    Bad(
        "no_route",
        422,
        "no_route",
        ("payment_method.code", None),
        key="jp_pos",
        body=payment_body(amount={"currency": "JPY", "value": 100}, wallet_code=code("66", "0000")),
    ),
    Bad(
        "partner_refuses_0503",
        503,
        "partner_unavailable",
        body=payment_body(wallet_code=code("28", "0503")),
        retry_after=True,
    ),
    # --- quotes on a payment -------------------------------------------------------------------
    Bad("quote_unknown", 404, "not_found", "quote_id", body=payment_body(quote_id="qt_nope")),
    Bad(
        "quote_expired",
        409,
        "quote_expired",
        "quote_id",
        body=payment_body(quote_id=known("th_expired_quote")),
    ),
    Bad(
        "quote_other_amount",
        409,
        "quote_mismatch",
        "quote_id",
        body=payment_body(amount=thb(125051), quote_id=known("th_quote")),
    ),
    Bad(
        "quote_other_wallet",
        409,
        "quote_mismatch",
        "quote_id",
        body=payment_body(wallet_code=code("81", "0000"), quote_id=known("th_quote")),
    ),
    Bad(
        "quote_other_merchants",
        404,
        "not_found",
        "quote_id",
        body=payment_body(quote_id=known("jp_quote")),
    ),
    # --- POST /v1/fx/quotes ----------------------------------------------------------------------
    quote_case(
        "quote_wallet_unknown", 400, "invalid_request", "wallet", body=quote_body(wallet="venmo")
    ),
    quote_case(
        "quote_wallet_same_currency",
        400,
        "invalid_request",
        "wallet",
        body=quote_body(wallet="truemoney"),
    ),
    quote_case("quote_wallet_number", 400, "invalid_request", "wallet", body=quote_body(wallet=28)),
    quote_case(
        "quote_wallet_missing", 400, "invalid_request", "wallet", body=quote_body(wallet=DROP)
    ),
    quote_case(
        "quote_unknown_field",
        400,
        "invalid_request",
        "payer_currency",
        body=quote_body(payer_currency="CNY"),
    ),
    quote_case(
        "quote_value_float",
        400,
        "invalid_amount",
        "amount.value",
        body=quote_body(amount=thb(1250.5)),
    ),
    quote_case(
        "quote_currency_lower",
        400,
        "unsupported_currency",
        "amount.currency",
        body=quote_body(amount={"currency": "thb", "value": 100}),
    ),
    quote_case(
        "quote_currency_not_merchants",
        400,
        "invalid_amount",
        "amount.currency",
        body=quote_body(amount={"currency": "USD", "value": 100}),
    ),
    quote_case(
        "quote_payer_below_1", 400, "invalid_amount", "amount.value", body=quote_body(amount=thb(1))
    ),
    quote_case("quote_bad_json", 400, "invalid_request", raw=b'{"amount":'),
    quote_case("quote_finance_key", 403, "forbidden", body=quote_body(), key="th_finance"),
    quote_case(
        "quote_no_idempotency_key",
        400,
        "idempotency_key_missing",
        body=quote_body(),
        idempotency_key=None,
    ),
    quote_case(
        "quote_no_route",
        422,
        "no_route",
        ("wallet", None),
        key="jp_pos",
        body=quote_body(amount={"currency": "JPY", "value": 100}, wallet="truemoney"),
    ),
    # --- reads -----------------------------------------------------------------------------------
    read_case("get_other_merchants_payment", lambda s: f"/v1/payments/{s.ids['jp_payment']}"),
    read_case(
        "get_other_merchants_payment_finance",
        lambda s: f"/v1/payments/{s.ids['jp_payment']}",
        key="th_finance",
    ),
    read_case("get_unknown_payment", "/v1/payments/pay_doesnotexist"),
    read_case("get_payment_no_key", lambda s: f"/v1/payments/{s.ids['jp_payment']}", 401, key=None),
    read_case("get_other_merchants_quote", lambda s: f"/v1/fx/quotes/{s.ids['jp_quote']}"),
    read_case("get_unknown_quote", "/v1/fx/quotes/qt_nope"),
    read_case(
        "list_unknown_parameter",
        "/v1/payments?status=succeeded",
        400,
        error="invalid_request",
        param="status",
    ),
    read_case(
        "list_limit_zero", "/v1/payments?limit=0", 400, error="invalid_request", param="limit"
    ),
    read_case(
        "list_limit_101", "/v1/payments?limit=101", 400, error="invalid_request", param="limit"
    ),
    read_case("unknown_path", "/v1/nothing"),
    Bad("method_not_allowed", 405, "invalid_request", method="PUT", body=payment_body()),
]


def _params() -> list[Any]:
    return [pytest.param(case, id=case.name, marks=case.marks) for case in CASES]


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


async def send(shared: Shared, case: Bad) -> tuple[Answer, list[str]]:
    """Send the case; also return the wallet codes it carried (never to be echoed)."""
    path = case.path(shared) if callable(case.path) else case.path
    body = case.body(shared) if callable(case.body) else case.body
    headers = dict(case.headers)
    data: Any = None
    if case.raw is not None:
        headers["Content-Type"] = "application/json"
        data = _chunks(case.raw) if case.chunked else case.raw
        carried = re.findall(r"\d{12,24}", case.raw.decode("utf-8", "replace"))
    else:
        method = body.get("payment_method") if isinstance(body, dict) else None
        wallet_code = method.get("code") if isinstance(method, dict) else None
        carried = [wallet_code] if isinstance(wallet_code, str) and len(wallet_code) > 8 else []
    idempotency_key = secrets.token_hex(12) if case.idempotency_key == "fresh" else None
    if case.idempotency_key not in (None, "fresh"):
        idempotency_key = case.idempotency_key
    answer = await shared.gateway.request(
        case.method,
        path,
        key=case.key,
        json=body if case.raw is None and body is not None else None,
        data=data,
        idempotency_key=idempotency_key,
        headers=headers,
    )
    return answer, carried


def assert_documented_error(answer: Answer, case: Bad) -> None:
    assert answer.status == case.status, answer.body
    assert answer.headers.get("Content-Type", "").startswith("application/json"), answer.headers
    assert answer.headers.get("Request-Id", "").startswith("req_"), answer.headers
    assert isinstance(answer.body, dict) and set(answer.body) == {"error"}, answer.body
    error = answer.body["error"]
    assert error["code"] == case.error, error
    assert isinstance(error["message"], str) and error["message"], error
    expected = case.param if isinstance(case.param, tuple) else (case.param,)
    assert error.get("param") in expected, error
    if None not in expected:
        assert "param" in error
    if case.retry_after:
        assert int(answer.headers["Retry-After"]) > 0


@pytest.mark.parametrize("case", _params())
async def test_bad_input_gets_its_error_and_writes_nothing(shared: Shared, case: Bad) -> None:
    gateway = shared.gateway
    before = await row_counts(shared.db)
    jp_ledger = ledger_size(gateway, "jp-sakurapay")

    answer, carried = await send(shared, case)

    assert_documented_error(answer, case)
    shown = json.dumps(answer.body) + json.dumps(answer.headers)
    for wallet_code in carried:
        assert wallet_code not in shown, "the raw wallet code was echoed"
    # Nothing written: no table changed, the TH partner was never charged (nor even asked to
    # record a payment), and the JP partner saw nothing new.
    after = await row_counts(shared.db)
    assert after == before
    assert gateway.ledger().entries == []
    assert gateway.ledger().payments == {}
    assert ledger_size(gateway, "jp-sakurapay") == jp_ledger


# --- an Idempotency-Key is not used up by an answer that changed nothing -------------------------


async def test_validation_errors_do_not_burn_the_idempotency_key(dirty: Gateway) -> None:
    key = secrets.token_hex(12)
    reference = f"R-{secrets.token_hex(6)}"
    wallet_code = code("28", "0000")
    refused = [
        await dirty.pay(wallet_code, 12, idempotency_key=key, reference=reference, tip=1),
        await dirty.pay(wallet_code, 0, idempotency_key=key, reference=reference),
        await dirty.pay(wallet_code, 100, "thb", idempotency_key=key, reference=reference),
        await dirty.pay(code("99", "0000"), idempotency_key=key, reference=reference),
        await dirty.pay(wallet_code, idempotency_key=key, reference=reference, quote_id="qt_no"),
        await dirty.pay(wallet_code, 100, "JPY", idempotency_key=key, reference=reference),
        await dirty.pay(wallet_code, idempotency_key=key, reference=reference, key="th_finance"),
        await dirty.pay(wallet_code, idempotency_key=key, reference=reference, key="gw_no"),
        await dirty.pay(code("28", "0503"), idempotency_key=key, reference=reference),
    ]
    assert [a.error for a in refused] == [
        "invalid_request",
        "invalid_amount",
        "unsupported_currency",
        "invalid_payment_code",
        "not_found",
        "invalid_amount",
        "forbidden",
        "authentication_failed",
        "partner_unavailable",
    ]
    good = await dirty.pay(wallet_code, 125050, idempotency_key=key, reference=reference)
    assert good.status == 201 and good.body["status"] == "succeeded", good.body
    assert "Idempotent-Replayed" not in good.headers
    again = await dirty.pay(wallet_code, 125050, idempotency_key=key, reference=reference)
    assert again.status == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.body == good.body

    quote_key = secrets.token_hex(12)
    bad_quote = await dirty.request(
        "POST", QUOTE_PATH, json=quote_body(wallet="venmo"), idempotency_key=quote_key
    )
    assert bad_quote.status == 400 and bad_quote.error == "invalid_request"
    good_quote = await dirty.request(
        "POST", QUOTE_PATH, json=quote_body(), idempotency_key=quote_key
    )
    assert good_quote.status == 201, good_quote.body


# --- a quote_id is checked even when no FX is needed -------------------------------------------


async def test_quote_id_is_checked_for_a_same_currency_wallet(dirty: Gateway) -> None:
    """No quote fits a same-currency wallet: an unknown one is 404, an FX one a mismatch.

    At commit 63850e2 `_price` returned before looking at quote_id, and both gave 201.
    """
    quote_id = await _quote(dirty, 9900, "THB", "th_pos")  # an alipay_cn quote
    unknown = await dirty.pay(code("66", "0000"), 9900, quote_id="qt_doesnotexist")
    other_wallet = await dirty.pay(code("66", "0000"), 9900, quote_id=quote_id)
    answers = [(a.status, a.error) for a in (unknown, other_wallet)]
    assert answers == [(404, "not_found"), (409, "quote_mismatch")], [
        unknown.body,
        other_wallet.body,
    ]


# --- partner limits ----------------------------------------------------------------------------


async def test_amount_outside_every_partners_limits_is_no_route(dirty: Gateway) -> None:
    charged_before = len(dirty.ledger().entries)
    # 1.00 THB is about 0.19 CNY = 19 fen, below th-siampay's minimum of 100 fen.
    quote = await dirty.request(
        "POST", QUOTE_PATH, json=quote_body(amount=thb(100)), idempotency_key=secrets.token_hex(8)
    )
    small = await dirty.pay(code("28", "0000"), 100)
    # 300,000 THB is about 56,600 CNY, above th-siampay's maximum of 50,000 CNY.
    large = await dirty.pay(code("28", "0000"), 30_000_000)
    answers = [(a.status, a.error) for a in (quote, small, large)]
    assert answers == [(422, "no_route")] * 3, [quote.body, small.body, large.body]
    assert len(dirty.ledger().entries) == charged_before


# --- a row stored before parsing refused such text still reads -------------------------------


async def test_a_stored_unpaired_surrogate_still_reads(dirty: Gateway) -> None:
    """At e0798dc a payment whose metadata held `"\\udfff"` was stored (JSON-escaped), and every
    GET of it or of a list page holding it answered 500: its view could not be encoded."""
    paid = await dirty.pay(code("28", "0000"), metadata={"note": "ok"})
    assert paid.status == 201, paid.body
    db = open_database(dirty.settings.database.url)
    try:
        async with db.writer.begin() as conn:
            await conn.execute(
                sa.update(repo.payments)
                .where(repo.payments.c.id == paid.body["id"])
                .values(metadata_json='{"note": "\\udfff"}')
            )
    finally:
        await db.dispose()
    one = await dirty.request("GET", f"/v1/payments/{paid.body['id']}")
    page = await dirty.request("GET", "/v1/payments?limit=100")
    assert (one.status, page.status) == (200, 200), (one.body, page.body)
    assert one.body["metadata"] == {"note": "\udfff"}
    assert paid.body["id"] in [p["id"] for p in page.body["data"]]


async def test_refund_reason_null_is_refused_and_bearer_is_case_insensitive(
    dirty: Gateway,
) -> None:
    """`reason` is typed string: `null` is not "no reason" (it was a 201). The auth scheme's
    case does not matter (RFC 9110), so `bearer <key>` authenticates."""
    paid = await dirty.pay(code("28", "0000"))
    assert paid.status == 201, paid.body
    refund = await dirty.request(
        "POST",
        f"/v1/payments/{paid.body['id']}/refunds",
        json={"amount": thb(100), "reason": None},
        idempotency_key=secrets.token_hex(8),
    )
    assert (refund.status, refund.error) == (400, "invalid_request"), refund.body
    assert refund.body["error"]["param"] == "reason"
    lower = await dirty.request(
        "GET", "/v1/payments", key=None, headers={"Authorization": f"bearer {dirty.keys['th_pos']}"}
    )
    assert lower.status == 200, lower.body
