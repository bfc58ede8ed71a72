"""The OpenAPI 3.1 document of the merchant API, served at `GET /openapi.json`.

It describes what is implemented now (health, readiness, FX quotes, payments), with the contract of
`shared/API.md` and the choices of `docs/api-notes.md`. It is plain Python data, built once: no I/O
and no imports from the rest of the gateway, so serving it can never fail on a database or config.
`tests/unit/gateway/test_openapi.py` checks it against the registered routes and
`gateway.core.errors`.
Events (`/v1/events...`) and the webhooks they are delivered by: `_event_paths`, `_webhooks`.
Settlement batches and their files (`/v1/settlements...`): `_settlement_paths`.
"""

from __future__ import annotations

import functools
from typing import Any, Final, NamedTuple

__all__ = ["openapi_document"]

JSON = dict[str, Any]

_JSON_TYPE: Final = "application/json"
_ALL_ROLES: Final = ["pos", "finance", "operator"]
_IDENTIFIER: Final = "^[A-Za-z0-9._:/-]{1,64}$"
_MAX_VALUE: Final = 10**13
# Text a request may carry: no NUL (unpaired surrogates are refused too, but JSON Schema has no
# way to say so); in a path or query no control character at all.
_NO_NUL: Final = "^[^\\u0000]*$"
_NO_CONTROL: Final = "^[^\\u0000-\\u001f\\u007f]*$"
_DATE: Final = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}


class _Error(NamedTuple):
    status: int
    when: str
    example: JSON


# Every code the API answers (gateway/core/errors.py, plus the middleware's `internal_error`).
_ERRORS: Final[dict[str, _Error]] = {
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

_POST_ERRORS: Final = (
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

_DESCRIPTION: Final = """\
The merchant API of the cross-border acquiring gateway: a merchant's POS takes payments from
tourists' home wallets (user-presented mode: the POS scans the wallet's code), optionally at an FX
quote shown beforehand.

Conventions
- JSON bodies in UTF-8, sent as `Content-Type: application/json` (no `charset`, or
  `charset=utf-8`); anything else is `415 unsupported_media_type`. Unknown JSON fields, `null`
  for an optional field, duplicate keys, `NaN`, `Infinity`, NUL, unpaired surrogates and nesting
  deeper than 32 levels are `invalid_request`; numbers with a fraction or exponent, or of more
  than 20 digits, in `amount.value` are `invalid_amount`. Bodies are at most 64 KiB (`413`).
- **Money** is `{"currency": "THB", "value": 125050}`: `value` is an integer count of the
  currency's ISO 4217 minor units (THB 1,250.50). Rates are decimal strings, never floats.
- Ids are opaque strings with a type prefix (`pay_`, `rf_`, `qt_`, `stl_`, `evt_`, `mer_`,
  `rec_`); an id that does not exist, or is another merchant's, is `404 not_found`. A path
  segment or query parameter holding a control character is `invalid_request`.
- Timestamps are RFC 3339 (UTC, `Z`, milliseconds).
- Every response carries `Request-Id` and `Server-Timing`
  (`gateway;dur=<ms>, partner;dur=<ms>`).
- Errors are `{"error": {"code", "message", "param"?}}`. Unknown paths answer `404 not_found`;
  a wrong method answers `405` with the error object (`invalid_request`) and an `Allow` header
  listing the methods the path takes.
- Every POST needs `Idempotency-Key` (kept 48 h by default). The same key with the same request
  replays the first `201` response with `Idempotent-Replayed: true`; with another request it is
  `409 idempotency_key_reused`, and while the first is running `409 idempotency_key_in_use`.
  Answers that changed nothing (validation and authentication errors, `no_route`,
  `partner_unavailable`, `rate_unavailable`) are not stored, so the sale can be retried.
- Keys are `Authorization: Bearer gw_<role>_...` with one role: `pos` (creates quotes and
  payments, reads its merchant's), `finance` (reads its merchant's), `operator` (reads all
  merchants'). Each operation lists its roles in `x-roles`; another merchant's object is
  `404 not_found`.
- Signed requests: a merchant may be required (by the operator) to sign every request of its
  keys with `Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(signing secret,
  "<t>.<METHOD> <path?query>.<raw body>")>` (several `v1=` may be sent while a secret is
  rotated). Missing, malformed, more than 300 s off, or wrong: `401 authentication_failed`. A
  signature sent by a merchant that does not require one is checked all the same.
- Webhooks: events are POSTed to the merchant's webhook URL (see `webhooks` below), signed
  `Gateway-Signature: t=<unix>,v1=<hex HMAC-SHA256(webhook secret, "<t>.<raw body>")>`; at least
  once, retried until a 2xx on a schedule spanning more than 24 h. Dedupe on the event `id`.

Sandbox test codes (the sandbox partners behave by the wallet code's last four digits; prefixes
`28` alipay_cn/CNY, `81` kakaopay/KRW, `63` gcash/PHP, `66` truemoney/THB; 16 to 24 digits)

| last 4 | sandbox behaviour | result |
|---|---|---|
| `0000` (and any not listed) | approves at once | `succeeded` |
| `0051` | declines: balance too low | `failed` / `insufficient_funds` |
| `0059` | declines: risk | `failed` / `risk_rejected` |
| `0054` | declines: code expired | `failed` / `code_expired` |
| `0091` | charges, answers after the pay timeout; inquiry finds it | `succeeded` |
| `0092` | answers after the pay timeout, never records it | `failed` / `cancelled_after_timeout` |
| `0093` | "in process" for a while (tourist confirms), then approves | `succeeded` |
| `0094` | "in process", tourist never confirms; partner expires it | `failed` / `payment_expired` |
| `0500` | HTTP 500 on the first pay, approves the retry | `succeeded`, charged once |
| `0503` | signed "not accepted, unavailable" on every call | `503 partner_unavailable` |
| `0095` | approves; its refunds are answered late (inquiry finds them) | refund `succeeded` |
| `0096` | approves; its refunds are declined | refund `failed` |
| `0097` | approves; its cancel is refused (the gateway refunds in full) | `cancelled` |
"""


def _ref(section: str, name: str) -> JSON:
    return {"$ref": f"#/components/{section}/{name}"}


def _nullable(ref: JSON) -> JSON:
    return {"anyOf": [ref, {"type": "null"}]}


def _headers(*names: str) -> JSON:
    return {name: _ref("headers", name) for name in ("Request-Id", "Server-Timing", *names)}


def _json_response(
    description: str, schema: JSON, *, replayed: bool = False, links: JSON | None = None
) -> JSON:
    response: JSON = {
        "description": description,
        "headers": _headers("Idempotent-Replayed") if replayed else _headers(),
        "content": {_JSON_TYPE: {"schema": schema}},
    }
    if links:
        response["links"] = links
    return response


def _links(parameter: str, source: str, *operation_ids: str) -> JSON:
    """Links from a response to the operations taking one of its ids as a path parameter."""
    return {
        operation_id: {
            "operationId": operation_id,
            "parameters": {parameter: f"$response.body#/{source}"},
        }
        for operation_id in operation_ids
    }


def _error_responses(*codes: str) -> dict[str, JSON]:
    """One response per HTTP status, listing its codes with an example of each.

    Every operation may answer `invalid_request` (a control character or invalid Unicode in
    its path or query is refused before any handler runs) and `internal_error`."""
    by_status: dict[int, list[str]] = {}
    for code in dict.fromkeys((*codes, "invalid_request", "internal_error")):
        by_status.setdefault(_ERRORS[code].status, []).append(code)
    responses: dict[str, JSON] = {}
    for status, group in sorted(by_status.items()):
        extra = ("Retry-After",) if _RETRY_AFTER_CODES.intersection(group) else ()
        responses[str(status)] = {
            "description": " ".join(f"`{code}`: {_ERRORS[code].when}" for code in group),
            "headers": _headers(*extra),
            "content": {
                _JSON_TYPE: {
                    "schema": _ref("schemas", "Error"),
                    "examples": {
                        code: {"value": {"error": {"code": code, **_ERRORS[code].example}}}
                        for code in group
                    },
                }
            },
        }
    return responses


def _json_body(schema: str, example: JSON, *, required: bool = True) -> JSON:
    """`required=False`: no body at all is read as `{}` (cancel, redeliver)."""
    return {
        "required": required,
        "content": {_JSON_TYPE: {"schema": _ref("schemas", schema), "example": example}},
    }


def _id_schema(prefix: str) -> JSON:
    """An object id: its type prefix, then lower-case letters and digits (opaque)."""
    return {"type": "string", "pattern": f"^{prefix}[0-9a-z]{{1,64}}$"}


def _path_id(name: str, prefix: str, schema: JSON | None = None) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The object's id (`{prefix}...`): opaque; an id that does not exist, "
        "or is another merchant's, is `404 not_found`.",
        "schema": schema or _id_schema(prefix),
    }


def _query_text(name: str, description: str) -> JSON:
    """A free-text query filter: any text without control characters (those are
    `invalid_request`); a value that matches nothing gives an empty page."""
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string", "pattern": _NO_CONTROL},
    }


def _query_limit() -> JSON:
    return {
        "name": "limit",
        "in": "query",
        "description": "Page size: 1 to 100 in ASCII digits.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    }


def _query_date(description: str) -> JSON:
    return {
        "name": "business_date",
        "in": "query",
        "description": description,
        "schema": _DATE,
    }


# --- schemas ----------------------------------------------------------------------------------

_MONEY_EXAMPLE: Final = {"currency": "THB", "value": 125050}

_QUOTE_EXAMPLE: Final = {
    "id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
    "object": "fx_quote",
    "amount": {"currency": "THB", "value": 125050},
    "payer_amount": {"currency": "CNY", "value": 23253},
    "rate": "0.185948",
    "mid_rate": "0.1832",
    "markup_bps": 150,
    "rate_source": "ecb",
    "rate_as_of": "2026-11-26T14:00:00.000Z",
    "wallet": "alipay_cn",
    "created_at": "2026-11-26T14:03:10.512Z",
    "expires_at": "2026-11-26T14:08:10.512Z",
}

_REFUND_EXAMPLE: Final = {
    "id": "rf_01jd8x7a2m3n4p5q6r7s8t9v0w",
    "object": "refund",
    "payment_id": "pay_01jd8x6k9b3n4p5q6r7s8t9v0w",
    "status": "succeeded",
    "amount": {"currency": "THB", "value": 25000},
    "payer_amount": {"currency": "CNY", "value": 4649},
    "reason": "returned goods",
    "failure": None,
    "partner_reference": "2026112611150000000000000001",
    "created_at": "2026-11-26T15:10:02.101Z",
    "updated_at": "2026-11-26T15:10:02.388Z",
}

_PAYMENT_EXAMPLE: Final = {
    "id": "pay_01jd8x6k9b3n4p5q6r7s8t9v0w",
    "object": "payment",
    "merchant_reference": "POS-17-000123",
    "status": "succeeded",
    "amount": {"currency": "THB", "value": 125050},
    "payer_amount": {"currency": "CNY", "value": 23253},
    "wallet": "alipay_cn",
    "partner": "th-siampay",
    "routing": {"reason": "licensed in TH, serves alipay_cn; priority 10, fee 150 CNY minor"},
    "quote": {
        "id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
        "rate": "0.185948",
        "expires_at": "2026-11-26T14:08:10.512Z",
    },
    "amount_refunded": {"currency": "THB", "value": 0},
    "cancellation": None,
    "failure": None,
    "partner_reference": "2026112614031100001",
    "payment_method": {"type": "wallet_code", "code_masked": "281234********0000"},
    "store_id": "bkk-siam-01",
    "terminal_id": "pos-17",
    "metadata": {},
    "created_at": "2026-11-26T14:03:41.020Z",
    "updated_at": "2026-11-26T14:03:41.733Z",
}

_CURRENCY: Final = {
    "type": "string",
    "pattern": "^[A-Z]{3}$",
    "description": "ISO 4217 alphabetic code of a payment currency (upper case; no fund codes, "
    "no XAU/XTS/XXX): anything else is `unsupported_currency`.",
    "examples": ["THB"],
}

_TIMESTAMP: Final = {"type": "string", "format": "date-time"}

_RATE: Final = {
    "type": "string",
    "pattern": "^[0-9]+(\\.[0-9]+)?$",
    "description": "A decimal string, never a float.",
}


def _schemas() -> JSON:
    identifier = {"type": "string", "pattern": _IDENTIFIER}
    return {
        "Money": {
            "type": "object",
            "description": "An amount in integer minor units of its currency (ISO 4217 exponent).",
            "required": ["currency", "value"],
            "additionalProperties": False,
            "properties": {
                "currency": _CURRENCY,
                "value": {
                    "type": "integer",
                    "description": "Minor units: THB 125050 is 1,250.50 THB; JPY 1234 is 1,234 "
                    "JPY. 0 where nothing happened yet (`amount_refunded`).",
                },
            },
            "examples": [_MONEY_EXAMPLE],
        },
        "MoneyInput": {
            "type": "object",
            "description": "Money in a request: an integer from 1 to 10^13 minor units. A number "
            "with a fraction or exponent (`12.0`, `1e3`) is `invalid_amount`.",
            "required": ["currency", "value"],
            "additionalProperties": False,
            "properties": {
                "currency": _CURRENCY,
                "value": {"type": "integer", "minimum": 1, "maximum": _MAX_VALUE},
            },
            "examples": [_MONEY_EXAMPLE],
        },
        "Identifier": {
            **identifier,
            "description": "A merchant's own identifier: 1 to 64 characters of `[A-Za-z0-9._:/-]`.",
        },
        "Metadata": {
            "type": "object",
            "description": "At most 20 keys of 1 to 40 characters; string values of at most 500 "
            "(characters, not bytes). Keys and values are valid Unicode without NUL.",
            "maxProperties": 20,
            "propertyNames": {"minLength": 1, "maxLength": 40, "pattern": _NO_NUL},
            "additionalProperties": {"type": "string", "maxLength": 500, "pattern": _NO_NUL},
        },
        "QuoteRequest": {
            "type": "object",
            "required": ["amount", "wallet"],
            "additionalProperties": False,
            "properties": {
                "amount": {
                    **_ref("schemas", "MoneyInput"),
                    "description": "In the merchant's currency.",
                },
                "wallet": {
                    "type": "string",
                    "pattern": "^[a-z0-9_]{1,64}$",
                    "description": "A configured wallet id (sandbox: `alipay_cn`, `kakaopay`, "
                    "`gcash`, `truemoney`). An unknown wallet, or one paying in the merchant's "
                    "own currency (no FX needed), is `invalid_request` with `param: wallet`.",
                    "examples": ["alipay_cn"],
                },
            },
        },
        "Quote": {
            "type": "object",
            "description": "An FX quote, honoured exactly until `expires_at`. "
            "`payer_amount.value` = round_half_up(amount.value × rate × "
            "10^(e_payer − e_merchant)).",
            "required": list(_QUOTE_EXAMPLE),
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^qt_"},
                "object": {"const": "fx_quote"},
                "amount": {**_ref("schemas", "Money"), "description": "Merchant currency."},
                "payer_amount": {**_ref("schemas", "Money"), "description": "Wallet currency."},
                "rate": {
                    **_RATE,
                    "description": "1 unit of `amount.currency` = `rate` units of the payer "
                    "currency, markup included: mid × (1 + markup_bps / 10^4), rounded half-up "
                    "to 10 significant digits.",
                },
                "mid_rate": _RATE,
                "markup_bps": {"type": "integer", "minimum": 0},
                "rate_source": {"type": "string", "examples": ["ecb"]},
                "rate_as_of": _TIMESTAMP,
                "wallet": {"type": "string"},
                "created_at": _TIMESTAMP,
                "expires_at": _TIMESTAMP,
            },
            "examples": [_QUOTE_EXAMPLE],
        },
        "PaymentRequest": {
            "type": "object",
            "required": ["merchant_reference", "amount", "payment_method"],
            "additionalProperties": False,
            "properties": {
                "merchant_reference": {
                    **_ref("schemas", "Identifier"),
                    "description": "Unique per merchant (`duplicate_merchant_reference`).",
                },
                "amount": {
                    **_ref("schemas", "MoneyInput"),
                    "description": "In the merchant's currency.",
                },
                "payment_method": {
                    "type": "object",
                    "required": ["type", "code"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "wallet_code"},
                        "code": {
                            "type": "string",
                            "pattern": "^[0-9]{16,24}$",
                            "description": "The wallet code scanned from the tourist's phone: "
                            "16 to 24 ASCII digits, the prefix naming the wallet (a wallet may "
                            "take a narrower range of lengths). Never stored or returned; one "
                            "of no known wallet, or of a length its wallet does not take, is "
                            "`invalid_payment_code`.",
                            "examples": ["281234567890120000"],
                        },
                    },
                },
                "quote_id": {
                    **_ref("schemas", "Identifier"),
                    "description": "Optional: lock a quote shown to the tourist (`qt_...`). "
                    "Unknown or another merchant's is `404 not_found` (`param: quote_id`). Leave "
                    "it out to have a payment needing FX priced on the spot (`null` is "
                    "`invalid_request`).",
                },
                "store_id": _ref("schemas", "Identifier"),
                "terminal_id": _ref("schemas", "Identifier"),
                "metadata": _ref("schemas", "Metadata"),
            },
        },
        "RefundRequest": {
            "type": "object",
            "additionalProperties": False,
            "required": ["amount"],
            "properties": {
                "amount": {
                    **_ref("schemas", "MoneyInput"),
                    "description": "In the payment's (merchant) currency.",
                },
                "reason": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 500,
                    "pattern": _NO_NUL,
                    "description": "Optional, shown on the refund (leave it out rather than "
                    "sending `null`).",
                },
            },
        },
        "CancelRequest": {
            "type": "object",
            "additionalProperties": False,
            "description": "No fields: `{}`, or no body at all.",
            "properties": {},
        },
        "Refund": {
            "type": "object",
            "description": "Money returned on a succeeded payment. `processing` reserves its "
            "amount; only a final partner decline (`failed`) releases it. `payer_amount` is "
            "priced cumulatively at the payment's rate: all refunds together never return more "
            "than the tourist paid, and a full refund returns exactly the payer amount.",
            "required": list(_REFUND_EXAMPLE),
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^rf_"},
                "object": {"const": "refund"},
                "payment_id": {"type": "string", "pattern": "^pay_"},
                "status": {"type": "string", "enum": ["processing", "succeeded", "failed"]},
                "amount": _ref("schemas", "Money"),
                "payer_amount": _ref("schemas", "Money"),
                "reason": {"type": ["string", "null"]},
                "failure": _nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {"type": "string", "description": "`partner_declined`."},
                            "message": {"type": "string"},
                        },
                    }
                ),
                "partner_reference": {"type": ["string", "null"]},
                "created_at": {"type": "string", "format": "date-time"},
                "updated_at": {"type": "string", "format": "date-time"},
            },
            "example": _REFUND_EXAMPLE,
        },
        "Payment": {
            "type": "object",
            "description": "**`processing` is not paid: do not release the goods.** The gateway "
            "keeps resolving it; poll `GET /v1/payments/{payment_id}`.",
            "required": list(_PAYMENT_EXAMPLE),
            "additionalProperties": False,
            "properties": {
                "id": {"type": "string", "pattern": "^pay_"},
                "object": {"const": "payment"},
                "merchant_reference": _ref("schemas", "Identifier"),
                "status": {
                    "type": "string",
                    "enum": ["processing", "succeeded", "failed", "cancelled"],
                },
                "amount": {**_ref("schemas", "Money"), "description": "Merchant currency."},
                "payer_amount": {
                    **_ref("schemas", "Money"),
                    "description": "What the partner charges the tourist, in the wallet's "
                    "currency (equal to `amount` when no FX is involved).",
                },
                "wallet": {"type": "string"},
                "partner": {"type": "string"},
                "routing": {
                    "type": "object",
                    "description": "Why this partner was chosen (market, wallet, priority, fee); "
                    "after a fail-over, the reason for the partner that took it.",
                    "required": ["reason"],
                    "additionalProperties": False,
                    "properties": {"reason": {"type": "string"}},
                },
                "quote": _nullable(
                    {
                        "type": "object",
                        "description": "The quote pricing this payment; null when no FX.",
                        "required": ["id", "rate", "expires_at"],
                        "additionalProperties": False,
                        "properties": {
                            "id": {"type": "string", "pattern": "^qt_"},
                            "rate": _RATE,
                            "expires_at": _TIMESTAMP,
                        },
                    }
                ),
                "amount_refunded": _ref("schemas", "Money"),
                "cancellation": _nullable(
                    {
                        "type": "object",
                        "required": ["status", "requested_at"],
                        "additionalProperties": False,
                        "properties": {
                            "status": {"type": "string", "enum": ["pending", "confirmed"]},
                            "requested_at": _TIMESTAMP,
                        },
                    }
                ),
                "failure": _nullable(
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "additionalProperties": False,
                        "properties": {
                            "code": {
                                "type": "string",
                                "enum": [
                                    "insufficient_funds",
                                    "risk_rejected",
                                    "code_expired",
                                    "payment_code_invalid",
                                    "payment_expired",
                                    "partner_declined",
                                    "cancelled_after_timeout",
                                ],
                            },
                            "message": {"type": "string"},
                        },
                    }
                ),
                "partner_reference": {"type": ["string", "null"]},
                "payment_method": {
                    "type": "object",
                    "required": ["type", "code_masked"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "wallet_code"},
                        "code_masked": {
                            "type": "string",
                            "description": "First six and last four digits.",
                            "examples": ["281234********0000"],
                        },
                    },
                },
                "store_id": {"type": ["string", "null"]},
                "terminal_id": {"type": ["string", "null"]},
                "metadata": _ref("schemas", "Metadata"),
                "created_at": _TIMESTAMP,
                "updated_at": _TIMESTAMP,
            },
            "examples": [_PAYMENT_EXAMPLE],
        },
        "PaymentList": {
            "type": "object",
            "description": "A page of payments, newest first.",
            "required": ["object", "data", "has_more"],
            "additionalProperties": False,
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref("schemas", "Payment")},
                "has_more": {"type": "boolean"},
            },
        },
        "ErrorCode": {"type": "string", "enum": list(_ERRORS)},
        "Error": {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "additionalProperties": False,
                    "properties": {
                        "code": _ref("schemas", "ErrorCode"),
                        "message": {"type": "string", "description": "For humans; may change."},
                        "param": {
                            "type": "string",
                            "description": "The field at fault, where one is (`amount.value`).",
                        },
                        "payment_id": {
                            "type": "string",
                            "description": "With `duplicate_merchant_reference`: the payment "
                            "that has this reference.",
                        },
                        "partner": {
                            "type": "string",
                            "description": "With `partner_unavailable`: the last partner tried.",
                        },
                    },
                }
            },
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "additionalProperties": False,
            "properties": {"status": {"const": "ok"}},
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "checks"],
            "additionalProperties": False,
            "properties": {
                "status": {"type": "string", "enum": ["ready", "not_ready"]},
                "checks": {
                    "type": "object",
                    "required": ["config", "database", "partners"],
                    "additionalProperties": False,
                    "properties": {
                        "config": {"const": "ok"},
                        "database": {
                            "type": "string",
                            "description": "`ok`, or `unavailable: <exception type>`.",
                        },
                        "partners": {
                            "type": "object",
                            "description": "Per configured partner id, its circuit breaker.",
                            "additionalProperties": {
                                "type": "object",
                                "required": [
                                    "breaker",
                                    "consecutive_failures",
                                    "retry_after_seconds",
                                ],
                                "additionalProperties": False,
                                "properties": {
                                    "breaker": {
                                        "type": "string",
                                        "enum": ["closed", "open", "half_open"],
                                    },
                                    "consecutive_failures": {"type": "integer", "minimum": 0},
                                    "retry_after_seconds": {
                                        "type": "number",
                                        "minimum": 0,
                                        "description": "How long an open breaker stays open.",
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }


def _components() -> JSON:
    return {
        "securitySchemes": {
            "apiKey": {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "gw_<role>_<43 url-safe characters>",
                "description": "An API key created by the operator's command line and shown "
                "once. Its role is `pos`, `finance` (both bound to a merchant) or `operator`.",
            }
        },
        "parameters": {
            "Idempotency-Key": {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "description": "Scoped to the merchant, kept 48 h by default. Same key and same "
                "request (method, path, parsed body): the first `201` is replayed. Missing or "
                "malformed: `idempotency_key_missing`.",
                "schema": {"type": "string", "pattern": "^[!-~]{1,255}$"},
            }
        },
        "headers": {
            "Request-Id": {
                "description": "This request's id; the gateway's log has it.",
                "schema": {"type": "string", "pattern": "^req_"},
            },
            "Server-Timing": {
                "description": "`gateway;dur=<ms>, partner;dur=<ms>`: the gateway's own time and "
                "the time spent waiting for partners.",
                "schema": {"type": "string"},
            },
            "Idempotent-Replayed": {
                "description": "`true` when this is the stored first response to the same "
                "`Idempotency-Key` and request (a snapshot: `GET` shows the current state).",
                "schema": {"type": "string", "enum": ["true"]},
            },
            "Content-Digest": {
                "description": "`sha-256=:<base64 of the SHA-256 of the body>:` (RFC 9530): the "
                "digest stored when the batch closed (the Batch's `file.sha256`, in base64).",
                "schema": {"type": "string", "pattern": "^sha-256=:[A-Za-z0-9+/]{43}=:$"},
            },
            "ETag": {
                "description": "The file's SHA-256 in hex, quoted: the file never changes.",
                "schema": {"type": "string"},
            },
            "Content-Disposition": {
                "description": '`attachment; filename="<type>_<owner>_<currency>_<date>.csv"`.',
                "schema": {"type": "string"},
            },
            "Retry-After": {
                "description": "Seconds to wait before retrying (5 for `partner_unavailable`, "
                "60 for `rate_unavailable`).",
                "schema": {"type": "integer", "minimum": 0},
            },
        },
        "schemas": {**_schemas(), **_event_schemas(), **_settlement_schemas()},
    }


# --- paths ------------------------------------------------------------------------------------


def _paths() -> JSON:
    idempotency_key = _ref("parameters", "Idempotency-Key")
    return {
        "/healthz": {
            "get": {
                "operationId": "getHealth",
                "tags": ["Operations"],
                "summary": "The process is up",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": _json_response("Up.", _ref("schemas", "Health")),
                    **_error_responses(),
                },
            }
        },
        "/metrics": {
            "get": {
                "operationId": "getMetrics",
                "tags": ["Operations"],
                "summary": "Prometheus metrics: payments by status, partner call latency, breakers",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text exposition format 0.0.4.",
                        "headers": _headers(),
                        "content": {
                            "text/plain; version=0.0.4; charset=utf-8": {
                                "schema": {"type": "string"}
                            }
                        },
                    },
                    **_error_responses(),
                },
            }
        },
        "/readyz": {
            "get": {
                "operationId": "getReadiness",
                "tags": ["Operations"],
                "summary": "Database and configuration ready; partner breaker states",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": _json_response("Ready.", _ref("schemas", "Readiness")),
                    "503": _json_response(
                        "Not ready (`status: not_ready`); `checks` says why.",
                        _ref("schemas", "Readiness"),
                    ),
                    **_error_responses(),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "tags": ["Operations"],
                "summary": "This document",
                "security": [],
                "x-roles": [],
                "responses": {
                    "200": _json_response("The OpenAPI 3.1 document.", {"type": "object"}),
                    **_error_responses(),
                },
            }
        },
        "/v1/fx/quotes": {
            "post": {
                "operationId": "createQuote",
                "tags": ["FX quotes"],
                "summary": "Quote a merchant amount in a wallet's currency",
                "description": "Prices `amount` (merchant currency) in the wallet's currency at "
                "the current rate plus markup, locked until `expires_at` (5 minutes by default). "
                "Answers `no_route` when no partner in the merchant's market serves the wallet, "
                "so a POS never shows a price it cannot take.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key],
                "requestBody": _json_body(
                    "QuoteRequest", {"amount": _MONEY_EXAMPLE, "wallet": "alipay_cn"}
                ),
                "responses": {
                    "201": _json_response(
                        "The quote (or, with `Idempotent-Replayed: true`, the first answer to "
                        "this Idempotency-Key).",
                        _ref("schemas", "Quote"),
                        replayed=True,
                        links=_links("quote_id", "id", "getQuote"),
                    ),
                    **_error_responses(*_POST_ERRORS, "no_route", "rate_unavailable"),
                },
            }
        },
        "/v1/fx/quotes/{quote_id}": {
            "get": {
                "operationId": "getQuote",
                "tags": ["FX quotes"],
                "summary": "A quote",
                "x-roles": _ALL_ROLES,
                "parameters": [_path_id("quote_id", "qt_")],
                "responses": {
                    "200": _json_response("The quote.", _ref("schemas", "Quote")),
                    **_error_responses("authentication_failed", "not_found"),
                },
            }
        },
        "/v1/payments": {
            "post": {
                "operationId": "createPayment",
                "tags": ["Payments"],
                "summary": "Take a payment from a scanned wallet code",
                "description": "Answers within the POS wait budget (10 s by default) with `201` "
                "and the Payment. If the partner's outcome is still unknown then, the status is "
                "`processing`: **not paid, do not release the goods**; the gateway keeps "
                "resolving it (inquiry, then reversal) and the POS polls `GET`. A payment "
                "needing FX uses `quote_id` if given, else a quote made on the spot.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key],
                "requestBody": _json_body(
                    "PaymentRequest",
                    {
                        "merchant_reference": "POS-17-000123",
                        "amount": _MONEY_EXAMPLE,
                        "payment_method": {"type": "wallet_code", "code": "281234567890120000"},
                        "quote_id": "qt_01jd8x6k2m3n4p5q6r7s8t9v0w",
                        "store_id": "bkk-siam-01",
                        "terminal_id": "pos-17",
                    },
                ),
                "responses": {
                    "201": _json_response(
                        "The payment, `succeeded`, `failed` or `processing` (or, with "
                        "`Idempotent-Replayed: true`, the first answer to this Idempotency-Key).",
                        _ref("schemas", "Payment"),
                        replayed=True,
                        links=_links(
                            "payment_id",
                            "id",
                            "getPayment",
                            "cancelPayment",
                            "createRefund",
                            "listPaymentRefunds",
                        ),
                    ),
                    **_error_responses(
                        *_POST_ERRORS,
                        "invalid_payment_code",
                        "not_found",
                        "duplicate_merchant_reference",
                        "quote_expired",
                        "quote_mismatch",
                        "no_route",
                        "partner_unavailable",
                        "rate_unavailable",
                    ),
                },
            },
            "get": {
                "operationId": "listPayments",
                "tags": ["Payments"],
                "summary": "List payments, newest first",
                "description": "The caller's merchant's payments (an operator key: every "
                "merchant's). Unknown query parameters are `invalid_request`.",
                "x-roles": _ALL_ROLES,
                "parameters": [
                    _query_text("merchant_reference", "Only the payment(s) with this reference."),
                    _query_limit(),
                    _query_text(
                        "starting_after", "A payment id: the page starts after it (older ones)."
                    ),
                ],
                "responses": {
                    "200": _json_response("A page of payments.", _ref("schemas", "PaymentList")),
                    **_error_responses("authentication_failed", "invalid_request"),
                },
            },
        },
        "/v1/payments/{payment_id}/cancel": {
            "post": {
                "operationId": "cancelPayment",
                "tags": ["Payments"],
                "summary": "Cancel a processing or succeeded payment (irrevocable)",
                "description": "For a payment without refunds whose business days are open. A "
                "cancel during processing wins: a late success is reversed. `200` when the "
                "partner confirms within the POS wait budget, else `202` with "
                "`cancellation.status = pending` (the gateway keeps at it; if the partner "
                "refuses, it refunds in full and the payment still ends `cancelled`). Repeating "
                "it is harmless.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key, _path_id("payment_id", "pay_")],
                "requestBody": _json_body("CancelRequest", {}, required=False),
                "responses": {
                    "200": _json_response(
                        "The payment, `cancelled`.",
                        _ref("schemas", "Payment"),
                        replayed=True,
                        links=_links("payment_id", "id", "getPayment", "createRefund"),
                    ),
                    "202": _json_response(
                        "The payment with `cancellation.status = pending`.",
                        _ref("schemas", "Payment"),
                        replayed=True,
                        links=_links("payment_id", "id", "getPayment"),
                    ),
                    **_error_responses(
                        *_POST_ERRORS,
                        "not_found",
                        "payment_not_cancellable",
                        "cancel_window_exceeded",
                    ),
                },
            }
        },
        "/v1/payments/{payment_id}/refunds": {
            "post": {
                "operationId": "createRefund",
                "tags": ["Refunds"],
                "summary": "Refund part or all of a succeeded payment",
                "description": "Partial and repeated refunds are allowed while succeeded plus "
                "processing refunds stay within the payment, also under concurrent requests. "
                "Answers within the POS wait budget; an unknown partner outcome is `processing` "
                "and resolved by the gateway.",
                "x-roles": ["pos"],
                "parameters": [idempotency_key, _path_id("payment_id", "pay_")],
                "requestBody": _json_body(
                    "RefundRequest",
                    {"amount": {"currency": "THB", "value": 25000}, "reason": "returned goods"},
                ),
                "responses": {
                    "201": _json_response(
                        "The refund, `succeeded`, `failed` or `processing`.",
                        _ref("schemas", "Refund"),
                        replayed=True,
                        links={
                            **_links("refund_id", "id", "getRefund"),
                            **_links("payment_id", "payment_id", "getPayment", "cancelPayment"),
                        },
                    ),
                    **_error_responses(
                        *_POST_ERRORS,
                        "not_found",
                        "refund_exceeds_payment",
                        "payment_not_refundable",
                    ),
                },
            },
            "get": {
                "operationId": "listPaymentRefunds",
                "tags": ["Refunds"],
                "summary": "A payment's refunds, newest first",
                "x-roles": _ALL_ROLES,
                "parameters": [_path_id("payment_id", "pay_")],
                "responses": {
                    "200": _json_response(
                        '`{"object": "list", "data": [Refund...], "has_more": false}`.',
                        {
                            "type": "object",
                            "required": ["object", "data", "has_more"],
                            "additionalProperties": False,
                            "properties": {
                                "object": {"const": "list"},
                                "data": {"type": "array", "items": _ref("schemas", "Refund")},
                                "has_more": {"type": "boolean"},
                            },
                        },
                    ),
                    **_error_responses("authentication_failed", "forbidden", "not_found"),
                },
            },
        },
        "/v1/refunds/{refund_id}": {
            "get": {
                "operationId": "getRefund",
                "tags": ["Refunds"],
                "summary": "A refund, in its current state",
                "x-roles": _ALL_ROLES,
                "parameters": [_path_id("refund_id", "rf_")],
                "responses": {
                    "200": _json_response("The refund.", _ref("schemas", "Refund")),
                    **_error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/payments/{payment_id}": {
            "get": {
                "operationId": "getPayment",
                "tags": ["Payments"],
                "summary": "A payment, in its current state",
                "x-roles": _ALL_ROLES,
                "parameters": [_path_id("payment_id", "pay_")],
                "responses": {
                    "200": _json_response("The payment.", _ref("schemas", "Payment")),
                    **_error_responses("authentication_failed", "not_found"),
                },
            }
        },
    }


# --- events and webhooks ----------------------------------------------------------------------

_EVENT_TYPES: Final = [
    "payment.succeeded",
    "payment.failed",
    "payment.cancelled",
    "refund.succeeded",
    "refund.failed",
    "settlement.closed",
]

_EVENT_PAYLOAD_EXAMPLE: Final = {
    "id": "evt_01jd8x6kq3n4p5q6r7s8t9v0wx",
    "type": "payment.succeeded",
    "created_at": "2026-11-26T14:03:41.733Z",
    "data": _PAYMENT_EXAMPLE,
}

_EVENT_EXAMPLE: Final = {
    **_EVENT_PAYLOAD_EXAMPLE,
    "object": "event",
    "delivery": {
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": None,
        "delivered_at": "2026-11-26T14:03:41.912Z",
        "last_error": None,
    },
}

_EVENT_PAYLOAD_PROPERTIES: Final = {
    "id": {"type": "string", "pattern": "^evt_", "description": "Dedupe on it."},
    "type": {"type": "string", "enum": _EVENT_TYPES},
    "created_at": _TIMESTAMP,
    "data": {
        "type": "object",
        "description": "The object the event reports, as it was then: a Payment for "
        "`payment.*`, a Refund for `refund.*`, a settlement batch for `settlement.closed`. "
        "Events may arrive out of order: order by the object's `updated_at`.",
    },
}


def _event_schemas() -> JSON:
    return {
        "EventPayload": {
            "type": "object",
            "description": "What a webhook POSTs: the same bytes on every (re)delivery.",
            "required": list(_EVENT_PAYLOAD_EXAMPLE),
            "additionalProperties": False,
            "properties": _EVENT_PAYLOAD_PROPERTIES,
            "examples": [_EVENT_PAYLOAD_EXAMPLE],
        },
        "Event": {
            "type": "object",
            "description": "An event as delivered, plus where its delivery stands.",
            "required": list(_EVENT_EXAMPLE),
            "additionalProperties": False,
            "properties": {
                **_EVENT_PAYLOAD_PROPERTIES,
                "object": {"const": "event"},
                "delivery": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "status",
                        "attempts",
                        "next_attempt_at",
                        "delivered_at",
                        "last_error",
                    ],
                    "properties": {
                        "status": {
                            "type": "string",
                            "enum": ["pending", "delivered", "failed", "no_endpoint"],
                            "description": "`pending`: due at `next_attempt_at`; `delivered`: a "
                            "2xx came back; `failed`: the schedule ran out (redeliver to start "
                            "again); `no_endpoint`: the merchant had no webhook URL.",
                        },
                        "attempts": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Attempts of the current schedule (a redelivery "
                            "starts a new one).",
                        },
                        "next_attempt_at": {"type": ["string", "null"], "format": "date-time"},
                        "delivered_at": {"type": ["string", "null"], "format": "date-time"},
                        "last_error": {
                            "type": ["string", "null"],
                            "description": "Why the last attempt failed (`HTTP 500`, a timeout, "
                            "a connection error).",
                        },
                    },
                },
            },
            "examples": [_EVENT_EXAMPLE],
        },
        "EventList": {
            "type": "object",
            "description": "A page of events, newest first.",
            "required": ["object", "data", "has_more"],
            "additionalProperties": False,
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref("schemas", "Event")},
                "has_more": {"type": "boolean"},
            },
        },
        "RedeliverRequest": {
            "type": "object",
            "description": "Empty: `{}` (an empty body is read as `{}`).",
            "additionalProperties": False,
            "properties": {},
        },
    }


def _event_paths() -> JSON:
    return {
        "/v1/events": {
            "get": {
                "operationId": "listEvents",
                "tags": ["Events"],
                "summary": "List events, newest first",
                "description": "The caller's merchant's events (an operator key: every "
                "merchant's). Unknown query parameters are `invalid_request`.",
                "x-roles": _ALL_ROLES,
                "parameters": [
                    {
                        "name": "type",
                        "in": "query",
                        "description": "Only events of this type.",
                        "schema": {"type": "string", "enum": _EVENT_TYPES},
                    },
                    _query_limit(),
                    _query_text(
                        "starting_after", "An event id: the page starts after it (older ones)."
                    ),
                ],
                "responses": {
                    "200": _json_response("A page of events.", _ref("schemas", "EventList")),
                    **_error_responses("authentication_failed", "invalid_request"),
                },
            }
        },
        "/v1/events/{event_id}": {
            "get": {
                "operationId": "getEvent",
                "tags": ["Events"],
                "summary": "An event and its delivery state",
                "x-roles": _ALL_ROLES,
                "parameters": [_path_id("event_id", "evt_")],
                "responses": {
                    "200": _json_response(
                        "The event.",
                        _ref("schemas", "Event"),
                        links=_links("event_id", "id", "redeliverEvent"),
                    ),
                    **_error_responses("authentication_failed", "not_found"),
                },
            }
        },
        "/v1/events/{event_id}/redeliver": {
            "post": {
                "operationId": "redeliverEvent",
                "tags": ["Events"],
                "summary": "Deliver an event again, on a fresh schedule",
                "description": "Makes the event `pending` and due now, with a fresh retry "
                "schedule, whatever its status (`failed`, `no_endpoint` once a URL is set, "
                "even `delivered`). Delivery happens in the background: `202` and the event. "
                "Operator keys may redeliver any merchant's events (their `Idempotency-Key`s "
                "have a scope of their own).",
                "x-roles": ["pos", "operator"],
                "parameters": [
                    _path_id("event_id", "evt_"),
                    _ref("parameters", "Idempotency-Key"),
                ],
                "requestBody": _json_body("RedeliverRequest", {}, required=False),
                "responses": {
                    "202": _json_response(
                        "The event, now `pending` (or, with `Idempotent-Replayed: true`, the "
                        "first answer to this Idempotency-Key).",
                        _ref("schemas", "Event"),
                        replayed=True,
                        links=_links("event_id", "id", "getEvent"),
                    ),
                    **_error_responses(
                        "authentication_failed",
                        "forbidden",
                        "idempotency_key_missing",
                        "idempotency_key_reused",
                        "idempotency_key_in_use",
                        "request_too_large",
                        "unsupported_media_type",
                        "invalid_request",
                        "not_found",
                        "webhook_not_configured",
                    ),
                },
            }
        },
    }


def _webhooks() -> JSON:
    return {
        "event": {
            "post": {
                "operationId": "receiveEvent",
                "tags": ["Events"],
                "summary": "An event, POSTed to the merchant's webhook URL",
                "description": "Verify `Gateway-Signature` before trusting the body: recompute "
                "HMAC-SHA256 over `<t>.<raw body>` with the webhook secret (`whsec_...`), compare "
                "in constant time with each `v1=` (during a secret rotation there is one per "
                "secret), and refuse a `t` far from your clock. Answer 2xx quickly; anything "
                "else (or no answer within 10 s) is retried. At least once, possibly out of "
                "order: dedupe on `id`.",
                "security": [],
                "parameters": [
                    {
                        "name": "Gateway-Signature",
                        "in": "header",
                        "required": True,
                        "description": "`t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "
                        '"<t>.<raw body>")>`.',
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "Gateway-Event-Id",
                        "in": "header",
                        "required": True,
                        "description": "The event's id, as in the body.",
                        "schema": {"type": "string", "pattern": "^evt_"},
                    },
                ],
                "requestBody": _json_body("EventPayload", _EVENT_PAYLOAD_EXAMPLE),
                "responses": {
                    "200": {"description": "Any 2xx: received. Anything else is retried."}
                },
            }
        }
    }


# --- settlements -------------------------------------------------------------------------------

_BATCH_ID: Final = {"type": "string", "pattern": "^stl_[0-9]{8}[mp][0-9a-z]{23}$"}

_BATCH_EXAMPLE: Final = {
    "id": "stl_20261126m3n4p5q6r7s8t9v0w1x2y3z4a",
    "object": "settlement_batch",
    "type": "merchant",
    "merchant_id": "mer_01jd8x6k0a1b2c3d4e5f6g7h8j",
    "partner": None,
    "business_date": "2026-11-26",
    "currency": "THB",
    "status": "closed",
    "payments": {"count": 2, "amount": {"currency": "THB", "value": 250100}},
    "refunds": {"count": 1, "amount": {"currency": "THB", "value": 50000}},
    "fees": {"currency": "THB", "value": 3002},
    "net": {"currency": "THB", "value": 197098},
    "closed_at": "2026-11-26T19:00:00.041Z",
    "file": {
        "sha256": "9f2c6d0e5b1a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d",
        "rows": 3,
        "bytes": 612,
        "url": "/v1/settlements/stl_20261126m3n4p5q6r7s8t9v0w1x2y3z4a/file",
    },
}

_FILE_DESCRIPTION: Final = """\
RFC 4180 CSV in UTF-8 with `\\n` line ends; byte-identical on every download, from any gateway
process (the lines were frozen when the batch closed). The header row is

`record_type,id,payment_id,merchant_reference,partner,wallet,succeeded_at,currency,amount,payer_currency,payer_amount,fx_rate,fee,net`

then one row per line, payments first, then refunds, then reversals, each by id:
- `record_type`: `payment`, `refund`, or `reversal` (a payment settled in an earlier batch whose
  cancel completed after that batch closed: its amounts and fee given back, negative);
- `currency` is the batch currency; amounts are major units with exactly the currency's
  decimals (`1250.50`, `1234`, `1.250`); refund and reversal `amount`, `payer_amount`, `fee` and
  `net` are negative; `net` = `amount` − `fee` on every row; `succeeded_at` is the partner's
  reported time (for a reversal, when it was booked);
- in a merchant batch `amount`/`fee` are the merchant amount and merchant fee; in a partner
  batch the payer amount and the partner's fee (`payer_currency`/`payer_amount` repeat them).

The last row is `total,<number of rows above>,,,,,,<currency>,<Σ amount>,,,,<Σ fee>,<Σ net>`.
Text cells beginning with `=`, `+`, `-` or `@` are prefixed with `'` (formula guard)."""


def _settlement_schemas() -> JSON:
    def counted(what: str) -> JSON:
        return {
            "type": "object",
            "required": ["count", "amount"],
            "additionalProperties": False,
            "properties": {
                "count": {"type": "integer", "minimum": 0},
                "amount": {**_ref("schemas", "Money"), "description": what},
            },
        }

    return {
        "SettlementBatch": {
            "type": "object",
            "description": "What the gateway owes a merchant (`merchant`: per merchant, merchant "
            "currency and merchant business date) or what a partner owes the gateway (`partner`: "
            "per partner, payer currency and the partner's business date). Open batches are "
            "computed live from the day's final payments and refunds and exist while they have "
            "lines; each closes once, at its day's cut-off (in its owner's zone) plus the grace "
            "period, and never changes afterwards. The id is the same before and after closing.",
            "required": list(_BATCH_EXAMPLE),
            "additionalProperties": False,
            "properties": {
                "id": _BATCH_ID,
                "object": {"const": "settlement_batch"},
                "type": {"type": "string", "enum": ["merchant", "partner"]},
                "merchant_id": {"type": ["string", "null"]},
                "partner": {"type": ["string", "null"]},
                "business_date": {"type": "string", "format": "date"},
                "currency": _CURRENCY,
                "status": {"type": "string", "enum": ["open", "closed"]},
                "payments": counted("Σ payment line amounts."),
                "refunds": counted("Σ refund (and reversal) line amounts, as a positive amount."),
                "fees": {
                    **_ref("schemas", "Money"),
                    "description": "Σ line fees (a refund gives back its variable fee: negative).",
                },
                "net": {
                    **_ref("schemas", "Money"),
                    "description": "payments − refunds − fees; may be negative (the merchant owes "
                    "it; nothing is carried forward).",
                },
                "closed_at": {"type": ["string", "null"], "format": "date-time"},
                "file": {
                    "anyOf": [
                        {
                            "type": "object",
                            "required": ["sha256", "rows", "bytes", "url"],
                            "additionalProperties": False,
                            "properties": {
                                "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                                "rows": {
                                    "type": "integer",
                                    "description": "Payment, refund and reversal rows (header "
                                    "and total row not counted).",
                                },
                                "bytes": {"type": "integer"},
                                "url": {"type": "string"},
                            },
                        },
                        {"type": "null"},
                    ],
                    "description": "null while the batch is open.",
                },
            },
            "examples": [_BATCH_EXAMPLE],
        },
        "SettlementBatchList": {
            "type": "object",
            "description": "A page of batches, newest business date first.",
            "required": ["object", "data", "has_more"],
            "additionalProperties": False,
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": _ref("schemas", "SettlementBatch")},
                "has_more": {"type": "boolean"},
            },
        },
    }


def _settlement_paths() -> JSON:
    batch_id = _path_id("batch_id", "stl_", _BATCH_ID)
    readers = ["finance", "operator"]
    return {
        "/v1/settlements": {
            "get": {
                "operationId": "listSettlements",
                "tags": ["Settlements"],
                "summary": "List settlement batches, newest business date first",
                "description": "A finance key sees its merchant's merchant batches; an operator "
                "sees every merchant's and every partner's. Without `business_date`, open batches "
                "of the last `durations.settlement_lookback` (7 days) are listed. Unknown query "
                "parameters are `invalid_request`.",
                "x-roles": readers,
                "parameters": [
                    _query_date("Only batches of this business date (`YYYY-MM-DD`)."),
                    {
                        "name": "status",
                        "in": "query",
                        "schema": {"type": "string", "enum": ["open", "closed"]},
                    },
                    {
                        "name": "type",
                        "in": "query",
                        "description": "A finance key asking for `partner` gets an empty list.",
                        "schema": {"type": "string", "enum": ["merchant", "partner"]},
                    },
                    _query_limit(),
                    _query_text(
                        "starting_after", "A batch id: the page starts after it (older days)."
                    ),
                ],
                "responses": {
                    "200": _json_response(
                        "A page of batches.", _ref("schemas", "SettlementBatchList")
                    ),
                    **_error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/settlements/{batch_id}": {
            "get": {
                "operationId": "getSettlement",
                "tags": ["Settlements"],
                "summary": "A settlement batch (open: live totals; closed: frozen)",
                "x-roles": readers,
                "parameters": [batch_id],
                "responses": {
                    "200": _json_response("The batch.", _ref("schemas", "SettlementBatch")),
                    **_error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/settlements/{batch_id}/file": {
            "get": {
                "operationId": "getSettlementFile",
                "tags": ["Settlements"],
                "summary": "The CSV file of a closed batch",
                "description": _FILE_DESCRIPTION,
                "x-roles": readers,
                "parameters": [batch_id],
                "responses": {
                    "200": {
                        "description": "The file, streamed.",
                        "headers": _headers("Content-Digest", "ETag", "Content-Disposition"),
                        "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
                    },
                    **_error_responses(
                        "authentication_failed", "forbidden", "not_found", "batch_not_closed"
                    ),
                },
            }
        },
    }


_RECONCILIATION_EXAMPLE: Final = {
    "id": "rec_01jd8y2k2m3n4p5q6r7s8t9v0w",
    "object": "reconciliation",
    "partner": "th-siampay",
    "business_date": "2026-11-26",
    "currency": "CNY",
    "counts": {
        "matched": 1523,
        "missing_at_partner": 0,
        "missing_at_gateway": 1,
        "amount_mismatch": 0,
        "fx_mismatch": 0,
        "fee_mismatch": 2,
    },
    "report_sha256": "9f2b5c0e6a1d4b8c7e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
    "report_url": "/v1/reconciliations/rec_01jd8y2k2m3n4p5q6r7s8t9v0w/report",
    "created_at": "2026-11-27T04:00:12.345Z",
}


def _reconciliation_paths() -> JSON:
    reconciliation = {
        "type": "object",
        "description": "A partner's settlement file for one day and payer currency, matched line "
        "by line (by the partner request id) against our partner receivable lines. The day "
        "before and after are consulted so a line each side dated differently near the "
        "cut-off is matched, not reported missing.",
        "required": list(_RECONCILIATION_EXAMPLE),
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^rec_"},
            "object": {"const": "reconciliation"},
            "partner": {"type": "string"},
            "business_date": {"type": "string", "format": "date"},
            "currency": {"type": "string"},
            "counts": {
                "type": "object",
                "required": list(_RECONCILIATION_EXAMPLE["counts"]),
                "additionalProperties": False,
                "properties": {
                    name: {"type": "integer", "minimum": 0}
                    for name in _RECONCILIATION_EXAMPLE["counts"]
                },
            },
            "report_sha256": {"type": "string"},
            "report_url": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "example": _RECONCILIATION_EXAMPLE,
    }
    reconciliation_id = _path_id("reconciliation_id", "rec_")
    return {
        "/v1/reconciliations": {
            "get": {
                "operationId": "listReconciliations",
                "tags": ["Reconciliation"],
                "summary": "Reconciliations, newest first (`gateway reconcile` makes them)",
                "x-roles": ["operator"],
                "parameters": [
                    _query_text("partner", "Only this partner's reconciliations."),
                    _query_date("Only reconciliations of this business date (`YYYY-MM-DD`)."),
                    _query_limit(),
                    _query_text(
                        "starting_after",
                        "A reconciliation id: the page starts after it (older ones).",
                    ),
                ],
                "responses": {
                    "200": _json_response(
                        '`{"object": "list", "data": [...], "has_more": bool}`.',
                        {
                            "type": "object",
                            "required": ["object", "data", "has_more"],
                            "additionalProperties": False,
                            "properties": {
                                "object": {"const": "list"},
                                "data": {"type": "array", "items": reconciliation},
                                "has_more": {"type": "boolean"},
                            },
                        },
                    ),
                    **_error_responses("authentication_failed", "forbidden", "invalid_request"),
                },
            }
        },
        "/v1/reconciliations/{reconciliation_id}": {
            "get": {
                "operationId": "getReconciliation",
                "tags": ["Reconciliation"],
                "summary": "A reconciliation's counts",
                "x-roles": ["operator"],
                "parameters": [reconciliation_id],
                "responses": {
                    "200": _json_response("The reconciliation.", reconciliation),
                    **_error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
        "/v1/reconciliations/{reconciliation_id}/report": {
            "get": {
                "operationId": "getReconciliationReport",
                "tags": ["Reconciliation"],
                "summary": "The line-by-line report (CSV)",
                "description": "Columns: `category,record_type,partner_request_id,gateway_id,"
                "partner_reference,currency,gateway_amount,partner_amount,gateway_fee,"
                "partner_fee,gateway_fx_rate,partner_fx_rate,detail`; amounts in major units.",
                "x-roles": ["operator"],
                "parameters": [reconciliation_id],
                "responses": {
                    "200": {
                        "description": "The report.",
                        "headers": _headers("Content-Disposition"),
                        "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
                    },
                    **_error_responses("authentication_failed", "forbidden", "not_found"),
                },
            }
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document, built once. Shared: serialise it, do not mutate it."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Cross-border acquiring gateway: merchant API",
            "version": "1.0.0",
            "description": _DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "This gateway."}],
        "tags": [
            {"name": "Operations", "description": "Health, readiness and this document."},
            {"name": "FX quotes", "description": "Prices in the tourist's wallet currency."},
            {"name": "Payments", "description": "User-presented wallet payments."},
            {"name": "Refunds", "description": "Partial and repeated refunds of payments."},
            {"name": "Events", "description": "Events, their webhook delivery, redelivery."},
            {
                "name": "Settlements",
                "description": "Daily settlement batches and their files (finance, operator).",
            },
            {
                "name": "Reconciliation",
                "description": "Partner settlement files matched against our books (operator).",
            },
        ],
        "security": [{"apiKey": []}],
        "paths": {
            **_paths(),
            **_event_paths(),
            **_settlement_paths(),
            **_reconciliation_paths(),
        },
        "webhooks": _webhooks(),
        "components": _components(),
    }
