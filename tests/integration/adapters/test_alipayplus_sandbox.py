"""The real adapter against the sandbox partner over loopback HTTP, one test code at a time.

Times are shortened (hold 0.5 s against a 0.2 s pay and refund timeout); 0093/0094 move the
shared clock forward instead of waiting.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiohttp import web

from adapters import (
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
    new_http_client,
)
from adapters.alipayplus import (
    AlipayPlusAdapter,
    AlipayPlusCredentials,
    build_adapter,
    generate_keypair,
)
from adapters.alipayplus.sandbox import (
    LEDGER,
    SandboxLedger,
    SandboxSettings,
    create_sandbox_app,
)
from adapters.alipayplus.signing import (
    SignatureHeader,
    build_content,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from fx import Money

CLIENT_ID = "SANDBOX_GATEWAY"
PAY_TIMEOUT = 0.2
HOLD = 0.5
CONFIRM = 2.0
EXPIRE = 3.0
TIMEOUTS = {op: 2.0 for op in Operation} | {
    Operation.PAY: PAY_TIMEOUT,
    Operation.REFUND: PAY_TIMEOUT,
}
PAYER_AMOUNT = Money.of(25012, "CNY")


@functools.cache
def keys() -> dict[str, str]:
    merchant_private, merchant_public = generate_keypair()
    partner_private, partner_public = generate_keypair()
    return {
        "merchant_private": merchant_private,
        "merchant_public": merchant_public,
        "partner_private": partner_private,
        "partner_public": partner_public,
    }


def code(last4: str) -> str:
    return "2812345678901" + "2" + last4  # 18 digits, alipay_cn prefix


@dataclasses.dataclass
class Partner:
    url: str
    ledger: SandboxLedger
    clock: SystemClock
    http: httpx.AsyncClient
    adapter: AlipayPlusAdapter
    settings: SandboxSettings

    def other_adapter(self, **credentials: str) -> AlipayPlusAdapter:
        return build_adapter(
            partner_id="sbx-other",
            base_url=self.url,
            credentials={**self.credentials(), **credentials},
            http=self.http,
            timeouts=TIMEOUTS,
            clock=self.clock,
        )

    @staticmethod
    def credentials() -> dict[str, str]:
        return {
            "client_id": CLIENT_ID,
            "private_key": keys()["merchant_private"],
            "partner_public_key": keys()["partner_public"],
        }


async def _start(settings: SandboxSettings) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_sandbox_app(settings), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    clock = SystemClock()
    settings = SandboxSettings(
        private_key_pem=keys()["partner_private"],
        merchant_public_keys={CLIENT_ID: keys()["merchant_public"]},
        hold_seconds=HOLD,
        confirm_seconds=CONFIRM,
        expire_seconds=EXPIRE,
        clock=clock,
    )
    runner, url = await _start(settings)
    http = new_http_client()
    adapter = build_adapter(
        partner_id="sbx",
        base_url=url,
        credentials=Partner.credentials(),
        http=http,
        timeouts=TIMEOUTS,
        clock=clock,
    )
    try:
        yield Partner(url, runner.app[LEDGER], clock, http, adapter, settings)
    finally:
        await http.aclose()
        await runner.cleanup()


def pay_request(
    last4: str, *, request_id: str = "att_0001", payer: Money = PAYER_AMOUNT
) -> PayRequest:
    return PayRequest(
        partner_request_id=request_id,
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=payer,
        code=PaymentCode(code(last4)),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH", terminal_id="T1"),
        requested_at=datetime.now(UTC),
    )


def inquiry(request_id: str = "att_0001") -> InquiryRequest:
    return InquiryRequest(request_id, PAYER_AMOUNT)


def assert_unknown(outcome: Outcome, delivery: Delivery) -> None:
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery), outcome


async def test_0000_approves_and_charges_once(partner: Partner) -> None:
    outcome = await partner.adapter.pay(pay_request("0000"))
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome
    assert outcome.partner_reference and outcome.completed_at
    record = partner.ledger.get("att_0001")
    assert record is not None and record.charged and record.status == "SUCCESS"
    assert record.payment_id == outcome.partner_reference
    assert record.masked_code == "281234********0000"
    assert partner.ledger.charges_for("att_0001") == 1
    entry = partner.ledger.entries[0]
    assert (entry.kind, entry.amount.currency, entry.amount.value) == ("charge", "CNY", "25012")


@pytest.mark.parametrize(
    ("last4", "failure"),
    [
        ("0051", FailureCode.INSUFFICIENT_FUNDS),
        ("0059", FailureCode.RISK_REJECTED),
        ("0054", FailureCode.CODE_EXPIRED),
    ],
)
async def test_declines(partner: Partner, last4: str, failure: FailureCode) -> None:
    outcome = await partner.adapter.pay(pay_request(last4))
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, failure)
    assert partner.ledger.charges_for("att_0001") == 0
    again = await partner.adapter.inquire(inquiry())
    assert (again.status, again.failure_code) == (OutcomeStatus.FAILED, failure)


async def test_invalid_code_format(partner: Partner) -> None:
    request = dataclasses.replace(pay_request("0000"), code=PaymentCode("12345"))
    outcome = await partner.adapter.pay(request)
    assert outcome.failure_code is FailureCode.PAYMENT_CODE_INVALID


async def test_0091_charges_but_answers_too_late_then_inquiry_finds_it(partner: Partner) -> None:
    outcome = await partner.adapter.pay(pay_request("0091"))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert partner.ledger.charges_for("att_0001") == 1
    found = await partner.adapter.inquire(inquiry())
    assert found.status is OutcomeStatus.SUCCEEDED, found


async def test_0092_never_recorded_then_cancel(partner: Partner) -> None:
    assert_unknown(await partner.adapter.pay(pay_request("0092")), Delivery.MAYBE_SENT)
    missing = await partner.adapter.inquire(inquiry())
    assert_unknown(missing, Delivery.MAYBE_SENT)
    assert missing.not_found
    cancelled = await partner.adapter.cancel(CancelRequest("att_0001"))
    assert cancelled.status is OutcomeStatus.SUCCEEDED, cancelled
    # A pay still on its way after the cancel is refused, and nothing is ever charged.
    late = await partner.adapter.pay(pay_request("0000"))
    assert late.status is OutcomeStatus.FAILED and late.partner_code == "ORDER_STATUS_INVALID"
    final = await partner.adapter.inquire(inquiry())
    assert final.status is OutcomeStatus.FAILED
    assert partner.ledger.charges_for("att_0001") == 0


async def test_0093_in_process_then_confirmed(partner: Partner) -> None:
    first = await partner.adapter.pay(pay_request("0093"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.in_process and first.partner_code == "PAYMENT_IN_PROCESS"
    waiting = await partner.adapter.inquire(inquiry())
    assert_unknown(waiting, Delivery.MAYBE_SENT)
    assert waiting.in_process
    assert partner.ledger.charges_for("att_0001") == 0

    partner.clock.advance(timedelta(seconds=CONFIRM))
    done = await partner.adapter.inquire(inquiry())
    assert done.status is OutcomeStatus.SUCCEEDED, done
    replay = await partner.adapter.pay(pay_request("0093"))
    assert replay.status is OutcomeStatus.SUCCEEDED
    assert partner.ledger.charges_for("att_0001") == 1


async def test_0094_in_process_then_expired(partner: Partner) -> None:
    first = await partner.adapter.pay(pay_request("0094"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.in_process
    partner.clock.advance(timedelta(seconds=EXPIRE))
    expired = await partner.adapter.inquire(inquiry())
    assert (expired.status, expired.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PAYMENT_EXPIRED,
    )
    replay = await partner.adapter.pay(pay_request("0094"))
    assert replay.failure_code is FailureCode.PAYMENT_EXPIRED
    assert partner.ledger.charges_for("att_0001") == 0


async def test_0500_first_pay_fails_retry_succeeds_charged_once(partner: Partner) -> None:
    first = await partner.adapter.pay(pay_request("0500"))
    assert_unknown(first, Delivery.MAYBE_SENT)
    assert first.http_status == 500
    assert partner.ledger.get("att_0001") is None
    retry = await partner.adapter.pay(pay_request("0500"))
    assert retry.status is OutcomeStatus.SUCCEEDED, retry
    again = await partner.adapter.pay(pay_request("0500"))
    assert again.status is OutcomeStatus.SUCCEEDED
    assert partner.ledger.charges_for("att_0001") == 1


async def test_0503_not_accepted_nothing_charged(partner: Partner) -> None:
    for _ in range(2):
        outcome = await partner.adapter.pay(pay_request("0503"))
        assert_unknown(outcome, Delivery.NOT_SENT)
        assert outcome.nothing_charged and outcome.partner_code == "PARTNER_STATUS_ABNORMAL"
    assert partner.ledger.get("att_0001") is None
    assert partner.ledger.entries == []


async def test_replay_same_request_charges_once(partner: Partner) -> None:
    first = await partner.adapter.pay(pay_request("0000"))
    second = await partner.adapter.pay(pay_request("0000"))
    assert first.status is second.status is OutcomeStatus.SUCCEEDED
    assert first.partner_reference == second.partner_reference
    record = partner.ledger.get("att_0001")
    assert record is not None and record.pay_calls == 2
    assert partner.ledger.charges_for("att_0001") == 1


@pytest.mark.parametrize(
    "other",
    [
        pay_request("0000", payer=Money.of(25013, "CNY")),
        pay_request("1111"),
    ],
    ids=["other amount", "other code"],
)
async def test_same_id_other_parameters_is_inconsistent(
    partner: Partner, other: PayRequest
) -> None:
    assert (await partner.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    outcome = await partner.adapter.pay(other)
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert outcome.partner_code == "REPEAT_REQ_INCONSISTENT"
    assert partner.ledger.charges_for("att_0001") == 1


async def test_bad_request_signature_charges_nothing(partner: Partner) -> None:
    wrong_private, _ = generate_keypair()
    outcome = await partner.other_adapter(private_key=wrong_private).pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.NOT_SENT)
    assert outcome.partner_code == "INVALID_SIGNATURE"
    assert partner.ledger.get("att_0001") is None and partner.ledger.entries == []


async def test_unknown_client_id_is_access_denied(partner: Partner) -> None:
    outcome = await partner.other_adapter(client_id="SANDBOX_STRANGER").pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.NOT_SENT)
    assert outcome.partner_code == "ACCESS_DENIED"
    assert partner.ledger.entries == []


async def test_answer_signed_by_an_unknown_key_is_not_trusted(partner: Partner) -> None:
    _, stranger_public = generate_keypair()
    adapter = partner.other_adapter(partner_public_key=stranger_public)
    outcome = await adapter.pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert partner.ledger.charges_for("att_0001") == 1  # it did charge: hence "maybe sent"


async def test_cancel_reverses_a_charge_once(partner: Partner) -> None:
    await partner.adapter.pay(pay_request("0000"))
    for _ in range(2):
        outcome = await partner.adapter.cancel(CancelRequest("att_0001"))
        assert outcome.status is OutcomeStatus.SUCCEEDED
    record = partner.ledger.get("att_0001")
    assert record is not None and record.reversed and record.status == "CANCELLED"
    assert partner.ledger.reversals_for("att_0001") == 1
    assert [e.kind for e in partner.ledger.entries] == ["charge", "reversal"]
    after = await partner.adapter.inquire(inquiry())
    assert (after.status, after.failure_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
    )


async def test_cancel_while_in_process_never_charges(partner: Partner) -> None:
    await partner.adapter.pay(pay_request("0093"))
    assert (
        await partner.adapter.cancel(CancelRequest("att_0001"))
    ).status is OutcomeStatus.SUCCEEDED
    partner.clock.advance(timedelta(seconds=CONFIRM))
    assert (await partner.adapter.inquire(inquiry())).status is OutcomeStatus.FAILED
    assert partner.ledger.entries == []


async def test_closed_port_is_not_sent(partner: Partner) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    adapter = build_adapter(
        partner_id="gone",
        base_url=f"http://127.0.0.1:{port}",
        credentials=Partner.credentials(),
        http=partner.http,
        timeouts=TIMEOUTS,
        clock=partner.clock,
    )
    assert_unknown(await adapter.pay(pay_request("0000")), Delivery.NOT_SENT)


@pytest.mark.parametrize("prefix", ["/ams/api", "/aps/api", "/ams/sandbox/api"])
async def test_every_path_flavour(partner: Partner, prefix: str) -> None:
    adapter = AlipayPlusAdapter(
        partner_id="flavour",
        base_url=partner.url,
        credentials=AlipayPlusCredentials.from_text(
            client_id=CLIENT_ID,
            private_key=keys()["merchant_private"],
            partner_public_key=keys()["partner_public"],
        ),
        http=partner.http,
        timeouts=TIMEOUTS,
        clock=partner.clock,
        path_prefix=prefix,
    )
    assert (await adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED


async def test_rotated_sandbox_key_and_fixed_response_client_id() -> None:
    settings = SandboxSettings(
        private_key_pem=keys()["partner_private"],
        merchant_public_keys={CLIENT_ID: keys()["merchant_public"]},
        client_id_in_responses="ANTOM_SBX",
        key_version=2,
    )
    runner, url = await _start(settings)
    async with new_http_client() as http:
        base = {"base_url": url, "http": http, "timeouts": TIMEOUTS, "clock": SystemClock()}
        v1 = build_adapter(partner_id="v1", credentials=Partner.credentials(), **base)  # type: ignore[arg-type]
        v2 = build_adapter(
            partner_id="v2",
            credentials={**Partner.credentials(), "partner_key_version": "2"},
            **base,  # type: ignore[arg-type]
        )
        assert_unknown(await v1.pay(pay_request("0000", request_id="a1")), Delivery.MAYBE_SENT)
        assert (
            await v2.pay(pay_request("0000", request_id="a2"))
        ).status is OutcomeStatus.SUCCEEDED
    await runner.cleanup()


async def test_ledger_json_never_holds_the_code(partner: Partner) -> None:
    await partner.adapter.pay(pay_request("0000"))
    await partner.adapter.pay(pay_request("0051", request_id="att_0002"))
    await partner.adapter.cancel(CancelRequest("att_0001"))
    response = await partner.http.get(f"{partner.url}/_sandbox/ledger", timeout=2)
    data = response.json()
    assert set(data) == {"payments", "refunds", "entries"}
    payment = data["payments"]["att_0001"]
    assert payment["amount"] == {"currency": "CNY", "value": "25012"}
    assert payment["charged"] and payment["reversed"] and payment["pay_calls"] == 1
    assert payment["masked_code"] == "281234********0000"
    assert data["payments"]["att_0002"]["result_code"] == "USER_BALANCE_NOT_ENOUGH"
    assert [e["kind"] for e in data["entries"]] == ["charge", "reversal"]
    text = json.dumps(data) + repr(partner.ledger.payments)
    for last4 in ("0000", "0051"):
        assert code(last4) not in text


# --- refunds (the behaviour common to both families is in test_adapter_contract.py) -------------


def refund_request(
    value: int,
    *,
    request_id: str = "rfa_1",
    payment: str = "att_0001",
    payment_id: str | None = None,
) -> RefundRequest:
    return RefundRequest(
        partner_request_id=request_id,
        payment_partner_request_id=payment,
        reference=f"rf-{request_id}",
        amount=Money.of(value * 5, "THB"),
        payer_amount=Money.of(value, "CNY"),
        payment_partner_reference=payment_id,
    )


async def pay_ok(partner: Partner, last4: str = "0000", request_id: str = "att_0001") -> str:
    outcome = await partner.adapter.pay(pay_request(last4, request_id=request_id))
    assert outcome.status is OutcomeStatus.SUCCEEDED and outcome.partner_reference, outcome
    return outcome.partner_reference


async def signed_post(partner: Partner, path: str, body: bytes) -> httpx.Response:
    """A request signed as any merchant client would sign it, body bytes as given."""
    request_time = partner.clock.now().isoformat(timespec="seconds")
    content = build_content("POST", path, CLIENT_ID, request_time, body)
    signature = sign(load_private_key(keys()["merchant_private"]), content)
    header = SignatureHeader(signature=signature, key_version=1).render()
    response = await partner.http.post(
        partner.url + path,
        content=body,
        headers={
            "Content-Type": "application/json; charset=UTF-8",
            "client-id": CLIENT_ID,
            "Request-Time": request_time,
            "Signature": header,
        },
        timeout=2,
    )
    # Every answer is signed over the request's path and the answer's own time and bytes.
    answer = build_content(
        "POST",
        path,
        response.headers["client-id"],
        response.headers["response-time"],
        response.content,
    )
    answer_signature = SignatureHeader.parse(response.headers["signature"]).signature
    assert verify(load_public_key(keys()["partner_public"]), answer, answer_signature)
    return response


async def test_refund_by_payment_id_or_payment_request_id(partner: Partner) -> None:
    payment_id = await pay_ok(partner)
    by_id = await partner.adapter.refund(refund_request(100, payment_id=payment_id))
    assert by_id.status is OutcomeStatus.SUCCEEDED, by_id
    # Without the partner's paymentId the adapter names the payment by paymentRequestId.
    by_request_id = await partner.adapter.refund(refund_request(200, request_id="rfa_2"))
    assert by_request_id.status is OutcomeStatus.SUCCEEDED, by_request_id
    assert partner.ledger.refunds_for("att_0001") == 2
    assert partner.ledger.refunded_for("att_0001") == 300
    record = partner.ledger.get("att_0001")
    assert record is not None and record.refunded_minor == 300
    refund = partner.ledger.get_refund("rfa_2")
    assert refund is not None and refund.payment_id == payment_id
    assert refund.refund_id == by_request_id.partner_reference


@pytest.mark.parametrize(
    ("setup", "partner_code"),
    [
        ("over", "REFUND_AMOUNT_EXCEED"),
        ("unknown", "ORDER_NOT_EXIST"),
        ("0051", "ORDER_STATUS_INVALID"),
        ("0093", "ORDER_STATUS_INVALID"),
        ("cancelled", "ORDER_IS_CLOSED"),
        ("0096", "PROCESS_FAIL"),
        ("currency", "PARAM_ILLEGAL"),
    ],
)
async def test_refund_decline_codes(partner: Partner, setup: str, partner_code: str) -> None:
    request = refund_request(100)
    if setup == "over":
        request = refund_request(25013)
    elif setup == "currency":
        request = dataclasses.replace(request, payer_amount=Money.of(100, "HKD"))
    if setup in ("over", "currency", "cancelled"):
        await pay_ok(partner)
    elif setup != "unknown":
        await partner.adapter.pay(pay_request(setup))
    if setup == "cancelled":
        await partner.adapter.cancel(CancelRequest("att_0001"))
    outcome = await partner.adapter.refund(request)
    assert (outcome.status, outcome.failure_code, outcome.partner_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
        partner_code,
    )
    assert partner.ledger.refunds_for("att_0001") == 0
    inquiry = await partner.adapter.inquire_refund(
        RefundInquiryRequest("rfa_1", request.payer_amount)
    )
    assert (inquiry.status, inquiry.partner_code) == (OutcomeStatus.FAILED, partner_code)


async def test_refund_same_id_other_parameters_is_repeat_req_inconsistent(
    partner: Partner,
) -> None:
    payment_id = await pay_ok(partner)
    assert (
        await partner.adapter.refund(refund_request(100, payment_id=payment_id))
    ).status is OutcomeStatus.SUCCEEDED
    for other in (
        refund_request(101, payment_id=payment_id),
        refund_request(100),  # the same payment, but named otherwise: other parameters
    ):
        outcome = await partner.adapter.refund(other)
        assert_unknown(outcome, Delivery.MAYBE_SENT)
        assert outcome.partner_code == "REPEAT_REQ_INCONSISTENT"
    refund = partner.ledger.get_refund("rfa_1")
    assert refund is not None and refund.calls == 1
    assert partner.ledger.refunded_for("att_0001") == 100


@pytest.mark.parametrize(
    ("last4", "refund_first", "partner_code"),
    [("0097", False, "CANCEL_WINDOW_EXCEED"), ("0000", True, "ORDER_STATUS_INVALID")],
)
async def test_cancel_refusal_codes(
    partner: Partner, last4: str, refund_first: bool, partner_code: str
) -> None:
    payment_id = await pay_ok(partner, last4)
    if refund_first:
        await partner.adapter.refund(refund_request(100, payment_id=payment_id))
    outcome = await partner.adapter.cancel(CancelRequest("att_0001"))
    assert (outcome.status, outcome.partner_code) == (OutcomeStatus.FAILED, partner_code)
    record = partner.ledger.get("att_0001")
    assert record is not None and record.status == "SUCCESS" and not record.reversed


async def test_0095_every_refund_answer_is_held_but_refunds_once(partner: Partner) -> None:
    payment_id = await pay_ok(partner, "0095")
    for _ in range(2):
        assert_unknown(
            await partner.adapter.refund(refund_request(100, payment_id=payment_id)),
            Delivery.MAYBE_SENT,
        )
    refund = partner.ledger.get_refund("rfa_1")
    assert refund is not None and refund.calls == 2
    assert partner.ledger.refunds_for("att_0001") == 1


async def test_an_sdk_shaped_refund_and_inquiry_by_refund_id(partner: Partner) -> None:
    """Field names as Ant's SDK models write them, its optional extras included, indented."""
    payment_id = await pay_ok(partner)
    body = {
        "refundRequestId": "sdk-refund-1",
        "paymentId": payment_id,
        "referenceRefundId": "REF-1",
        "refundAmount": {"currency": "CNY", "value": "1000"},
        "refundReason": "SDK interop",
        "isAsyncRefund": False,
    }
    answer = await signed_post(
        partner, "/ams/api/v1/payments/refund", json.dumps(body, indent=3).encode()
    )
    data = answer.json()
    assert data["result"] == {
        "resultStatus": "S",
        "resultCode": "SUCCESS",
        "resultMessage": "Success",
    }
    assert data["refundRequestId"] == "sdk-refund-1" and data["paymentId"] == payment_id
    assert data["refundAmount"] == {"currency": "CNY", "value": "1000"}
    assert data["refundId"] and data["refundTime"]

    inquiry = await signed_post(
        partner,
        "/ams/api/v1/payments/inquiryRefund",
        json.dumps({"refundId": data["refundId"]}).encode(),
    )
    found = inquiry.json()
    assert found["result"]["resultStatus"] == "S"
    assert (found["refundStatus"], found["refundRequestId"]) == ("SUCCESS", "sdk-refund-1")
    assert found["refundAmount"] == {"currency": "CNY", "value": "1000"}

    missing = await signed_post(
        partner, "/ams/api/v1/payments/inquiryRefund", b'{"refundId":"nope"}'
    )
    assert missing.json()["result"]["resultCode"] == "ORDER_NOT_EXIST"
    illegal = await signed_post(partner, "/ams/api/v1/payments/refund", b'{"paymentId":"x"}')
    assert illegal.json()["result"]["resultCode"] == "PARAM_ILLEGAL"
    zero = dict(
        body, refundRequestId="sdk-refund-0", refundAmount={"currency": "CNY", "value": "0"}
    )
    answer = await signed_post(partner, "/ams/api/v1/payments/refund", json.dumps(zero).encode())
    assert answer.json()["result"]["resultCode"] == "PARAM_ILLEGAL"
    assert partner.ledger.get_refund("sdk-refund-0") is None


@pytest.mark.parametrize("prefix", ["/ams/api", "/aps/api", "/ams/sandbox/api"])
async def test_refunds_on_every_path_flavour(partner: Partner, prefix: str) -> None:
    adapter = AlipayPlusAdapter(
        partner_id="flavour",
        base_url=partner.url,
        credentials=AlipayPlusCredentials.from_text(
            client_id=CLIENT_ID,
            private_key=keys()["merchant_private"],
            partner_public_key=keys()["partner_public"],
        ),
        http=partner.http,
        timeouts=TIMEOUTS,
        clock=partner.clock,
        path_prefix=prefix,
    )
    payment_id = await pay_ok(partner)
    made = await adapter.refund(refund_request(100, payment_id=payment_id))
    assert made.status is OutcomeStatus.SUCCEEDED, made
    found = await adapter.inquire_refund(RefundInquiryRequest("rfa_1", Money.of(100, "CNY")))
    assert found.status is OutcomeStatus.SUCCEEDED, found


async def test_ledger_json_refunds(partner: Partner) -> None:
    payment_id = await pay_ok(partner)
    await partner.adapter.refund(refund_request(100, payment_id=payment_id))
    await partner.adapter.refund(refund_request(99999, request_id="rfa_2", payment_id=payment_id))
    data = (await partner.http.get(f"{partner.url}/_sandbox/ledger", timeout=2)).json()
    assert data["payments"]["att_0001"]["refunded_minor"] == 100
    made, declined = data["refunds"]["rfa_1"], data["refunds"]["rfa_2"]
    assert (made["status"], made["result_code"], made["amount_minor"]) == ("SUCCESS", None, 100)
    assert (declined["status"], declined["result_code"]) == ("FAIL", "REFUND_AMOUNT_EXCEED")
    assert made["payment_id"] == payment_id and made["amount"] == {
        "currency": "CNY",
        "value": "100",
    }
    charge, refund = data["entries"]
    assert (charge["kind"], charge["refund_request_id"], charge["amount_minor"]) == (
        "charge",
        None,
        25012,
    )
    assert refund == {
        "kind": "refund",
        "payment_request_id": "att_0001",
        "payment_id": payment_id,
        "refund_request_id": "rfa_1",
        "amount": {"currency": "CNY", "value": "100"},
        "amount_minor": 100,
        "at": refund["at"],
    }
