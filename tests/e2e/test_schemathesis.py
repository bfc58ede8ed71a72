"""Hostile input from schemathesis against the gateway's own `GET /openapi.json` (issue #12).

The gateway and its sandbox partners run on loopback over a real database (SQLite, and
PostgreSQL), seeded with merchants, a key of every role, and objects of every kind: succeeded,
failed, refunded and cancelled payments, a quote, refunds, events, an open and a closed
settlement batch (with its file). Schemathesis's command line (`st run`, a subprocess: its runner
is synchronous, and this test's event loop keeps serving the gateway meanwhile) then tests every
documented operation with each role's key, in all its phases: the schema's examples, coverage
(boundary and schema-violating values, other media types, missing headers), random fuzzing, and
stateful sequences along the schema's response links (a payment, then its refund, cancel, ...).

Every answer must be no 5xx, a documented status with a documented content type, headers and
body, and schema-invalid input must be refused (`negative_data_rejection`); the run must report
no failure at all. The failures, if any, are in the assertion message, each with a `curl` line
that reproduces it (the key shown there is filtered: use one of the seeded keys).

Random values would almost never be a payment the sandboxes take, so a `before_call` hook (this
module's `before_call`, loaded by schemathesis through a small file) swaps some schema-valid
values for other schema-valid ones that go further: a fresh `Idempotency-Key` and
`merchant_reference` (no accidental replays), a sandbox wallet code, the merchant's currency, a
modest amount, and (outside the stateful phase, which follows links to what it made) the id of
a seeded object in a path. It never touches a value the schema forbids, so negative cases stay
negative; schemathesis's fuzz dictionaries would not do, as they only feed positive cases.

The three runs (one per role) go in parallel, each bounded by examples per operation
(`MAX_EXAMPLES`), not by time. To dig into a failure, pass more `st run` options through
`GATEWAY_SCHEMATHESIS_ARGS` (e.g. `--continue-on-failure --seed N --report har`); each run's
output, configuration and reports are left in the test's `tmp_path`, one directory per role.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import re
import secrets
import sys
from collections.abc import Mapping, MutableMapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeGuard

import pytest

from gateway.merchants import admin
from gateway.settlement.closing import settle_day
from tests.e2e._receiver import Receiver, database, running_receiver, secret_box
from tests.e2e.conftest import Gateway, code

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]

# The seeded keys (`tests/support/seeding.py` SHOPS) schemathesis runs with: one per role.
ROLES = ("th_pos", "th_finance", "operator")

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    # Cheap extras: a missing required header is refused, 405 carries `Allow`, a request without
    # the key is 401.
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "ignored_auth",
)

# Test cases per operation and phase: the three runs take about 30 s together per database on
# this project's 2-core CI machine.
MAX_EXAMPLES = 40

# Schema-violating input may be refused with any of these (schemathesis's list plus 413).
REFUSALS = (400, 401, 403, 404, 405, 406, 409, 413, 415, 422)

_KNOWN_ENV = "GATEWAY_SCHEMATHESIS_KNOWN"  # what the hook knows: seeded ids, the quote
_ARGS_ENV = "GATEWAY_SCHEMATHESIS_ARGS"


# --- the hook, run inside schemathesis's process ----------------------------------------------

# Not the `random` module: Hypothesis reseeds it for every test case it runs.
_RANDOM = random.SystemRandom()
_KEY = re.compile(r"[!-~]{1,255}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_WALLET_CODE = re.compile(r"[0-9]{16,24}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_WALLET = re.compile(r"[a-z0-9_]{1,64}")
# Path parameters, as the schema has them.
_PATH_IDS = {
    "payment_id": re.compile(r"pay_[0-9a-z]{1,64}"),
    "refund_id": re.compile(r"rf_[0-9a-z]{1,64}"),
    "quote_id": re.compile(r"qt_[0-9a-z]{1,64}"),
    "event_id": re.compile(r"evt_[0-9a-z]{1,64}"),
    "batch_id": re.compile(r"stl_[0-9]{8}[mp][0-9a-z]{23}"),
}
# Sandbox behaviours that answer at once (no pay timeout to wait for): approve, decline,
# approve but decline its refunds, approve but refuse its cancel.
_SANDBOX_ENDINGS = ("0000", "0000", "0000", "0051", "0096", "0097")
# At the TH merchant: priced (twice as often), no partner in TH, the merchant's own currency.
_WALLETS = ("alipay_cn", "alipay_cn", "kakaopay", "gcash", "truemoney")


def _valid(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _valid_money(money: Any) -> bool:
    return (
        isinstance(money, dict)
        and set(money) == {"currency", "value"}
        and _valid(_CURRENCY, money["currency"])
        and type(money["value"]) is int
        and 1 <= money["value"] <= 10**13
    )


def _money(money: Any, currency: str) -> None:
    if not isinstance(money, dict):
        return
    if _valid(_CURRENCY, money.get("currency")) and _RANDOM.random() < 0.9:
        money["currency"] = currency
    value = money.get("value")
    if type(value) is int and 1 <= value <= 10**13 and _RANDOM.random() < 0.8:
        money["value"] = _RANDOM.randint(100, 30_000)  # mostly within what is left to refund


def _valid_code(method: Any) -> TypeGuard[dict[str, Any]]:
    return isinstance(method, dict) and _valid(_WALLET_CODE, method.get("code"))


def _body(body: dict[str, Any], known: Mapping[str, Any]) -> None:
    if _valid(_IDENTIFIER, body.get("merchant_reference")):
        body["merchant_reference"] = f"st-{secrets.token_hex(8)}"
    _money(body.get("amount"), known["currency"])
    method = body.get("payment_method")
    if _valid_code(method) and _RANDOM.random() < 0.8:
        method["code"] = code("28", _RANDOM.choice(_SANDBOX_ENDINGS))
    if _valid(_WALLET, body.get("wallet")) and _RANDOM.random() < 0.8:
        body["wallet"] = _RANDOM.choice(_WALLETS)
    if _valid(_IDENTIFIER, body.get("quote_id")):
        # Random ids are unknown quotes (404): mostly price on the spot instead (an optional
        # field left out), or use the seeded quote, for its amount and wallet.
        dice = _RANDOM.random()
        if dice < 0.6:
            del body["quote_id"]
        elif dice < 0.8 and _valid_money(body.get("amount")) and _valid_code(method):
            quote = known["quote"]
            body["quote_id"] = quote["id"]
            body["amount"] = dict(quote["amount"])
            method["code"] = code("28", "0000")


def _path(parameters: dict[str, Any], known: Mapping[str, list[str]]) -> None:
    for name, value in parameters.items():
        pattern = _PATH_IDS.get(name)
        if pattern and _valid(pattern, value) and known.get(name) and _RANDOM.random() < 0.9:
            parameters[name] = _RANDOM.choice(known[name])


_FRAMING = {"content-length", "transfer-encoding"}


def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Schemathesis's `before_call` hook: swap schema-valid values for schema-valid values the
    sandboxes take (see the module's docstring). Values the schema forbids are left alone."""
    known = json.loads(os.environ[_KNOWN_ENV])
    headers = case.headers  # a case-insensitive mapping
    if isinstance(headers, MutableMapping):
        # The message's framing is the HTTP layer's: aiohttp's parser refuses a malformed
        # `Content-Length` before the gateway sees the request (400, text/plain, nothing
        # written; docs/api-notes.md, Hostile input): a fuzzed one tests aiohttp, not the API.
        for name in [name for name in headers if name.lower() in _FRAMING]:
            del headers[name]
    if isinstance(headers, MutableMapping) and _valid(_KEY, headers.get("Idempotency-Key")):
        headers["Idempotency-Key"] = f"st-{secrets.token_hex(12)}"
    # The stateful phase follows the schema's links to objects it made: leave those.
    if isinstance(case.path_parameters, dict) and case.meta.phase.name != "stateful":
        _path(case.path_parameters, known["ids"])
    if isinstance(case.body, dict):
        _body(case.body, known)


_HOOKS_FILE = """\
import sys

sys.path.insert(0, {repo!r})

import schemathesis

from tests.e2e.test_schemathesis import before_call

schemathesis.hook("before_call")(before_call)
"""


# --- the data ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Seeded:
    ids: dict[str, list[str]]  # by path parameter name
    quote: dict[str, Any]  # the TH merchant's, for alipay_cn


async def _seed_objects(gateway: Gateway) -> Seeded:
    """Objects of every kind for the path parameters, most of them the TH merchant's."""
    ids: dict[str, list[str]] = {
        "payment_id": [],
        "refund_id": [],
        "quote_id": [],
        "event_id": [],
        "batch_id": [],
    }

    async def pay(
        last4: str, key: str = "th_pos", value: int = 125050, currency: str = "THB"
    ) -> str:
        answer = await gateway.pay(code("28", last4), value, currency, key=key)
        assert answer.status == 201, answer.body
        ids["payment_id"].append(answer.body["id"])
        return str(answer.body["id"])

    async def post(path: str, body: Any) -> Any:
        answer = await gateway.request(
            "POST", path, json=body, idempotency_key=secrets.token_hex(12)
        )
        assert answer.status in (200, 201, 202), answer.body
        return answer.body

    for _ in range(3):  # room for many refunds: drawn more often than the others
        ids["payment_id"] += [await pay("0000", value=5_000_000)] * 2
    refunded = await pay("0000")
    for value in (20000, 5000):
        refund = await post(
            f"/v1/payments/{refunded}/refunds", {"amount": {"currency": "THB", "value": value}}
        )
        ids["refund_id"].append(refund["id"])
    declined_refunds = await pay("0096")
    refund = await post(
        f"/v1/payments/{declined_refunds}/refunds",
        {"amount": {"currency": "THB", "value": 1000}, "reason": "returned goods"},
    )
    ids["refund_id"].append(refund["id"])
    await pay("0051")  # failed
    await post(f"/v1/payments/{await pay('0000')}/cancel", {})
    quote = await post(
        "/v1/fx/quotes", {"amount": {"currency": "THB", "value": 125050}, "wallet": "alipay_cn"}
    )
    ids["quote_id"].append(quote["id"])
    await pay("0000", key="jp_pos", value=1234, currency="JPY")  # another merchant's

    # The TH merchant's day closes (a closed batch with its file); later payments go to the
    # next open day.
    batches = await gateway.request("GET", "/v1/settlements", key="th_finance")
    assert batches.status == 200 and batches.body["data"], batches.body
    day = date.fromisoformat(batches.body["data"][0]["business_date"])
    async with database(gateway.settings.database.url) as db:
        await settle_day(
            db,
            gateway.settings,
            day=day,
            now=datetime.now(UTC),
            closed_by="schemathesis",
            merchant_id=gateway.merchants["th"],
            force=True,
        )
    await pay("0000")  # on the next open day
    listed = await gateway.request("GET", "/v1/settlements?limit=100", key="operator")
    ids["batch_id"] = [batch["id"] for batch in listed.body["data"]]
    assert any(batch["status"] == "closed" for batch in listed.body["data"]), listed.body
    events = await gateway.request("GET", "/v1/events?limit=100", key="operator")
    ids["event_id"] = [event["id"] for event in events.body["data"]]
    return Seeded(ids, quote)


def _toml_list(values: list[str] | tuple[int, ...]) -> str:
    return json.dumps(list(values))  # a JSON array of strings or integers is a TOML array


def _config(key: str, hooks: Path) -> str:
    """schemathesis.toml for one role's run."""
    lines = [
        f"hooks = {json.dumps(str(hooks))}",
        # Only a hung gateway takes this long (the POS wait budget is 10 s): a failure, not a
        # hung test.
        "request-timeout = 60",
        "",
        # Through the schema's security scheme (not a fixed header), so that schemathesis knows
        # it and can leave it out (`ignored_auth`, `missing_required_header`).
        "[auth.openapi.apiKey]",
        f"bearer = {json.dumps(key)}",
        "",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',  # no example database left in the working tree
        "",
        "[checks.negative_data_rejection]",
        f"expected-statuses = {_toml_list(REFUSALS)}",
        "",
    ]
    return "\n".join(lines) + "\n"


async def _schemathesis(gateway: Gateway, role: str, seeded: Seeded, tmp: Path) -> tuple[int, str]:
    """One `st run` with `role`'s key; its exit status and output."""
    work = tmp / role
    work.mkdir()
    hooks = work / "hooks.py"
    hooks.write_text(_HOOKS_FILE.format(repo=str(REPO)))
    config = work / "schemathesis.toml"
    config.write_text(_config(gateway.keys[role], hooks))
    known = {"currency": "THB", "quote": seeded.quote, "ids": seeded.ids}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{gateway.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--no-color",
        *os.environ.get(_ARGS_ENV, "").split(),
        cwd=work,
        env={**os.environ, _KNOWN_ENV: json.dumps(known)},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    (work / "output.txt").write_text(text)
    assert process.returncode is not None
    return process.returncode, text


async def test_schemathesis_finds_nothing(gateway: Gateway, tmp_path: Path) -> None:
    failed = []
    async with running_receiver(Receiver()) as receiver:
        # The TH merchant has a webhook endpoint (redeliveries are 202); JP has none (409).
        async with database(gateway.settings.database.url) as db:
            secret = await admin.set_webhook(
                db, secret_box(gateway), merchant_id=gateway.merchants["th"], url=receiver.url
            )
        assert secret is not None
        receiver.secrets = [secret]
        seeded = await _seed_objects(gateway)
        runs = await asyncio.gather(
            *(_schemathesis(gateway, role, seeded, tmp_path) for role in ROLES)
        )
        for role, (status, output) in zip(ROLES, runs, strict=True):
            if status != 0:
                failed.append(f"=== st run with the {role} key: exit status {status}\n{output}")
    assert not failed, "\n\n".join(failed)
