"""The OpenAPI 3.1 document of the merchant API, served at `GET /openapi.json`.

It describes what is implemented, with the contract of `shared/API.md` and the choices of
`docs/api-notes.md`. The request and response schemas are generated from the wire types
(`gateway/wire/`) that parsing checks bodies against and views are typed with; this package
adds what no type says: the operations, their parameters, roles, examples, links and error
answers, one module per resource. Building it reads no database and no configuration, so
serving it cannot fail on either. `tests/unit/gateway/test_openapi.py` checks it against the
registered routes, `gateway.core.errors` and real rendered views.
"""

import functools
from typing import Any, Final

from gateway.api.openapi import (
    events,
    operations,
    payments,
    presented,
    reconciliations,
    settlements,
)
from gateway.api.openapi.parts import components
from gateway.wire import errors as wire_errors
from gateway.wire import events as wire_events
from gateway.wire import operations as wire_operations
from gateway.wire import payments as wire_payments
from gateway.wire import quotes as wire_quotes
from gateway.wire import reconciliations as wire_reconciliations
from gateway.wire import refunds as wire_refunds
from gateway.wire import settlements as wire_settlements
from gateway.wire._schema import component_schemas

__all__ = ["openapi_document"]

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


def _schemas() -> dict[str, Any]:
    """`components/schemas`: every body the document names, and what those refer to."""
    return component_schemas(
        wire_operations.Health,
        wire_operations.Readiness,
        wire_quotes.QuoteRequest,
        wire_quotes.Quote,
        wire_quotes.DisplayRates,
        wire_quotes.FxPosition,
        wire_payments.PaymentRequest,
        wire_payments.CancelRequest,
        wire_payments.PaymentList,
        wire_refunds.RefundRequest,
        wire_refunds.RefundList,
        wire_events.EventPayload,
        wire_events.EventList,
        wire_events.RedeliverRequest,
        wire_settlements.SettlementBatchList,
        wire_reconciliations.ReconciliationList,
        wire_errors.Error,
    )


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
            {
                "name": "Payments",
                "description": "Wallet payments: the POS scans the tourist's code, or the "
                "tourist scans the till's (merchant-presented).",
            },
            {"name": "Refunds", "description": "Partial and repeated refunds of payments."},
            {"name": "Events", "description": "Events, their webhook delivery, redelivery."},
            {
                "name": "Settlements",
                "description": "Daily settlement batches and their files (finance, operator).",
            },
            {"name": "Partners", "description": "Endpoints partners call (notifications)."},
            {
                "name": "Reconciliation",
                "description": "Partner settlement files matched against our books (operator).",
            },
        ],
        "security": [{"apiKey": []}],
        "paths": {
            **operations.paths(),
            **payments.paths(),
            **events.paths(),
            **settlements.paths(),
            **reconciliations.paths(),
            **presented.paths(),
        },
        "webhooks": events.webhooks(),
        "components": components(_schemas()),
    }
