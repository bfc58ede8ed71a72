"""Hostile input costs nothing (issue #12, "No input can cost money").

A table-driven test of the hostile cases a black-box probe found, for every endpoint, path
segment, query parameter, header and string field, on both databases:

- text that is not valid Unicode: unpaired surrogate escapes (`"\\udfff"`, valid JSON) in every
  string field and every object key (metadata keys too), and bytes that are not UTF-8;
- NUL: `"\\u0000"` in the body, `%00` in path segments and query values;
- non-ASCII digits (`١`, `²`, `１`) where an integer or a date is read from the query;
- oversized numbers: thousands of digits, exponents like `1e999999` and wider than Decimal's;
- JSON nested deeper than 32 levels (2000 levels, and 30000 unclosed ones) inside any field;
- odd headers: `Authorization` that is not ASCII or not UTF-8, `Idempotency-Key` with non-ASCII
  or control characters, `Gateway-Signature` whose `t=` has hundreds of digits or non-ASCII ones;
- a body whose `Content-Type` is not JSON in UTF-8 (`415`), and methods a route does not have
  (`405` with `Allow`).

Every case must get a 4xx with the documented error object (API.md, Errors), never a 5xx: the
error's `param` names the body field (dotted path) or the query parameter at fault; for a path
segment it is the path parameter's name (or absent, with `404 not_found`); for a header it is
the header's name or absent; for an object key it is the object holding the key (or absent: the
key itself is what cannot be shown). The answer is itself UTF-8 JSON whose text is valid
Unicode (a client's strict JSON reader must not choke on an echoed surrogate) and shows no
internal object. Nothing is written to any table (every row of every table is compared),
no partner sandbox's ledger moves, and nothing is logged at ERROR (no traceback).

Requests are written byte by byte on a plain socket, so the test controls exactly what reaches
the server (an HTTP client would re-encode paths and refuse odd header bytes). The bodies are
valid requests except for the hostile part: a server that let the hostile part through would
charge a tourist, which the ledgers catch. One gateway per database serves every case.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import sqlalchemy as sa
from multidict import CIMultiDict
from yarl import URL

from gateway.core.config import resolve_secrets_key
from gateway.core.secrets import SecretBox
from gateway.events.model import EventType
from gateway.events.signing import SIGNATURE_HEADER, sign_request
from gateway.merchants import admin
from gateway.sandboxes import RunningSandboxes, sandbox_environment, start_sandboxes
from gateway.storage.db import Database, open_database
from gateway.storage.tables import metadata
from tests.conftest import DATABASES, own_database
from tests.e2e._receiver import insert_events
from tests.e2e.conftest import Gateway, code, start_gateway_app, with_partner_urls
from tests.e2e.conftest import test_settings as load_test_settings
from tests.support.seeding import SHOPS, seed
from tests.support.waiting import eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

TIMEOUT = 10.0  # seconds for one answer; a hostile input must not hang the server either


# --- the gateway -------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database of the module's own: every row of every table is compared, and no other
    module's unfinished work may be resumed by this gateway meanwhile."""
    yield from own_database(request)


class ErrorLog(logging.Handler):
    """Records logged at ERROR or above, or with a traceback, while a case runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass
class Shared:
    """The gateway, a database handle, the ids cases point at, and the error log."""

    gateway: Gateway
    db: Database
    ids: dict[str, str]
    signing_secret: str
    errors: ErrorLog

    @property
    def address(self) -> tuple[str, int]:
        url = URL(self.gateway.url)
        assert url.host is not None and url.port is not None
        return url.host, url.port


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(module_database_url: str) -> AsyncIterator[Shared]:
    settings = load_test_settings(module_database_url)
    env = dict(os.environ)
    env.update(sandbox_environment(settings, env))
    running: RunningSandboxes = await start_sandboxes(
        settings, env, ports={p.id: 0 for p in settings.partners if p.sandbox.enabled}
    )
    settings = with_partner_urls(settings, running.urls)
    seeded = await seed(module_database_url, SHOPS)
    keys, merchants = seeded.keys, seeded.merchants
    db = open_database(module_database_url)
    # The Philippine merchant signs its requests (for the Gateway-Signature cases); the others
    # do not. Set before the gateway starts, so no key cache holds the old setting.
    signing_secret = await admin.enable_signing(
        db, SecretBox(resolve_secrets_key(settings, env)), merchant_id=merchants["ph"]
    )
    assert signing_secret is not None
    runner, url = await start_gateway_app(settings, env)
    session = aiohttp.ClientSession()
    gateway = Gateway(url, settings, env, session, running, keys, merchants)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    try:
        shared = Shared(gateway, db, await _objects(gateway), signing_secret, errors)
        await _quiet(shared)
        yield shared
    finally:
        logging.getLogger().removeHandler(errors)
        await session.close()
        await runner.cleanup()
        await running.stop()
        await db.dispose()


async def _objects(gateway: Gateway) -> dict[str, str]:
    """The Thai merchant's succeeded payment, quote and event, for paths and bodies to name:
    a hostile refund, cancel or redeliver that got through would act on a real object."""
    paid = await gateway.pay(code("28", "0000"), 125050)
    assert paid.status == 201 and paid.body["status"] == "succeeded", paid.body
    quote = await gateway.request(
        "POST",
        "/v1/fx/quotes",
        json={"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"},
        idempotency_key=secrets.token_hex(8),
    )
    assert quote.status == 201, quote.body
    events = await gateway.request("GET", "/v1/events", key="th_finance")
    assert events.status == 200, events.body
    if events.body["data"]:
        event_id = str(events.body["data"][0]["id"])
    else:
        (event_id,) = await insert_events(
            gateway.settings.database.url, gateway.merchants["th"], 1, EventType.PAYMENT_SUCCEEDED
        )
    return {
        "payment_id": str(paid.body["id"]),
        "quote_id": str(quote.body["id"]),
        "event_id": event_id,
        "refund_id": "rf_0000000000000000",
        "batch_id": "stl_0000000000000000",
        "reconciliation_id": "rec_0000000000000000",
    }


async def _quiet(shared: Shared) -> None:
    """Wait until the background work of the set-up (events, resolution) has settled: the
    database unchanged over 0.3 s."""
    last = [await snapshot(shared.db)]

    async def settled() -> bool:
        now = await snapshot(shared.db)
        same, last[0] = now == last[0], now
        return same

    await asyncio.sleep(0.3)
    await eventually(
        settled, timeout=10, interval=0.3, failure="the database kept changing after the set-up"
    )


Rows = dict[str, list[tuple[Any, ...]]]


async def snapshot(db: Database) -> Rows:
    """Every row of every table (row order does not matter)."""
    rows: Rows = {}
    async with db.reader.connect() as conn:
        for table in metadata.sorted_tables:
            result = await conn.execute(sa.select(table))
            rows[table.name] = sorted((tuple(r) for r in result), key=repr)
    return rows


def ledgers(gateway: Gateway) -> dict[str, tuple[int, int, int]]:
    """What each partner sandbox has recorded: money movements, payments, refunds."""
    sizes = {}
    for partner in sorted(gateway.sandboxes.apps):
        ledger = gateway.ledger(partner)
        sizes[partner] = (len(ledger.entries), len(ledger.payments), len(ledger.refunds))
    return sizes


# --- raw HTTP ----------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    def show(self) -> str:
        text = self.body[:400].decode("utf-8", "backslashreplace")
        return f"{self.status} {text}"


async def exchange(host: str, port: int, request: bytes) -> Reply:
    """Send one request as written, read the answer up to the close."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        data = await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body, rest = body + rest[:size], rest[size + 2 :]
    elif "Content-Length" in headers:
        body = rest[: int(headers["Content-Length"])]
    else:
        body = rest
    return Reply(int(lines[0].split()[1]), headers, body)


# --- bodies with hostile parts -----------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text written as is: what json.dumps cannot write (or would escape)."""

    text: bytes


def render(value: Any) -> bytes:
    """JSON bytes of `value`, where a `Raw` (as a value or as a key) is written verbatim."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = (render(k) + b":" + render(v) for k, v in value.items())
        return b"{" + b",".join(items) + b"}"
    if isinstance(value, list):
        return b"[" + b",".join(render(v) for v in value) + b"]"
    return json.dumps(value).encode()


def put(body: dict[Any, Any], path: str, value: Any) -> None:
    """Set the field at a dotted path (`metadata.k`), making the objects on the way."""
    *parents, last = path.split(".")
    for name in parents:
        body = body.setdefault(name, {})
    body[last] = value


def holder(body: dict[Any, Any], path: str) -> dict[Any, Any]:
    """The object at a dotted path ("" is the body)."""
    for name in filter(None, path.split(".")):
        body = body[name]
    return body


@dataclass(frozen=True)
class Endpoint:
    """A POST and the fields of its body: a valid body (it would charge, refund, cancel...)
    into which each case puts one hostile part."""

    name: str
    path: str
    base: Callable[[], dict[Any, Any]]
    strings: tuple[str, ...]
    """String fields (dotted paths); for `{}` bodies an unknown field `x`."""
    numbers: tuple[str, ...] = ()
    objects: tuple[str, ...] = ("",)
    """Objects whose keys a case may add ("" is the body itself)."""
    key: str = "th_pos"


def _payment() -> dict[Any, Any]:
    return {
        "merchant_reference": f"R-{secrets.token_hex(6)}",
        "amount": {"currency": "THB", "value": 125050},
        "payment_method": {"type": "wallet_code", "code": code("28", "0000")},
        "store_id": "S-1",
        "terminal_id": "T-1",
        "metadata": {"k": "v"},
    }


def _quote() -> dict[Any, Any]:
    return {"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"}


def _refund() -> dict[Any, Any]:
    return {"amount": {"currency": "THB", "value": 1000}, "reason": "hostile input test"}


def _empty() -> dict[Any, Any]:
    return {}


POSTS = (
    Endpoint(
        "payments",
        "/v1/payments",
        _payment,
        strings=(
            "merchant_reference",
            "amount.currency",
            "payment_method.type",
            "payment_method.code",
            "quote_id",
            "store_id",
            "terminal_id",
            "metadata.k",
        ),
        numbers=("amount.value",),
        objects=("", "amount", "payment_method", "metadata"),
    ),
    Endpoint(
        "quotes",
        "/v1/fx/quotes",
        _quote,
        strings=("amount.currency", "wallet"),
        numbers=("amount.value",),
        objects=("", "amount"),
    ),
    Endpoint(
        "refunds",
        "/v1/payments/{payment_id}/refunds",
        _refund,
        strings=("amount.currency", "reason"),
        numbers=("amount.value",),
        objects=("", "amount"),
    ),
    Endpoint("cancel", "/v1/payments/{payment_id}/cancel", _empty, strings=("x",)),
    Endpoint("redeliver", "/v1/events/{event_id}/redeliver", _empty, strings=("x",)),
)

# Escapes that json.loads accepts and that are not valid Unicode, or hold NUL.
TEXTS: dict[str, bytes] = {
    "surrogate_low": b'"\\udfff"',
    "surrogate_high": b'"\\ud800"',
    "surrogates_reversed": b'"\\ude00\\ud83d"',
    "surrogate_at_end": b'"R-1\\ud83d"',
    "nul": b'"\\u0000"',
    "nul_inside": b'"R-1\\u0000x"',
}
# Bytes that are not UTF-8 inside a JSON string (the body as a whole is not UTF-8).
NOT_UTF8: dict[str, bytes] = {
    "bytes_ff": b'"R-\xff"',
    "bytes_encoded_surrogate": b'"R-\xed\xbf\xbf"',
    "bytes_overlong_nul": b'"R-\xc0\x80"',
}
NUMBERS: dict[str, bytes] = {
    "digits_400": b"9" * 400,
    "digits_4301": b"9" * 4301,  # past int()'s default limit of 4300 digits
    "digits_60000": b"9" * 60000,  # the body stays under 64 KiB
    "negative_digits_5000": b"-" + b"9" * 5000,
    "exponent_999999": b"1e999999",
    "exponent_negative_999999": b"1e-999999",
    "exponent_of_22_digits": b"1E+9999999999999999999999",  # beyond Decimal's exponents
    "negative_exponent_of_22_digits": b"1e-9999999999999999999999",
    "fraction_of_5000_digits": b"0." + b"0" * 5000 + b"1",
    "integral_fraction_of_5000_zeros": b"1." + b"0" * 5000,
}
NUMBERS_IN_STRINGS = (
    "digits_4301",
    "exponent_999999",
    "exponent_of_22_digits",
    "negative_exponent_of_22_digits",
)
NESTING: dict[str, bytes] = {
    "arrays_33": b"[" * 33 + b"]" * 33,
    "arrays_2000": b"[" * 2000 + b"]" * 2000,
    "objects_2000": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "unclosed_30000": b"[" * 30000,
}


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """One acceptable answer: status, error code(s), and `error.param` (None: absent)."""

    status: int
    codes: tuple[str, ...]
    params: tuple[str | None, ...] = (None,)
    param_under: str | None = None
    """Any param below this dotted path is acceptable too (deep nesting)."""
    allow: frozenset[str] | None = None
    """The `Allow` header of a 405: exactly these methods."""


Body = Callable[[], bytes]


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    target: str
    """The request-target as sent (percent-encoded); `{payment_id}` etc. name fixture objects."""
    expect: tuple[Expect, ...]
    """Any of these answers passes."""
    key: str | None = "th_pos"
    body: Body | None = None
    content_type: bytes | None = b"application/json"
    idempotency_key: bytes | None = None
    """None: a fresh valid key on a POST."""
    headers: tuple[tuple[str, bytes], ...] = ()
    """Extra header lines; in a value `{th_pos}` (any key's name) is that key's secret and
    `{now}` the unix time."""
    documented: bool = True
    """False: the HTTP parser refuses it before the gateway (a 400 without our error object)."""


INVALID = "invalid_request"
# A field given a value of the wrong type (a number or an array for a string): API.md's
# `invalid_request` ("wrong type"), except where another code is the field's own.
TYPE_ERRORS: dict[str, tuple[str, ...]] = {"amount.value": ("invalid_amount",)}


def _body(endpoint: Endpoint, change: Callable[[dict[Any, Any]], Any]) -> Body:
    def build() -> bytes:
        body = endpoint.base()
        replaced = change(body)
        return render(body if replaced is None else replaced)

    return build


def _put(path: str, value: bytes) -> Callable[[dict[Any, Any]], None]:
    return lambda body: put(body, path, Raw(value))


def _whole(value: bytes) -> Callable[[dict[Any, Any]], Raw]:
    """The body replaced as a whole."""
    return lambda _body: Raw(value)


def _add_key(path: str, key: bytes) -> Callable[[dict[Any, Any]], None]:
    def change(body: dict[Any, Any]) -> None:
        holder(body, path)[Raw(key)] = "v"

    return change


def _body_cases() -> Iterator[Case]:
    for ep in POSTS:

        def case(name: str, body: Body, *expect: Expect, _ep: Endpoint = ep) -> Case:
            return Case(f"body-{_ep.name}-{name}", "POST", _ep.path, expect, _ep.key, body)

        for path in ep.strings:
            for value_name, value in TEXTS.items():
                expect = Expect(400, (INVALID,), (path,))
                yield case(f"{path}-{value_name}", _body(ep, _put(path, value)), expect)
            for value_name, value in NOT_UTF8.items():
                expect = Expect(400, (INVALID,), (path, None))
                yield case(f"{path}-{value_name}", _body(ep, _put(path, value)), expect)
            for value_name in NUMBERS_IN_STRINGS:
                body = _body(ep, _put(path, NUMBERS[value_name]))
                expect = Expect(400, TYPE_ERRORS.get(path, (INVALID,)), (path,))
                yield case(f"{path}-{value_name}", body, expect)
        for path in ep.numbers:
            for value_name, value in NUMBERS.items():
                expect = Expect(400, ("invalid_amount", INVALID), (path,))
                yield case(f"{path}-{value_name}", _body(ep, _put(path, value)), expect)
        for path in ep.objects:
            where = path or "body"
            for value_name, value in TEXTS.items():
                expect = Expect(400, (INVALID,), (path or None, None))
                body = _body(ep, _add_key(path, value))
                yield case(f"{where}-key-{value_name}", body, expect)
        for path in (*ep.strings, *ep.numbers, *ep.objects):
            if path:
                # Nested to level 32 exactly (the body is level 1): not too deep, so the answer
                # is the field's own type error, naming the field itself.
                depth = 32 - len(path.split("."))
                body = _body(ep, _put(path, b"[" * depth + b"]" * depth))
                expect = Expect(400, TYPE_ERRORS.get(path, (INVALID,)), (path,))
                yield case(f"{path}-nested-arrays_to_level_32", body, expect)
            for value_name, value in NESTING.items():
                if path:
                    expect = Expect(400, (INVALID,), (path, None), param_under=path)
                    body = _body(ep, _put(path, value))
                else:
                    expect = Expect(400, (INVALID,))
                    body = _body(ep, _whole(value))
                yield case(f"{path or 'body'}-nested-{value_name}", body, expect)
        # The valid body in UTF-16 (declared as plain application/json): NULs between the
        # characters, outside any string.
        utf16 = _body(ep, lambda b: Raw(render(b).decode().encode("utf-16-le")))
        yield case("body-in-utf16", utf16, Expect(400, (INVALID,)))


def _segment_expect(name: str) -> tuple[Expect, ...]:
    """A path segment that can name no object: invalid_request naming the path parameter, or
    not_found (with or without that name)."""
    return (Expect(400, (INVALID,), (name,)), Expect(404, ("not_found",), (None, name)))


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    key: str
    body: Callable[[], dict[Any, Any]] | None = None

    @property
    def name(self) -> str:
        return f"{self.method}-{self.path}"

    @property
    def parameter(self) -> str | None:
        start = self.path.rfind("{")
        return self.path[start + 1 : self.path.index("}", start)] if start >= 0 else None


ROUTES = (
    Route("POST", "/v1/fx/quotes", "th_pos", _quote),
    Route("GET", "/v1/fx/quotes/{quote_id}", "th_pos"),
    Route("POST", "/v1/payments", "th_pos", _payment),
    Route("GET", "/v1/payments", "th_pos"),
    Route("GET", "/v1/payments/{payment_id}", "th_pos"),
    Route("POST", "/v1/payments/{payment_id}/cancel", "th_pos", _empty),
    Route("POST", "/v1/payments/{payment_id}/refunds", "th_pos", _refund),
    Route("GET", "/v1/payments/{payment_id}/refunds", "th_finance"),
    Route("GET", "/v1/refunds/{refund_id}", "th_finance"),
    Route("GET", "/v1/events", "th_finance"),
    Route("GET", "/v1/events/{event_id}", "th_finance"),
    Route("POST", "/v1/events/{event_id}/redeliver", "th_pos", _empty),
    Route("GET", "/v1/settlements", "th_finance"),
    Route("GET", "/v1/settlements/{batch_id}", "th_finance"),
    Route("GET", "/v1/settlements/{batch_id}/file", "th_finance"),
    Route("GET", "/v1/reconciliations", "operator"),
    Route("GET", "/v1/reconciliations/{reconciliation_id}", "operator"),
    Route("GET", "/v1/reconciliations/{reconciliation_id}/report", "operator"),
)


def _route_body(route: Route, extra: bool = False) -> Body | None:
    """The route's valid body; `extra`: with an unknown field `x` (so nothing can happen)."""
    base = route.body
    if base is None:
        return None

    def build() -> bytes:
        body = base()
        if extra:
            body["x"] = 1
        return render(body)

    return build


SEGMENTS: dict[str, str] = {
    "nul": "%00",
    "nul_inside": "x_%00y",
    "bytes_ff": "%FF",
    "bytes_encoded_surrogate": "%ED%BF%BF",
    "bytes_overlong_nul": "%C0%80",
}


def _path_cases() -> Iterator[Case]:
    for route in ROUTES:
        parameter = route.parameter
        if parameter is None:
            continue
        for value_name, value in SEGMENTS.items():
            target = route.path.replace("{" + parameter + "}", value)
            yield Case(
                f"path-{route.name}-{value_name}",
                route.method,
                target,
                _segment_expect(parameter),
                route.key,
                _route_body(route),
            )
    unrouted = (Expect(404, ("not_found",)), Expect(400, (INVALID,)))
    for target in ("/v1/payments%00", "/v1/%00", "/healthz%00", "/%00/v1/payments"):
        yield Case(f"path-unrouted-{target}", "GET", target, unrouted)


LISTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "/v1/payments": ("th_pos", ("merchant_reference", "limit", "starting_after")),
    "/v1/events": ("th_finance", ("type", "limit", "starting_after")),
    "/v1/settlements": (
        "th_finance",
        ("business_date", "status", "type", "limit", "starting_after"),
    ),
    "/v1/reconciliations": ("operator", ("partner", "business_date", "limit", "starting_after")),
}
QUERY_TEXTS: dict[str, str] = {
    "nul": "%00",
    "nul_inside": "a%00b",
    "bytes_ff": "%FF",
    "bytes_encoded_surrogate": "%ED%BF%BF",
    "bytes_overlong_nul": "%C0%80",
}
QUERY_INTEGERS: dict[str, str] = {
    "arabic_indic_1": "%D9%A1",  # ١
    "arabic_indic_30": "%D9%A3%D9%A0",  # ٣٠
    "superscript_2": "%C2%B2",  # ²
    "fullwidth_1": "%EF%BC%91",  # １
    "fullwidth_10": "%EF%BC%91%EF%BC%90",  # １０
    "devanagari_5": "%E0%A5%AB",  # ५
    "digits_400": "9" * 400,
    "digits_5000": "9" * 5000,
}
QUERY_DATES: dict[str, str] = {
    "arabic_indic_digits": "%D9%A2%D9%A0%D9%A2%D9%A6-11-26",  # ٢٠٢٦-11-26
    "fullwidth_digits": "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-11-26",  # ２０２６-11-26
    "year_of_5000_digits": "9" * 5000 + "-11-26",
}


def _query_cases() -> Iterator[Case]:
    for path, (key, parameters) in LISTS.items():
        for parameter in parameters:
            values = dict(QUERY_TEXTS)
            if parameter == "limit":
                values.update(QUERY_INTEGERS)
            if parameter == "business_date":
                values.update(QUERY_DATES)
            for value_name, value in values.items():
                yield Case(
                    f"query-{path}-{parameter}-{value_name}",
                    "GET",
                    f"{path}?{parameter}={value}",
                    (Expect(400, (INVALID,), (parameter,)),),
                    key,
                )
        yield Case(
            f"query-{path}-limit-twice",
            "GET",
            f"{path}?limit=1&limit=abc",
            (Expect(400, (INVALID,), ("limit",)),),
            key,
        )
        for value_name, value in (("nul", "%00"), ("bytes_ff", "%FF")):
            yield Case(
                f"query-{path}-name-{value_name}",
                "GET",
                f"{path}?{value}=1",
                (Expect(400, (INVALID,)),),
                key,
            )


AUTHORIZATIONS: dict[str, bytes] = {
    "bytes_ff_fe": b"Bearer \xff\xfe",
    "cyrillic": "Bearer ключ".encode(),
    "bytes_encoded_surrogate": b"Bearer \xed\xbf\xbf",
    "valid_key_then_ff": b"Bearer {{key}}\xff",  # the route's own key, then a byte
    "no_scheme_bytes": b"\xff\xfe",
}
IDEMPOTENCY_KEYS: dict[str, bytes] = {
    "bytes_ff": b"\xff",
    "cyrillic": "ключ".encode(),
    "tab": b"a\tb",
    "bytes_encoded_surrogate": b"k-\xed\xbf\xbf",
    "latin1_e_acute": b"k-\xe9",
}
HEX64 = b"a" * 64
SIGNATURES: dict[str, bytes] = {
    "t_400_digits": b"t=" + b"9" * 400 + b",v1=" + HEX64,
    "t_1900_digits": b"t=" + b"1" * 1900 + b",v1=" + HEX64,  # under the 2048-byte header cap
    "t_arabic_indic": "t=١٧٠٠٠٠٠٠٠٠,v1=".encode() + HEX64,
    "t_fullwidth": "t=１７００００００００,v1=".encode() + HEX64,
    "t_superscript": "t=¹⁷⁰⁰⁰⁰⁰⁰⁰⁰,v1=".encode() + HEX64,
    "t_bytes_ff": b"t=\xff\xfe,v1=" + HEX64,
    "v1_fullwidth_hex": b"t={now},v1=" + "ａ".encode() * 64,
}
BAD_CONTENT_TYPES: dict[str, bytes] = {
    "text_plain": b"text/plain",
    "text_plain_utf8": b"text/plain; charset=utf-8",
    "xml": b"application/xml",
    "multipart": b"multipart/form-data; boundary=x",
    "form": b"application/x-www-form-urlencoded",
    "octet_stream": b"application/octet-stream",
    "json_utf16": b"application/json; charset=utf-16",
    "json_latin1": b"application/json; charset=iso-8859-1",
    "json_charset_bytes_ff": b"application/json; charset=\xff",
}
GOOD_CONTENT_TYPES: dict[str, bytes] = {
    "json": b"application/json",
    "json_utf8": b"application/json; charset=utf-8",
    "json_utf8_upper": b"application/json;charset=UTF-8",
    "json_mixed_case": b"Application/JSON",
    "json_utf8_quoted": b'application/json; charset="utf-8"',
}


def _header_cases() -> Iterator[Case]:
    for route in ROUTES:
        body = _route_body(route, extra=True)
        for value_name, value in AUTHORIZATIONS.items():
            yield Case(
                f"authorization-{route.name}-{value_name}",
                route.method,
                route.path,
                (Expect(401, ("authentication_failed",), (None, "Authorization")),),
                None,
                body,
                headers=(("Authorization", value.replace(b"{key}", route.key.encode())),),
            )
        for value_name, value in SIGNATURES.items():
            yield Case(
                f"signature-{route.name}-{value_name}",
                route.method,
                route.path,
                (Expect(401, ("authentication_failed",), (None, SIGNATURE_HEADER)),),
                "ph_pos",
                body,
                headers=((SIGNATURE_HEADER, value),),
            )
        yield Case(  # a proxy and the gateway might each read another one
            f"authorization-{route.name}-twice",
            route.method,
            route.path,
            (Expect(401, ("authentication_failed",), ("Authorization",)),),
            route.key,
            body,
            headers=(("Authorization", b"Bearer {%s}" % route.key.encode()),),
        )
        if route.method != "POST":
            continue
        yield Case(
            f"idempotency_key-{route.name}-twice",
            route.method,
            route.path,
            (Expect(400, (INVALID,), ("Idempotency-Key",)),),
            route.key,
            body,
            headers=(("Idempotency-Key", b"second-key"),),
        )
        for value_name, value in IDEMPOTENCY_KEYS.items():
            yield Case(
                f"idempotency_key-{route.name}-{value_name}",
                route.method,
                route.path,
                (Expect(400, ("idempotency_key_missing",), ("Idempotency-Key", None)),),
                route.key,
                body,
                idempotency_key=value,
            )
        for value_name, value in BAD_CONTENT_TYPES.items():
            yield Case(
                f"content_type-{route.name}-{value_name}",
                route.method,
                route.path,
                (Expect(415, ("unsupported_media_type",), (None, "Content-Type")),),
                route.key,
                body,
                content_type=value,
            )
        yield Case(
            f"content_type-{route.name}-absent",
            route.method,
            route.path,
            (Expect(415, ("unsupported_media_type",), (None, "Content-Type")),),
            route.key,
            body,
            content_type=None,
        )
        for value_name, value in GOOD_CONTENT_TYPES.items():
            # Accepted as JSON: the body's unknown field `x` is what is refused.
            yield Case(
                f"content_type-{route.name}-accepted-{value_name}",
                route.method,
                route.path,
                (Expect(400, (INVALID,), ("x",)),),
                route.key,
                body,
                content_type=value,
            )


GET = frozenset({"GET", "HEAD"})
RESOURCES: dict[str, frozenset[str]] = {
    "/healthz": GET,
    "/readyz": GET,
    "/metrics": GET,
    "/openapi.json": GET,
    "/v1/fx/quotes": frozenset({"POST"}),
    "/v1/fx/quotes/{quote_id}": GET,
    "/v1/payments": GET | {"POST"},
    "/v1/payments/{payment_id}": GET,
    "/v1/payments/{payment_id}/cancel": frozenset({"POST"}),
    "/v1/payments/{payment_id}/refunds": GET | {"POST"},
    "/v1/refunds/{refund_id}": GET,
    "/v1/events": GET,
    "/v1/events/{event_id}": GET,
    "/v1/events/{event_id}/redeliver": frozenset({"POST"}),
    "/v1/settlements": GET,
    "/v1/settlements/{batch_id}": GET,
    "/v1/settlements/{batch_id}/file": GET,
    "/v1/reconciliations": GET,
    "/v1/reconciliations/{reconciliation_id}": GET,
    "/v1/reconciliations/{reconciliation_id}/report": GET,
}


def _method_cases() -> Iterator[Case]:
    for path, allowed in RESOURCES.items():
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            if method in allowed:
                continue
            expect = Expect(405, (INVALID, "method_not_allowed"), allow=allowed)
            yield Case(f"method-{method}-{path}", method, path, (expect,))


CASES: list[Case] = [
    *_body_cases(),
    *_path_cases(),
    *_query_cases(),
    *_header_cases(),
    *_method_cases(),
]


# What aiohttp's HTTP parser refuses before any handler or middleware runs: raw bytes in the
# request line, control characters in header values. The gateway cannot shape these answers
# (they are aiohttp's plain-text 400s); they must still write and charge nothing, and the API
# key of a refused Authorization line must not reach the log.
def _payment_body() -> bytes:
    return render(_payment())


def _parser_case(name: str, method: str, target: str, **kw: Any) -> Case:
    return Case(name, method, target, (), documented=False, **kw)


PARSER_CASES: list[Case] = [
    _parser_case("raw_byte_in_path", "GET", "/v1/payments/\udcff"),
    _parser_case("raw_non_ascii_digit_in_query", "GET", "/v1/payments?limit=١"),
    _parser_case(
        "nul_in_authorization",
        "POST",
        "/v1/payments",
        key=None,
        body=_payment_body,
        headers=(("Authorization", b"Bearer {th_pos}\x00"),),
    ),
    _parser_case(
        "control_char_in_idempotency_key",
        "POST",
        "/v1/payments",
        body=_payment_body,
        idempotency_key=b"a\x01b",
    ),
    _parser_case(
        "del_in_idempotency_key",
        "POST",
        "/v1/payments",
        body=_payment_body,
        idempotency_key=b"a\x7fb",
    ),
    _parser_case(
        "nul_in_content_type",
        "POST",
        "/v1/payments",
        body=_payment_body,
        content_type=b"application/json\x00",
    ),
]


# --- sending and checking ----------------------------------------------------------------------


def _fill(text: bytes, shared: Shared) -> bytes:
    for name, secret in shared.gateway.keys.items():
        text = text.replace(b"{" + name.encode() + b"}", secret.encode())
    return text.replace(b"{now}", str(int(time.time())).encode())


def build_request(shared: Shared, case: Case) -> bytes:
    target = case.target
    for name, object_id in shared.ids.items():
        target = target.replace("{" + name + "}", object_id)
    host, port = shared.address
    lines = [
        case.method.encode() + b" " + target.encode("utf-8", "surrogateescape") + b" HTTP/1.1",
        f"Host: {host}:{port}".encode(),
        b"Connection: close",
    ]
    if case.key is not None:
        lines.append(b"Authorization: Bearer " + shared.gateway.keys[case.key].encode())
    if case.method == "POST":
        key = case.idempotency_key
        lines.append(
            b"Idempotency-Key: " + (secrets.token_hex(12).encode() if key is None else key)
        )
    for name, value in case.headers:
        lines.append(name.encode() + b": " + _fill(value, shared))
    body = b"" if case.body is None else case.body()
    if case.body is not None:
        if case.content_type is not None:
            lines.append(b"Content-Type: " + case.content_type)
        lines.append(f"Content-Length: {len(body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _mismatch(reply: Reply, error: dict[str, Any], expect: Expect) -> str | None:
    """Why the answer is not `expect` (None: it is)."""
    if reply.status != expect.status:
        return f"status {reply.status}, expected {expect.status}"
    if error.get("code") not in expect.codes:
        return f"code {error.get('code')!r}, expected one of {expect.codes}"
    param = error.get("param")
    under = expect.param_under
    if param not in expect.params and not (
        under is not None and isinstance(param, str) and param.startswith(under + ".")
    ):
        shown = "absent" if "param" not in error else repr(param)
        wanted = [p or "absent" for p in expect.params]
        return f"param {shown}, expected {' or '.join(wanted)}" + (
            f" or below {under}" if under else ""
        )
    if expect.allow is not None:
        allow = {m.strip() for m in reply.headers.get("Allow", "").split(",") if m.strip()}
        if allow != set(expect.allow):
            return f"Allow {reply.headers.get('Allow')!r}, expected {sorted(expect.allow)}"
    return None


def check_answer(reply: Reply, case: Case) -> list[str]:
    """What is wrong with the answer to a documented case."""
    if not 400 <= reply.status < 500:
        return [f"a {reply.status}, expected a 4xx"]
    problems = []
    if not reply.headers.get("Content-Type", "").startswith("application/json"):
        problems.append(f"Content-Type {reply.headers.get('Content-Type')!r}")
    if not reply.headers.get("Request-Id", "").startswith("req_"):
        problems.append("no Request-Id")
    try:
        body = json.loads(reply.body.decode("utf-8"))
    except ValueError as exc:
        return [*problems, f"the answer is not UTF-8 JSON: {exc}"]
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return [*problems, "not the documented error object"]
    error = body["error"]
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append("no message")
    for text in _strings(body):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            problems.append(f"the answer holds text that is not valid Unicode: {text!r}")
        if " object at 0x" in text:
            problems.append(f"the answer shows an internal object: {text!r}")
    reasons = [_mismatch(reply, error, expect) for expect in case.expect]
    if all(reasons):
        problems.append("; or ".join(r for r in reasons if r))
    return problems


async def run_case(shared: Shared, case: Case) -> None:
    gateway = shared.gateway
    rows = await snapshot(shared.db)
    partners = ledgers(gateway)
    shared.errors.records.clear()
    host, port = shared.address
    problems: list[str] = []
    try:
        reply: Reply | None = await exchange(host, port, build_request(shared, case))
    except TimeoutError:
        reply = None
        problems.append(f"no answer within {TIMEOUT} s")
    if reply is not None:
        if case.documented:
            problems += check_answer(reply, case)
        elif reply.status != 400:
            problems.append(f"status {reply.status}, expected the parser's 400")
    if case.documented and shared.errors.records:
        logged = shared.errors.records[0]
        problems.append(f"logged at {logged.levelname}: {logged.getMessage()[:200]}")
    logged_text = "\n".join(map(logging.Formatter().format, shared.errors.records))
    if any(secret in logged_text for secret in shared.gateway.keys.values()):
        problems.append("an API key was written to the log")
    after = await snapshot(shared.db)
    changed = [
        f"{name} {len(rows[name])}->{len(after[name])} rows"
        for name in rows
        if after[name] != rows[name]
    ]
    if changed:
        problems.append("written: " + ", ".join(changed))
    moved = ledgers(gateway)
    if moved != partners:
        changes = {p: f"{partners[p]}->{moved[p]}" for p in moved if moved[p] != partners[p]}
        problems.append(f"partner sandboxes moved (entries, payments, refunds): {changes}")
    if problems:
        answer = reply.show() if reply is not None else "(none)"
        pytest.fail(f"{'; '.join(problems)}\n  answer: {answer}", pytrace=False)


def _ids(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in cases]


@pytest.mark.parametrize("case", _ids(CASES))
async def test_hostile_input_is_refused_and_costs_nothing(shared: Shared, case: Case) -> None:
    await run_case(shared, case)


@pytest.mark.parametrize("case", _ids(PARSER_CASES))
async def test_the_http_parser_refuses_before_the_gateway(shared: Shared, case: Case) -> None:
    await run_case(shared, case)


async def test_the_harness_reaches_the_gateway(shared: Shared) -> None:
    """The cases' requests are well formed: the same ones, unhostile, are served."""
    host, port = shared.address
    signed = sign_request(
        shared.signing_secret, "GET", "/v1/payments?limit=1", b"", int(time.time())
    )
    good = [
        Case("list", "GET", "/v1/payments?limit=1", ()),
        Case("payment", "GET", "/v1/payments/{payment_id}", ()),
        Case(
            "signed",
            "GET",
            "/v1/payments?limit=1",
            (),
            "ph_pos",
            headers=((SIGNATURE_HEADER, signed.encode()),),
        ),
        Case("settlements", "GET", "/v1/settlements?limit=1", (), "th_finance"),
        Case("reconciliations", "GET", "/v1/reconciliations?limit=1", (), "operator"),
    ]
    for case in good:
        reply = await exchange(host, port, build_request(shared, case))
        assert reply.status == 200, (case.name, reply.show())


async def test_the_bodies_go_through_without_their_hostile_part(shared: Shared) -> None:
    """Each endpoint's base body is a valid request, so a hostile part let through would have
    charged, refunded, cancelled or redelivered. Last in the module: this one writes."""
    host, port = shared.address

    async def post(target: str, body: dict[Any, Any]) -> Reply:
        case = Case("control", "POST", target, (), body=lambda: render(body))
        return await exchange(host, port, build_request(shared, case))

    quote = await post("/v1/fx/quotes", _quote())
    assert quote.status == 201, quote.show()
    paid = await post("/v1/payments", _payment())
    assert paid.status == 201 and json.loads(paid.body)["status"] == "succeeded", paid.show()
    refund = await post("/v1/payments/{payment_id}/refunds", _refund())
    assert refund.status == 201, refund.show()
    cancel = await post(f"/v1/payments/{json.loads(paid.body)['id']}/cancel", _empty())
    assert cancel.status in (200, 202), cancel.show()
    # Past the body: the event is redelivered, or refused for what the merchant lacks.
    redeliver = await post("/v1/events/{event_id}/redeliver", _empty())
    assert redeliver.status in (202, 409), redeliver.show()
