"""Interoperability: a client built with Ant's official Python SDK pays against our sandbox.

The SDK (``global-open-sdk-python``, import root ``com.alipay.ams.api``) pins an old
``cryptography``, so it lives in a virtual environment of its own, ``<repo>/.venv-sdk``, created on
first use (and re-created when the pinned version changes) and driven as a separate process
through ``sdk_client.py`` beside this file. That script builds the request with the SDK's models,
serialises and signs it with the SDK's own code, sends the bytes over plain HTTP to our sandbox on
loopback, and checks the response signature the way the SDK's ``DefaultAlipayClient`` does.

Merchant-presented order codes (issue #15): the SDK's ``OrderCodePaymentRequest`` gets an order
code from the sandbox that its ``AlipayPayResponse`` reads back (``orderCodeForm``), and the
sandbox's notification of the scanned code verifies and parses with the SDK's webhook tools;
a notification signed with the SDK's ``signature_tool`` (as Ant signs them) is accepted by our
adapter's ``read_notification``, and refused with one byte flipped.

Set ``GATEWAY_SKIP_SDK_INTEROP=1`` to skip (no PyPI access). Otherwise a failed install fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the project is not necessarily pip-installed in the test venv
    sys.path.insert(0, str(REPO))

SDK_PACKAGE = "global-open-sdk-python"
SDK_VERSION = "1.7.1"  # verified against this sandbox's protocol; bump deliberately
SDK_VENV = REPO / ".venv-sdk"
SDK_STAMP = SDK_VENV / ".gateway-sdk-stamp"
CLIENT_SCRIPT = Path(__file__).resolve().parent / "sdk_client.py"

CLIENT_ID = "2188120000000001"
SANDBOX_CLIENT_ID = "SANDBOX_2188120000000002"
CURRENCY = "USD"
VALUE = "1234"  # USD 12.34, minor units

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("GATEWAY_SKIP_SDK_INTEROP") == "1",
        reason="GATEWAY_SKIP_SDK_INTEROP=1: official Alipay SDK interop test skipped",
    ),
]


# ------------------------------------------------------------------------------------------------
# the SDK's virtual environment
# ------------------------------------------------------------------------------------------------
def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _stamp_value() -> str:
    key = f"{SDK_PACKAGE}=={SDK_VERSION}|python{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256(key.encode()).hexdigest()


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def sdk_python() -> Path:
    """Path of the SDK venv's interpreter, creating or refreshing the venv when needed."""
    python = _venv_python(SDK_VENV)
    if python.exists() and SDK_STAMP.exists() and SDK_STAMP.read_text().strip() == _stamp_value():
        return python

    if SDK_VENV.exists():
        shutil.rmtree(SDK_VENV)
    made = _run([sys.executable, "-m", "venv", str(SDK_VENV)], timeout=300)
    if made.returncode != 0:
        pytest.fail(f"python -m venv {SDK_VENV} failed:\n{made.stdout}\n{made.stderr}")
    installed = _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--quiet",
            f"{SDK_PACKAGE}=={SDK_VERSION}",
        ],
        timeout=600,
    )
    if installed.returncode != 0:
        pytest.fail(
            f"pip install {SDK_PACKAGE}=={SDK_VERSION} into {SDK_VENV} failed "
            f"(set GATEWAY_SKIP_SDK_INTEROP=1 only where PyPI is unreachable):\n"
            f"{installed.stdout[-4000:]}\n{installed.stderr[-4000:]}"
        )
    probe = _run(
        [str(python), "-c", "from com.alipay.ams.api._version import VERSION; print(VERSION)"],
        timeout=60,
    )
    if probe.returncode != 0 or probe.stdout.strip() != SDK_VERSION:
        pytest.fail(f"the SDK venv does not import {SDK_VERSION}: {probe.stdout} {probe.stderr}")
    SDK_STAMP.write_text(_stamp_value() + "\n")
    return python


# ------------------------------------------------------------------------------------------------
# the sandbox, on loopback
# ------------------------------------------------------------------------------------------------
@dataclass
class Sandbox:
    app: web.Application
    base_url: str
    merchant_key: Path  # our merchant's private key (PEM), registered with the sandbox
    wrong_key: Path  # a private key the sandbox has never seen
    sandbox_public_key: Path  # the sandbox's public key (PEM)

    def ledger(self) -> Any:
        from adapters.alipayplus.sandbox import LEDGER

        return self.app[LEDGER]


@pytest.fixture
def key_files(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, str, str]]:
    from adapters.alipayplus import generate_keypair

    merchant_priv, merchant_pub = generate_keypair()
    sandbox_priv, sandbox_pub = generate_keypair()
    wrong_priv, _ = generate_keypair()
    merchant_key = tmp_path / "merchant_private.pem"
    wrong_key = tmp_path / "wrong_private.pem"
    sandbox_public = tmp_path / "sandbox_public.pem"
    merchant_key.write_text(merchant_priv)
    wrong_key.write_text(wrong_priv)
    sandbox_public.write_text(sandbox_pub)
    yield merchant_key, wrong_key, sandbox_public, sandbox_priv, merchant_pub


@pytest.fixture
async def sandbox(key_files: tuple[Path, Path, Path, str, str]) -> AsyncIterator[Sandbox]:
    from adapters.alipayplus.sandbox import SandboxSettings, create_sandbox_app

    merchant_key, wrong_key, sandbox_public, sandbox_priv, merchant_pub = key_files
    settings = SandboxSettings(
        private_key_pem=sandbox_priv,
        merchant_public_keys={CLIENT_ID: merchant_pub, SANDBOX_CLIENT_ID: merchant_pub},
        hold_seconds=0.5,
        confirm_seconds=0.3,
        expire_seconds=0.5,
    )
    app = create_sandbox_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield Sandbox(app, f"http://127.0.0.1:{port}", merchant_key, wrong_key, sandbox_public)
    finally:
        await runner.cleanup()


# ------------------------------------------------------------------------------------------------
# driving the SDK client
# ------------------------------------------------------------------------------------------------
async def run_sdk(
    sdk_python: Path,
    sandbox: Sandbox,
    *,
    op: str = "pay",
    code: str = "",
    request_id: str,
    client_id: str = CLIENT_ID,
    private_key: Path | None = None,
    currency: str = CURRENCY,
    value: str = VALUE,
    payment_id: str | None = None,
    refund_request_id: str | None = None,
    pairs: list[str] | None = None,
    extra_args: list[str] | None = None,
) -> dict[str, Any]:
    cmd = [
        str(sdk_python),
        str(CLIENT_SCRIPT),
        "--base-url",
        sandbox.base_url,
        "--client-id",
        client_id,
        "--private-key-file",
        str(private_key or sandbox.merchant_key),
        "--partner-public-key-file",
        str(sandbox.sandbox_public_key),
        "--currency",
        currency,
        "--value",
        value,
        "--request-id",
        request_id,
        "--op",
        op,
        "--debug",
    ]
    if code:
        cmd += ["--code", code]
    if payment_id:
        cmd += ["--payment-id", payment_id]
    if refund_request_id:
        cmd += ["--refund-request-id", refund_request_id]
    for pair in pairs or []:
        cmd += ["--pair", pair]
    cmd += extra_args or []
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"SDK client timed out: {cmd}")
    lines = out.decode().strip().splitlines()
    assert proc.returncode == 0 and lines, (
        f"SDK client exited {proc.returncode}\nstdout: {out.decode()}\nstderr: {err.decode()}"
    )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def explain(r: dict[str, Any]) -> str:
    """Everything needed to tell which side is wrong, for assertion messages."""
    return json.dumps(r, indent=2, sort_keys=True)


def new_request_id() -> str:
    return "sdk-interop-" + uuid.uuid4().hex


def wallet_code(last4: str) -> str:
    # alipay_cn sandbox prefix "28", 18 digits in all; the last four pick the behaviour
    return "28" + "123456789012" + last4


def assert_signed_and_accepted(r: dict[str, Any]) -> None:
    assert r["http_status"] == 200, explain(r)
    assert r["signature_present"], "sandbox response carries no Signature header\n" + explain(r)
    assert r["signature_valid"], (
        "the SDK would reject the sandbox's response signature "
        f"({r['verify_error']})\n" + explain(r)
    )
    assert r["sdk_would_accept"], explain(r)


def charges(sandbox: Sandbox, request_id: str) -> int:
    """How many times the sandbox charged this paymentRequestId (its ledger's own count)."""
    count: int = sandbox.ledger().charges_for(request_id)
    return count


# ------------------------------------------------------------------------------------------------
# the tests
# ------------------------------------------------------------------------------------------------
async def test_sdk_pay_approved(sdk_python: Path, sandbox: Sandbox) -> None:
    rid = new_request_id()
    r = await run_sdk(sdk_python, sandbox, code=wallet_code("0000"), request_id=rid)
    assert_signed_and_accepted(r)
    assert r["request_path"] == "/ams/api/v1/payments/pay"
    assert r["result"]["resultStatus"] == "S", explain(r)
    assert r["paymentId"], explain(r)
    assert r["paymentAmount"] == {"currency": CURRENCY, "value": VALUE}, explain(r)
    assert r["paymentRequestId"] in (None, rid), explain(r)
    assert charges(sandbox, rid) == 1, sandbox.ledger().to_json()


async def test_sdk_pay_then_inquiry_and_cancel(sdk_python: Path, sandbox: Sandbox) -> None:
    rid = new_request_id()
    paid = await run_sdk(sdk_python, sandbox, code=wallet_code("0000"), request_id=rid)
    assert_signed_and_accepted(paid)
    assert paid["result"]["resultStatus"] == "S", explain(paid)

    inq = await run_sdk(sdk_python, sandbox, op="inquiry", request_id=rid)
    assert_signed_and_accepted(inq)
    assert inq["request_path"] == "/ams/api/v1/payments/inquiryPayment"
    assert inq["result"]["resultStatus"] == "S", explain(inq)
    assert inq["paymentId"] == paid["paymentId"], explain(inq)
    assert inq["paymentStatus"] == "SUCCESS", explain(inq)

    cancel = await run_sdk(sdk_python, sandbox, op="cancel", request_id=rid)
    assert_signed_and_accepted(cancel)
    assert cancel["request_path"] == "/ams/api/v1/payments/cancel"
    assert cancel["result"]["resultStatus"] == "S", explain(cancel)
    assert cancel["paymentId"] == paid["paymentId"], explain(cancel)
    ledger = sandbox.ledger()
    assert ledger.charges_for(rid) == 1 and ledger.reversals_for(rid) == 1, ledger.to_json()


async def test_sdk_pay_declined_balance(sdk_python: Path, sandbox: Sandbox) -> None:
    rid = new_request_id()
    r = await run_sdk(sdk_python, sandbox, code=wallet_code("0051"), request_id=rid)
    assert_signed_and_accepted(r)
    assert r["result"]["resultStatus"] == "F", explain(r)
    assert r["result"]["resultCode"] == "USER_BALANCE_NOT_ENOUGH", explain(r)
    assert charges(sandbox, rid) == 0, sandbox.ledger().to_json()


async def test_sdk_pay_replay_returns_original_and_charges_once(
    sdk_python: Path, sandbox: Sandbox
) -> None:
    rid = new_request_id()
    first = await run_sdk(sdk_python, sandbox, code=wallet_code("0000"), request_id=rid)
    second = await run_sdk(sdk_python, sandbox, code=wallet_code("0000"), request_id=rid)
    for r in (first, second):
        assert_signed_and_accepted(r)
        assert r["result"]["resultStatus"] == "S", explain(r)
    assert second["paymentId"] == first["paymentId"], explain(second)
    assert second["paymentAmount"] == first["paymentAmount"], explain(second)
    assert charges(sandbox, rid) == 1, sandbox.ledger().to_json()
    record = sandbox.ledger().get(rid)
    assert record is not None and record.pay_calls == 2, sandbox.ledger().to_json()


async def test_sdk_sandbox_client_id_uses_sandbox_path(sdk_python: Path, sandbox: Sandbox) -> None:
    rid = new_request_id()
    r = await run_sdk(
        sdk_python,
        sandbox,
        code=wallet_code("0000"),
        request_id=rid,
        client_id=SANDBOX_CLIENT_ID,
    )
    assert r["request_path"] == "/ams/sandbox/api/v1/payments/pay", explain(r)
    assert_signed_and_accepted(r)
    assert r["result"]["resultStatus"] == "S", explain(r)
    assert r["paymentAmount"] == {"currency": CURRENCY, "value": VALUE}, explain(r)
    assert charges(sandbox, rid) == 1, sandbox.ledger().to_json()


async def test_sdk_wrong_key_is_rejected_and_charges_nothing(
    sdk_python: Path, sandbox: Sandbox
) -> None:
    rid = new_request_id()
    r = await run_sdk(
        sdk_python,
        sandbox,
        code=wallet_code("0000"),
        request_id=rid,
        private_key=sandbox.wrong_key,
    )
    # DefaultAlipayClient raises on any status but 200 and on any response without a verifiable
    # signature (its header parser runs before its "unsigned F/U is fine" branch), so the
    # rejection itself must come back as a signed 200 for an SDK user to see INVALID_SIGNATURE.
    assert_signed_and_accepted(r)
    assert r["result"]["resultStatus"] == "F", explain(r)
    assert r["result"]["resultCode"] == "INVALID_SIGNATURE", explain(r)
    assert not r["paymentId"], explain(r)
    assert charges(sandbox, rid) == 0, sandbox.ledger().to_json()
    assert sandbox.ledger().get(rid) is None, sandbox.ledger().to_json()


async def test_sdk_refund_replay_and_inquiry_refund(sdk_python: Path, sandbox: Sandbox) -> None:
    rid = new_request_id()
    paid = await run_sdk(sdk_python, sandbox, code=wallet_code("0000"), request_id=rid)
    assert_signed_and_accepted(paid)
    assert paid["result"]["resultStatus"] == "S", explain(paid)

    refund_rid = rid + "-rf1"
    refunds = [
        await run_sdk(
            sdk_python,
            sandbox,
            op="refund",
            request_id=rid,
            payment_id=paid["paymentId"],
            refund_request_id=refund_rid,
            value="1000",
        )
        for _ in range(2)  # the second is a replay: the same refund
    ]
    for r in refunds:
        assert_signed_and_accepted(r)
        assert r["request_path"] == "/ams/api/v1/payments/refund", explain(r)
        assert r["result"]["resultStatus"] == "S", explain(r)
        assert r["refundRequestId"] == refund_rid and r["paymentId"] == paid["paymentId"]
        assert r["refundAmount"] == {"currency": CURRENCY, "value": "1000"}, explain(r)
        assert r["refundId"] and r["refundTime"], explain(r)
    assert refunds[1]["refundId"] == refunds[0]["refundId"], explain(refunds[1])

    inq = await run_sdk(
        sdk_python, sandbox, op="inquiry_refund", request_id=rid, refund_request_id=refund_rid
    )
    assert_signed_and_accepted(inq)
    assert inq["request_path"] == "/ams/api/v1/payments/inquiryRefund", explain(inq)
    assert inq["result"]["resultStatus"] == "S", explain(inq)
    assert (inq["refundStatus"], inq["refundId"]) == ("SUCCESS", refunds[0]["refundId"])

    too_much = await run_sdk(
        sdk_python,
        sandbox,
        op="refund",
        request_id=rid,
        payment_id=paid["paymentId"],
        refund_request_id=rid + "-rf2",
        value="235",  # 1000 + 235 > 1234
    )
    assert_signed_and_accepted(too_much)
    assert too_much["result"]["resultStatus"] == "F", explain(too_much)
    assert too_much["result"]["resultCode"] == "REFUND_AMOUNT_EXCEED", explain(too_much)

    ledger = sandbox.ledger()
    assert ledger.refunds_for(rid) == 1 and ledger.refunded_for(rid) == 1000, ledger.to_json()


async def test_sdk_inquire_exchange_rate(sdk_python: Path, sandbox: Sandbox) -> None:
    """The SDK's `AlipayInquireExchangeRateRequest` (its body: indent=3, the product code from
    its enum) is understood; the answer verifies and parses, and `quotePrice` arrives as the
    JSON number the SDKs read (a float in Python, float32 in Go)."""
    r = await run_sdk(
        sdk_python,
        sandbox,
        op="exchange_rate",
        request_id=new_request_id(),
        pairs=["THB/CNY", "THB/KRW"],
    )
    assert_signed_and_accepted(r)
    assert r["request_path"] == "/ams/api/v1/payments/inquireExchangeRate"
    assert json.loads(r["debug"]["request_body"]) == {
        "currencyPairs": [
            {"sellCurrency": "THB", "buyCurrency": "CNY"},
            {"sellCurrency": "THB", "buyCurrency": "KRW"},
        ],
        "productCode": "IN_STORE_PAYMENT",
    }
    assert r["result"]["resultStatus"] == "S", explain(r)
    quotes = {q["quoteCurrencyPair"]: q for q in r["quotes"]}
    assert set(quotes) == {"THB/CNY", "THB/KRW"}, explain(r)
    assert quotes["THB/CNY"]["quotePriceType"] == "float", explain(r)
    assert Decimal(quotes["THB/CNY"]["quotePrice"]) == Decimal("0.1860417464"), explain(r)
    assert Decimal(quotes["THB/KRW"]["quotePrice"]) == Decimal("36.10758975"), explain(r)
    assert quotes["THB/CNY"]["guaranteed"] is False and quotes["THB/CNY"]["quoteExpiryTime"]

    unknown = await run_sdk(
        sdk_python, sandbox, op="exchange_rate", request_id=new_request_id(), pairs=["THB/VND"]
    )
    assert_signed_and_accepted(unknown)
    assert unknown["result"]["resultStatus"] == "F", explain(unknown)
    assert unknown["result"]["resultCode"] == "CURRENCY_NOT_SUPPORT", explain(unknown)
    assert unknown["quotes"] == [], explain(unknown)


# ------------------------------------------------------------------------------------------------
# merchant-presented order codes and notifications
# ------------------------------------------------------------------------------------------------
NOTIFY_PATH = "/partners/antom-interop/notify"
ACK = b'{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}'


@dataclass
class Receiver:
    url: str
    received: list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A merchant's notify endpoint that keeps what it gets and answers S (unsigned, as Antom
    allows)."""
    received: list[tuple[dict[str, str], bytes]] = []

    async def notify(request: web.Request) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        received.append((headers, await request.read()))
        return web.Response(body=ACK, content_type="application/json")

    app = web.Application()
    app.router.add_post(NOTIFY_PATH, notify)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield Receiver(f"http://127.0.0.1:{runner.addresses[0][1]}{NOTIFY_PATH}", received)
    finally:
        await runner.cleanup()


async def test_sdk_order_code_pay_and_notification(
    sdk_python: Path, sandbox: Sandbox, receiver: Receiver, tmp_path: Path
) -> None:
    import httpx

    rid = new_request_id()
    expiry = (datetime.now(UTC) + timedelta(minutes=10)).isoformat(timespec="seconds")
    r = await run_sdk(
        sdk_python,
        sandbox,
        op="order_code",
        request_id=rid,
        extra_args=["--notify-url", receiver.url, "--expiry-time", expiry],
    )
    assert_signed_and_accepted(r)
    assert r["request_path"] == "/ams/api/v1/payments/pay"
    sent = json.loads(r["debug"]["request_body"])
    assert sent["paymentFactor"] == {"inStorePaymentScenario": "OrderCode"}, explain(r)
    assert sent["paymentMethod"] == {"paymentMethodType": "CONNECT_WALLET"}, explain(r)
    assert "env" not in sent["order"], explain(r)
    assert r["result"]["resultStatus"] == "U", explain(r)
    assert r["result"]["resultCode"] == "PAYMENT_IN_PROCESS", explain(r)
    assert r["paymentId"] and r["paymentAmount"] == {"currency": CURRENCY, "value": VALUE}
    form = r["orderCodeForm"]
    assert form is not None and form["expireTime"] == expiry, explain(r)
    (detail,) = form["codeDetails"]
    assert detail["codeValueType"] == "QRCODE" and detail["displayType"] == "TEXT", explain(r)
    assert detail["codeValue"].startswith(sandbox.base_url + "/oc/"), explain(r)
    assert charges(sandbox, rid) == 0

    # The tourist pays; the sandbox notifies the merchant; the SDK verifies the notification.
    async with httpx.AsyncClient() as http:
        scanned = await http.post(
            sandbox.base_url + "/_sandbox/scan", json={"code": detail["codeValue"]}, timeout=30
        )
    assert scanned.status_code == 200 and scanned.json()["notified"] is True, scanned.text
    assert charges(sandbox, rid) == 1
    ((headers, body),) = receiver.received
    body_file = tmp_path / "notification.json"
    body_file.write_bytes(body)
    check = await run_sdk(
        sdk_python,
        sandbox,
        op="check_notification",
        request_id=rid,
        extra_args=[
            "--notify-path",
            NOTIFY_PATH,
            "--notify-body-file",
            str(body_file),
            "--request-time",
            headers["request-time"],
            "--signature-header",
            headers["signature"],
        ],
    )
    assert headers["client-id"] == CLIENT_ID
    assert check["signature_valid"] is True, check
    notify = check["notify"]
    assert (notify["notifyType"], notify["resultStatus"], notify["resultCode"]) == (
        "PAYMENT_RESULT",
        "S",
        "SUCCESS",
    ), check
    assert notify["paymentRequestId"] == rid and notify["paymentId"] == r["paymentId"], check
    assert notify["paymentAmount"] == {"currency": CURRENCY, "value": VALUE}, check
    assert notify["paymentTime"], check


async def test_sdk_signed_notification_is_read_by_our_adapter(
    sdk_python: Path,
    sandbox: Sandbox,
    key_files: tuple[Path, Path, Path, str, str],
    tmp_path: Path,
) -> None:
    import httpx

    from adapters import (
        InboundRequest,
        NotificationProblem,
        NotificationRefused,
        Operation,
        OutcomeStatus,
        SystemClock,
    )
    from adapters.alipayplus import build_adapter
    from fx import Money

    merchant_key, _wrong, sandbox_public, sandbox_private, _merchant_public = key_files
    partner_key = tmp_path / "partner_private.pem"  # Ant's own key: it signs notifications
    partner_key.write_text(sandbox_private)
    rid = new_request_id()
    body = {
        "notifyType": "PAYMENT_RESULT",
        "result": {"resultCode": "SUCCESS", "resultStatus": "S", "resultMessage": "success"},
        "paymentRequestId": rid,
        "paymentId": "20261126194010800100188000000001",
        "paymentAmount": {"currency": CURRENCY, "value": VALUE},
        "paymentCreateTime": "2026-11-26T10:00:00+08:00",
        "paymentTime": "2026-11-26T10:01:00+08:00",
    }
    body_file = tmp_path / "notify.json"
    body_file.write_text(json.dumps(body, indent=2))
    signed = await run_sdk(
        sdk_python,
        sandbox,
        op="sign_notification",
        request_id=rid,
        private_key=partner_key,
        extra_args=["--notify-path", NOTIFY_PATH, "--notify-body-file", str(body_file)],
    )

    async with httpx.AsyncClient() as http:
        adapter = build_adapter(
            partner_id="antom-interop",
            base_url=sandbox.base_url,
            credentials={
                "client_id": CLIENT_ID,
                "private_key": merchant_key.read_text(),
                "partner_public_key": sandbox_public.read_text(),
            },
            http=http,
            timeouts={op: 5.0 for op in Operation},
            clock=SystemClock(),
        )
        raw = signed["body"].encode("utf-8")
        headers = {
            "content-type": "application/json",
            "client-id": CLIENT_ID,
            "request-time": signed["request_time"],
            "signature": signed["signature"],
        }
        read = adapter.read_notification(
            InboundRequest("POST", NOTIFY_PATH, headers, raw), datetime.now(UTC)
        )
        assert read.partner_request_id == rid
        assert read.outcome.status is OutcomeStatus.SUCCEEDED
        assert read.outcome.partner_reference == body["paymentId"]
        assert read.payer_amount == Money.of(int(VALUE), CURRENCY)

        flipped = bytearray(raw)
        at = raw.index(b"SUCCESS")
        flipped[at] ^= 0x01
        with pytest.raises(NotificationRefused) as info:
            adapter.read_notification(
                InboundRequest("POST", NOTIFY_PATH, headers, bytes(flipped)), datetime.now(UTC)
            )
        assert info.value.problem is NotificationProblem.SIGNATURE
