"""Verified Alipay+ answers -> `Outcome`s: result codes read through `codes`, echoes checked.

The client hands each function an answer whose signature it has verified, already parsed. A
success is trusted only when it echoes our request id and exactly the amount and currency we
asked for (else UNKNOWN, maybe sent); partner messages are scrubbed of the wallet code in case
one echoes it. A refund's decline is always `partner_declined`.
"""

from __future__ import annotations

from adapters._base import (
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    Outcome,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    mask_code,
    parse_time,
)
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.codes import PaymentState, RefundState, Verdict
from adapters.alipayplus.transforms.values import amount_from_wire
from fx import FXError, Money

__all__ = [
    "cancel_outcome",
    "inquiry_outcome",
    "pay_outcome",
    "refund_inquiry_outcome",
    "refund_outcome",
]


def _describe(result: wire.Result, secret: str | None = None) -> str:
    text = f"{result.result_status or '-'} {result.result_code or '-'}"
    if result.result_message:
        text += f": {result.result_message}"
    if secret and secret in text:
        text = text.replace(secret, mask_code(secret))
    return text


def _amount_problem(
    echo: wire.Amount | None, expected: Money, field: str = "paymentAmount"
) -> str | None:
    """Why an echoed amount cannot be trusted, or None when it equals `expected` exactly."""
    if echo is None:
        return f"no {field} echoed"
    try:
        echoed = amount_from_wire(echo)
    except FXError:
        return f"echoed {field} is unreadable"
    if echoed != expected:
        return f"echoed {field} {echoed} differs from requested {expected}"
    return None


def _id_problem(echoed: str | None, expected: str, field: str = "paymentRequestId") -> str | None:
    if echoed is not None and echoed != expected:
        return f"echoed {field} differs from ours"
    return None


def _untrusted(message: str, *, partner_code: str | None, http_status: int | None) -> Outcome:
    return Outcome.unknown(
        Delivery.MAYBE_SENT, message, partner_code=partner_code, http_status=http_status
    )


def pay_outcome(
    response: wire.PayResponse, request: PayRequest, *, http_status: int | None = None
) -> Outcome:
    """A verified `pay` answer -> Outcome (amount and request id echoes checked on success)."""
    result = response.result
    if result is None:
        return _untrusted("pay answer has no result", partner_code=None, http_status=http_status)
    code = result.result_code
    message = _describe(result, request.code.value)
    problem = _id_problem(response.payment_request_id, request.partner_request_id)
    if problem:
        return _untrusted(f"{problem} ({message})", partner_code=code, http_status=http_status)
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.SUCCEEDED:
        problem = _amount_problem(response.payment_amount, request.payer_amount)
        if problem:
            return _untrusted(
                f"success not trusted: {problem}", partner_code=code, http_status=http_status
            )
        return Outcome.succeeded(
            partner_reference=response.payment_id,
            completed_at=parse_time(response.payment_time),
            partner_code=code,
            message=message,
            http_status=http_status,
        )
    if verdict is Verdict.DECLINED:
        return Outcome.failed(
            codes.failure_code(code),
            partner_code=code,
            message=message,
            partner_reference=response.payment_id,
            http_status=http_status,
        )
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"not accepted, nothing charged: {message}",
            partner_code=code,
            http_status=http_status,
        )
    if verdict is Verdict.PENDING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            message,
            partner_code=code,
            in_process=codes.is_in_process(code),
            http_status=http_status,
            partner_reference=response.payment_id,
        )
    return _untrusted(f"unrecognised answer: {message}", partner_code=code, http_status=http_status)


def _payment_state(response: wire.InquiryPaymentResponse) -> tuple[PaymentState, str | None]:
    """The payment's own state and code (Antom `paymentStatus`, else Alipay+ `paymentResult`)."""
    if response.payment_status is not None:
        state = codes.classify_payment_status(response.payment_status)
        return state, response.payment_result_code
    inner = response.payment_result
    if inner is None:
        return PaymentState.UNKNOWN, None
    verdict = codes.classify(inner.result_status, inner.result_code)
    by_verdict = {
        Verdict.SUCCEEDED: PaymentState.SUCCEEDED,
        Verdict.DECLINED: PaymentState.FAILED,
        Verdict.NOT_ACCEPTED: PaymentState.FAILED,
        Verdict.PENDING: PaymentState.PROCESSING,
        Verdict.UNTRUSTED: PaymentState.UNKNOWN,
    }
    return by_verdict[verdict], inner.result_code


def inquiry_outcome(
    response: wire.InquiryPaymentResponse,
    request: InquiryRequest,
    *,
    http_status: int | None = None,
) -> Outcome:
    """A verified `inquiryPayment` answer -> the Outcome of the payment it describes.

    `delivery` here is about the inquiry itself (NOT_SENT: the partner refused to answer it);
    it never says anything about whether the payment was charged.
    """
    result = response.result
    if result is None:
        return _untrusted(
            "inquiry answer has no result", partner_code=None, http_status=http_status
        )
    code = result.result_code
    message = _describe(result)
    verdict = codes.classify(result.result_status, code)
    if result.result_status == "F" and code == codes.ORDER_NOT_EXIST:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            "the partner has no record of this payment (yet)",
            partner_code=code,
            not_found=True,
            http_status=http_status,
        )
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"inquiry not accepted: {message}",
            partner_code=code,
            http_status=http_status,
        )
    if verdict is not Verdict.SUCCEEDED:
        return _untrusted(
            f"inquiry did not work: {message}", partner_code=code, http_status=http_status
        )

    problem = _id_problem(response.payment_request_id, request.partner_request_id)
    if problem:
        return _untrusted(problem, partner_code=code, http_status=http_status)
    state, payment_code = _payment_state(response)
    detail = response.payment_result_message or ""
    payment_message = f"{payment_code or '-'}: {detail}" if detail else (payment_code or "")
    if state is PaymentState.SUCCEEDED:
        problem = _amount_problem(response.payment_amount, request.payer_amount)
        if problem:
            return _untrusted(
                f"success not trusted: {problem}",
                partner_code=payment_code,
                http_status=http_status,
            )
        return Outcome.succeeded(
            partner_reference=response.payment_id,
            completed_at=parse_time(response.payment_time),
            partner_code=payment_code or codes.SUCCESS,
            message=payment_message,
            http_status=http_status,
        )
    if state is PaymentState.FAILED:
        return Outcome.failed(
            codes.failure_code(payment_code),
            partner_code=payment_code,
            message=payment_message,
            partner_reference=response.payment_id,
            http_status=http_status,
        )
    if state is PaymentState.CANCELLED:
        # Final: a cancelled payment is never charged nor settled. Whether it was cancelled
        # after a timeout is the gateway's knowledge, not the partner's.
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=payment_code or "CANCELLED",
            message=f"the partner reports the payment cancelled {payment_message}".strip(),
            partner_reference=response.payment_id,
            http_status=http_status,
        )
    if state is PaymentState.PROCESSING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"payment in process {payment_message}".strip(),
            partner_code=payment_code,
            in_process=True,
            http_status=http_status,
            partner_reference=response.payment_id,
        )
    return _untrusted(
        f"unrecognised paymentStatus {response.payment_status!r}",
        partner_code=payment_code,
        http_status=http_status,
    )


def cancel_outcome(
    response: wire.CancelResponse, request: CancelRequest, *, http_status: int | None = None
) -> Outcome:
    """A verified `cancel` answer: SUCCEEDED means cancelled (and reversed, if it was charged)."""
    result = response.result
    if result is None:
        return _untrusted("cancel answer has no result", partner_code=None, http_status=http_status)
    code = result.result_code
    message = _describe(result)
    problem = _id_problem(response.payment_request_id, request.partner_request_id)
    if problem:
        return _untrusted(f"{problem} ({message})", partner_code=code, http_status=http_status)
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.SUCCEEDED:
        return Outcome.succeeded(
            partner_reference=response.payment_id,
            completed_at=parse_time(response.cancel_time),
            partner_code=code,
            message=message,
            http_status=http_status,
        )
    if verdict is Verdict.DECLINED:
        # e.g. CANCEL_WINDOW_EXCEED: too late to cancel; refund instead.
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=code,
            message=message,
            partner_reference=response.payment_id,
            http_status=http_status,
        )
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"cancel not accepted: {message}",
            partner_code=code,
            http_status=http_status,
        )
    return _untrusted(f"cancel not final: {message}", partner_code=code, http_status=http_status)


def refund_outcome(
    response: wire.RefundResponse, request: RefundRequest, *, http_status: int | None = None
) -> Outcome:
    """A verified `refund` answer -> Outcome (refund request id, payment id and refundAmount
    echoes checked on success). Any F the tables call a decline is final: nothing refunded."""
    result = response.result
    if result is None:
        return _untrusted("refund answer has no result", partner_code=None, http_status=http_status)
    code = result.result_code
    message = _describe(result)
    problem = _id_problem(response.refund_request_id, request.partner_request_id, "refundRequestId")
    if problem is None and request.payment_partner_reference:
        # Named by paymentRequestId instead, we have no paymentId to compare with.
        problem = _id_problem(response.payment_id, request.payment_partner_reference, "paymentId")
    if problem:
        return _untrusted(f"{problem} ({message})", partner_code=code, http_status=http_status)
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.SUCCEEDED:
        problem = _amount_problem(response.refund_amount, request.payer_amount, "refundAmount")
        if problem:
            return _untrusted(
                f"refund success not trusted: {problem}",
                partner_code=code,
                http_status=http_status,
            )
        return Outcome.succeeded(
            partner_reference=response.refund_id,
            completed_at=parse_time(response.refund_time),
            partner_code=code,
            message=message,
            http_status=http_status,
        )
    if verdict is Verdict.DECLINED:
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=code,
            message=message,
            partner_reference=response.refund_id,
            http_status=http_status,
        )
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"refund not accepted, nothing refunded: {message}",
            partner_code=code,
            http_status=http_status,
        )
    if verdict is Verdict.PENDING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            message,
            partner_code=code,
            in_process=codes.is_in_process(code),
            http_status=http_status,
            partner_reference=response.refund_id,
        )
    return _untrusted(
        f"unrecognised refund answer: {message}", partner_code=code, http_status=http_status
    )


def refund_inquiry_outcome(
    response: wire.InquiryRefundResponse,
    request: RefundInquiryRequest,
    *,
    http_status: int | None = None,
) -> Outcome:
    """A verified `inquiryRefund` answer -> the Outcome of the refund it describes.

    As for payment inquiries, `delivery` is about the inquiry itself, and "no such refund"
    (F ORDER_NOT_EXIST) is UNKNOWN with `not_found`, never a failure.
    """
    result = response.result
    if result is None:
        return _untrusted(
            "refund inquiry answer has no result", partner_code=None, http_status=http_status
        )
    code = result.result_code
    message = _describe(result)
    if codes.is_not_found(result.result_status, code):
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            "the partner has no record of this refund (yet)",
            partner_code=code,
            not_found=True,
            http_status=http_status,
        )
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"refund inquiry not accepted: {message}",
            partner_code=code,
            http_status=http_status,
        )
    if verdict is not Verdict.SUCCEEDED:
        return _untrusted(
            f"refund inquiry did not work: {message}", partner_code=code, http_status=http_status
        )

    problem = _id_problem(response.refund_request_id, request.partner_request_id, "refundRequestId")
    if problem:
        return _untrusted(problem, partner_code=code, http_status=http_status)
    state = codes.classify_refund_status(response.refund_status)
    refund_code = response.refund_result_code
    detail = response.refund_result_message or ""
    refund_message = f"{refund_code or '-'}: {detail}" if detail else (refund_code or "")
    if state is RefundState.SUCCEEDED:
        problem = _amount_problem(response.refund_amount, request.payer_amount, "refundAmount")
        if problem:
            return _untrusted(
                f"refund success not trusted: {problem}",
                partner_code=refund_code,
                http_status=http_status,
            )
        return Outcome.succeeded(
            partner_reference=response.refund_id,
            completed_at=parse_time(response.refund_time),
            partner_code=refund_code or codes.SUCCESS,
            message=refund_message,
            http_status=http_status,
        )
    if state is RefundState.FAILED:
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=refund_code or "FAIL",
            message=f"the partner reports the refund failed {refund_message}".strip(),
            partner_reference=response.refund_id,
            http_status=http_status,
        )
    if state is RefundState.PROCESSING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"refund in process {refund_message}".strip(),
            partner_code=refund_code or codes.REFUND_IN_PROCESS,
            in_process=True,
            http_status=http_status,
            partner_reference=response.refund_id,
        )
    return _untrusted(
        f"unrecognised refundStatus {response.refund_status!r}",
        partner_code=refund_code,
        http_status=http_status,
    )
