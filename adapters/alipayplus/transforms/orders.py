"""A verified answer to an order code's `pay` -> the `OrderCode` to display, or an `Outcome`.

The partner answers U PAYMENT_IN_PROCESS (Antom's documented answer; S is read the same way)
with an `orderCodeForm`: the code is the `codeValue` of its TEXT `codeDetails` entry (the
first entry's when none is TEXT: the image entries are URLs of pictures of the code), valid
until `expireTime` (never later than we asked: the earlier of the two; the time we asked when
the form names none), and the payment is pending at the partner as `paymentId`.

Trusted only when the answer echoes our `paymentRequestId` (or none) and, when it echoes
`paymentAmount`, exactly the payer amount we asked for. Anything else is no code:

- F (a decline the tables know): FAILED with the family's failure mapping, nothing pending;
- F refusing the request (ACCESS_DENIED, INVALID_SIGNATURE, PARTNER_STATUS_ABNORMAL...):
  UNKNOWN, not sent;
- another U, an S or U without a readable form, an unreadable `expireTime`, a code that is
  empty, too long or holds control characters, a mismatched echo, an untrusted code:
  UNKNOWN, maybe sent (a pending payment may exist: the gateway cancels it).
"""

from __future__ import annotations

import re

from adapters._base import Delivery, OrderCode, OrderCodeRequest, Outcome, parse_time
from adapters.alipayplus import codes
from adapters.alipayplus import models as wire
from adapters.alipayplus.codes import Verdict
from adapters.alipayplus.transforms.answers import (
    _amount_problem,
    _describe,
    _id_problem,
    _untrusted,
)

__all__ = ["MAX_CODE_LENGTH", "TEXT_DISPLAY", "order_code_result"]

TEXT_DISPLAY = "TEXT"
MAX_CODE_LENGTH = 2048  # codeValue's documented maximum
_MAX_REFERENCE = 128
_UNPRINTABLE = re.compile("[\x00-\x20\x7f-\x9f\ud800-\udfff]")


def _code_value(form: wire.OrderCodeForm) -> str | None:
    details = form.code_details or []
    for detail in details:
        if detail.display_type == TEXT_DISPLAY:
            return detail.code_value
    return details[0].code_value if details else None


def _code_problem(value: str | None) -> str | None:
    if not value:
        return "orderCodeForm has no codeValue"
    if len(value) > MAX_CODE_LENGTH:
        return f"the codeValue is longer than {MAX_CODE_LENGTH} characters"
    if _UNPRINTABLE.search(value):
        return "the codeValue holds spaces or control characters"
    return None


def order_code_result(
    response: wire.PayResponse, request: OrderCodeRequest, *, http_status: int | None = None
) -> OrderCode | Outcome:
    """A verified answer to `order_code_body(request)` (module docstring)."""
    result = response.result
    if result is None:
        return _untrusted(
            "order code answer has no result", partner_code=None, http_status=http_status
        )
    code = result.result_code
    message = _describe(result)

    def untrusted(why: str) -> Outcome:
        return _untrusted(f"{why} ({message})", partner_code=code, http_status=http_status)

    problem = _id_problem(response.payment_request_id, request.partner_request_id)
    if problem:
        return untrusted(problem)
    verdict = codes.classify(result.result_status, code)
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
            f"not accepted, no code issued: {message}",
            partner_code=code,
            http_status=http_status,
        )
    pending = verdict is Verdict.PENDING and code == codes.PAYMENT_IN_PROCESS
    if not (pending or verdict is Verdict.SUCCEEDED):
        return untrusted("no order code")
    if response.payment_amount is not None:
        problem = _amount_problem(response.payment_amount, request.payer_amount)
        if problem:
            return untrusted(f"order code not trusted: {problem}")
    form = response.order_code_form
    if form is None:
        return untrusted("the answer has no orderCodeForm")
    value = _code_value(form)
    problem = _code_problem(value)
    if problem:
        return untrusted(problem)
    assert value is not None
    expires_at = request.expires_at
    if form.expire_time is not None:
        partner_expiry = parse_time(form.expire_time)
        if partner_expiry is None:
            return untrusted("the orderCodeForm's expireTime is unreadable or has no offset")
        expires_at = min(partner_expiry, expires_at)
    reference = response.payment_id
    if reference and (len(reference) > _MAX_REFERENCE or _UNPRINTABLE.search(reference)):
        return untrusted("the paymentId is not a plain identifier")
    return OrderCode(code=value, expires_at=expires_at, partner_reference=reference or None)
