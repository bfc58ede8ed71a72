"""The WalletRest adapter and raw HTTP against its sandbox on loopback: what the shared contract
suite does not cover (authentication, idempotency details, refunds, the ledger's contents)."""

from __future__ import annotations

import dataclasses
import json
import secrets
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
    SystemClock,
    new_http_client,
)
from adapters.walletrest import (
    RefundInquiryRequest,
    RefundRequest,
    WalletRestAdapter,
    build_adapter,
)
from adapters.walletrest.sandbox import (
    LEDGER,
    SandboxLedger,
    SandboxSettings,
    create_sandbox_app,
)
from adapters.walletrest.signing import (
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from fx import Money

SECRET = secrets.token_urlsafe(32)
API_KEY = "sk_test_" + secrets.token_hex(16)
TIMEOUTS = {op: 1.0 for op in Operation} | {Operation.PAY: 0.2, Operation.REFUND: 0.2}
PAYER = Money.of(25012, "CNY")


def code(last4: str) -> str:
    return "2812345678901" + "2" + last4


@dataclasses.dataclass
class Partner:
    url: str
    ledger: SandboxLedger
    clock: SystemClock
    http: httpx.AsyncClient
    adapter: WalletRestAdapter

    def other_adapter(self, **credentials: str) -> WalletRestAdapter:
        return build_adapter(
            partner_id="wr-other",
            base_url=self.url,
            credentials={"api_key": API_KEY, "signing_secret": SECRET, **credentials},
            http=self.http,
            timeouts=TIMEOUTS,
            clock=self.clock,
        )

    async def raw(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        key: str | None = "k1",
        timestamp: str | None = None,
    ) -> httpx.Response:
        """A hand-made signed request, to see the sandbox's answers as they are."""
        ts = timestamp or timestamp_of(self.clock.now())
        headers = {
            "Authorization": f"Bearer {API_KEY}",
            "X-Timestamp": ts,
            "X-Signature": sign(SECRET, request_content(ts, method, path, body)),
            "Content-Type": "application/json",
        }
        if key is not None:
            headers["Idempotency-Key"] = key
        response = await self.http.request(
            method, self.url + path, content=body, headers=headers, timeout=2
        )
        signed = response_content(
            response.headers["x-timestamp"], response.status_code, response.content
        )
        assert verify(SECRET, signed, response.headers["x-signature"])
        return response


@pytest.fixture
async def partner() -> AsyncIterator[Partner]:
    clock = SystemClock()
    settings = SandboxSettings(
        signing_secret=SECRET,
        api_keys={API_KEY: "gateway"},
        hold_seconds=0.4,
        confirm_seconds=2.0,
        expire_seconds=3.0,
        clock=clock,
    )
    runner = web.AppRunner(create_sandbox_app(settings), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    http = new_http_client()
    adapter = build_adapter(
        partner_id="wr-sbx",
        base_url=url,
        credentials={"api_key": API_KEY, "signing_secret": SECRET},
        http=http,
        timeouts=TIMEOUTS,
        clock=clock,
    )
    try:
        yield Partner(url, runner.app[LEDGER], clock, http, adapter)
    finally:
        await http.aclose()
        await runner.cleanup()


def pay_request(last4: str, *, request_id: str = "att_0001", payer: Money = PAYER) -> PayRequest:
    return PayRequest(
        partner_request_id=request_id,
        reference="order-42",
        amount=Money.of(125050, "THB"),
        payer_amount=payer,
        code=PaymentCode(code(last4)),
        merchant=MerchantInfo(id="m_1", name="Siam Coffee", country="TH", terminal_id="T1"),
        requested_at=datetime(2026, 11, 26, 2, 0, tzinfo=UTC),
    )


def refund_request(
    value: int, *, request_id: str = "rfa_1", payment: str = "att_0001"
) -> RefundRequest:
    return RefundRequest(
        partner_request_id=request_id,
        payment_partner_request_id=payment,
        reference=f"rf-{request_id}",
        amount=Money.of(value * 5, "THB"),
        payer_amount=Money.of(value, "CNY"),
    )


def assert_unknown(outcome: Outcome, delivery: Delivery) -> None:
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery), outcome


# --- authentication ----------------------------------------------------------------------------


async def test_unknown_api_key_is_not_accepted(partner: Partner) -> None:
    outcome = await partner.other_adapter(api_key="sk_test_stranger").pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.NOT_SENT)
    assert (outcome.http_status, outcome.partner_code) == (401, "authentication_error")
    assert partner.ledger.payments == {} and partner.ledger.entries == []


async def test_a_wrong_secret_makes_every_answer_unverifiable(partner: Partner) -> None:
    outcome = await partner.other_adapter(signing_secret=SECRET + "x").pay(pay_request("0000"))
    assert_unknown(outcome, Delivery.MAYBE_SENT)  # a 401 we cannot verify proves nothing
    assert partner.ledger.payments == {}


async def test_stale_and_missing_headers_are_refused(partner: Partner) -> None:
    stale = timestamp_of(partner.clock.now() - timedelta(seconds=301))
    response = await partner.raw("GET", "/v1/payments/x", key=None, timestamp=stale)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "timestamp_out_of_tolerance"
    body = b'{"payment":"att_0001","amount":{"currency":"CNY","value":"1.00"}}'
    response = await partner.raw("POST", "/v1/refunds", body, key=None)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"


async def test_malformed_bodies_are_invalid_requests(partner: Partner) -> None:
    for body in (b"{", b'{"amount": 1}'):
        response = await partner.raw("POST", "/v1/payments", body)
        assert (response.status_code, response.json()["error"]["type"]) == (400, "invalid_request")
    assert partner.ledger.payments == {}


async def test_wrong_decimals_are_refused_before_anything_is_recorded(partner: Partner) -> None:
    body = {
        "amount": {"currency": "CNY", "value": "250.1"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "payment_code": code("0000"),
        "reference": "r",
        "merchant": {"id": "m", "name": "n", "country": "TH", "mcc": "5411"},
    }
    response = await partner.raw("POST", "/v1/payments", json.dumps(body).encode())
    assert response.status_code == 400 and response.json()["error"]["code"] == "amount_invalid"
    assert partner.ledger.payments == {}


# --- idempotency ---------------------------------------------------------------------------------


async def test_replay_answers_200_with_the_replay_header(partner: Partner) -> None:
    body = {
        "amount": {"currency": "CNY", "value": "250.12"},
        "merchant_amount": {"currency": "THB", "value": "1250.50"},
        "payment_code": code("0000"),
        "reference": "r",
        "merchant": {"id": "m", "name": "n", "country": "TH", "mcc": "5411"},
    }
    raw = json.dumps(body).encode()
    first = await partner.raw("POST", "/v1/payments", raw, key="idem-1")
    again = await partner.raw("POST", "/v1/payments", raw, key="idem-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["request_id"] == "idem-1"
    assert partner.ledger.charges_for("idem-1") == 1
    record = partner.ledger.get("idem-1")
    assert record is not None and record.pay_calls == 2


@pytest.mark.parametrize(
    "other",
    [pay_request("0000", payer=Money.of(25013, "CNY")), pay_request("1111")],
    ids=["other amount", "other code"],
)
async def test_same_key_other_body_is_a_conflict(partner: Partner, other: PayRequest) -> None:
    assert (await partner.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    outcome = await partner.adapter.pay(other)
    assert_unknown(outcome, Delivery.MAYBE_SENT)
    assert (outcome.http_status, outcome.partner_code) == (409, "idempotency_conflict")
    assert partner.ledger.charges_for("att_0001") == 1


async def test_a_create_after_a_cancel_is_refused(partner: Partner) -> None:
    assert (
        await partner.adapter.cancel(CancelRequest("att_0001"))
    ).status is OutcomeStatus.SUCCEEDED
    late = await partner.adapter.pay(pay_request("0000"))
    assert (late.status, late.failure_code, late.partner_code) == (
        OutcomeStatus.FAILED,
        FailureCode.PARTNER_DECLINED,
        "canceled",
    )
    assert partner.ledger.entries == []


async def test_0091_replay_is_held_too_but_charges_once(partner: Partner) -> None:
    assert_unknown(await partner.adapter.pay(pay_request("0091")), Delivery.MAYBE_SENT)
    assert_unknown(await partner.adapter.pay(pay_request("0091")), Delivery.MAYBE_SENT)
    found = await partner.adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert found.status is OutcomeStatus.SUCCEEDED
    assert partner.ledger.charges_for("att_0001") == 1


async def test_0093_confirms_by_the_sandbox_clock(partner: Partner) -> None:
    first = await partner.adapter.pay(pay_request("0093"))
    assert first.in_process and first.http_status == 202
    partner.clock.advance(timedelta(seconds=2))
    assert (await partner.adapter.pay(pay_request("0093"))).status is OutcomeStatus.SUCCEEDED
    record = partner.ledger.get("att_0001")
    assert record is not None and record.completed_at == record.created_at + timedelta(seconds=2)


# --- refunds -------------------------------------------------------------------------------------


async def test_partial_and_repeated_refunds(partner: Partner) -> None:
    assert (await partner.adapter.pay(pay_request("0000"))).status is OutcomeStatus.SUCCEEDED
    first = await partner.adapter.refund(refund_request(10000))
    assert first.status is OutcomeStatus.SUCCEEDED, first
    replay = await partner.adapter.refund(refund_request(10000))
    assert replay.status is OutcomeStatus.SUCCEEDED
    assert replay.partner_reference == first.partner_reference
    too_much = await partner.adapter.refund(refund_request(15013, request_id="rfa_2"))
    assert (too_much.status, too_much.partner_code) == (
        OutcomeStatus.FAILED,
        "amount_exceeds_refundable",
    )
    rest = await partner.adapter.refund(refund_request(15012, request_id="rfa_3"))
    assert rest.status is OutcomeStatus.SUCCEEDED
    assert partner.ledger.refunds_for("att_0001") == 2

    found = await partner.adapter.inquire_refund(
        RefundInquiryRequest("rfa_3", Money.of(15012, "CNY"))
    )
    assert found.status is OutcomeStatus.SUCCEEDED
    declined = await partner.adapter.inquire_refund(
        RefundInquiryRequest("rfa_2", Money.of(15013, "CNY"))
    )
    assert declined.status is OutcomeStatus.FAILED
    missing = await partner.adapter.inquire_refund(RefundInquiryRequest("rfa_9", PAYER))
    assert_unknown(missing, Delivery.MAYBE_SENT)
    assert missing.not_found
    conflict = await partner.adapter.refund(refund_request(1, request_id="rfa_1"))
    assert_unknown(conflict, Delivery.MAYBE_SENT)

    payment = await partner.adapter.inquire(InquiryRequest("att_0001", PAYER))
    assert payment.status is OutcomeStatus.SUCCEEDED
    refused = await partner.adapter.cancel(CancelRequest("att_0001"))
    assert (refused.status, refused.partner_code) == (OutcomeStatus.FAILED, "payment_has_refunds")
    assert partner.ledger.reversals_for("att_0001") == 0
    kinds = [e.kind for e in partner.ledger.entries]
    assert kinds == ["charge", "refund", "refund"]


@pytest.mark.parametrize("last4", ["0051", "0093"])
async def test_only_succeeded_payments_are_refundable(partner: Partner, last4: str) -> None:
    await partner.adapter.pay(pay_request(last4))
    for request in (refund_request(100), refund_request(100, request_id="rfa_x", payment="nope")):
        outcome = await partner.adapter.refund(request)
        assert (outcome.status, outcome.partner_code) == (
            OutcomeStatus.FAILED,
            "payment_not_refundable",
        )
    assert partner.ledger.refunds_for("att_0001") == 0


@pytest.mark.parametrize(
    ("last4", "setup", "partner_code"),
    [
        ("0000", "cancelled", "payment_not_refundable"),
        ("0096", "", "refund_rejected"),
        ("0000", "currency", "payment_not_refundable"),
    ],
)
async def test_refund_decline_codes(
    partner: Partner, last4: str, setup: str, partner_code: str
) -> None:
    assert (await partner.adapter.pay(pay_request(last4))).status is OutcomeStatus.SUCCEEDED
    request = refund_request(100)
    if setup == "cancelled":
        await partner.adapter.cancel(CancelRequest("att_0001"))
    elif setup == "currency":
        request = dataclasses.replace(request, payer_amount=Money.of(100, "HKD"))
    outcome = await partner.adapter.refund(request)
    assert (outcome.status, outcome.http_status, outcome.partner_code) == (
        OutcomeStatus.FAILED,
        402,
        partner_code,
    )
    assert partner.ledger.refunds_for("att_0001") == 0


async def test_0097_cancel_is_a_final_invalid_state(partner: Partner) -> None:
    assert (await partner.adapter.pay(pay_request("0097"))).status is OutcomeStatus.SUCCEEDED
    outcome = await partner.adapter.cancel(CancelRequest("att_0001"))
    assert (outcome.status, outcome.http_status, outcome.partner_code) == (
        OutcomeStatus.FAILED,
        409,
        "cancel_window_closed",
    )
    assert partner.ledger.reversals_for("att_0001") == 0


async def test_0095_every_refund_answer_is_held_but_refunds_once(partner: Partner) -> None:
    assert (await partner.adapter.pay(pay_request("0095"))).status is OutcomeStatus.SUCCEEDED
    for _ in range(2):
        assert_unknown(await partner.adapter.refund(refund_request(100)), Delivery.MAYBE_SENT)
    refund = partner.ledger.get_refund("rfa_1")
    assert refund is not None and refund.calls == 2
    assert partner.ledger.refunds_for("att_0001") == 1
    assert partner.ledger.refunded_for("att_0001") == 100


# --- the ledger ----------------------------------------------------------------------------------


async def test_ledger_json_never_holds_the_code(partner: Partner) -> None:
    await partner.adapter.pay(pay_request("0000"))
    await partner.adapter.pay(pay_request("0051", request_id="att_0002"))
    await partner.adapter.cancel(CancelRequest("att_0001"))
    response = await partner.http.get(f"{partner.url}/_sandbox/ledger", timeout=2)
    data = response.json()
    assert set(data) == {"payments", "refunds", "entries"}
    payment = data["payments"]["att_0001"]
    assert payment["amount"] == {"currency": "CNY", "value": "250.12"}
    assert payment["charged"] and payment["reversed"] and payment["pay_calls"] == 1
    assert payment["masked_code"] == "281234********0000"
    assert data["payments"]["att_0002"]["decline_code"] == "insufficient_funds"
    assert [e["kind"] for e in data["entries"]] == ["charge", "reversal"]
    text = json.dumps(data) + repr(partner.ledger.payments) + repr(partner.ledger.entries)
    for last4 in ("0000", "0051"):
        assert code(last4) not in text


def test_settings_repr_hides_secrets() -> None:
    settings = SandboxSettings(signing_secret=SECRET, api_keys=frozenset({API_KEY}))
    assert SECRET not in repr(settings) and API_KEY not in repr(settings)


async def test_ledger_json_refunds(partner: Partner) -> None:
    await partner.adapter.pay(pay_request("0000"))
    await partner.adapter.refund(refund_request(100))
    await partner.adapter.refund(refund_request(99999, request_id="rfa_2"))
    data = (await partner.http.get(f"{partner.url}/_sandbox/ledger", timeout=2)).json()
    assert data["payments"]["att_0001"]["refunded_minor"] == 100
    made, declined = data["refunds"]["rfa_1"], data["refunds"]["rfa_2"]
    assert (made["status"], made["decline_code"], made["amount_minor"]) == ("succeeded", None, 100)
    assert (declined["status"], declined["decline_code"]) == ("failed", "amount_exceeds_refundable")
    charge, refund = data["entries"]
    assert (charge["kind"], charge["refund_request_id"], charge["amount_minor"]) == (
        "charge",
        None,
        25012,
    )
    assert refund == {
        "kind": "refund",
        "payment_request_id": "att_0001",
        "payment_id": made["payment_id"],
        "refund_request_id": "rfa_1",
        "amount": {"currency": "CNY", "value": "1.00"},
        "amount_minor": 100,
        "at": refund["at"],
    }
