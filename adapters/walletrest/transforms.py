"""Domain <-> wire conversions for WalletRest: pure functions, no I/O, no clock.

The client hands each function an answer whose signature it has already verified: the HTTP
status and the raw body. The function parses it and decides, so every rule below is testable
with recorded JSON.

Amount mapping: `amount` is the **payer amount** (the wallet's currency, exactly what the tourist
is charged, already quoted by the gateway); `merchant_amount` is what the tourist bought, in the
merchant's currency, for the partner's records. A success whose echoed `amount` differs (value or
currency), or whose `request_id` is not ours, is not trusted: UNKNOWN, maybe sent.

Decisions by status: 200/201 carry the resource in whatever state it is; 202 must say
`processing`; 4xx/5xx carry `{"error": {...}}`, read through `codes.classify_error`. The wallet
code is sent only as `payment_code`; partner messages are scrubbed of it in case one echoes it.

Settlement reports (`settlement_file`): a verified 200 answer is read strictly. An entry that
does not parse (amounts with exactly the currency's decimals), a report for another date or
currency than asked, a `net` other than ±(amount − fee), or `totals` that disagree with the
entries (counts and net per currency) make the whole report unreadable
(`SettlementFileUnavailable`); so does any other status (its `error` named).
`exchange_rate` is the line's `fx_rate` as given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

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
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.codes import ErrorVerdict, ResourceState
from fx import FXError, Money

__all__ = [
    "DEFAULT_TERMINAL_ID",
    "cancel_outcome",
    "create_payment_body",
    "create_refund_body",
    "format_time",
    "inquiry_outcome",
    "parse_time",
    "pay_outcome",
    "refund_inquiry_outcome",
    "refund_outcome",
    "settlement_file",
    "settlement_report_path",
]

DEFAULT_TERMINAL_ID = "POS"

_Model = TypeVar("_Model", bound=BaseModel)
_Resource = wire.Payment | wire.Refund


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC, whole seconds: `2026-11-26T02:00:00+00:00`."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- requests --------------------------------------------------------------------------------


def create_payment_body(request: PayRequest) -> wire.CreatePayment:
    merchant = request.merchant
    return wire.CreatePayment(
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        payment_code=request.code.value,
        reference=request.reference,
        description=request.description or None,
        merchant=wire.Merchant(
            id=merchant.id,
            name=merchant.name,
            country=merchant.country,
            mcc=merchant.mcc,
            store_id=merchant.store_id,
            terminal_id=merchant.terminal_id or DEFAULT_TERMINAL_ID,
        ),
        requested_at=format_time(request.requested_at),
    )


def create_refund_body(request: RefundRequest) -> wire.CreateRefund:
    return wire.CreateRefund(
        payment=request.payment_partner_request_id,
        amount=wire.money_to_wire(request.payer_amount),
        merchant_amount=wire.money_to_wire(request.amount),
        reference=request.reference,
        reason=request.reason or None,
    )


# --- helpers ---------------------------------------------------------------------------------


def _parse(model: type[_Model], body: bytes) -> _Model | str:
    """The parsed body, or why it cannot be read (locations and types, never input values)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        parts = [".".join(str(p) for p in e["loc"]) + f" {e['type']}" for e in exc.errors()]
        return "unparseable answer (" + ("; ".join(parts[:5]) or "invalid") + ")"


def _scrub(text: str, secret: str | None) -> str:
    if secret and secret in text:
        return text.replace(secret, mask_code(secret))
    return text


def _untrusted(message: str, *, partner_code: str | None = None, http_status: int) -> Outcome:
    return Outcome.unknown(
        Delivery.MAYBE_SENT, message, partner_code=partner_code, http_status=http_status
    )


def _amount_problem(echo: wire.Amount | None, expected: Money) -> str | None:
    """Why an echoed amount cannot be trusted, or None when it equals `expected` exactly."""
    if echo is None:
        return "no amount echoed"
    try:
        echoed = wire.money_from_wire(echo)
    except FXError:
        return "echoed amount is unreadable"
    if echoed != expected:
        return f"echoed amount {echoed} differs from requested {expected}"
    return None


def _resource_outcome(
    resource: _Resource,
    *,
    kind: str,
    request_id: str,
    expected: Money,
    http_status: int,
) -> Outcome:
    """A payment's or refund's own state -> Outcome, echoes checked before any success."""
    if resource.request_id != request_id:
        return _untrusted(f"{kind} answer names another request_id", http_status=http_status)
    state = codes.classify_status(resource.status)
    reference = resource.id
    if state is ResourceState.SUCCEEDED:
        problem = _amount_problem(resource.amount, expected)
        if problem:
            return _untrusted(
                f"{kind} success not trusted: {problem}",
                partner_code=codes.SUCCEEDED,
                http_status=http_status,
            )
        return Outcome.succeeded(
            partner_reference=reference,
            completed_at=parse_time(resource.completed_at),
            partner_code=codes.SUCCEEDED,
            message=f"{kind} succeeded",
            http_status=http_status,
        )
    if state is ResourceState.PROCESSING:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"{kind} in process",
            partner_code=resource.status,
            in_process=True,
            http_status=http_status,
            partner_reference=reference,
        )
    if state is ResourceState.FAILED:
        return Outcome.failed(
            codes.failure_code(resource.decline_code),
            partner_code=resource.decline_code or codes.FAILED,
            message=f"{kind} failed: {resource.decline_code or '-'}",
            partner_reference=reference,
            http_status=http_status,
        )
    if state is ResourceState.CANCELED:
        # Final: a canceled payment is never charged nor settled. Whether it was canceled after
        # a timeout is the gateway's knowledge, not the partner's.
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=codes.CANCELED,
            message=f"the partner reports the {kind} canceled",
            partner_reference=reference,
            http_status=http_status,
        )
    return _untrusted(f"unrecognised {kind} status {resource.status!r}", http_status=http_status)


def _read_resource(
    model: type[wire.Payment] | type[wire.Refund],
    body: bytes,
    *,
    kind: str,
    request_id: str,
    expected: Money,
    http_status: int,
    payment: str | None = None,
) -> Outcome:
    """A 200/201/202 answer carrying the resource itself (a refund's `payment` checked too)."""
    resource = _parse(model, body)
    if isinstance(resource, str):
        return _untrusted(f"{kind}: {resource}", http_status=http_status)
    if isinstance(resource, wire.Refund) and payment is not None and resource.payment != payment:
        return _untrusted("refund answer names another payment", http_status=http_status)
    state = codes.classify_status(resource.status)
    if http_status == 202 and state is not ResourceState.PROCESSING:
        return _untrusted(
            f"{kind}: HTTP 202 with status {resource.status!r}", http_status=http_status
        )
    return _resource_outcome(
        resource, kind=kind, request_id=request_id, expected=expected, http_status=http_status
    )


def _error_outcome(
    body: bytes,
    *,
    operation: str,
    kind: str,
    http_status: int,
    allowed: frozenset[ErrorVerdict],
    secret: str | None = None,
    decline_resource: Callable[[wire.ErrorBody], _Resource | None] | None = None,
    request_id: str | None = None,
) -> Outcome:
    """A 4xx/5xx answer: `{"error": {...}}` read through `codes.classify_error`."""
    parsed = _parse(wire.ErrorBody, body)
    if isinstance(parsed, str):
        return _untrusted(f"{operation}: HTTP {http_status}, {parsed}", http_status=http_status)
    error = parsed.error
    partner_code = error.decline_code or error.type
    detail = _scrub(f"{error.type or '-'} {error.code or error.decline_code or '-'}", secret)
    if error.message:
        detail += ": " + _scrub(error.message, secret)
    verdict = codes.classify_error(http_status, error.type)
    if verdict not in allowed:
        verdict = ErrorVerdict.UNTRUSTED
    resource = decline_resource(parsed) if decline_resource is not None else None
    reference = resource.id if resource is not None else None
    if resource is not None and request_id is not None and resource.request_id != request_id:
        return _untrusted(
            f"{operation}: answer names another request_id ({detail})",
            partner_code=partner_code,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.NOT_ACCEPTED:
        return Outcome.unknown(
            Delivery.NOT_SENT,
            f"{operation} not accepted, nothing charged: {detail}",
            partner_code=partner_code,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.DECLINED:
        return Outcome.failed(
            codes.failure_code(error.decline_code),
            partner_code=partner_code,
            message=detail,
            partner_reference=reference,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.REFUSED:
        return Outcome.failed(
            FailureCode.PARTNER_DECLINED,
            partner_code=error.code or error.type,
            message=detail,
            partner_reference=reference,
            http_status=http_status,
        )
    if verdict is ErrorVerdict.NOT_FOUND:
        return Outcome.unknown(
            Delivery.MAYBE_SENT,
            f"the partner has no record of this {kind} (yet)",
            partner_code=partner_code,
            not_found=True,
            http_status=http_status,
        )
    return _untrusted(
        f"{operation}: HTTP {http_status} {detail}",
        partner_code=partner_code,
        http_status=http_status,
    )


_RESOURCE_STATUSES = frozenset({200, 201, 202})


def _payment_of(body: wire.ErrorBody) -> _Resource | None:
    return body.payment


def _refund_of(body: wire.ErrorBody) -> _Resource | None:
    return body.refund


# --- responses -------------------------------------------------------------------------------


def pay_outcome(http_status: int, body: bytes, request: PayRequest) -> Outcome:
    """A verified answer to `POST /v1/payments`."""
    if http_status in _RESOURCE_STATUSES:
        return _read_resource(
            wire.Payment,
            body,
            kind="payment",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return _error_outcome(
        body,
        operation="pay",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.DECLINED, ErrorVerdict.REFUSED}),
        secret=request.code.value,
        decline_resource=_payment_of,
        request_id=request.partner_request_id,
    )


def inquiry_outcome(http_status: int, body: bytes, request: InquiryRequest) -> Outcome:
    """A verified answer to `GET /v1/payments/{id}`: the Outcome of the payment it describes.

    `delivery` here is about the inquiry itself (NOT_SENT: the partner refused to answer it);
    it never says anything about whether the payment was charged.
    """
    if http_status == 200:
        return _read_resource(
            wire.Payment,
            body,
            kind="payment",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return _error_outcome(
        body,
        operation="inquire",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.NOT_FOUND}),
    )


def cancel_outcome(http_status: int, body: bytes, request: CancelRequest) -> Outcome:
    """A verified answer to `POST /v1/payments/{id}/cancel`: SUCCEEDED means canceled (and
    reversed, if it was charged); a refusal (`invalid_state`, e.g. refunded) is final."""
    if http_status == 200:
        payment = _parse(wire.Payment, body)
        if isinstance(payment, str):
            return _untrusted(f"cancel: {payment}", http_status=http_status)
        if payment.request_id != request.partner_request_id:
            return _untrusted("cancel answer names another request_id", http_status=http_status)
        if codes.classify_status(payment.status) is not ResourceState.CANCELED:
            return _untrusted(
                f"cancel answered with status {payment.status!r}", http_status=http_status
            )
        return Outcome.succeeded(
            partner_reference=payment.id,
            completed_at=parse_time(payment.canceled_at),
            partner_code=codes.CANCELED,
            message="payment canceled",
            http_status=http_status,
        )
    return _error_outcome(
        body,
        operation="cancel",
        kind="payment",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.REFUSED}),
    )


def refund_outcome(http_status: int, body: bytes, request: RefundRequest) -> Outcome:
    """A verified answer to `POST /v1/refunds` (amount echo checked on success)."""
    if http_status in _RESOURCE_STATUSES:
        return _read_resource(
            wire.Refund,
            body,
            kind="refund",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
            payment=request.payment_partner_request_id,
        )
    return _error_outcome(
        body,
        operation="refund",
        kind="refund",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.DECLINED, ErrorVerdict.REFUSED}),
        decline_resource=_refund_of,
        request_id=request.partner_request_id,
    )


def refund_inquiry_outcome(http_status: int, body: bytes, request: RefundInquiryRequest) -> Outcome:
    """A verified answer to `GET /v1/refunds/{id}`."""
    if http_status == 200:
        return _read_resource(
            wire.Refund,
            body,
            kind="refund",
            request_id=request.partner_request_id,
            expected=request.payer_amount,
            http_status=http_status,
        )
    return _error_outcome(
        body,
        operation="inquire_refund",
        kind="refund",
        http_status=http_status,
        allowed=frozenset({ErrorVerdict.NOT_ACCEPTED, ErrorVerdict.NOT_FOUND}),
    )


# --- settlement reports ----------------------------------------------------------------------


def settlement_report_path(request: SettlementFileRequest) -> str:
    """`/v1/settlement_reports/{YYYY-MM-DD}`, with `?currency=` when one is asked for."""
    path = f"/v1/settlement_reports/{request.business_date.isoformat()}"
    return f"{path}?currency={quote(request.currency, safe='')}" if request.currency else path


class _BadEntry(ValueError):
    """One entry does not hold (the message names the field, never a value)."""


def _money(amount: wire.Amount, field: str) -> Money:
    try:
        return wire.money_from_wire(amount)
    except FXError:
        raise _BadEntry(f"{field} is not an exact major-unit amount") from None


def _entry_line(entry: wire.SettlementEntry, request: SettlementFileRequest) -> SettlementLine:
    if entry.type not in ("payment", "refund"):
        raise _BadEntry("type is neither payment nor refund")
    amount = _money(entry.amount, "amount")
    fee = _money(entry.fee, "fee")
    net = _money(entry.net, "net")
    if request.currency is not None and amount.currency.code != request.currency:
        raise _BadEntry("amount is not in the currency asked for")
    if fee.currency != amount.currency or net.currency != amount.currency:
        raise _BadEntry("fee or net is in another currency than amount")
    if amount.value <= 0 or fee.value < 0:
        raise _BadEntry("amount must be positive and fee not negative")
    sign = 1 if entry.type == "payment" else -1
    if net.value != sign * (amount.value - fee.value):
        raise _BadEntry("net is not amount - fee (negated for a refund)")
    if entry.type == "payment" and entry.payment != entry.request_id:
        raise _BadEntry("a payment's payment is not its own request_id")
    merchant = _money(entry.merchant_amount, "merchant_amount") if entry.merchant_amount else None
    if merchant is not None and merchant.value <= 0:
        raise _BadEntry("merchant_amount is not positive")
    rate = None
    if entry.exchange_rate is not None:
        try:
            rate = Decimal(entry.exchange_rate)
        except InvalidOperation:
            raise _BadEntry("exchange_rate is not a decimal") from None
        if not rate.is_finite() or rate <= 0:
            raise _BadEntry("exchange_rate is not a positive decimal")
    completed_at = parse_time(entry.completed_at)
    if completed_at is None:
        raise _BadEntry("completed_at is not an RFC 3339 time")
    return SettlementLine(
        record_type="payment" if entry.type == "payment" else "refund",
        partner_request_id=entry.request_id,
        partner_reference=entry.id,
        payment_partner_request_id=entry.payment,
        amount=amount,
        fee=fee,
        merchant_amount=merchant,
        fx_rate=rate,
        completed_at=completed_at,
    )


def _totals_problem(report: wire.SettlementReport, lines: list[SettlementLine]) -> str | None:
    """Why the report's `totals` disagree with its entries, or None."""
    expected: dict[str, tuple[int, int, int]] = {}
    for line in lines:
        code = line.amount.currency.code
        payments, refunds, net = expected.get(code, (0, 0, 0))
        if line.record_type == "payment":
            payments += 1
        else:
            refunds += 1
        expected[code] = (payments, refunds, net + line.net.value)
    stated: dict[str, tuple[int, int, int]] = {}
    for total in report.totals:
        try:
            net_money = _money(total.net, "totals.net")
        except _BadEntry as exc:
            return str(exc)
        if net_money.currency.code != total.currency or total.currency in stated:
            return "totals name a currency twice or disagree on it"
        stated[total.currency] = (total.payments, total.refunds, net_money.value)
    if stated != expected:
        return "totals do not match the entries"
    return None


def settlement_file(
    http_status: int, body: bytes, *, partner_id: str, request: SettlementFileRequest
) -> SettlementFile:
    """A verified answer to `GET /v1/settlement_reports/{date}` -> `SettlementFile`, else
    `SettlementFileUnavailable` (module docstring)."""
    where = f"settlement report of {partner_id}"
    if http_status != 200:
        error = _parse(wire.ErrorBody, body)
        detail = (
            f"{error.error.type or '-'} {error.error.code or '-'}: {error.error.message or ''}"
            if not isinstance(error, str)
            else error
        )
        raise SettlementFileUnavailable(
            f"{where}: HTTP {http_status}, {detail.strip()}", http_status=http_status
        )
    report = _parse(wire.SettlementReport, body)
    if isinstance(report, str):
        raise SettlementFileUnavailable(f"{where}: {report}", http_status=http_status)
    if report.date != request.business_date.isoformat():
        raise SettlementFileUnavailable(f"{where}: it is for another date", http_status=200)
    if report.currency != request.currency:
        raise SettlementFileUnavailable(f"{where}: it is for another currency", http_status=200)
    lines: list[SettlementLine] = []
    for index, entry in enumerate(report.entries):
        try:
            lines.append(_entry_line(entry, request))
        except ValueError as exc:
            raise SettlementFileUnavailable(
                f"{where}: entries[{index}]: {exc}", http_status=200
            ) from None
    problem = _totals_problem(report, lines)
    if problem is not None:
        raise SettlementFileUnavailable(f"{where}: {problem}", http_status=200)
    return SettlementFile(
        partner_id=partner_id, business_date=request.business_date, lines=tuple(lines), raw=body
    )
