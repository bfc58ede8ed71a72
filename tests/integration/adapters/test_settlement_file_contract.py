"""`fetch_settlement_file` on every protocol family, against its sandbox over real HTTP.

Each test runs once per family: the adapter is built through the registry as the gateway builds
it, and the sandbox settles on a Bangkok partner's terms (cut-off 23:00, 120 bps + CNY 0.30 per
payment). One clock, set to 22:30 Bangkok on 2026-11-26 and moved forward by the tests, serves
the adapter and its sandbox (the injectable clock of DESIGN.md), so business dates are known.
The file must list exactly what the sandbox's ledger charged and refunded on that day: a
reversed payment never, a full refund after a refused cancel always, each line with the fee of
the schedule and the rate its two amounts imply. Tampering (drop, add, alter) shows in the file,
and is refused by a sandbox started without it; an answer that is not the partner's raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from aiohttp import web

from adapters import (
    PROTOCOLS,
    Adapter,
    CancelRequest,
    InquiryRequest,
    MerchantInfo,
    Operation,
    Outcome,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
    RefundRequest,
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    SystemClock,
    implied_rate,
)
from adapters.sandboxes import SettlementTerms
from fx import Money, round_half_up
from tests.support.families import SandboxFamily, running_family, serve

CONFIRM = 0.3
TIMEOUTS = {op: 2.0 for op in Operation}
TERMS = SettlementTerms(
    timezone="Asia/Bangkok", cutoff=time(23, 0), fee_bps=120, fee_fixed={"CNY": 30}
)
START = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 22:30 in Bangkok: business day 26 Nov
DAY = date(2026, 11, 26)
NEXT_DAY = date(2026, 11, 27)
MERCHANT_AMOUNT = Money.of(125050, "THB")
PAYER_AMOUNT = Money.of(25012, "CNY")


def pinned_clock(at: datetime) -> SystemClock:
    """A clock that reads `at` now and runs on from there (tests advance it)."""
    return SystemClock(at - datetime.now(UTC))


class Family(SandboxFamily):
    """A running family, with what the settlement tests ask of its sandbox."""

    async def fetch(self, day: date = DAY, currency: str | None = None) -> SettlementFile:
        return await self.adapter.fetch_settlement_file(SettlementFileRequest(day, currency))

    async def tamper(self, body: dict[str, Any]) -> httpx.Response:
        return await self.http.post(f"{self.url}/_sandbox/settlement_tamper", json=body, timeout=2)


@contextlib.asynccontextmanager
async def _family(name: str, *, allow_tamper: bool) -> AsyncIterator[Family]:
    async with running_family(
        name,
        clock=pinned_clock(START),
        timeouts=TIMEOUTS,
        kind=Family,
        hold_seconds=0.5,
        confirm_seconds=CONFIRM,
        expire_seconds=0.4,
        settlement=TERMS,
        allow_settlement_tamper=allow_tamper,
    ) as running:
        yield running


@pytest.fixture
async def family(protocol_family: str) -> AsyncIterator[Family]:
    async with _family(protocol_family, allow_tamper=True) as running:
        yield running


@pytest.fixture
async def strict_family(protocol_family: str) -> AsyncIterator[Family]:
    async with _family(protocol_family, allow_tamper=False) as running:
        yield running


# --- traffic -------------------------------------------------------------------------------------


def code(last4: str) -> str:
    return "2812345678901" + "2" + last4


def pay_request(request_id: str, last4: str, payer: Money = PAYER_AMOUNT) -> PayRequest:
    return PayRequest(
        partner_request_id=request_id,
        reference=f"order-{request_id}",
        amount=MERCHANT_AMOUNT,
        payer_amount=payer,
        code=PaymentCode(code(last4)),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH", terminal_id="T1"),
        requested_at=START,
    )


def refund_request(
    request_id: str, payment_request_id: str, payer: int, reference: str | None
) -> RefundRequest:
    return RefundRequest(
        partner_request_id=request_id,
        payment_partner_request_id=payment_request_id,
        reference=f"rf-{request_id}",
        amount=Money.of(payer * 5, "THB"),
        payer_amount=Money.of(payer, "CNY"),
        reason="returned goods",
        payment_partner_reference=reference,
    )


@dataclasses.dataclass(frozen=True)
class Expected:
    """A line the file must hold, from what the adapter was told."""

    record_type: str
    request_id: str
    payment_request_id: str
    outcome: Outcome
    amount: Money
    merchant_amount: Money | None


def assert_succeeded(outcome: Outcome) -> None:
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference and outcome.completed_at is not None, outcome


async def business_day(family: Family) -> list[Expected]:
    """Mixed traffic on 26 Nov: what the partner really keeps, as the file must list it."""
    adapter = family.adapter
    expected: list[Expected] = []

    async def paid(request_id: str, last4: str = "0000") -> Outcome:
        outcome = await adapter.pay(pay_request(request_id, last4))
        assert_succeeded(outcome)
        expected.append(
            Expected("payment", request_id, request_id, outcome, PAYER_AMOUNT, MERCHANT_AMOUNT)
        )
        return outcome

    async def refunded(request_id: str, payment: str, value: int, reference: str | None) -> None:
        outcome = await adapter.refund(refund_request(request_id, payment, value, reference))
        assert_succeeded(outcome)
        merchant = Money.of(value * 5, "THB") if family.carries_refund_merchant_amount else None
        expected.append(
            Expected("refund", request_id, payment, outcome, Money.of(value, "CNY"), merchant)
        )

    await paid("att_ok")
    declined = await adapter.pay(pay_request("att_declined", "0051"))
    assert declined.status is OutcomeStatus.FAILED
    # Charged, then cancelled (reversed): in no file.
    cancelled = await adapter.pay(pay_request("att_cancelled", "0000"))
    assert_succeeded(cancelled)
    assert (await adapter.cancel(CancelRequest("att_cancelled"))).status is OutcomeStatus.SUCCEEDED
    # Never recorded (the answer is lost; the gateway cancels): in no file.
    pending = asyncio.create_task(adapter.pay(pay_request("att_lost", "0092")))
    # The tourist confirms after CONFIRM seconds: charged then.
    assert (await adapter.pay(pay_request("att_confirm", "0093"))).in_process
    await asyncio.sleep(CONFIRM + 0.05)
    confirmed = await adapter.inquire(InquiryRequest("att_confirm", PAYER_AMOUNT))
    assert_succeeded(confirmed)
    expected.append(
        Expected("payment", "att_confirm", "att_confirm", confirmed, PAYER_AMOUNT, MERCHANT_AMOUNT)
    )
    # The cancel is refused for good, so the gateway refunds in full: a real refund.
    refused = await paid("att_refused", "0097")
    assert (await adapter.cancel(CancelRequest("att_refused"))).status is OutcomeStatus.FAILED
    await refunded("rfa_refused_full", "att_refused", PAYER_AMOUNT.value, refused.partner_reference)
    # A partial refund.
    partial = await paid("att_partial")
    await refunded("rfa_partial", "att_partial", 10001, partial.partner_reference)
    await pending
    assert (await adapter.cancel(CancelRequest("att_lost"))).status is OutcomeStatus.SUCCEEDED
    return expected


def assert_line(line: SettlementLine, want: Expected) -> None:
    fee_value = round_half_up(Decimal(want.amount.value * TERMS.fee_bps) / 10_000)
    if want.record_type == "payment":
        fee_value += TERMS.fee_fixed.get(want.amount.currency.code, 0)
    assert line.record_type == want.record_type
    assert line.partner_request_id == want.request_id
    assert line.payment_partner_request_id == want.payment_request_id
    assert line.partner_reference == want.outcome.partner_reference
    assert line.amount == want.amount
    assert line.fee == Money(fee_value, want.amount.currency)
    assert line.merchant_amount == want.merchant_amount
    rate = implied_rate(want.amount, want.merchant_amount) if want.merchant_amount else None
    assert line.fx_rate == rate
    assert line.completed_at == want.outcome.completed_at
    assert TERMS.business_date(line.completed_at) == DAY


# --- the file ------------------------------------------------------------------------------------


async def test_the_file_lists_exactly_what_the_partner_charged_and_refunded(
    family: Family,
) -> None:
    expected = await business_day(family)
    settlement = await family.fetch()
    assert settlement.partner_id == f"{family.name}-sbx"
    assert settlement.business_date == DAY
    assert settlement.raw  # the bytes as received, kept as evidence
    by_id = {line.partner_request_id: line for line in settlement.lines}
    assert len(by_id) == len(settlement.lines) == len(expected)
    assert set(by_id) == {want.request_id for want in expected}
    for want in expected:
        assert_line(by_id[want.request_id], want)
    # Nothing reversed, declined or never recorded is in it.
    assert not {"att_cancelled", "att_declined", "att_lost"} & set(by_id)
    # Totals: what the partner owes for the day is the sum of the lines' nets.
    charged = sum(w.amount.value for w in expected if w.record_type == "payment")
    returned = sum(w.amount.value for w in expected if w.record_type == "refund")
    fees = sum(
        line.fee.value * (1 if line.record_type == "payment" else -1) for line in settlement.lines
    )
    assert sum(line.net.value for line in settlement.lines) == charged - returned - fees
    # In the order the partner completed them.
    assert [line.completed_at for line in settlement.lines] == sorted(
        line.completed_at for line in settlement.lines
    )


async def test_lines_fall_on_the_partners_business_day(family: Family) -> None:
    first = await family.adapter.pay(pay_request("att_before_cutoff", "0000"))
    assert_succeeded(first)
    family.clock.advance(timedelta(minutes=45))  # 23:15 in Bangkok: past the 23:00 cut-off
    late = await family.adapter.pay(pay_request("att_after_cutoff", "0000"))
    assert_succeeded(late)
    refund = await family.adapter.refund(
        refund_request("rfa_next_day", "att_before_cutoff", 100, first.partner_reference)
    )
    assert_succeeded(refund)

    today = {line.partner_request_id for line in (await family.fetch(DAY)).lines}
    tomorrow = await family.fetch(NEXT_DAY)
    assert today == {"att_before_cutoff"}
    assert {line.partner_request_id for line in tomorrow.lines} == {
        "att_after_cutoff",
        "rfa_next_day",
    }
    assert (await family.fetch(date(2026, 11, 28))).lines == ()


async def test_a_currency_filter(family: Family) -> None:
    assert_succeeded(await family.adapter.pay(pay_request("att_cny", "0000")))
    assert_succeeded(
        await family.adapter.pay(pay_request("att_krw", "0000", payer=Money.of(50000, "KRW")))
    )
    cny = await family.fetch(currency="CNY")
    assert [line.partner_request_id for line in cny.lines] == ["att_cny"]
    krw = await family.fetch(currency="KRW")
    assert [(line.partner_request_id, line.amount) for line in krw.lines] == [
        ("att_krw", Money.of(50000, "KRW"))
    ]
    assert {line.partner_request_id for line in (await family.fetch()).lines} == {
        "att_cny",
        "att_krw",
    }
    assert (await family.fetch(currency="JPY")).lines == ()


async def test_an_empty_day_is_an_empty_file(family: Family) -> None:
    settlement = await family.fetch(date(2020, 1, 1))
    assert settlement.lines == ()
    assert settlement.business_date == date(2020, 1, 1)


# --- tampering -----------------------------------------------------------------------------------


async def test_tampering_drops_adds_and_alters_lines(family: Family) -> None:
    adapter = family.adapter
    for request_id in ("att_a", "att_b", "att_c", "att_d"):
        assert_succeeded(await adapter.pay(pay_request(request_id, "0000")))
    clean = {line.partner_request_id: line for line in (await family.fetch()).lines}
    answer = await family.tamper(
        {
            "business_date": DAY.isoformat(),
            "drop": ["att_a"],
            "add": [
                {
                    "partner_request_id": "att_ghost",
                    "amount": 777,
                    "currency": "CNY",
                    "merchant_amount": 3885,
                    "merchant_currency": "THB",
                },
                {
                    "record_type": "refund",
                    "partner_request_id": "rfa_ghost",
                    "payment_partner_request_id": "att_d",
                    "amount": 100,
                    "currency": "CNY",
                    "fee": 5,
                },
            ],
            "alter": [
                {"partner_request_id": "att_b", "amount": 25013},
                {"partner_request_id": "att_c", "fee": 1},
                {"partner_request_id": "att_d", "fx_rate": "0.25"},
            ],
        }
    )
    assert answer.status_code == 200, answer.text
    tampered = {line.partner_request_id: line for line in (await family.fetch()).lines}
    assert set(tampered) == {"att_b", "att_c", "att_d", "att_ghost", "rfa_ghost"}
    # Each alteration changes only its own field.
    assert tampered["att_b"] == dataclasses.replace(clean["att_b"], amount=Money.of(25013, "CNY"))
    assert tampered["att_c"] == dataclasses.replace(clean["att_c"], fee=Money.of(1, "CNY"))
    assert tampered["att_d"] == dataclasses.replace(clean["att_d"], fx_rate=Decimal("0.25"))
    ghost = tampered["att_ghost"]
    assert (ghost.record_type, ghost.amount, ghost.merchant_amount) == (
        "payment",
        Money.of(777, "CNY"),
        Money.of(3885, "THB"),
    )
    assert ghost.fee == Money.of(round_half_up(Decimal(777 * 120) / 10_000) + 30, "CNY")
    assert ghost.fx_rate == Decimal("0.2")
    assert TERMS.business_date(ghost.completed_at) == DAY
    refund = tampered["rfa_ghost"]
    assert (refund.record_type, refund.payment_partner_request_id, refund.fee) == (
        "refund",
        "att_d",
        Money.of(5, "CNY"),
    )
    # Another day is untouched, and posting an empty tampering restores the day.
    assert (await family.fetch(NEXT_DAY)).lines == ()
    cleared = await family.tamper({"business_date": DAY.isoformat()})
    assert cleared.status_code == 200
    assert {line.partner_request_id: line for line in (await family.fetch()).lines} == clean


async def test_a_bad_tampering_is_400_and_changes_nothing(family: Family) -> None:
    assert_succeeded(await family.adapter.pay(pay_request("att_a", "0000")))
    before = (await family.fetch()).lines
    for body in (
        {"drop": ["att_a"]},  # no business_date
        {"business_date": "26/11/2026", "drop": ["att_a"]},
        {"business_date": DAY.isoformat(), "drop": ["att_a"], "extra": 1},
        {"business_date": DAY.isoformat(), "alter": [{"partner_request_id": "x", "amount": 1.5}]},
        {"business_date": DAY.isoformat(), "alter": [{"partner_request_id": "x", "fx_rate": "x"}]},
        {"business_date": DAY.isoformat(), "add": [{"partner_request_id": "x", "amount": 1}]},
        {
            "business_date": DAY.isoformat(),
            "add": [{"partner_request_id": "x", "amount": 1, "currency": "XXX"}],
        },
        {
            "business_date": DAY.isoformat(),
            "add": [
                {"record_type": "refund", "partner_request_id": "x", "amount": 1, "currency": "CNY"}
            ],
        },
    ):
        answer = await family.tamper(body)
        assert answer.status_code == 400, (body, answer.text)
    assert (await family.fetch()).lines == before


async def test_tampering_is_refused_unless_allowed(strict_family: Family) -> None:
    family = strict_family
    assert_succeeded(await family.adapter.pay(pay_request("att_a", "0000")))
    answer = await family.tamper({"business_date": DAY.isoformat(), "drop": ["att_a"]})
    assert answer.status_code == 403
    assert answer.json()["error"]["type"] == "forbidden"
    assert [line.partner_request_id for line in (await family.fetch()).lines] == ["att_a"]


async def test_the_sandbox_shows_its_file_as_json(family: Family) -> None:
    outcome = await family.adapter.pay(pay_request("att_a", "0000"))
    assert_succeeded(outcome)
    answer = await family.http.get(f"{family.url}/_sandbox/settlement/{DAY.isoformat()}")
    assert answer.status_code == 200
    shown = answer.json()
    assert (shown["business_date"], shown["timezone"], shown["cutoff"]) == (
        "2026-11-26",
        "Asia/Bangkok",
        "23:00",
    )
    [line] = shown["lines"]
    assert line["partner_request_id"] == "att_a"
    assert line["partner_reference"] == outcome.partner_reference
    assert (line["amount"], line["fee"], line["net"]) == (25012, 330, 24682)
    bad = await family.http.get(f"{family.url}/_sandbox/settlement/2026-13-01")
    assert bad.status_code == 400


# --- what cannot be trusted raises --------------------------------------------------------------


def _spoil(body: bytes, headers: dict[str, str], mode: str) -> tuple[bytes, dict[str, str]]:
    if mode == "unsigned":
        return body, {k: v for k, v in headers.items() if "signature" not in k.lower()}
    if mode == "whitespace":  # the same file, but not the signed bytes
        return body + b"\n", headers
    if mode == "truncated":
        return body[: len(body) // 2], headers
    return body.replace(b"25012", b"25013").replace(b"250.12", b"250.13"), headers  # "amount"


@pytest.fixture
async def spoiling(family: Family) -> AsyncIterator[Callable[[str], Adapter]]:
    """A man in the middle: forwards to the sandbox, then spoils the answer."""
    mode: dict[str, str] = {}
    dropped = {"content-length", "transfer-encoding", "content-encoding", "date", "server"}

    async def relay(request: web.Request) -> web.Response:
        forward = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        upstream = await family.http.request(
            request.method,
            family.url + request.raw_path,
            content=await request.read(),
            headers=forward,
            timeout=5,
        )
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in dropped}
        body, headers = _spoil(upstream.content, headers, mode["mode"])
        return web.Response(status=upstream.status_code, body=body, headers=headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", relay)
    runner, url = await serve(app)

    def adapter(chosen: str) -> Adapter:
        mode["mode"] = chosen
        return family.build(url)

    try:
        yield adapter
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("mode", ["unsigned", "whitespace", "truncated", "amount"])
async def test_a_file_that_does_not_verify_raises(
    family: Family, spoiling: Callable[[str], Adapter], mode: str
) -> None:
    assert_succeeded(await family.adapter.pay(pay_request("att_a", "0000")))
    with pytest.raises(SettlementFileUnavailable) as info:
        await spoiling(mode).fetch_settlement_file(SettlementFileRequest(DAY))
    assert info.value.http_status == 200, info.value
    assert (await family.fetch()).lines  # the partner's own answer is fine


async def test_a_closed_port_raises(family: Family) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(SettlementFileUnavailable) as info:
        await family.build(f"http://127.0.0.1:{port}").fetch_settlement_file(
            SettlementFileRequest(DAY)
        )
    assert info.value.http_status is None


async def test_a_refusal_raises(family: Family) -> None:
    """Credentials the partner does not know: a signed refusal, not a file."""
    other = dict(family.credentials)
    if family.name == "walletrest":
        other["api_key"] = "sk_test_unknown"
    else:
        other["client_id"] = "SANDBOX_UNKNOWN"
    adapter = PROTOCOLS[family.name].build(
        partner_id="stranger",
        base_url=family.url,
        credentials=other,
        http=family.http,
        timeouts=TIMEOUTS,
        clock=family.clock,
    )
    with pytest.raises(SettlementFileUnavailable) as info:
        await adapter.fetch_settlement_file(SettlementFileRequest(DAY))
    assert "settlement" in str(info.value) or "fetch_settlement_file" in str(info.value)
