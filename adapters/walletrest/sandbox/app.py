"""An aiohttp app that plays a WalletRest partner, with API.md's deterministic test codes.

It speaks the real wire protocol: a request needs a known `Authorization: Bearer` key and a fresh,
valid `X-Signature` (else a signed 401 `authentication_error`, nothing charged), every POST an
`Idempotency-Key`; every answer except the 0500 scenario's is signed with the shared secret.

Behaviour of `POST /v1/payments` by the last four digits of `payment_code` (codes must be 16-24
ASCII digits, else 402 `invalid_code`):

    0000 / other  201 succeeded at once
    0051 0059 0054  402 insufficient_funds / risk_rejected / code_expired
    0091  charged at once, answer held `hold_seconds`; GET finds it succeeded (every create held)
    0092  answer held `hold_seconds`, then a signed 500 `api_error`; never recorded (GET: 404)
    0093  202 processing; succeeded `confirm_seconds` after creation
    0094  202 processing; failed `payment_expired` `expire_seconds` after creation
    0500  HTTP 500, unsigned, to the first create of a key (nothing recorded); then approves
    0503  signed 503 `not_accepted` on every create, nothing recorded or charged

What follows a payment, by the same last four digits (`adapters._sandbox` has the rules):

    0095  approves at once; each refund is made at once but its answer is held `hold_seconds`
          (every refund call, replays too); GET /v1/refunds/{id} finds it succeeded
    0096  approves at once; every refund is 402 `refund_declined` / `refund_rejected`
    0097  approves at once; a cancel is 409 `invalid_state` `cancel_window_closed`; refunds work
    other refunds are 201 while within the refundable remainder (402 `refund_declined`
          `amount_exceeds_refundable` beyond it, `payment_not_refundable` for an unknown, failed,
          processing or canceled payment or another currency); declines are recorded too

Idempotency: a create (or refund) with a known key and the same body (compared by SHA-256)
answers the resource's current state with `Idempotent-Replayed: true` and never charges twice;
another body is 409 `idempotency_conflict`. A cancel works in any state (reversing a charge) but
is refused (409 `invalid_state` `payment_has_refunds`) once a refund succeeded; a cancel of an
unknown key leaves a canceled marker, so a create still on its way is answered `canceled` and
never charges.

`GET /v1/settlement_reports/{YYYY-MM-DD}[?currency=CNY]` answers the signed report of that
business day (the package docstring has the format) from the ledger, by `adapters._sandbox`'s
rules (`SandboxSettings.settlement` gives the partner's zone, cut-off and fees); a malformed date
or an unknown currency is 400 `invalid_request`. `POST /_sandbox/settlement_tamper` (403 unless
`allow_settlement_tamper`) and `GET /_sandbox/settlement/{date}` are the test hooks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TypeVar

from aiohttp import web
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
    install_settlement_routes,
    ledger_json_handler,
    parse_business_date,
    validation_summary,
)
from adapters.walletrest import codes
from adapters.walletrest import models as wire
from adapters.walletrest.sandbox.ledger import (
    PaymentRecord,
    PaymentStatus,
    RefundRecord,
    SandboxLedger,
    Scenario,
    digest,
    refund_to_wire,
)
from adapters.walletrest.signing import (
    is_fresh,
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)
from fx import FXError, Money, format_rate, get_currency

__all__ = ["LEDGER", "SandboxSettings", "create_sandbox_app"]

log = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=BaseModel)

_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # Idempotency-Key: printable ASCII, no spaces


@dataclasses.dataclass
class SandboxSettings:
    """How one sandbox partner behaves.

    **Parameters**
    - `signing_secret`: the shared HMAC secret (the adapter's `signing_secret` credential).
    - `api_keys`: the API keys it accepts (a set, or key -> account name).
    - `hold_seconds`: how long 0091/0092 hold their answer (beyond the gateway's pay timeout).
    - `confirm_seconds`: 0093's time until the tourist confirms.
    - `expire_seconds`: 0094's time until the partner expires the payment.
    - `clock`: business time for lazily evaluated states and `X-Timestamp`.
    - `signature_tolerance_seconds`: how far a request's `X-Timestamp` may be from `clock`.
    - `settlement`: the partner's zone, cut-off and fee schedule, for its settlement reports.
    - `allow_settlement_tamper`: accept `POST /_sandbox/settlement_tamper` (tests only).
    """

    signing_secret: str
    api_keys: frozenset[str] | Mapping[str, str]
    hold_seconds: float = 9.0
    confirm_seconds: float = 2.0
    expire_seconds: float = 3.0
    clock: Clock = dataclasses.field(default_factory=SystemClock)
    signature_tolerance_seconds: float = 300.0
    settlement: SettlementTerms = dataclasses.field(default_factory=SettlementTerms)
    allow_settlement_tamper: bool = False

    def __repr__(self) -> str:
        return (
            f"SandboxSettings(signing_secret=<redacted>, api_keys=<{len(self.api_keys)} keys>, "
            f"hold={self.hold_seconds}, confirm={self.confirm_seconds}, "
            f"expire={self.expire_seconds})"
        )


LEDGER = web.AppKey("walletrest_sandbox_ledger", SandboxLedger)


@dataclasses.dataclass
class _State:
    settings: SandboxSettings
    key_digests: frozenset[bytes]
    ledger: SandboxLedger
    behaviour: CodeBehaviour
    desk: SettlementDesk


_STATE = web.AppKey("walletrest_sandbox_state", _State)


class _Reply(Exception):
    """Raised inside a handler to answer at once with a signed error."""

    def __init__(
        self, status: int, error_type: str, message: str, *, code: str | None = None
    ) -> None:
        super().__init__(error_type)
        self.status = status
        self.body = wire.ErrorBody(
            error=wire.ErrorDetail(type=error_type, code=code, message=message)
        )


def _key_digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def create_sandbox_app(settings: SandboxSettings) -> web.Application:
    """The sandbox partner as an aiohttp app; `app[LEDGER]` is its ledger."""
    state = _State(
        settings=settings,
        key_digests=frozenset(_key_digest(k) for k in settings.api_keys),
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
    app.router.add_post("/v1/payments", _create_payment)
    app.router.add_get("/v1/payments/{request_id}", _get_payment)
    app.router.add_post("/v1/payments/{request_id}/cancel", _cancel_payment)
    app.router.add_post("/v1/refunds", _create_refund)
    app.router.add_get("/v1/refunds/{request_id}", _get_refund)
    app.router.add_get("/v1/settlement_reports/{date}", _get_settlement_report)
    app.router.add_get("/_sandbox/ledger", ledger_json_handler(LEDGER))
    install_settlement_routes(app, state.desk, LEDGER)
    state.behaviour.release_on_shutdown(app)
    return app


# --- plumbing --------------------------------------------------------------------------------


def _signed(
    state: _State, status: int, answer: BaseModel, *, replayed: bool = False
) -> web.Response:
    """Serialise and sign an answer over `<timestamp>.<status>.<raw body>`."""
    body = wire.encode(answer)
    timestamp = timestamp_of(state.settings.clock.now())
    headers = {
        "Content-Type": "application/json",
        "X-Timestamp": timestamp,
        "X-Signature": sign(
            state.settings.signing_secret, response_content(timestamp, status, body)
        ),
    }
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if status == 503:
        headers["Retry-After"] = "1"
    return web.Response(status=status, body=body, headers=headers)


async def _authenticated_body(request: web.Request, state: _State) -> bytes:
    """The raw body of a request with a known key and a fresh, valid signature."""
    raw = await request.read()
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    # A set lookup by digest: the key itself is never compared character by character.
    if scheme != "Bearer" or _key_digest(key.strip()) not in state.key_digests:
        raise _Reply(401, codes.AUTHENTICATION_ERROR, "Invalid API key.", code="api_key_invalid")
    timestamp = request.headers.get("X-Timestamp")
    settings = state.settings
    if not is_fresh(timestamp, settings.clock.now(), settings.signature_tolerance_seconds):
        raise _Reply(
            401,
            codes.AUTHENTICATION_ERROR,
            "X-Timestamp is missing or outside the tolerance.",
            code="timestamp_out_of_tolerance",
        )
    assert timestamp is not None
    content = request_content(timestamp, request.method, request.raw_path, raw)
    if not verify(settings.signing_secret, content, request.headers.get("X-Signature")):
        raise _Reply(
            401, codes.AUTHENTICATION_ERROR, "The signature is invalid.", code="signature_invalid"
        )
    return raw


def _idempotency_key(request: web.Request) -> str:
    key = request.headers.get("Idempotency-Key", "")
    if not _KEY.fullmatch(key):
        raise _Reply(
            400,
            codes.INVALID_REQUEST,
            "Idempotency-Key is required: 1-255 printable ASCII characters.",
            code="idempotency_key_invalid",
        )
    return key


def _parse(raw: bytes, model: type[_Model]) -> _Model:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        where = validation_summary(exc)
        raise _Reply(
            400, codes.INVALID_REQUEST, f"Invalid parameters: {where}", code="parameter_invalid"
        ) from None


def _check_amount(amount: wire.Amount, param: str) -> None:
    try:
        valid = wire.money_from_wire(amount).value > 0
    except FXError:
        valid = False
    if not valid:
        raise _Reply(400, codes.INVALID_REQUEST, f"Invalid amount: {param}", code="amount_invalid")


def _fingerprint(model: BaseModel) -> str:
    """SHA-256 of the parsed body in canonical form: what makes two requests "the same"."""
    return digest(json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":")))


def _payment_answer(state: _State, record: PaymentRecord, *, created: bool) -> web.Response:
    """The answer to a create for the payment's current state."""
    payment = record.to_wire()
    replayed = not created
    if record.status is PaymentStatus.SUCCEEDED:
        return _signed(state, 201 if created else 200, payment, replayed=replayed)
    if record.status is PaymentStatus.PROCESSING:
        return _signed(state, 202, payment, replayed=replayed)
    if record.status is PaymentStatus.CANCELED:
        return _signed(state, 200, payment, replayed=replayed)
    decline = record.decline_code or codes.INVALID_CODE
    body = wire.ErrorBody(
        error=wire.ErrorDetail(
            type=codes.PAYMENT_DECLINED,
            decline_code=decline,
            message=_MESSAGES.get(decline, "The payment was declined."),
        ),
        payment=payment,
    )
    return _signed(state, 402, body, replayed=replayed)


def _refund_answer(
    state: _State, record: RefundRecord[wire.Amount, PaymentStatus], *, created: bool
) -> web.Response:
    refund = refund_to_wire(record)
    if record.succeeded:
        return _signed(state, 201 if created else 200, refund, replayed=not created)
    body = wire.ErrorBody(
        error=wire.ErrorDetail(
            type=codes.REFUND_DECLINED,
            decline_code=record.code,
            message=_MESSAGES.get(record.code or "", "The refund was declined."),
        ),
        refund=refund,
    )
    return _signed(state, 402, body, replayed=not created)


_MESSAGES = {
    codes.INSUFFICIENT_FUNDS: "The wallet balance is too low for the payment.",
    codes.RISK_REJECTED: "The payment was rejected by risk control.",
    codes.CODE_EXPIRED: "The payment code has expired.",
    codes.INVALID_CODE: "The payment code is invalid.",
    codes.PAYMENT_EXPIRED: "The tourist did not confirm in time.",
    codes.PAYMENT_NOT_REFUNDABLE: "The payment cannot be refunded.",
    codes.AMOUNT_EXCEEDS_REFUNDABLE: "The amount exceeds what is left to refund.",
    codes.REFUND_REJECTED: "The wallet refused the refund.",
}
_CANCEL_REFUSALS = {
    CancelRefusal.HAS_REFUNDS: (
        codes.PAYMENT_HAS_REFUNDS,
        "The payment has refunds and cannot be canceled; refund instead.",
    ),
    CancelRefusal.WINDOW_CLOSED: (
        codes.CANCEL_WINDOW_CLOSED,
        "The cancel window has closed; refund instead.",
    ),
}
_DECLINES = {
    Outcome.INVALID_CODE: codes.INVALID_CODE,
    Outcome.INSUFFICIENT_FUNDS: codes.INSUFFICIENT_FUNDS,
    Outcome.RISK_REJECTED: codes.RISK_REJECTED,
    Outcome.CODE_EXPIRED: codes.CODE_EXPIRED,
}


# --- handlers --------------------------------------------------------------------------------


async def _create_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        raw = await _authenticated_body(request, state)
        key = _idempotency_key(request)
        body = _parse(raw, wire.CreatePayment)
        _check_amount(body.amount, "amount")
        _check_amount(body.merchant_amount, "merchant_amount")
        return await _do_create(state, key, body)
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)


async def _do_create(state: _State, key: str, body: wire.CreatePayment) -> web.StreamResponse:
    ledger = state.ledger
    code = body.payment_code
    fingerprint = _fingerprint(body)
    record = ledger.get(key)
    if record is not None:
        record.pay_calls += 1
        if record.scenario is Scenario.CANCEL_MARKER:
            return _payment_answer(state, record, created=False)
        if record.body_sha256 != fingerprint:
            raise _Reply(
                409,
                codes.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was used with other parameters.",
            )
        if state.behaviour.holds_answer(code):
            await state.behaviour.hold()
            ledger.get(key)  # re-evaluate after the wait
        return _payment_answer(state, record, created=False)

    log.debug("sandbox create %s code %s", key, mask_code(code))
    outcome = state.behaviour.outcome(code, key)
    if outcome is Outcome.UNAVAILABLE:
        raise _Reply(503, codes.NOT_ACCEPTED, "The wallet is unavailable; nothing was charged.")
    if outcome is Outcome.SERVER_ERROR:
        return web.Response(status=500, text="Internal Server Error")
    if outcome is Outcome.TIMEOUT:
        await state.behaviour.hold()
        raise _Reply(500, codes.API_ERROR, "An internal error occurred.")
    record = ledger.record(
        payment_request_id=key,
        body=body,
        body_sha256=fingerprint,
        scenario=outcome.scenario,
        status=SandboxLedger.STATUS[outcome.phase],
        decline_code=_DECLINES.get(outcome),
    )
    record.pay_calls = 1
    if state.behaviour.holds_answer(code):
        await state.behaviour.hold()
        ledger.get(key)
    return _payment_answer(state, record, created=True)


async def _get_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        await _authenticated_body(request, state)
        record = state.ledger.get(request.match_info["request_id"])
        if record is None:
            raise _Reply(404, codes.NOT_FOUND, "No such payment.")
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)
    return _signed(state, 200, record.to_wire())


async def _cancel_payment(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    ledger = state.ledger
    request_id = request.match_info["request_id"]
    try:
        await _authenticated_body(request, state)
        _idempotency_key(request)  # required on every POST; a cancel is idempotent by nature
        record = ledger.get(request_id)
        if record is None:
            # Nothing yet: remember the cancel so a create still on its way is refused.
            record = ledger.record(
                payment_request_id=request_id,
                body=None,
                body_sha256="",
                scenario=Scenario.CANCEL_MARKER,
                status=PaymentStatus.CANCELED,
            )
        else:
            refusal = ledger.cancel(record)
            if refusal is not None:
                code, message = _CANCEL_REFUSALS[refusal]
                raise _Reply(409, codes.INVALID_STATE, message, code=code)
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)
    return _signed(state, 200, record.to_wire())


async def _create_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    ledger = state.ledger
    try:
        raw = await _authenticated_body(request, state)
        key = _idempotency_key(request)
        body = _parse(raw, wire.CreateRefund)
        _check_amount(body.amount, "amount")
        fingerprint = _fingerprint(body)
        record = ledger.get_refund(key)
        created = record is None
        if record is None:
            record = ledger.refund(
                refund_request_id=key,
                payment=ledger.get(body.payment),
                payment_request_id=body.payment,
                amount=body.amount,
                fingerprint=fingerprint,
                merchant_amount=body.merchant_amount,
            )
        elif record.fingerprint != fingerprint:
            raise _Reply(
                409,
                codes.IDEMPOTENCY_CONFLICT,
                "This Idempotency-Key was used with other parameters.",
            )
        else:
            record.calls += 1
        await state.behaviour.hold_refund_answer(ledger.get(record.payment_request_id))
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)
    return _refund_answer(state, record, created=created)


async def _get_refund(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        await _authenticated_body(request, state)
        record = state.ledger.get_refund(request.match_info["request_id"])
        if record is None:
            raise _Reply(404, codes.NOT_FOUND, "No such refund.")
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)
    return _signed(state, 200, refund_to_wire(record))


# --- the settlement report -------------------------------------------------------------------


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _entry(row: SettlementRow) -> wire.SettlementEntry:
    currency = row.amount.currency
    return wire.SettlementEntry(
        type=row.record_type,
        id=row.reference,
        request_id=row.request_id,
        payment=row.payment_request_id,
        payment_id=row.payment_reference,
        amount=wire.money_to_wire(row.amount),
        fee=wire.money_to_wire(row.fee),
        net=wire.money_to_wire(Money(row.net, currency)),
        merchant_amount=wire.money_to_wire(row.merchant_amount) if row.merchant_amount else None,
        exchange_rate=format_rate(row.fx_rate) if row.fx_rate is not None else None,
        completed_at=_time(row.completed_at),
    )


def settlement_report(
    rows: list[SettlementRow], day: date, currency: str | None, terms: SettlementTerms
) -> wire.SettlementReport:
    """The report of `day`: its entries and, per currency, the counts and the sum of `net`."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        counts = totals.setdefault(row.amount.currency.code, [0, 0, 0])
        counts[0 if row.record_type == "payment" else 1] += 1
        counts[2] += row.net
    return wire.SettlementReport(
        date=day.isoformat(),
        currency=currency,
        timezone=terms.timezone,
        cutoff=terms.cutoff.isoformat(timespec="minutes"),
        entries=[_entry(row) for row in rows],
        totals=[
            wire.SettlementTotal(
                currency=code,
                payments=payments,
                refunds=refunds,
                net=wire.money_to_wire(Money.of(net, code)),
            )
            for code, (payments, refunds, net) in sorted(totals.items())
        ],
    )


async def _get_settlement_report(request: web.Request) -> web.StreamResponse:
    state = request.app[_STATE]
    try:
        await _authenticated_body(request, state)
        day = parse_business_date(request.match_info["date"])
        if day is None:
            raise _Reply(
                400, codes.INVALID_REQUEST, "The date must be YYYY-MM-DD.", code="date_invalid"
            )
        currency = request.query.get("currency") or None
        if currency is not None:
            try:
                get_currency(currency)
            except FXError:
                raise _Reply(
                    400, codes.INVALID_REQUEST, "Unknown currency.", code="currency_invalid"
                ) from None
    except _Reply as reply:
        return _signed(state, reply.status, reply.body)
    rows = state.desk.rows(state.ledger, day, currency)
    terms = state.settings.settlement
    return _signed(state, 200, settlement_report(rows, day, currency, terms))
