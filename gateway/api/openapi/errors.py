"""Error answers in the OpenAPI document: when each code is answered, with an example of each.

The codes are `gateway.core.errors`' (the `ErrorCode` schema is generated from them, and
`tests/unit/gateway/test_openapi.py` checks this table covers each with its HTTP status).
"""

from typing import Final, NamedTuple

from gateway.api.openapi.parts import JSON, JSON_TYPE, headers, ref

__all__ = ["ERRORS", "POST_ERRORS", "error_responses"]


class _Error(NamedTuple):
    status: int
    when: str
    example: JSON


# Every code the API answers (gateway/core/errors.py, plus the middleware's `internal_error`).
ERRORS: Final[dict[str, _Error]] = {
    "invalid_request": _Error(
        400,
        "Malformed JSON, unknown or missing field, wrong type, bad identifier charset, `null` "
        "for an optional field (leave it out instead), duplicate keys, `NaN`/`Infinity`, text "
        "that is not valid Unicode (an unpaired surrogate) or holds NUL, JSON nested deeper "
        "than 32 levels; an unknown or malformed query parameter; a control character or "
        "invalid Unicode in a path segment or query parameter. `param` names the field.",
        {"message": "Unknown field amount.cents.", "param": "amount.cents"},
    ),
    "request_too_large": _Error(
        413,
        "The body is over the limit (default 64 KiB).",
        {"message": "The body is larger than 65536 bytes."},
    ),
    "unsupported_media_type": _Error(
        415,
        "A body that is not `Content-Type: application/json` (without `charset`, or with "
        "`charset=utf-8`): form, XML, multipart, text, `charset=utf-16` or no Content-Type at "
        "all. `param` is `Content-Type`. A cancel or a redelivery may send no body at all.",
        {
            "message": "Send the body as JSON in UTF-8: 'Content-Type: application/json' "
            "(got 'text/plain').",
            "param": "Content-Type",
        },
    ),
    "invalid_amount": _Error(
        400,
        "`value` not an integer in 1..10^13; currency other than the merchant's; payer amount "
        "would be < 1 or > 10^13.",
        {
            "message": "amount.value must be an integer count of minor units.",
            "param": "amount.value",
        },
    ),
    "unsupported_currency": _Error(
        400,
        "Not a payment currency (ISO 4217 with minor units, no fund codes, upper case).",
        {"message": "'XAU' is not a supported payment currency.", "param": "amount.currency"},
    ),
    "invalid_payment_code": _Error(
        400,
        "Wallet code of no known wallet, not digits, or of the wrong length.",
        {
            "message": "The payment code belongs to no wallet the gateway accepts.",
            "param": "payment_method.code",
        },
    ),
    "authentication_failed": _Error(
        401,
        "Missing, malformed, unknown or revoked API key; or, for a merchant that signs its "
        "requests, a `Gateway-Signature` that is missing, malformed, stale or wrong (the message "
        "says which).",
        {"message": "The API key is not valid."},
    ),
    "forbidden": _Error(
        403,
        "The key's role may not do this (only `pos` keys create quotes and payments).",
        {"message": "A finance key may not do this."},
    ),
    "not_found": _Error(
        404,
        "Unknown id, or an object of another merchant (never 403: no existence leak).",
        {"message": "No such payment."},
    ),
    "idempotency_key_missing": _Error(
        400,
        "A POST without a valid `Idempotency-Key` (1-255 printable ASCII characters, no spaces).",
        {"message": "POST requests need an Idempotency-Key header."},
    ),
    "idempotency_key_reused": _Error(
        409,
        "Same `Idempotency-Key`, different request (method, path or parsed body).",
        {
            "message": "This Idempotency-Key was already used for a different request.",
            "param": "Idempotency-Key",
        },
    ),
    "idempotency_key_in_use": _Error(
        409,
        "Same `Idempotency-Key` while the first request is still running: retry shortly.",
        {"message": "A request with this Idempotency-Key is still being processed; retry shortly."},
    ),
    "duplicate_merchant_reference": _Error(
        409,
        "`merchant_reference` already used by this merchant; `payment_id` names that payment.",
        {
            "message": "merchant_reference 'POS-17-000123' was already used.",
            "param": "merchant_reference",
            "payment_id": "pay_01jd8x6k9b3n4p5q6r7s8t9v0w",
        },
    ),
    "quote_expired": _Error(
        409,
        "The quote is past its `expires_at`.",
        {
            "message": "Quote qt_01jd8x6k2m3n4p5q6r7s8t9v0w expired at "
            "2026-11-26 14:08:10.512+00:00.",
            "param": "quote_id",
        },
    ),
    "quote_mismatch": _Error(
        409,
        "The quote is for another amount, currency or wallet.",
        {"message": "The quote is for another amount, currency or wallet.", "param": "quote_id"},
    ),
    "no_route": _Error(
        422,
        "No partner is configured for this merchant's market and the wallet.",
        {
            "message": "No partner is configured for wallet gcash in market TH.",
            "param": "payment_method.code",
        },
    ),
    "partner_unavailable": _Error(
        503,
        "Partners are configured but none can take it now; nothing was charged. Carries "
        "`partner` (the last one tried); `Retry-After: 5`.",
        {
            "message": "No partner can take this payment right now; nothing was charged. "
            "Retry later.",
            "partner": "th-siampay",
        },
    ),
    "rate_unavailable": _Error(
        503,
        "No FX rate fresher than the source's maximum age; `Retry-After: 60`.",
        {"message": "ecb rates as of 2026-11-25T16:00:00+01:00 are older than 2 days, 0:00:00."},
    ),
    "webhook_not_configured": _Error(
        409,
        "Redelivery asked for an event whose merchant has no webhook URL (the operator sets "
        "one with `gateway merchants webhook set`); nothing changed, retry with the same key.",
        {
            "message": "The merchant has no webhook URL, so the event cannot be delivered; the "
            "operator sets one with `gateway merchants webhook set`, then retry."
        },
    ),
    "refund_exceeds_payment": _Error(
        409,
        "Succeeded plus processing refunds would exceed the payment; the message says how much "
        "can still be refunded. Nothing changed.",
        {
            "message": "Succeeded and processing refunds would exceed the payment; at most "
            "250.00 THB can still be refunded.",
            "param": "amount.value",
        },
    ),
    "payment_not_refundable": _Error(
        409,
        "The payment is not `succeeded`, or it is cancelled (or its cancel is pending).",
        {"message": "Only a succeeded payment that is not cancelled can be refunded."},
    ),
    "payment_not_cancellable": _Error(
        409,
        "The payment `failed`, or has refunds (refund the rest instead).",
        {"message": "The payment has refunds; refund the rest instead."},
    ),
    "cancel_window_exceeded": _Error(
        409,
        "The payment's merchant or partner batch is closed: refund instead.",
        {"message": "The payment's business day is closed; refund it instead."},
    ),
    "batch_not_closed": _Error(
        409,
        "The file of a settlement batch that is still open: it exists once the batch closes, at "
        "its business day's cut-off plus the grace period.",
        {"message": "The batch is still open: its file exists once it closes."},
    ),
    "internal_error": _Error(
        500,
        "An unexpected failure; no details (the log has them, under the `Request-Id`).",
        {"message": "Internal error."},
    ),
}

_RETRY_AFTER_CODES: Final = frozenset({"partner_unavailable", "rate_unavailable"})

POST_ERRORS: Final = (
    "authentication_failed",
    "forbidden",
    "idempotency_key_missing",
    "idempotency_key_reused",
    "idempotency_key_in_use",
    "request_too_large",
    "unsupported_media_type",
    "invalid_request",
    "invalid_amount",
    "unsupported_currency",
)


def error_responses(*codes: str) -> dict[str, JSON]:
    """One response per HTTP status, listing its codes with an example of each.

    Every operation may answer `invalid_request` (a control character or invalid Unicode in
    its path or query is refused before any handler runs) and `internal_error`."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys((*codes, "invalid_request", "internal_error")):
        by_status.setdefault(ERRORS[code].status, []).append(code)
    responses: dict[str, JSON] = {}
    for status, group in sorted(by_status.items()):
        extra = ("Retry-After",) if _RETRY_AFTER_CODES.intersection(group) else ()
        responses[str(status)] = {
            "description": " ".join(f"`{code}`: {ERRORS[code].when}" for code in group),
            "headers": headers(*extra),
            "content": {
                JSON_TYPE: {
                    "schema": ref("schemas", "Error"),
                    "examples": {
                        code: {"value": {"error": {"code": code, **ERRORS[code].example}}}
                        for code in group
                    },
                }
            },
        }
    return responses
