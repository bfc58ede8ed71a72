"""One behavioural suite for every protocol family: the adapter contract of DESIGN.md, proven.

Each test runs once per family in `adapters.PROTOCOLS` listed below, against that family's
sandbox on loopback, with the adapter built through the registry exactly as the gateway builds
it. The scenarios and assertions are identical; only the set-up (keys, settings) differs.
Delays are short (hold 0.5 s against a 0.25 s pay timeout; confirm 0.3 s; expire 0.4 s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import secrets
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import pytest
from aiohttp import web

from adapters import (
    PROTOCOLS,
    Adapter,
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    MerchantInfo,
    Operation,
    Outcome,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
    SystemClock,
    alipayplus,
    new_http_client,
    walletrest,
)
from fx import Money

FAMILIES = ["alipayplus", "walletrest"]
PAY_TIMEOUT = 0.25
HOLD = 0.5
CONFIRM = 0.3
EXPIRE = 0.4
TIMEOUTS = {
    Operation.PAY: PAY_TIMEOUT,
    Operation.INQUIRE: 1.0,
    Operation.CANCEL: 1.0,
    Operation.REFUND: 1.0,
    Operation.INQUIRE_REFUND: 1.0,
}
PAYER_AMOUNT = Money.of(25012, "CNY")  # "25012" in minor units, "250.12" in major units
OTHER_AMOUNT = Money.of(25013, "CNY")
REQUEST_ID = "att_contract_0001"


class Ledger(Protocol):
    """What both sandboxes' ledgers offer a test."""

    def charges_for(self, payment_request_id: str) -> int: ...

    def reversals_for(self, payment_request_id: str) -> int: ...

    @property
    def entries(self) -> list[Any]: ...


@dataclasses.dataclass(frozen=True)
class Setup:
    settings: Any
    credentials: dict[str, str]
    ledger_key: web.AppKey[Any]


@functools.cache
def _alipayplus_keys() -> tuple[tuple[str, str], tuple[str, str]]:
    return alipayplus.generate_keypair(), alipayplus.generate_keypair()


def _alipayplus(clock: SystemClock) -> Setup:
    (merchant_private, merchant_public), (partner_private, partner_public) = _alipayplus_keys()
    client_id = "SANDBOX_CONTRACT"
    settings = alipayplus.SandboxSettings(
        private_key_pem=partner_private,
        merchant_public_keys={client_id: merchant_public},
        hold_seconds=HOLD,
        confirm_seconds=CONFIRM,
        expire_seconds=EXPIRE,
        clock=clock,
    )
    credentials = {
        "client_id": client_id,
        "private_key": merchant_private,
        "partner_public_key": partner_public,
    }
    return Setup(settings, credentials, alipayplus.LEDGER)


def _walletrest(clock: SystemClock) -> Setup:
    secret = secrets.token_urlsafe(32)
    api_key = "sk_test_" + secrets.token_hex(16)
    settings = walletrest.SandboxSettings(
        signing_secret=secret,
        api_keys=frozenset({api_key}),
        hold_seconds=HOLD,
        confirm_seconds=CONFIRM,
        expire_seconds=EXPIRE,
        clock=clock,
    )
    return Setup(settings, {"api_key": api_key, "signing_secret": secret}, walletrest.LEDGER)


SETUPS: dict[str, Callable[[SystemClock], Setup]] = {
    "alipayplus": _alipayplus,
    "walletrest": _walletrest,
}


@dataclasses.dataclass
class Family:
    name: str
    url: str
    clock: SystemClock
    http: httpx.AsyncClient
    ledger: Ledger
    credentials: dict[str, str]
    adapter: Adapter

    def build(self, base_url: str) -> Adapter:
        """Another adapter of this family with the same credentials, at `base_url`."""
        return PROTOCOLS[self.name].build(
            partner_id=f"{self.name}-other",
            base_url=base_url,
            credentials=self.credentials,
            http=self.http,
            timeouts=TIMEOUTS,
            clock=self.clock,
        )


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture(params=FAMILIES)
async def family(request: pytest.FixtureRequest) -> AsyncIterator[Family]:
    name: str = request.param
    clock = SystemClock()
    setup = SETUPS[name](clock)
    spec = PROTOCOLS[name]
    assert isinstance(setup.settings, spec.sandbox_settings)
    runner, url = await _serve(spec.sandbox(setup.settings))
    http = new_http_client()
    adapter = spec.build(
        partner_id=f"{name}-sbx",
        base_url=url,
        credentials=setup.credentials,
        http=http,
        timeouts=TIMEOUTS,
        clock=clock,
    )
    try:
        yield Family(
            name, url, clock, http, runner.app[setup.ledger_key], setup.credentials, adapter
        )
    finally:
        await http.aclose()
        await runner.cleanup()


def code(last4: str) -> str:
    return "2812345678901" + "2" + last4  # 18 digits, alipay_cn prefix


def pay_request(last4: str, *, payer: Money = PAYER_AMOUNT) -> PayRequest:
    return PayRequest(
        partner_request_id=REQUEST_ID,
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=payer,
        code=PaymentCode(code(last4)),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH", terminal_id="T1"),
        requested_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
    )


def inquiry(payer: Money = PAYER_AMOUNT) -> InquiryRequest:
    return InquiryRequest(REQUEST_ID, payer)


def assert_unknown(outcome: Outcome, delivery: Delivery) -> None:
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery), outcome


def assert_failed(outcome: Outcome, failure: FailureCode) -> None:
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, failure), outcome


# --- the contract ------------------------------------------------------------------------------


async def test_is_an_adapter_with_the_core_operations(family: Family) -> None:
    assert isinstance(family.adapter, Adapter)
    core = {Operation.PAY, Operation.INQUIRE, Operation.CANCEL}
    assert core <= family.adapter.capabilities
    assert family.adapter.partner_id == f"{family.name}-sbx"


@pytest.mark.parametrize(
    ("last4", "failure"),
    [
        ("0051", FailureCode.INSUFFICIENT_FUNDS),
        ("0059", FailureCode.RISK_REJECTED),
        ("0054", FailureCode.CODE_EXPIRED),
    ],
)
async def test_declines_are_final_and_charge_nothing(
    family: Family, last4: str, failure: FailureCode
) -> None:
    assert_failed(await family.adapter.pay(pay_request(last4)), failure)
    assert_failed(await family.adapter.inquire(inquiry()), failure)
    assert family.ledger.charges_for(REQUEST_ID) == 0


async def test_malformed_code_is_payment_code_invalid(family: Family) -> None:
    request = dataclasses.replace(pay_request("0000"), code=PaymentCode("2812345"))
    assert_failed(await family.adapter.pay(request), FailureCode.PAYMENT_CODE_INVALID)
    assert family.ledger.charges_for(REQUEST_ID) == 0


async def test_0000_succeeds_and_charges_once(family: Family) -> None:
    outcome = await family.adapter.pay(pay_request("0000"))
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference and outcome.completed_at is not None
    assert family.ledger.charges_for(REQUEST_ID) == 1
    found = await family.adapter.inquire(inquiry())
    assert found.status is OutcomeStatus.SUCCEEDED, found
    assert found.partner_reference == outcome.partner_reference


async def test_replay_is_the_same_payment(family: Family) -> None:
    first = await family.adapter.pay(pay_request("0000"))
    second = await family.adapter.pay(pay_request("0000"))
    assert first.status is second.status is OutcomeStatus.SUCCEEDED
    assert first.partner_reference == second.partner_reference
    assert family.ledger.charges_for(REQUEST_ID) == 1


async def test_same_id_other_amount_is_unknown_and_charges_nothing_more(family: Family) -> None:
    assert (await family.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    assert_unknown(
        await family.adapter.pay(pay_request("0000", payer=OTHER_AMOUNT)), Delivery.MAYBE_SENT
    )
    assert family.ledger.charges_for(REQUEST_ID) == 1


async def test_echoed_amount_mismatch_is_unknown(family: Family) -> None:
    """The partner reports a success for another amount than ours: never trusted."""
    assert (await family.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    outcome = await family.adapter.inquire(inquiry(OTHER_AMOUNT))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert "amount" in outcome.message.lower(), outcome


async def test_0091_times_out_then_inquiry_finds_it(family: Family) -> None:
    assert_unknown(await family.adapter.pay(pay_request("0091")), Delivery.MAYBE_SENT)
    assert family.ledger.charges_for(REQUEST_ID) == 1
    found = await family.adapter.inquire(inquiry())
    assert found.status is OutcomeStatus.SUCCEEDED, found
    assert family.ledger.charges_for(REQUEST_ID) == 1


async def test_0092_not_found_then_cancel_and_a_late_pay_never_charges(family: Family) -> None:
    assert_unknown(await family.adapter.pay(pay_request("0092")), Delivery.MAYBE_SENT)
    missing = await family.adapter.inquire(inquiry())
    assert_unknown(missing, Delivery.MAYBE_SENT)
    assert missing.not_found
    cancelled = await family.adapter.cancel(CancelRequest(REQUEST_ID))
    assert cancelled.status is OutcomeStatus.SUCCEEDED, cancelled
    late = await family.adapter.pay(pay_request("0000"))
    assert late.status is not OutcomeStatus.SUCCEEDED, late
    assert (await family.adapter.inquire(inquiry())).status is not OutcomeStatus.SUCCEEDED
    assert family.ledger.charges_for(REQUEST_ID) == 0


async def test_0093_in_process_then_confirmed(family: Family) -> None:
    first = await family.adapter.pay(pay_request("0093"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.in_process
    waiting = await family.adapter.inquire(inquiry())
    assert_unknown(waiting, Delivery.MAYBE_SENT)
    assert waiting.in_process and family.ledger.charges_for(REQUEST_ID) == 0
    await asyncio.sleep(CONFIRM + 0.05)
    done = await family.adapter.inquire(inquiry())
    assert done.status is OutcomeStatus.SUCCEEDED, done
    assert (await family.adapter.pay(pay_request("0093"))).status is OutcomeStatus.SUCCEEDED
    assert family.ledger.charges_for(REQUEST_ID) == 1


async def test_0094_in_process_then_expired(family: Family) -> None:
    first = await family.adapter.pay(pay_request("0094"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.in_process
    await asyncio.sleep(EXPIRE + 0.05)
    assert_failed(await family.adapter.inquire(inquiry()), FailureCode.PAYMENT_EXPIRED)
    assert_failed(await family.adapter.pay(pay_request("0094")), FailureCode.PAYMENT_EXPIRED)
    assert family.ledger.charges_for(REQUEST_ID) == 0


async def test_0500_then_the_same_request_succeeds_charged_once(family: Family) -> None:
    first = await family.adapter.pay(pay_request("0500"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.http_status == 500
    assert family.ledger.charges_for(REQUEST_ID) == 0
    retry = await family.adapter.pay(pay_request("0500"))
    assert retry.status is OutcomeStatus.SUCCEEDED, retry
    assert (await family.adapter.pay(pay_request("0500"))).status is OutcomeStatus.SUCCEEDED
    assert family.ledger.charges_for(REQUEST_ID) == 1


async def test_0503_not_accepted_nothing_charged(family: Family) -> None:
    for _ in range(2):
        outcome = await family.adapter.pay(pay_request("0503"))
        assert_unknown(outcome, Delivery.NOT_SENT)
        assert outcome.nothing_charged
    assert family.ledger.entries == []


async def test_cancel_reverses_a_charge_once(family: Family) -> None:
    assert (await family.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    for _ in range(2):
        outcome = await family.adapter.cancel(CancelRequest(REQUEST_ID))
        assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert family.ledger.charges_for(REQUEST_ID) == family.ledger.reversals_for(REQUEST_ID) == 1
    assert_failed(await family.adapter.inquire(inquiry()), FailureCode.PARTNER_DECLINED)


async def test_closed_port_is_not_sent(family: Family) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = family.build(f"http://127.0.0.1:{port}")
    outcome = await adapter.pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.NOT_SENT)
    assert outcome.nothing_charged


# --- answers that are not the partner's ----------------------------------------------------------


def _tamper(body: bytes, headers: dict[str, str], mode: str) -> tuple[bytes, dict[str, str]]:
    if mode == "unsigned":
        return body, {k: v for k, v in headers.items() if "signature" not in k.lower()}
    if mode == "whitespace":  # still the same JSON, but not the signed bytes
        return body + b" ", headers
    # "amount": the echoed payer amount, in either family's notation, raised by one minor unit
    return body.replace(b'"25012"', b'"25013"').replace(b'"250.12"', b'"250.13"'), headers


@pytest.fixture
async def tampering(family: Family) -> AsyncIterator[Callable[[str], Adapter]]:
    """A man in the middle: forwards to the sandbox, then spoils the answer (`?mode` per test)."""
    mode: dict[str, str] = {}
    dropped = {"content-length", "transfer-encoding", "content-encoding", "date", "server"}

    async def relay(request: web.Request) -> web.Response:
        forward = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        upstream = await family.http.request(
            request.method,
            family.url + request.raw_path,
            content=await request.read(),
            headers=forward,
            timeout=5,
        )
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in dropped}
        body, headers = _tamper(upstream.content, headers, mode["mode"])
        return web.Response(status=upstream.status_code, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    runner, url = await _serve(app)

    def adapter(chosen: str) -> Adapter:
        mode["mode"] = chosen
        return family.build(url)

    try:
        yield adapter
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["unsigned", "whitespace", "amount"])
async def test_an_answer_that_does_not_verify_is_maybe_sent(
    family: Family, tampering: Callable[[str], Adapter], mode: str
) -> None:
    outcome = await tampering(mode).pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert family.ledger.charges_for(REQUEST_ID) == 1  # it did charge: hence "maybe sent"
