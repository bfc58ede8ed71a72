"""Domain <-> wire conversions for Alipay+ / Antom: pure functions, no I/O, no clock.

Amount mapping (our choice, documented here because it is the one that matters):

- `paymentAmount` = the **payer amount**, in the wallet's currency: exactly what the tourist is
  charged. The gateway has already quoted the FX rate and shown the tourist that amount, so the
  partner must charge it as is, not re-convert. The partner echoes `paymentAmount`; a success
  whose echo differs (value or currency) is not trusted (UNKNOWN, maybe sent, then inquired and
  cancelled by the gateway).
- `order.orderAmount` = the merchant's amount in the merchant's currency: what the tourist
  bought, for the partner's records, receipts and risk checks.

Amounts travel as strings of minor units (`fx.to_minor_str` / the strict `fx.from_minor_str`).
`paymentRequestId` is our deterministic partner request id, so a retry is the same payment.
The wallet code goes only into `paymentMethod.paymentMethodId`; partner messages are scrubbed of
it in case one echoes it.

Refunds: `refundRequestId` is the refund's deterministic partner request id (a retry is the same
refund) and `refundAmount` the **payer amount** returned, in the payment's (wallet) currency;
the merchant-currency `amount` has no field in this protocol. The payment is named by
`paymentId` = `RefundRequest.payment_partner_reference` (the `paymentId` the partner gave the
payment, which Antom requires). When the caller does not know it, the body names the payment by
`paymentRequestId` instead (our request id of the payment), which the Alipay+ acquirer flavour
and our sandbox accept; an Antom partner refuses that with a signed F `PARAM_ILLEGAL`, a final
FAILED with nothing refunded, never a guess. A refund's decline is always `partner_declined`.

Settlement files (`settlement_file`): the CSV of the package docstring, read strictly. Any cell
that does not parse, a header without a required column, a missing `<END>` line (a truncated
file), a row for another date or currency than asked, a settlement amount other than transaction
− fee, or a sign contrary to the transaction type makes the whole file unreadable
(`SettlementFileUnavailable`): a reconciliation must never run on half a file. Signed amounts
become positive `SettlementLine` amounts; `quotePrice` is the line's `fx_rate` as given.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError

from adapters._base import (
    CancelRequest,
    Delivery,
    FailureCode,
    InquiryRequest,
    Outcome,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    SettlementLine,
    mask_code,
    parse_time,
)
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.codes import PaymentState, RefundState, Verdict
from fx import FXError, Money, from_minor_str, to_minor_str

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "IN_STORE_PAYMENT",
    "PAYMENT_CODE_SCENARIO",
    "WALLET_METHOD",
    "amount_from_wire",
    "amount_to_wire",
    "cancel_body",
    "cancel_outcome",
    "format_time",
    "inquiry_body",
    "inquiry_outcome",
    "parse_time",
    "pay_body",
    "pay_outcome",
    "refund_body",
    "refund_inquiry_body",
    "refund_inquiry_outcome",
    "refund_outcome",
    "settlement_file",
    "settlement_file_body",
]

IN_STORE_PAYMENT = "IN_STORE_PAYMENT"
WALLET_METHOD = "CONNECT_WALLET"
PAYMENT_CODE_SCENARIO = "PaymentCode"
DEFAULT_TERMINAL_ID = "POS"  # storeTerminalId is required; merchants may not name terminals


def format_time(moment: datetime) -> str:
    """ISO 8601 with offset, whole seconds, UTC (`2026-11-26T02:00:00+00:00`), like the SDK."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


_MAX_REFUND_REASON = 256


def amount_to_wire(money: Money) -> wire.Amount:
    return wire.Amount(currency=money.currency.code, value=to_minor_str(money))


def amount_from_wire(amount: wire.Amount) -> Money:
    """Strict: `fx.InvalidAmount` / `fx.UnsupportedCurrency` on anything but an exact amount."""
    return from_minor_str(amount.value, amount.currency)


# --- requests --------------------------------------------------------------------------------


def pay_body(request: PayRequest) -> wire.PayRequest:
    """The user-presented-code `pay` body for one domain pay request."""
    merchant = request.merchant
    store_id = merchant.store_id or merchant.id
    return wire.PayRequest(
        product_code=IN_STORE_PAYMENT,
        payment_request_id=request.partner_request_id,
        order=wire.Order(
            reference_order_id=request.reference,
            order_description=request.description or f"Order {request.reference}",
            order_amount=amount_to_wire(request.amount),
            merchant=wire.Merchant(
                reference_merchant_id=merchant.id,
                merchant_mcc=merchant.mcc,
                merchant_name=merchant.name,
                store=wire.Store(
                    reference_store_id=store_id,
                    store_name=merchant.name,
                    store_mcc=merchant.mcc,
                ),
            ),
            env=wire.Env(
                store_terminal_id=merchant.terminal_id or DEFAULT_TERMINAL_ID,
                store_terminal_request_time=format_time(request.requested_at),
            ),
        ),
        payment_amount=amount_to_wire(request.payer_amount),
        payment_method=wire.PaymentMethod(
            payment_method_type=WALLET_METHOD,
            payment_method_id=request.code.value,
        ),
        payment_factor=wire.PaymentFactor(in_store_payment_scenario=PAYMENT_CODE_SCENARIO),
    )


def inquiry_body(request: InquiryRequest) -> wire.InquiryPaymentRequest:
    return wire.InquiryPaymentRequest(payment_request_id=request.partner_request_id)


def cancel_body(request: CancelRequest) -> wire.CancelRequest:
    return wire.CancelRequest(payment_request_id=request.partner_request_id)


def refund_body(request: RefundRequest) -> wire.RefundRequest:
    """The payment by `paymentId` when known, else by `paymentRequestId` (module docstring)."""
    payment_id = request.payment_partner_reference or None
    return wire.RefundRequest(
        refund_request_id=request.partner_request_id,
        payment_id=payment_id,
        payment_request_id=None if payment_id else request.payment_partner_request_id,
        refund_amount=amount_to_wire(request.payer_amount),
        # The protocol takes 256 characters; ours are up to 500, and only informative.
        refund_reason=request.reason[:_MAX_REFUND_REASON] if request.reason else None,
    )


def refund_inquiry_body(request: RefundInquiryRequest) -> wire.InquiryRefundRequest:
    return wire.InquiryRefundRequest(refund_request_id=request.partner_request_id)


def settlement_file_body(request: SettlementFileRequest) -> wire.SettlementFileRequest:
    return wire.SettlementFileRequest(
        settlement_date=request.business_date.isoformat(),
        settlement_currency=request.currency,
    )


# --- responses -------------------------------------------------------------------------------


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


# --- settlement files ------------------------------------------------------------------------

_TYPES = {"PAYMENT": "payment", "REFUND": "refund"}


class _BadRow(ValueError):
    """One row does not parse (the message names the column, never a cell's value)."""


def _minor(value: str, currency: str, column: str) -> Money:
    try:
        return from_minor_str(value, currency)
    except FXError:
        raise _BadRow(f"{column} is not a {currency or '?'} minor-unit amount") from None


def _settlement_line(
    record: wire.SettlementRecord, request: SettlementFileRequest
) -> SettlementLine:
    kind = _TYPES.get(record.transaction_type)
    if kind is None:
        raise _BadRow("transactionType is neither PAYMENT nor REFUND")
    if record.settlement_date != request.business_date.isoformat():
        raise _BadRow("settlementDate is not the date asked for")
    currency = record.transaction_currency
    if request.currency is not None and currency != request.currency:
        raise _BadRow("transactionCurrency is not the currency asked for")
    if record.fee_currency != currency or record.settlement_currency != currency:
        raise _BadRow("feeCurrency or settlementCurrency differs from transactionCurrency")
    amount = _minor(record.transaction_amount_value, currency, "transactionAmountValue")
    fee = _minor(record.fee_amount_value, currency, "feeAmountValue")
    settled = _minor(record.settlement_amount_value, currency, "settlementAmountValue")
    if settled.value != amount.value - fee.value:
        raise _BadRow("settlementAmountValue is not transactionAmountValue - feeAmountValue")
    sign = 1 if kind == "payment" else -1
    if sign * amount.value <= 0 or sign * fee.value < 0:
        raise _BadRow(f"amounts have the wrong sign for a {record.transaction_type}")
    if not record.payment_request_id or not record.payment_id:
        raise _BadRow("paymentRequestId and paymentId are required")
    if kind == "refund":
        if not record.refund_request_id or not record.refund_id:
            raise _BadRow("a REFUND needs refundRequestId and refundId")
        request_id, reference = record.refund_request_id, record.refund_id
    else:
        if record.refund_request_id or record.refund_id:
            raise _BadRow("a PAYMENT has no refundRequestId or refundId")
        request_id, reference = record.payment_request_id, record.payment_id
    merchant = None
    if record.order_amount_value or record.order_currency:
        merchant = _minor(record.order_amount_value, record.order_currency, "orderAmountValue")
        if merchant.value <= 0:
            raise _BadRow("orderAmountValue is not positive")
    rate = None
    if record.quote_price:
        try:
            rate = Decimal(record.quote_price)
        except InvalidOperation:
            raise _BadRow("quotePrice is not a decimal") from None
        if not rate.is_finite() or rate <= 0:
            raise _BadRow("quotePrice is not a positive decimal")
    completed_at = parse_time(record.transaction_time)
    if completed_at is None:
        raise _BadRow("transactionTime is not an ISO 8601 time with an offset")
    return SettlementLine(
        record_type="payment" if kind == "payment" else "refund",
        partner_request_id=request_id,
        partner_reference=reference,
        payment_partner_request_id=record.payment_request_id,
        amount=Money(sign * amount.value, amount.currency),
        fee=Money(sign * fee.value, fee.currency),
        merchant_amount=merchant,
        fx_rate=rate,
        completed_at=completed_at,
    )


def settlement_file(
    raw: bytes, *, partner_id: str, request: SettlementFileRequest
) -> SettlementFile:
    """A verified settlement file's bytes (an HTTP 200 answer's) -> `SettlementFile`;
    `SettlementFileUnavailable` (naming the line and the column, never a cell's value) when
    anything in it does not hold (module docstring)."""

    def unreadable(why: str) -> SettlementFileUnavailable:
        return SettlementFileUnavailable(f"settlement file of {partner_id}: {why}", http_status=200)

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise unreadable("not UTF-8") from None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise unreadable(f"not CSV ({exc})") from None
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows or rows[-1] != [wire.SETTLEMENT_END]:
        raise unreadable(f"no {wire.SETTLEMENT_END} line: the file is truncated")
    rows.pop()
    if not rows:
        raise unreadable("no header row")
    header = rows[0]
    missing = [name for name in wire.SETTLEMENT_REQUIRED if name not in header]
    if missing or len(set(header)) != len(header):
        raise unreadable(f"header lacks {', '.join(missing)}" if missing else "repeated column")
    parsed: list[SettlementLine] = []
    for number, cells in enumerate(rows[1:], start=2):
        if not cells:
            continue
        if len(cells) != len(header):
            raise unreadable(f"line {number} has {len(cells)} cells, the header {len(header)}")
        try:
            record = wire.SettlementRecord.model_validate(dict(zip(header, cells, strict=True)))
            parsed.append(_settlement_line(record, request))
        except ValidationError as exc:
            where = "; ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])
            raise unreadable(f"line {number}: {where} invalid") from None
        except (_BadRow, ValueError) as exc:
            raise unreadable(f"line {number}: {exc}") from None
    return SettlementFile(
        partner_id=partner_id, business_date=request.business_date, lines=tuple(parsed), raw=raw
    )
