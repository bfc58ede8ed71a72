"""One behavioural suite for every protocol family: the adapter contract of DESIGN.md, proven.

Each test runs once per protocol family (`protocol_family`, `tests/support/families.py`), against
that family's sandbox on loopback, with the adapter built through the registry exactly as the
gateway builds it. The scenarios and assertions are identical; only the set-up (keys, settings)
differs. Delays are short (hold 0.5 s against a 0.25 s pay and refund timeout; confirm 0.3 s;
expire 0.4 s). Refund amounts are read back from each sandbox's `GET /_sandbox/ledger` JSON, whose
shape both families share (`amount_minor` on every entry, `refund_request_id` on refunds).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web

from adapters import (
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
    RefundInquiryRequest,
    RefundRequest,
    SystemClock,
)
from fx import Money
from tests.support.families import SandboxFamily, running_family, serve

PAY_TIMEOUT = 0.25
HOLD = 0.5
CONFIRM = 0.3
EXPIRE = 0.4
TIMEOUTS = {
    Operation.PAY: PAY_TIMEOUT,
    Operation.INQUIRE: 1.0,
    Operation.CANCEL: 1.0,
    Operation.REFUND: PAY_TIMEOUT,  # 0095 holds refund answers past it
    Operation.INQUIRE_REFUND: 1.0,
    Operation.SETTLEMENT_FILE: 2.0,
}
PAYER_AMOUNT = Money.of(25012, "CNY")  # "25012" in minor units, "250.12" in major units
OTHER_AMOUNT = Money.of(25013, "CNY")
REQUEST_ID = "att_contract_0001"


Family = SandboxFamily


@pytest.fixture
async def family(protocol_family: str) -> AsyncIterator[Family]:
    async with running_family(
        protocol_family,
        clock=SystemClock(),
        timeouts=TIMEOUTS,
        hold_seconds=HOLD,
        confirm_seconds=CONFIRM,
        expire_seconds=EXPIRE,
    ) as running:
        yield running


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
    core = {
        Operation.PAY,
        Operation.INQUIRE,
        Operation.CANCEL,
        Operation.REFUND,
        Operation.INQUIRE_REFUND,
    }
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


# --- refunds -------------------------------------------------------------------------------------


async def paid(family: Family, last4: str = "0000") -> str:
    """Pay with a code ending in `last4`; the partner's payment id (the gateway keeps it)."""
    outcome = await family.adapter.pay(pay_request(last4))
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference
    return outcome.partner_reference


def refund_request(
    value: int, *, request_id: str = "rfa_contract_1", payment_reference: str | None = None
) -> RefundRequest:
    return RefundRequest(
        partner_request_id=request_id,
        payment_partner_request_id=REQUEST_ID,
        reference=f"rf-{request_id}",
        amount=Money.of(value * 5, "THB"),
        payer_amount=Money.of(value, "CNY"),
        reason="returned goods",
        payment_partner_reference=payment_reference,
    )


async def ledger_json(family: Family) -> dict[str, Any]:
    response = await family.http.get(f"{family.url}/_sandbox/ledger", timeout=2)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


async def refunded(family: Family) -> dict[str, int]:
    """Minor units refunded by refund request id, summed from the ledger JSON's entries."""
    sums: dict[str, int] = {}
    for entry in (await ledger_json(family))["entries"]:
        if entry["kind"] == "refund":
            assert entry["payment_request_id"] == REQUEST_ID, entry
            assert entry["amount"]["currency"] == "CNY", entry
            rid = entry["refund_request_id"]
            sums[rid] = sums.get(rid, 0) + entry["amount_minor"]
    return sums


def assert_succeeded(outcome: Outcome) -> None:
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference and outcome.completed_at is not None, outcome


async def test_full_refund(family: Family) -> None:
    reference = await paid(family)
    outcome = await family.adapter.refund(refund_request(25012, payment_reference=reference))
    assert_succeeded(outcome)
    assert await refunded(family) == {"rfa_contract_1": 25012}
    assert family.ledger.refunds_for(REQUEST_ID) == 1
    # The payment itself is still a success: refunds do not undo it.
    assert (await family.adapter.inquire(inquiry())).status is OutcomeStatus.SUCCEEDED


async def test_ledger_json_has_one_shape(family: Family) -> None:
    """Both families' `GET /_sandbox/ledger`: the same sections and entry fields."""
    reference = await paid(family)
    await family.adapter.refund(refund_request(100, payment_reference=reference))
    data = await ledger_json(family)
    assert set(data) == {"payments", "refunds", "entries"}
    entry_fields = {
        "kind",
        "payment_request_id",
        "payment_id",
        "refund_request_id",
        "amount",
        "amount_minor",
        "at",
    }
    assert [set(e) for e in data["entries"]] == [entry_fields, entry_fields]
    refund = data["refunds"]["rfa_contract_1"]
    assert {"refund_request_id", "refund_id", "payment_request_id", "amount_minor"} <= set(refund)
    assert data["payments"][REQUEST_ID]["refunded_minor"] == 100


async def test_partial_and_repeated_refunds_up_to_the_payment(family: Family) -> None:
    reference = await paid(family)
    parts = {"rfa_1": 10000, "rfa_2": 10000, "rfa_3": 5012}  # 25012 in all
    references = set()
    for rid, value in parts.items():
        outcome = await family.adapter.refund(
            refund_request(value, request_id=rid, payment_reference=reference)
        )
        assert_succeeded(outcome)
        references.add(outcome.partner_reference)
    assert len(references) == 3  # three refunds at the partner
    one_more = await family.adapter.refund(
        refund_request(1, request_id="rfa_4", payment_reference=reference)
    )
    assert_failed(one_more, FailureCode.PARTNER_DECLINED)
    assert await refunded(family) == parts
    assert sum((await refunded(family)).values()) == PAYER_AMOUNT.value


async def test_over_refund_is_declined_and_returns_nothing(family: Family) -> None:
    reference = await paid(family)
    too_much = await family.adapter.refund(refund_request(25013, payment_reference=reference))
    assert_failed(too_much, FailureCode.PARTNER_DECLINED)
    assert await refunded(family) == {}
    # The decline is final for that request id: a replay answers the same.
    again = await family.adapter.refund(refund_request(25013, payment_reference=reference))
    assert_failed(again, FailureCode.PARTNER_DECLINED)
    assert_failed(
        await family.adapter.inquire_refund(RefundInquiryRequest("rfa_contract_1", OTHER_AMOUNT)),
        FailureCode.PARTNER_DECLINED,
    )
    # ... while the whole amount, under another id, is still refundable.
    exact = await family.adapter.refund(
        refund_request(25012, request_id="rfa_exact", payment_reference=reference)
    )
    assert_succeeded(exact)
    assert await refunded(family) == {"rfa_exact": 25012}


async def test_refund_replay_is_one_refund(family: Family) -> None:
    reference = await paid(family)
    first = await family.adapter.refund(refund_request(10000, payment_reference=reference))
    second = await family.adapter.refund(refund_request(10000, payment_reference=reference))
    assert_succeeded(first)
    assert_succeeded(second)
    assert first.partner_reference == second.partner_reference
    assert await refunded(family) == {"rfa_contract_1": 10000}
    # The same refund request id with another amount names another request: never trusted,
    # never a second refund.
    other = await family.adapter.refund(refund_request(10001, payment_reference=reference))
    assert_unknown(other, Delivery.MAYBE_SENT)
    assert await refunded(family) == {"rfa_contract_1": 10000}
    assert family.ledger.refunds_for(REQUEST_ID) == 1


async def test_inquire_refund_succeeded_and_not_found(family: Family) -> None:
    reference = await paid(family)
    made = await family.adapter.refund(refund_request(10000, payment_reference=reference))
    assert_succeeded(made)
    found = await family.adapter.inquire_refund(
        RefundInquiryRequest("rfa_contract_1", Money.of(10000, "CNY"))
    )
    assert_succeeded(found)
    assert found.partner_reference == made.partner_reference
    missing = await family.adapter.inquire_refund(
        RefundInquiryRequest("rfa_never_sent", Money.of(10000, "CNY"))
    )
    assert_unknown(missing, Delivery.MAYBE_SENT)
    assert missing.not_found
    # An echo of another amount than ours is never a success.
    other = await family.adapter.inquire_refund(
        RefundInquiryRequest("rfa_contract_1", Money.of(10001, "CNY"))
    )
    assert_unknown(other, Delivery.MAYBE_SENT)
    assert "amount" in other.message.lower(), other


@pytest.mark.parametrize("last4", ["0051", "0093", "cancelled", "unknown"])
async def test_only_a_succeeded_payment_is_refundable(family: Family, last4: str) -> None:
    if last4 == "cancelled":
        await paid(family)
        assert (
            await family.adapter.cancel(CancelRequest(REQUEST_ID))
        ).status is OutcomeStatus.SUCCEEDED
    elif last4 != "unknown":
        assert (await family.adapter.pay(pay_request(last4))).status is not OutcomeStatus.SUCCEEDED
    outcome = await family.adapter.refund(refund_request(100))
    assert_failed(outcome, FailureCode.PARTNER_DECLINED)
    assert await refunded(family) == {}


async def test_0095_refund_times_out_then_inquiry_finds_it(family: Family) -> None:
    reference = await paid(family, "0095")
    outcome = await family.adapter.refund(refund_request(10000, payment_reference=reference))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert await refunded(family) == {"rfa_contract_1": 10000}  # the money did go back
    found = await family.adapter.inquire_refund(
        RefundInquiryRequest("rfa_contract_1", Money.of(10000, "CNY"))
    )
    assert_succeeded(found)
    assert family.ledger.refunds_for(REQUEST_ID) == 1


async def test_0096_refunds_are_declined(family: Family) -> None:
    reference = await paid(family, "0096")
    outcome = await family.adapter.refund(refund_request(10000, payment_reference=reference))
    assert_failed(outcome, FailureCode.PARTNER_DECLINED)
    assert await refunded(family) == {}
    assert_failed(
        await family.adapter.inquire_refund(
            RefundInquiryRequest("rfa_contract_1", Money.of(10000, "CNY"))
        ),
        FailureCode.PARTNER_DECLINED,
    )
    # Cancelling is still possible (nothing was refunded).
    assert (
        await family.adapter.cancel(CancelRequest(REQUEST_ID))
    ).status is OutcomeStatus.SUCCEEDED


async def test_0097_cancel_is_refused_so_refund_instead(family: Family) -> None:
    reference = await paid(family, "0097")
    for _ in range(2):  # final: retrying changes nothing
        refused = await family.adapter.cancel(CancelRequest(REQUEST_ID))
        assert_failed(refused, FailureCode.PARTNER_DECLINED)
    assert family.ledger.reversals_for(REQUEST_ID) == 0
    assert (await family.adapter.inquire(inquiry())).status is OutcomeStatus.SUCCEEDED
    outcome = await family.adapter.refund(refund_request(25012, payment_reference=reference))
    assert_succeeded(outcome)
    assert await refunded(family) == {"rfa_contract_1": 25012}


async def test_cancel_of_a_succeeded_payment_records_exactly_one_reversal(family: Family) -> None:
    await paid(family)
    for _ in range(3):
        outcome = await family.adapter.cancel(CancelRequest(REQUEST_ID))
        assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    kinds = [(e["kind"], e["amount_minor"]) for e in (await ledger_json(family))["entries"]]
    assert kinds == [("charge", 25012), ("reversal", 25012)]


async def test_cancel_of_a_refunded_payment_is_refused(family: Family) -> None:
    reference = await paid(family)
    made = await family.adapter.refund(refund_request(100, payment_reference=reference))
    assert_succeeded(made)
    refused = await family.adapter.cancel(CancelRequest(REQUEST_ID))
    assert_failed(refused, FailureCode.PARTNER_DECLINED)
    assert family.ledger.reversals_for(REQUEST_ID) == 0
    assert (await family.adapter.inquire(inquiry())).status is OutcomeStatus.SUCCEEDED
    # The rest is refundable as usual.
    rest = await family.adapter.refund(
        refund_request(24912, request_id="rfa_rest", payment_reference=reference)
    )
    assert_succeeded(rest)
    assert sum((await refunded(family)).values()) == PAYER_AMOUNT.value


async def test_refund_to_a_closed_port_is_not_sent(family: Family) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = family.build(f"http://127.0.0.1:{port}")
    for outcome in (
        await adapter.refund(refund_request(100)),
        await adapter.inquire_refund(RefundInquiryRequest("rfa_contract_1", PAYER_AMOUNT)),
    ):
        assert_unknown(outcome, Delivery.NOT_SENT)


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
    runner, url = await serve(app)

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


@pytest.mark.parametrize("mode", ["unsigned", "whitespace", "amount"])
async def test_a_refund_answer_that_does_not_verify_is_maybe_sent(
    family: Family, tampering: Callable[[str], Adapter], mode: str
) -> None:
    reference = await paid(family)
    outcome = await tampering(mode).refund(refund_request(25012, payment_reference=reference))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert await refunded(family) == {"rfa_contract_1": 25012}  # it did refund: "maybe sent"
