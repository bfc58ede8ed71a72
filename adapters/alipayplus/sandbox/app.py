"""An aiohttp app that plays an Alipay+ / Antom partner, with API.md's deterministic test codes.

It speaks the real wire protocol: requests must be signed by a merchant key it knows (else a
signed F `ACCESS_DENIED` / `INVALID_SIGNATURE`, nothing charged), and every answer except the
0500 scenario's is signed with the sandbox key. Response header names are lower case
(`client-id`, `response-time`, `signature`) because Ant's Python SDK looks them up that way.

Behaviour by the last four digits of `paymentMethodId` (codes must be 16-24 ASCII digits, else
F `INVALID_CODE`):

    0000 / other  S SUCCESS at once
    0051 0059 0054  F USER_BALANCE_NOT_ENOUGH / RISK_REJECT / EXPIRED_CODE
    0091  charged at once, answer held `hold_seconds`; inquiry finds SUCCESS (every pay is held)
    0092  answer held `hold_seconds`, then U UNKNOWN_EXCEPTION; never recorded (ORDER_NOT_EXIST)
    0093  U PAYMENT_IN_PROCESS; SUCCESS `confirm_seconds` after creation
    0094  U PAYMENT_IN_PROCESS; FAIL ORDER_IS_CLOSED `expire_seconds` after creation
    0500  HTTP 500, unsigned, to the first pay of a request id (nothing recorded); then approves
    0503  F PARTNER_STATUS_ABNORMAL on every pay, nothing recorded or charged

A replay of a pay (same paymentRequestId, amount and code) returns the payment's current state
and never charges twice; other amount or code: F REPEAT_REQ_INCONSISTENT. A pay for a request id
that was cancelled first: F ORDER_STATUS_INVALID.

What follows a payment, by the same last four digits (`adapters._sandbox` has the rules):

    0095  S SUCCESS at once; each refund is made at once but its answer is held `hold_seconds`
          (every refund call, replays too); inquiryRefund finds it SUCCESS
    0096  S SUCCESS at once; every refund is F PROCESS_FAIL, nothing refunded
    0097  S SUCCESS at once; a cancel is F CANCEL_WINDOW_EXCEED (refund instead); refunds work
    other refunds are S SUCCESS within the refundable remainder

`refund` names the payment by `paymentId` (Antom) or `paymentRequestId` (Alipay+ acquirer
flavour); `paymentId` wins when both are given. Declines (all F, and recorded, so a replay
answers the same): REFUND_AMOUNT_EXCEED beyond the refundable remainder, ORDER_NOT_EXIST for an
unknown payment, ORDER_STATUS_INVALID for one that failed or is in process, ORDER_IS_CLOSED for a
cancelled one, PARAM_ILLEGAL for another currency. A replay of a refundRequestId with the same
payment and refundAmount answers the original result; other ones: F REPEAT_REQ_INCONSISTENT.
`inquiryRefund` (by refundRequestId, or refundId which wins) answers S with `refundStatus`
SUCCESS | FAIL (`refundResultCode`), or F ORDER_NOT_EXIST for an unknown refund. A cancel of a
payment with refunds: F ORDER_STATUS_INVALID.

`settlements/file` answers the signed CSV of a settlement date (the package docstring has the
format) from the ledger, by `adapters._sandbox`'s rules (`SandboxSettings.settlement` gives the
partner's zone, cut-off and fees); a date that is not `YYYY-MM-DD` or an unknown currency is F
PARAM_ILLEGAL (signed JSON). `POST /_sandbox/settlement_tamper` (403 unless
`allow_settlement_tamper`) and `GET /_sandbox/settlement/{date}` are the test hooks.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import BaseModel, ValidationError

from adapters._base import mask_code
from adapters._clock import Clock, SystemClock
from adapters._sandbox import (
    CancelRefusal,
    CodeBehaviour,
    Outcome,
    SettlementDesk,
    SettlementRow,
    SettlementTerms,
    digest,
    install_settlement_routes,
    ledger_json_handler,
    parse_business_date,
    validation_summary,
)
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.sandbox.ledger import (
    PaymentRecord,
    PaymentStatus,
    RefundRecord,
    SandboxLedger,
    Scenario,
    code_digest,
)
from adapters.alipayplus.signing import (
    SignatureHeader,
    build_content,
    load_private_key,
    load_public_key,
    sign,
    verify,
)
from fx import FXError, format_rate, from_minor_str, get_currency

__all__ = ["LEDGER", "PATH_PREFIXES", "SandboxSettings", "create_sandbox_app"]

log = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=BaseModel)

PATH_PREFIXES = ("/ams/api", "/ams/sandbox/api", "/aps/api")
_PRODUCT_CODE = "IN_STORE_PAYMENT"


@dataclasses.dataclass
class SandboxSettings:
    """How one sandbox partner behaves.

    **Parameters**
    - `private_key_pem`: the sandbox's signing key (its public half goes in the adapter's
      `partner_public_key`).
    - `merchant_public_keys`: client-id -> that merchant's public key; requests are verified
      with it.
    - `client_id_in_responses`: the `client-id` header of answers; None echoes the request's.
    - `key_version`: the keyVersion announced in answer signatures.
    - `hold_seconds`: how long 0091/0092 hold their answer (beyond the gateway's pay timeout).
    - `confirm_seconds`: 0093's time until the tourist confirms.
    - `expire_seconds`: 0094's time until the partner expires the payment.
    - `clock`: business time for lazily evaluated states and `Response-Time`.
    - `settlement`: the partner's zone, cut-off and fee schedule, for its settlement file.
    - `allow_settlement_tamper`: accept `POST /_sandbox/settlement_tamper` (tests only).
    """

    private_key_pem: str
    merchant_public_keys: Mapping[str, str]
    client_id_in_responses: str | None = None
    key_version: int = 1
    hold_seconds: float = 9.0
    confirm_seconds: float = 2.0
    expire_seconds: float = 3.0
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    settlement: SettlementTerms = dataclasses.field(default_factory=SettlementTerms)
    allow_settlement_tamper: bool = False

    def __repr__(self) -> str:
        merchants = sorted(self.merchant_public_keys)
        return (
            f"SandboxSettings(private_key_pem=<redacted>, merchants={merchants}, "
            f"hold={self.hold_seconds}, confirm={self.confirm_seconds}, "
            f"expire={self.expire_seconds})"
        )


LEDGER = web.AppKey("alipayplus_sandbox_ledger", SandboxLedger)


@dataclasses.dataclass
class _State:
    settings: SandboxSettings
    private_key: rsa.RSAPrivateKey
    merchant_keys: dict[str, rsa.RSAPublicKey]
    ledger: SandboxLedger
    behaviour: CodeBehaviour
    desk: SettlementDesk


_STATE = web.AppKey("alipayplus_sandbox_state", _State)


class _Reply(Exception):
    """Raised inside a handler to answer at once with a signed protocol result."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(code)
        self.result = wire.Result(result_status=status, result_code=code, result_message=message)


def _result(status: str, code: str, message: str) -> wire.Result:
    return wire.Result(result_status=status, result_code=code, result_message=message)


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox partner as an aiohttp app; `app[LEDGER]` is its ledger."""
    state = _State(
        settings=settings,
        private_key=load_private_key(settings.private_key_pem),
        merchant_keys={
            cid: load_public_key(pem) for cid, pem in settings.merchant_public_keys.items()
        },
        ledger=SandboxLedger(
            settings.clock,
            confirm_seconds=settings.confirm_seconds,
            expire_seconds=settings.expire_seconds,
        ),
        behaviour=CodeBehaviour(settings.hold_seconds),
        desk=SettlementDesk(settings.settlement, allow_tamper=settings.allow_settlement_tamper),
    )
    app = web.Application()
    app[_STATE] = state
    app[LEDGER] = state.ledger
    for prefix in PATH_PREFIXES:
        app.router.add_post(f"{prefix}/v1/settlements/file", _settlement_file)
        app.router.add_post(f"{prefix}/v1/payments/pay", _pay)
        app.router.add_post(f"{prefix}/v1/payments/inquiryPayment", _inquiry)
        app.router.add_post(f"{prefix}/v1/payments/cancel", _cancel)
        app.router.add_post(f"{prefix}/v1/payments/refund", _refund)
        app.router.add_post(f"{prefix}/v1/payments/inquiryRefund", _inquiry_refund)
    app.router.add_get("/_sandbox/ledger", ledger_json_handler(LEDGER))
    install_settlement_routes(app, state.desk, LEDGER)
    state.behaviour.release_on_shutdown(app)
    return app


# --- plumbing --------------------------------------------------------------------------------


def _signed(request: web.Request, state: _State, answer: BaseModel) -> web.Response:
    """Serialise and sign an answer over `POST <request path>\\n<client-id>.<time>.<body>`."""
    return _signed_bytes(request, state, wire.encode(answer), "application/json; charset=UTF-8")


def _signed_bytes(
    request: web.Request, state: _State, body: bytes, content_type: str
) -> web.Response:
    """Sign raw answer bytes (JSON or the settlement CSV) the protocol's way."""
    settings = state.settings
    client_id = settings.client_id_in_responses
    if client_id is None:
        client_id = request.headers.get("client-id", "")
    response_time = settings.clock.now().isoformat(timespec="seconds")
    content = build_content(request.method, request.path, client_id, response_time, body)
    header = SignatureHeader(
        signature=sign(state.private_key, content), key_version=settings.key_version
    )
    return web.Response(
        body=body,
        headers={
            "content-type": content_type,
            "client-id": client_id,
            "response-time": response_time,
            "signature": header.render(),
        },
    )


async def _authenticated_body(request: web.Request, state: _State) -> bytes:
    """The raw body of a request signed by a known merchant, else a signed refusal."""
    raw = await request.read()
    client_id = request.headers.get("client-id")
    key = state.merchant_keys.get(client_id or "")
    if key is None:
        raise _Reply("F", codes.ACCESS_DENIED, "Access is denied: unknown client-id.")
    try:
        header = SignatureHeader.parse(request.headers.get("Signature", ""))
    except ValueError:
        raise _Reply("F", codes.INVALID_SIGNATURE, "The signature is invalid.") from None
    request_time = request.headers.get("Request-Time", "")
    content = build_content(request.method, request.path, client_id or "", request_time, raw)
    if not verify(key, content, header.signature):
        raise _Reply("F", codes.INVALID_SIGNATURE, "The signature is invalid.")
    return raw


def _parse(raw: bytes, model: type[_Model]) -> _Model:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        where = validation_summary(exc)
        raise _Reply("F", codes.PARAM_ILLEGAL, f"Illegal parameters: {where}") from None


def _same_request(record: PaymentRecord, amount: wire.Amount, code: str) -> bool:
    return (
        record.amount is not None
        and record.amount.currency == amount.currency
        and record.amount.value == amount.value
        and record.code_sha256 == code_digest(code)
    )


def _pay_answer(record: PaymentRecord) -> wire.PayResponse:
    """A pay answer for the payment's current state."""
    base: dict[str, Any] = {
        "payment_request_id": record.payment_request_id,
        "payment_id": record.payment_id,
        "payment_amount": record.amount,
        "payment_create_time": record.created_at.isoformat(timespec="seconds"),
    }
    if record.status is PaymentStatus.SUCCESS:
        assert record.completed_at is not None
        return wire.PayResponse(
            result=_result("S", codes.SUCCESS, "Success"),
            payment_time=record.completed_at.isoformat(timespec="seconds"),
            **base,
        )
    if record.status is PaymentStatus.PROCESSING:
        return wire.PayResponse(
            result=_result("U", codes.PAYMENT_IN_PROCESS, "The payment is being processed."),
            **base,
        )
    if record.status is PaymentStatus.CANCELLED:
        return wire.PayResponse(
            result=_result("F", codes.ORDER_STATUS_INVALID, "The payment was cancelled."), **base
        )
    return wire.PayResponse(
        result=_result("F", record.result_code, _MESSAGES.get(record.result_code, "")), **base
    )


_MESSAGES = {
    codes.USER_BALANCE_NOT_ENOUGH: "The user balance is not enough for the payment.",
    codes.RISK_REJECT: "The request is rejected because of the risk control.",
    codes.EXPIRED_CODE: "The payment code is expired.",
    codes.INVALID_CODE: "The payment code is invalid.",
    codes.ORDER_IS_CLOSED: "The order is closed: the user did not confirm in time.",
}
_REFUND_MESSAGES = {
    codes.ORDER_NOT_EXIST: "The order does not exist.",
    codes.ORDER_STATUS_INVALID: "The order status is invalid: the payment did not succeed.",
    codes.ORDER_IS_CLOSED: "The order is closed: the payment was cancelled.",
    codes.PARAM_ILLEGAL: "Illegal parameters: refundAmount.currency differs from the payment's.",
    codes.REFUND_AMOUNT_EXCEED: "The total refund amount exceeds the payment amount.",
    codes.PROCESS_FAIL: "A general business failure occurred. Don't retry.",
}
_CANCEL_REFUSALS = {
    CancelRefusal.HAS_REFUNDS: (
        codes.ORDER_STATUS_INVALID,
        "The order status is invalid: the payment has refunds; refund instead.",
    ),
    CancelRefusal.WINDOW_CLOSED: (
        codes.CANCEL_WINDOW_EXCEED,
        "The cancel window has closed; refund instead.",
    ),
}
_RESULT_CODES = {
    Outcome.INVALID_CODE: codes.INVALID_CODE,
    Outcome.INSUFFICIENT_FUNDS: codes.USER_BALANCE_NOT_ENOUGH,
    Outcome.RISK_REJECTED: codes.RISK_REJECT,
    Outcome.CODE_EXPIRED: codes.EXPIRED_CODE,
    Outcome.CONFIRM: codes.PAYMENT_IN_PROCESS,
    Outcome.EXPIRE: codes.PAYMENT_IN_PROCESS,
    Outcome.APPROVE: codes.SUCCESS,
}


# --- handlers --------------------------------------------------------------------------------


async def _pay(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.PayRequest)
        return await _do_pay(request, state, body)
    except _Reply as reply:
        return _signed(request, state, wire.PayResponse(result=reply.result))


async def _do_pay(request: web.Request, state: _State, body: wire.PayRequest) -> web.StreamResponse:
    ledger = state.ledger
    request_id = body.payment_request_id
    amount = body.payment_amount
    code = body.payment_method.payment_method_id
    if body.product_code != _PRODUCT_CODE:
        raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: productCode")
    try:
        if from_minor_str(amount.value, amount.currency).value <= 0:
            raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentAmount")
    except FXError:
        raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: paymentAmount") from None

    record = ledger.get(request_id)
    if record is not None:
        record.pay_calls += 1
        if record.scenario is Scenario.CANCEL_MARKER:
            raise _Reply("F", codes.ORDER_STATUS_INVALID, "The payment was cancelled.")
        if not _same_request(record, amount, code):
            raise _Reply("F", codes.REPEAT_REQ_INCONSISTENT, "Repeated requests are inconsistent.")
        if state.behaviour.holds_answer(code):
            await state.behaviour.hold()
            ledger.get(request_id)  # re-evaluate after the wait
        return _signed(request, state, _pay_answer(record))

    log.debug("sandbox pay %s code %s", request_id, mask_code(code))
    outcome = state.behaviour.outcome(code, request_id)
    if outcome is Outcome.UNAVAILABLE:
        raise _Reply("F", codes.PARTNER_STATUS_ABNORMAL, "The partner is unavailable.")
    if outcome is Outcome.SERVER_ERROR:
        return web.Response(status=500, text="Internal Server Error")
    if outcome is Outcome.TIMEOUT:
        await state.behaviour.hold()
        raise _Reply("U", codes.UNKNOWN_EXCEPTION, "An API call failed for unknown reasons.")
    record = ledger.record(
        payment_request_id=request_id,
        amount=amount,
        merchant_amount=body.order.order_amount,
        code=code,
        scenario=outcome.scenario,
        status=SandboxLedger.STATUS[outcome.phase],
        result_code=_RESULT_CODES[outcome],
    )
    record.pay_calls = 1
    if state.behaviour.holds_answer(code):
        await state.behaviour.hold()
        ledger.get(request_id)
    return _signed(request, state, _pay_answer(record))


async def _inquiry(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.InquiryPaymentRequest)
        record = state.ledger.find(
            payment_request_id=body.payment_request_id, payment_id=body.payment_id
        )
        if record is None:
            raise _Reply("F", codes.ORDER_NOT_EXIST, "The order does not exist.")
    except _Reply as reply:
        return _signed(request, state, wire.InquiryPaymentResponse(result=reply.result))
    status = record.status
    if status is PaymentStatus.CANCELLED:
        payment_code, message = codes.ORDER_IS_CLOSED, "The payment was cancelled."
    elif status is PaymentStatus.PROCESSING:
        payment_code, message = codes.PAYMENT_IN_PROCESS, "The payment is being processed."
    else:
        payment_code, message = record.result_code, _MESSAGES.get(record.result_code, "Success")
    answer = wire.InquiryPaymentResponse(
        result=_result("S", codes.SUCCESS, "Success"),
        payment_status=status.value,
        payment_result_code=payment_code,
        payment_result_message=message,
        payment_request_id=record.payment_request_id,
        payment_id=record.payment_id,
        payment_amount=record.amount,
        payment_create_time=record.created_at.isoformat(timespec="seconds"),
        payment_time=(
            record.completed_at.isoformat(timespec="seconds")
            if status is PaymentStatus.SUCCESS and record.completed_at
            else None
        ),
    )
    return _signed(request, state, answer)


async def _cancel(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    ledger = state.ledger
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.CancelRequest)
        record = ledger.find(payment_request_id=body.payment_request_id, payment_id=body.payment_id)
        if record is None:
            if body.payment_id or not body.payment_request_id:
                raise _Reply("F", codes.ORDER_NOT_EXIST, "The order does not exist.")
            # Nothing yet: remember the cancel so a pay still on its way is refused.
            record = ledger.record(
                payment_request_id=body.payment_request_id,
                amount=None,
                code=None,
                scenario=Scenario.CANCEL_MARKER,
                status=PaymentStatus.CANCELLED,
                result_code=codes.ORDER_IS_CLOSED,
            )
            record.cancelled_at = record.created_at
        else:
            refusal = ledger.cancel(record)
            if refusal is not None:
                code, message = _CANCEL_REFUSALS[refusal]
                raise _Reply("F", code, message)
    except _Reply as reply:
        return _signed(request, state, wire.CancelResponse(result=reply.result))
    cancelled_at = record.cancelled_at or state.settings.clock.now()
    answer = wire.CancelResponse(
        result=_result("S", codes.SUCCESS, "Success"),
        payment_id=record.payment_id,
        payment_request_id=record.payment_request_id,
        cancel_time=cancelled_at.isoformat(timespec="seconds"),
    )
    return _signed(request, state, answer)


def _refund_fingerprint(body: wire.RefundRequest) -> str:
    """What makes two refunds with one refundRequestId "the same": the payment and the amount."""
    amount = body.refund_amount
    return digest(
        "|".join(
            (body.payment_id or "", body.payment_request_id or "", amount.currency, amount.value)
        )
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _refund_answer(record: RefundRecord[wire.Amount, PaymentStatus]) -> wire.RefundResponse:
    if record.succeeded:
        return wire.RefundResponse(
            result=_result("S", codes.SUCCESS, "Success"),
            refund_request_id=record.refund_request_id,
            refund_id=record.refund_id,
            payment_id=record.payment_id,
            refund_amount=record.amount,
            refund_time=_iso(record.completed_at),
        )
    code = record.code or codes.PROCESS_FAIL
    return wire.RefundResponse(
        result=_result("F", code, _REFUND_MESSAGES.get(code, "The refund was declined.")),
        refund_request_id=record.refund_request_id,
        payment_id=record.payment_id,
    )


async def _refund(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    ledger = state.ledger
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.RefundRequest)
        amount = body.refund_amount
        try:
            if from_minor_str(amount.value, amount.currency).value <= 0:
                raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: refundAmount")
        except FXError:
            raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: refundAmount") from None
        fingerprint = _refund_fingerprint(body)
        record = ledger.get_refund(body.refund_request_id)
        if record is None:
            payment = ledger.find(
                payment_request_id=body.payment_request_id, payment_id=body.payment_id
            )
            record = ledger.refund(
                refund_request_id=body.refund_request_id,
                payment=payment,
                payment_request_id=body.payment_request_id or "",
                amount=amount,
                fingerprint=fingerprint,
            )
        elif record.fingerprint != fingerprint:
            raise _Reply("F", codes.REPEAT_REQ_INCONSISTENT, "Repeated requests are inconsistent.")
        else:
            record.calls += 1
        await state.behaviour.hold_refund_answer(ledger.get(record.payment_request_id))
    except _Reply as reply:
        return _signed(request, state, wire.RefundResponse(result=reply.result))
    return _signed(request, state, _refund_answer(record))


async def _inquiry_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.InquiryRefundRequest)
        record = state.ledger.find_refund(
            refund_request_id=body.refund_request_id, refund_id=body.refund_id
        )
        if record is None:
            raise _Reply("F", codes.ORDER_NOT_EXIST, "The refund does not exist.")
    except _Reply as reply:
        return _signed(request, state, wire.InquiryRefundResponse(result=reply.result))
    answer = wire.InquiryRefundResponse(
        result=_result("S", codes.SUCCESS, "Success"),
        refund_id=record.refund_id,
        refund_request_id=record.refund_request_id,
        refund_amount=record.amount,
        refund_status=record.status.value,
        refund_result_code=record.code,
        refund_result_message=_REFUND_MESSAGES.get(record.code) if record.code else None,
        refund_time=_iso(record.completed_at) if record.succeeded else None,
    )
    return _signed(request, state, answer)


# --- the settlement file ---------------------------------------------------------------------


def _settlement_record(row: SettlementRow, day: str, terms: SettlementTerms) -> list[str]:
    """One CSV row: signed minor units (a refund's amount and fee negative), local time."""
    sign = 1 if row.record_type == "payment" else -1
    currency = row.amount.currency.code
    merchant = row.merchant_amount
    record = wire.SettlementRecord(
        settlement_batch_id=day.replace("-", "") + currency,
        settlement_date=day,
        transaction_type=row.record_type.upper(),
        payment_request_id=row.payment_request_id,
        payment_id=row.payment_reference or "",
        refund_request_id=row.request_id if row.record_type == "refund" else "",
        refund_id=row.reference if row.record_type == "refund" else "",
        transaction_amount_value=str(sign * row.amount.value),
        transaction_currency=currency,
        fee_amount_value=str(sign * row.fee.value),
        fee_currency=currency,
        settlement_amount_value=str(row.net),
        settlement_currency=currency,
        order_amount_value=str(merchant.value) if merchant else "",
        order_currency=merchant.currency.code if merchant else "",
        quote_currency_pair=f"{merchant.currency.code}/{currency}" if merchant else "",
        quote_price=format_rate(row.fx_rate) if row.fx_rate is not None else "",
        transaction_time=row.completed_at.astimezone(terms.zone).isoformat(timespec="seconds"),
    )
    dumped = record.model_dump(by_alias=True)
    return [dumped[column] for column in wire.SETTLEMENT_COLUMNS]


def render_settlement_csv(rows: list[SettlementRow], day: str, terms: SettlementTerms) -> bytes:
    """The file: the header, one row per line, then `<END>` (UTF-8, `\\n` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(wire.SETTLEMENT_COLUMNS)
    writer.writerows(_settlement_record(row, day, terms) for row in rows)
    out.write(wire.SETTLEMENT_END + "\n")
    return out.getvalue().encode("utf-8")


async def _settlement_file(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        raw = await _authenticated_body(request, state)
        body = _parse(raw, wire.SettlementFileRequest)
        day = parse_business_date(body.settlement_date)
        if day is None:
            raise _Reply("F", codes.PARAM_ILLEGAL, "Illegal parameters: settlementDate")
        currency = body.settlement_currency
        if currency is not None:
            try:
                get_currency(currency)
            except FXError:
                raise _Reply(
                    "F", codes.PARAM_ILLEGAL, "Illegal parameters: settlementCurrency"
                ) from None
    except _Reply as reply:
        return _signed(request, state, wire.SettlementFileRefusal(result=reply.result))
    rows = state.desk.rows(state.ledger, day, currency)
    terms = state.settings.settlement
    csv_bytes = render_settlement_csv(rows, day.isoformat(), terms)
    return _signed_bytes(request, state, csv_bytes, "text/csv; charset=UTF-8")
