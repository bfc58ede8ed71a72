"""Pure domain <-> wire conversions: request bodies and every answer -> Outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from adapters import (
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    MerchantInfo,
    Outcome,
    OutcomeStatus,
    PaymentCode,
    PayRequest,
)
from adapters.alipayplus import models as wire
from adapters.alipayplus import transforms
from fx import Money

CODE = "281234567890120000"
REQUESTED_AT = datetime(2026, 11, 26, 2, 0, 0, 123456, tzinfo=UTC)


def pay_request(
    *,
    amount: Money | None = None,
    payer_amount: Money | None = None,
    code: str = CODE,
    merchant: MerchantInfo | None = None,
    description: str = "2 x coffee",
) -> PayRequest:
    return PayRequest(
        partner_request_id="att_0001",
        reference="order-42",
        amount=amount or Money.of(125050, "THB"),
        payer_amount=payer_amount or Money.of(25012, "CNY"),
        code=PaymentCode(code),
        merchant=merchant
        or MerchantInfo(
            id="m_1", name="Siam Coffee", country="TH", mcc="5814", store_id="s_9", terminal_id="T1"
        ),
        requested_at=REQUESTED_AT,
        description=description,
    )


def pay_response(
    status: str | None = "S",
    code: str | None = "SUCCESS",
    *,
    amount: dict[str, str] | None = None,
    **extra: Any,
) -> wire.PayResponse:
    data: dict[str, Any] = {
        "paymentRequestId": "att_0001",
        "paymentId": "2026112600001",
        "paymentAmount": amount if amount is not None else {"currency": "CNY", "value": "25012"},
        "paymentTime": "2026-11-26T10:00:05+08:00",
        **extra,
    }
    if status is not None or code is not None:
        data["result"] = {"resultStatus": status, "resultCode": code, "resultMessage": "msg"}
    return wire.PayResponse.model_validate(data)


# --- request bodies ------------------------------------------------------------------------------


def test_pay_body_maps_every_field() -> None:
    body = json.loads(wire.encode(transforms.pay_body(pay_request())))
    assert body == {
        "productCode": "IN_STORE_PAYMENT",
        "paymentRequestId": "att_0001",
        "order": {
            "referenceOrderId": "order-42",
            "orderDescription": "2 x coffee",
            "orderAmount": {"currency": "THB", "value": "125050"},
            "merchant": {
                "referenceMerchantId": "m_1",
                "merchantMCC": "5814",
                "merchantName": "Siam Coffee",
                "store": {
                    "referenceStoreId": "s_9",
                    "storeName": "Siam Coffee",
                    "storeMCC": "5814",
                },
            },
            "env": {
                "storeTerminalId": "T1",
                "storeTerminalRequestTime": "2026-11-26T02:00:00+00:00",
            },
        },
        # The payer amount, in the wallet's currency: exactly what the tourist is charged.
        "paymentAmount": {"currency": "CNY", "value": "25012"},
        "paymentMethod": {"paymentMethodType": "CONNECT_WALLET", "paymentMethodId": CODE},
        "paymentFactor": {"inStorePaymentScenario": "PaymentCode"},
    }


def test_pay_body_defaults_for_optional_merchant_fields() -> None:
    merchant = MerchantInfo(id="m_2", name="Kiosk", country="TH")
    body = json.loads(
        wire.encode(transforms.pay_body(pay_request(merchant=merchant, description="")))
    )
    order = body["order"]
    assert order["orderDescription"] == "Order order-42"
    assert order["merchant"]["store"]["referenceStoreId"] == "m_2"
    assert order["merchant"]["merchantMCC"] == "5411"
    assert order["env"]["storeTerminalId"] == transforms.DEFAULT_TERMINAL_ID


def test_encoding_is_compact_and_deterministic() -> None:
    first = wire.encode(transforms.pay_body(pay_request()))
    assert first == wire.encode(transforms.pay_body(pay_request()))
    assert b" " not in first.replace(b"2 x coffee", b"").replace(b"Siam Coffee", b"")
    assert b"\n" not in first
    assert first.startswith(b'{"productCode":"IN_STORE_PAYMENT","paymentRequestId":"att_0001"')


def test_wire_pay_request_repr_hides_the_code() -> None:
    assert CODE not in repr(transforms.pay_body(pay_request()))


@pytest.mark.parametrize(
    ("money", "value"),
    [
        (Money.of(1000, "JPY"), "1000"),  # exponent 0: JPY 1000
        (Money.of(55000, "KRW"), "55000"),
        (Money.of(12345, "KWD"), "12345"),  # exponent 3: KWD 12.345
        (Money.of(1000, "USD"), "1000"),  # USD 10.00
        (Money.of(1, "THB"), "1"),
    ],
)
def test_minor_unit_strings(money: Money, value: str) -> None:
    amount = transforms.amount_to_wire(money)
    assert (amount.currency, amount.value) == (money.currency.code, value)
    assert transforms.amount_from_wire(amount) == money


def test_inquiry_and_cancel_bodies() -> None:
    inquiry = transforms.inquiry_body(InquiryRequest("att_0001", Money.of(1, "THB")))
    assert wire.encode(inquiry) == b'{"paymentRequestId":"att_0001"}'
    assert wire.encode(transforms.cancel_body(CancelRequest("att_0001"))) == (
        b'{"paymentRequestId":"att_0001"}'
    )


def test_time_formats() -> None:
    bangkok = timezone(timedelta(hours=7))
    assert transforms.format_time(datetime(2026, 1, 2, 10, 0, tzinfo=bangkok)) == (
        "2026-01-02T03:00:00+00:00"
    )
    with pytest.raises(ValueError):
        transforms.format_time(datetime(2026, 1, 2))
    parsed = transforms.parse_time("2026-11-26T10:00:05+08:00")
    assert parsed == datetime(2026, 11, 26, 2, 0, 5, tzinfo=UTC)
    assert transforms.parse_time("2026-11-26T10:00:05Z") == datetime(
        2026, 11, 26, 10, 0, 5, tzinfo=UTC
    )
    assert transforms.parse_time("2026-11-26T10:00:05") is None  # no offset: not trusted
    assert transforms.parse_time("yesterday") is None
    assert transforms.parse_time(None) is None


# --- pay answers ---------------------------------------------------------------------------------


def test_pay_success() -> None:
    outcome = transforms.pay_outcome(pay_response(), pay_request(), http_status=200)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "2026112600001"
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 0, 5, tzinfo=UTC)
    assert outcome.partner_code == "SUCCESS"
    assert outcome.http_status == 200


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("USER_BALANCE_NOT_ENOUGH", FailureCode.INSUFFICIENT_FUNDS),
        ("RISK_REJECT", FailureCode.RISK_REJECTED),
        ("EXPIRED_CODE", FailureCode.CODE_EXPIRED),
        ("INVALID_CODE", FailureCode.PAYMENT_CODE_INVALID),
        ("ORDER_IS_CLOSED", FailureCode.PAYMENT_EXPIRED),
        ("PROCESS_FAIL", FailureCode.PARTNER_DECLINED),
        ("USER_PAYMENT_VERIFICATION_FAILED", FailureCode.PARTNER_DECLINED),
    ],
)
def test_pay_declines(code: str, failure: FailureCode) -> None:
    outcome = transforms.pay_outcome(pay_response("F", code), pay_request())
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.failure_code is failure
    assert outcome.partner_code == code


@pytest.mark.parametrize(
    ("code", "in_process"),
    [
        ("PAYMENT_IN_PROCESS", True),
        ("UNKNOWN_EXCEPTION", False),
        ("REQUEST_TRAFFIC_EXCEED_LIMIT", False),
    ],
)
def test_pay_pending_is_unknown_maybe_sent(code: str, in_process: bool) -> None:
    outcome = transforms.pay_outcome(pay_response("U", code), pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert outcome.in_process is in_process
    assert not outcome.nothing_charged


@pytest.mark.parametrize("code", ["PARTNER_STATUS_ABNORMAL", "ACCESS_DENIED", "INVALID_SIGNATURE"])
def test_pay_not_accepted_is_unknown_not_sent(code: str) -> None:
    outcome = transforms.pay_outcome(pay_response("F", code), pay_request())
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)
    assert outcome.nothing_charged
    assert outcome.partner_code == code


def assert_untrusted(outcome: Outcome, fragment: str = "") -> None:
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, Delivery.MAYBE_SENT)
    assert fragment in outcome.message


@pytest.mark.parametrize(
    ("response", "fragment"),
    [
        (pay_response("S", "NEW_SUCCESS_CODE"), "unrecognised"),
        (pay_response(None, None), "no result"),
        (pay_response(None, "SUCCESS"), "unrecognised"),
        (pay_response("F", "REPEAT_REQ_INCONSISTENT"), "unrecognised"),
        (pay_response(amount={"currency": "CNY", "value": "25013"}), "differs"),
        (pay_response(amount={"currency": "HKD", "value": "25012"}), "differs"),
        (pay_response(amount={"currency": "CNY", "value": "025012"}), "unreadable"),
        (pay_response(amount={"currency": "CNY", "value": "250.12"}), "unreadable"),
        (pay_response(amount={"currency": "XYZ", "value": "25012"}), "unreadable"),
        (pay_response(paymentRequestId="att_other"), "paymentRequestId"),
    ],
)
def test_pay_untrusted_answers(response: wire.PayResponse, fragment: str) -> None:
    assert_untrusted(transforms.pay_outcome(response, pay_request()), fragment)


def test_pay_success_without_echoed_amount_is_unknown() -> None:
    response = pay_response()
    response.payment_amount = None
    assert_untrusted(transforms.pay_outcome(response, pay_request()), "no paymentAmount")


def test_pay_messages_never_carry_the_code() -> None:
    response = wire.PayResponse.model_validate(
        {"result": {"resultStatus": "F", "resultCode": "INVALID_CODE", "resultMessage": CODE}}
    )
    outcome = transforms.pay_outcome(response, pay_request())
    assert CODE not in outcome.message and "0000" in outcome.message


def test_unknown_response_fields_are_kept_not_fatal() -> None:
    response = pay_response(brandNewField={"x": 1})
    assert transforms.pay_outcome(response, pay_request()).status is OutcomeStatus.SUCCEEDED


# --- inquiry answers -----------------------------------------------------------------------------

INQUIRY = InquiryRequest("att_0001", Money.of(25012, "CNY"))


def inquiry_response(
    payment_status: str | None,
    payment_code: str | None = None,
    *,
    result: tuple[str, str] = ("S", "SUCCESS"),
    **extra: Any,
) -> wire.InquiryPaymentResponse:
    data: dict[str, Any] = {
        "result": {"resultStatus": result[0], "resultCode": result[1]},
        "paymentRequestId": "att_0001",
        "paymentId": "2026112600001",
        "paymentAmount": {"currency": "CNY", "value": "25012"},
        "paymentTime": "2026-11-26T02:00:05+00:00",
        **extra,
    }
    if payment_status is not None:
        data["paymentStatus"] = payment_status
    if payment_code is not None:
        data["paymentResultCode"] = payment_code
    return wire.InquiryPaymentResponse.model_validate(data)


def test_inquiry_success() -> None:
    outcome = transforms.inquiry_outcome(inquiry_response("SUCCESS", "SUCCESS"), INQUIRY)
    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.partner_reference == "2026112600001"
    assert outcome.completed_at == datetime(2026, 11, 26, 2, 0, 5, tzinfo=UTC)


def test_inquiry_success_with_other_amount_is_unknown() -> None:
    response = inquiry_response(
        "SUCCESS", "SUCCESS", paymentAmount={"currency": "CNY", "value": "1"}
    )
    assert_untrusted(transforms.inquiry_outcome(response, INQUIRY), "differs")


@pytest.mark.parametrize(
    ("code", "failure"),
    [
        ("ORDER_IS_CLOSED", FailureCode.PAYMENT_EXPIRED),
        ("USER_BALANCE_NOT_ENOUGH", FailureCode.INSUFFICIENT_FUNDS),
        (None, FailureCode.PARTNER_DECLINED),
    ],
)
def test_inquiry_failed_payment(code: str | None, failure: FailureCode) -> None:
    outcome = transforms.inquiry_outcome(inquiry_response("FAIL", code), INQUIRY)
    assert (outcome.status, outcome.failure_code) == (OutcomeStatus.FAILED, failure)


def test_inquiry_cancelled_payment_is_final_failure() -> None:
    outcome = transforms.inquiry_outcome(inquiry_response("CANCELLED", "ORDER_IS_CLOSED"), INQUIRY)
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.failure_code is FailureCode.PARTNER_DECLINED
    assert "cancelled" in outcome.message


@pytest.mark.parametrize("status", ["PROCESSING", "PENDING"])
def test_inquiry_processing(status: str) -> None:
    outcome = transforms.inquiry_outcome(inquiry_response(status, "PAYMENT_IN_PROCESS"), INQUIRY)
    assert_untrusted(outcome)
    assert outcome.in_process


def test_inquiry_order_not_exist_is_not_found_unknown() -> None:
    response = wire.InquiryPaymentResponse.model_validate(
        {"result": {"resultStatus": "F", "resultCode": "ORDER_NOT_EXIST"}}
    )
    outcome = transforms.inquiry_outcome(response, INQUIRY)
    assert outcome.status is OutcomeStatus.UNKNOWN
    assert outcome.not_found
    assert outcome.delivery is Delivery.MAYBE_SENT  # a pay may still be on its way


@pytest.mark.parametrize(
    ("response", "delivery"),
    [
        (inquiry_response("SUCCESS", result=("U", "UNKNOWN_EXCEPTION")), Delivery.MAYBE_SENT),
        (inquiry_response("SUCCESS", result=("F", "PARAM_ILLEGAL")), Delivery.MAYBE_SENT),
        (inquiry_response("SUCCESS", result=("F", "ACCESS_DENIED")), Delivery.NOT_SENT),
        (inquiry_response("SUCCESS", result=("S", "WHAT")), Delivery.MAYBE_SENT),
        (inquiry_response("REFUNDED"), Delivery.MAYBE_SENT),
        (inquiry_response(None), Delivery.MAYBE_SENT),
        (inquiry_response("SUCCESS", paymentRequestId="att_x"), Delivery.MAYBE_SENT),
    ],
)
def test_inquiry_not_final(response: wire.InquiryPaymentResponse, delivery: Delivery) -> None:
    outcome = transforms.inquiry_outcome(response, INQUIRY)
    assert (outcome.status, outcome.delivery) == (OutcomeStatus.UNKNOWN, delivery)
    assert not outcome.not_found


@pytest.mark.parametrize(
    ("inner", "status"),
    [
        (("S", "SUCCESS"), OutcomeStatus.SUCCEEDED),
        (("F", "RISK_REJECT"), OutcomeStatus.FAILED),
        (("U", "PAYMENT_IN_PROCESS"), OutcomeStatus.UNKNOWN),
        (("S", "ODD"), OutcomeStatus.UNKNOWN),
    ],
)
def test_inquiry_alipayplus_payment_result_flavour(
    inner: tuple[str, str], status: OutcomeStatus
) -> None:
    response = inquiry_response(
        None, paymentResult={"resultStatus": inner[0], "resultCode": inner[1]}
    )
    assert transforms.inquiry_outcome(response, INQUIRY).status is status


# --- cancel answers ------------------------------------------------------------------------------

CANCEL = CancelRequest("att_0001")


def cancel_response(status: str, code: str, **extra: Any) -> wire.CancelResponse:
    return wire.CancelResponse.model_validate(
        {
            "result": {"resultStatus": status, "resultCode": code},
            "paymentRequestId": "att_0001",
            "paymentId": "2026112600001",
            "cancelTime": "2026-11-26T02:01:00+00:00",
            **extra,
        }
    )


def test_cancel_outcomes() -> None:
    done = transforms.cancel_outcome(cancel_response("S", "SUCCESS"), CANCEL)
    assert done.status is OutcomeStatus.SUCCEEDED
    assert done.completed_at == datetime(2026, 11, 26, 2, 1, tzinfo=UTC)

    late = transforms.cancel_outcome(cancel_response("F", "CANCEL_WINDOW_EXCEED"), CANCEL)
    assert (late.status, late.failure_code) == (OutcomeStatus.FAILED, FailureCode.PARTNER_DECLINED)
    assert late.partner_code == "CANCEL_WINDOW_EXCEED"

    assert_untrusted(transforms.cancel_outcome(cancel_response("U", "UNKNOWN_EXCEPTION"), CANCEL))
    assert_untrusted(transforms.cancel_outcome(cancel_response("S", "HUH"), CANCEL))
    assert_untrusted(
        transforms.cancel_outcome(cancel_response("S", "SUCCESS", paymentRequestId="x"), CANCEL)
    )
    refused = transforms.cancel_outcome(cancel_response("F", "PARTNER_STATUS_ABNORMAL"), CANCEL)
    assert (refused.status, refused.delivery) == (OutcomeStatus.UNKNOWN, Delivery.NOT_SENT)
    assert_untrusted(transforms.cancel_outcome(wire.CancelResponse(), CANCEL), "no result")


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_parse_time_past_datetimes_range_is_unreadable(text: str) -> None:
    assert transforms.parse_time(text) is None  # OverflowError at e0798dc
