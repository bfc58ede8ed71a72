"""The partner's `notifyPayment` (its body, once its signature is verified) and our answer.

Headers (checked by the client before anything here runs): `client-id` (ours: Ant signs every
merchant's notifications with one key, so a notification addressed to another client is not
ours), `request-time` (`signed_time`: ISO 8601 with an offset, nothing looser) and `Signature`
over `POST <path>\\n<client-id>.<request-time>.<raw body>`.

Body (`payment_notification`), read strictly: UTF-8 JSON, one object, no duplicate keys, no
NaN or Infinity, fields by their camelCase names only (`models.NotifyPaymentRequest`):

    notifyType        PAYMENT_RESULT
    result            S SUCCESS: paid; F <code>: failed (`codes.failure_code`); anything
                      else (U, another S code, an F that refuses a request) is unreadable
    paymentRequestId  our partner request id (1-64 characters)
    paymentAmount     what the tourist paid: a positive strict minor-unit amount
    paymentId         the partner's payment id: required on S (the outcome's reference)
    paymentTime       when it was paid: required on S, ISO 8601 with an offset

Anything else wrong is `NotificationRefused(MALFORMED)`; unknown extra fields are kept and
ignored (partners add fields). Our answer (`acknowledgment_body`) is
`{"result":{"resultCode":"SUCCESS","resultStatus":"S","resultMessage":"success"}}` when
processed, else F PROCESS_FAIL (the partner sends it again); the client signs it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from adapters._base import (
    NotificationProblem,
    NotificationRefused,
    Outcome,
    PaymentNotification,
    parse_time,
)
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.codes import Verdict
from adapters.alipayplus.transforms.values import amount_from_wire
from fx import FXError

__all__ = [
    "PAYMENT_RESULT",
    "acknowledgment_body",
    "payment_notification",
    "read_strict_json",
    "signed_time",
]

PAYMENT_RESULT = "PAYMENT_RESULT"
_MAX_REQUEST_ID = 64
_MAX_REFERENCE = 128
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def signed_time(text: str | None) -> datetime | None:
    """A `request-time` header as aware UTC: `2026-11-26T10:00:00+08:00` (fractions of a second
    and `Z` allowed), else None: no other ISO 8601 shapes, no naive times."""
    if text is None or not _TIME.fullmatch(text):
        return None
    return parse_time(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_strict_json(raw: bytes) -> Any:
    """UTF-8 JSON with no duplicate keys, no NaN/Infinity, numbers never as float;
    `ValueError` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not UTF-8") from None
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_float=Decimal,
        )
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _malformed(why: str) -> NotificationRefused:
    return NotificationRefused(NotificationProblem.MALFORMED, f"notifyPayment: {why}")


def _describe_validation(exc: ValidationError) -> str:
    parts = [".".join(str(p) for p in e["loc"]) + f" {e['type']}" for e in exc.errors()[:3]]
    return "; ".join(parts) or "invalid"


def _plain(value: str | None, limit: int) -> bool:
    return bool(value) and len(value or "") <= limit and not _CONTROL.search(value or "")


def payment_notification(raw: bytes) -> PaymentNotification:
    """A verified notification's body -> `PaymentNotification` (module docstring);
    `NotificationRefused(MALFORMED)` saying what is wrong, never quoting values."""
    try:
        data = read_strict_json(raw)
    except ValueError as exc:
        raise _malformed(f"the body is not strict JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _malformed("the body is not a JSON object")
    try:
        body = wire.NotifyPaymentRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise _malformed(f"unreadable ({_describe_validation(exc)})") from None
    if body.notify_type != PAYMENT_RESULT:
        raise _malformed("notifyType is not PAYMENT_RESULT")
    result = body.result
    if result is None:
        raise _malformed("no result")
    request_id = body.payment_request_id
    if not _plain(request_id, _MAX_REQUEST_ID):
        raise _malformed("paymentRequestId is missing or not a 1-64 character identifier")
    assert request_id is not None
    if body.payment_amount is None:
        raise _malformed("no paymentAmount")
    try:
        amount = amount_from_wire(body.payment_amount)
    except FXError:
        raise _malformed("paymentAmount is not a strict minor-unit amount") from None
    if amount.value <= 0:
        raise _malformed("paymentAmount is not positive")
    payment_id = body.payment_id
    if payment_id is not None and not _plain(payment_id, _MAX_REFERENCE):
        raise _malformed("paymentId is not a plain identifier")
    code = result.result_code
    message = f"{result.result_status} {code or '-'}"
    if result.result_message:
        message += f": {result.result_message}"
    verdict = codes.classify(result.result_status, code)
    if verdict is Verdict.SUCCEEDED:
        if not payment_id:
            raise _malformed("a paid notification without paymentId")
        paid_at = parse_time(body.payment_time)
        if paid_at is None:
            raise _malformed("a paid notification without a readable paymentTime")
        outcome = Outcome.succeeded(
            partner_reference=payment_id,
            completed_at=paid_at,
            partner_code=code,
            message=message,
        )
    elif verdict is Verdict.DECLINED:
        outcome = Outcome.failed(
            codes.failure_code(code),
            partner_code=code,
            message=message,
            partner_reference=payment_id,
        )
    else:
        raise _malformed("the result is neither S SUCCESS nor a final F")
    return PaymentNotification(partner_request_id=request_id, outcome=outcome, payer_amount=amount)


_ACCEPTED = wire.AckResult(result_code=codes.SUCCESS, result_status="S", result_message="success")
_REFUSED = wire.AckResult(
    result_code=codes.PROCESS_FAIL,
    result_status="F",
    result_message="The notification was not processed; send it again.",
)


def acknowledgment_body(accepted: bool) -> bytes:
    """Our answer's bytes: S SUCCESS (processed) or F PROCESS_FAIL (send it again)."""
    return wire.encode(wire.NotifyAcknowledgment(result=_ACCEPTED if accepted else _REFUSED))
