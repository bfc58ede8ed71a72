"""The WalletRest protocol family: a REST wallet API with HMAC signing, and its sandbox partner.

Deliberately unlike Alipay+ (RSA, result codes in a 200 body, minor units): resources and HTTP
status codes, a shared HMAC secret, major-unit decimal strings. Layout as for every family:
`client.py` (thin HTTP client), `transforms/` (pure domain <-> wire), `models.py` (wire
schemas), `codes.py` (tables), `signing.py`, `sandbox/` (not imported here: production never
loads a sandbox; `adapters.sandboxes` finds it). Requests and outcomes are the shared contract's
(`adapters._base`); `RefundRequest` / `RefundInquiryRequest` are re-exported here for
convenience.

Wire protocol, v1 (JSON, UTF-8, snake_case)
-------------------------------------------
Requests carry::

    Authorization: Bearer <api_key>
    X-Timestamp: <unix seconds>
    X-Signature: v1=<hex HMAC-SHA256(signing_secret, "<timestamp>.<METHOD>.<path>.<raw body>")>
    Idempotency-Key: <our partner request id>            (every POST)

`<path>` is the request path as sent (base path included, percent-encoded); a GET signs an empty
body. Every answer is signed the same way over `"<timestamp>.<status code>.<raw body>"` with its
own `X-Timestamp`; the adapter checks it in constant time and within `signature_tolerance`
(default 300 s). An unsigned, badly signed or stale answer is UNKNOWN, maybe sent, whatever its
status. Money is `{"currency": "CNY", "value": "250.12"}`: major units, exactly the currency's
decimals (`fx.to_major_str`; read back strictly).

`POST /v1/payments` — `{"amount": <payer amount>, "merchant_amount": <merchant amount>,
"payment_code": "...", "reference": "...", "description"?, "merchant": {"id", "name",
"country", "mcc", "store_id"?, "terminal_id"}, "requested_at"}`. Answers a Payment
`{"object": "payment", "id": "wr_pay_...", "request_id": <Idempotency-Key>, "status",
"amount", "merchant_amount", "amount_refunded", "reference", "decline_code", "created_at",
"completed_at", "canceled_at"}`:

    201 succeeded (200 on a replay, with Idempotent-Replayed: true)   -> SUCCEEDED
    202 processing (the tourist confirms on their phone)                -> UNKNOWN, in_process
    200 canceled (the key was canceled first)                           -> FAILED partner_declined
    402 {"error": {"type": "payment_declined", "decline_code"}, "payment"}
                                                        -> FAILED, code from codes.py's table
    400 invalid_request (nothing created)                               -> FAILED partner_declined
    409 idempotency_conflict (same key, other body)                     -> UNKNOWN, maybe sent
    401 authentication_error, 429 rate_limited, 503 not_accepted (signed: nothing charged)
                                                                        -> UNKNOWN, not sent
    any other status, 5xx, unsigned or unparseable                      -> UNKNOWN, maybe sent

A success must echo our `request_id` and exactly our payer `amount` (else UNKNOWN, maybe sent).
Same key and same body replays the current state and never charges twice. Keys are scoped by
resource, so a payment, its cancel and a refund never collide; a cancel (idempotent by nature)
carries the payment's own request id.

`GET /v1/payments/{request_id}` — 200 Payment in its current state (succeeded, processing,
failed with `decline_code`, canceled); 404 `not_found` -> UNKNOWN not_found (never a failure).

`POST /v1/payments/{request_id}/cancel` (body `{}`) — any state: 200 Payment `canceled`
(a charge is reversed; an unknown key leaves a canceled marker that refuses a late create)
-> SUCCEEDED; 409 `invalid_state` (`payment_has_refunds`, or `cancel_window_closed`: refund
instead) -> FAILED.

`POST /v1/refunds` — `{"payment": <payment request id>, "amount": <payer amount>,
"merchant_amount", "reference", "reason"?}`, keyed by the refund's own request id. 201 Refund
`{"object": "refund", "id": "wr_rf_...", "request_id", "payment", "status", "amount",
"decline_code", ...}` -> SUCCEEDED (echo checked); 202 processing -> UNKNOWN; 402
`refund_declined` (`payment_not_refundable`, `amount_exceeds_refundable`, `refund_rejected`) ->
FAILED partner_declined. `RefundRequest.payment_partner_reference` is not used: WalletRest names
the payment by our request id. `GET /v1/refunds/{request_id}` — 200 Refund, or 404 -> UNKNOWN
not_found.

`GET /v1/settlement_reports/{YYYY-MM-DD}[?currency=CNY]` — the partner's settlement report of
one of its business days (its own zone and cut-off), signed like every answer. 200:

    {"object": "settlement_report", "date": "2026-11-26", "currency": "CNY" | null,
     "timezone": "Asia/Bangkok", "cutoff": "00:00",
     "entries": [{"object": "settlement_entry", "type": "payment" | "refund",
                  "id": <the partner's id: wr_pay_... / wr_rf_...>,
                  "request_id": <its Idempotency-Key: our request id>,
                  "payment": <the payment's request id (a payment's own)>,
                  "payment_id": <the partner's id of the payment>,
                  "amount": Money (payer currency, positive: charged or returned),
                  "fee": Money (the partner's fee, positive; on a refund the fee given back),
                  "net": Money (amount − fee for a payment, −(amount − fee) for a refund),
                  "merchant_amount": Money | null (what the request carried),
                  "exchange_rate": "0.2000159936" | null (payer major units per merchant major
                                   unit, 10 significant digits: `adapters.implied_rate`),
                  "completed_at": RFC 3339 UTC}, ...],
     "totals": [{"currency": "CNY", "payments": n, "refunds": n, "net": Money (Σ net)}, ...]}

Money is major units as everywhere in this protocol. A canceled payment appears in no report.
400 `invalid_request` (`date_invalid`, `currency_invalid`) and 401 are signed errors.
`fetch_settlement_file` raises `SettlementFileUnavailable` on them, as on any transport error,
unsigned, badly signed or stale answer, or report that does not hold together
(`transforms.settlement_file`: exact amounts, net, totals, the date and currency asked for).

`GET /v1/fx/rates?base=THB&quotes=CNY,KRW` — the partner's own exchange rates (`fx_rates`),
signed like every request (the query is part of the signed path). 200:

    {"base": "THB", "rates": {"CNY": "0.1832", "KRW": "36.10"}, "published_at": RFC 3339,
     "expires_at": RFC 3339 | null}

1 base = rates[code] code, each rate a decimal string. 400 `invalid_request`
(`currency_not_supported`, `parameter_invalid`), 401 and 5xx are signed errors.
`fetch_rates` raises `RatesUnavailable` on them, as on any transport error, unsigned, badly
signed or stale answer, or answer without every quote asked for as a positive plain decimal
(`transforms.rates`).

`POST /v1/orders` — an order code (merchant-presented: the till shows it, the tourist scans it
with their wallet), keyed by our partner request id, which is also the body's `order_id` and
from then on names the order as a payment (`GET /v1/payments/{order_id}`, `.../cancel`).
`{"order_id", "amount": <payer amount, the wallet's currency>, "merchant_amount", "wallet":
"kakaopay", "reference", "description"?, "merchant": {...as for a payment}, "requested_at",
"expires_at": RFC 3339 (whole seconds, the latest the code may be paid), "notify_url"}`.
Answers an Order `{"object": "order", "id": "wr_pay_..." (the payment it becomes), "order_id",
"status", "amount", "merchant_amount", "wallet", "reference", "qr_code": <what the QR encodes>,
"expires_at": <the partner's, at most ours>, "decline_code", "created_at", "completed_at",
"canceled_at"}`:

    201 awaiting_payment (200 on a replay of the same order, Idempotent-Replayed: true)
                                            -> OrderCode(qr_code, min(expires_at, ours), id)
    200 canceled (canceled before it was created, or since) / failed (`order_expired`, a
        declined scan)                      -> FAILED (decline_code through codes.py)
    200 succeeded (already paid)            -> UNKNOWN, maybe sent (no code to show)
    402 payment_declined, 400 invalid_request -> FAILED, nothing pending
    409 idempotency_conflict, other statuses, unsigned, an echo that is not ours (order_id,
        amount, wallet), no printable qr_code, an expires_at unreadable or not after
        requested_at                        -> UNKNOWN, maybe sent (the gateway cancels it)
    401, 429, 503 not_accepted (signed)     -> UNKNOWN, not sent

While unpaid, `GET /v1/payments/{order_id}` answers the Payment with status `awaiting_payment`
(-> UNKNOWN in_process); once paid `succeeded` with the payment's id, or `failed`
(`decline_code`: the scan's decline, or `order_expired` -> code_expired once `expires_at` has
passed unpaid). `POST /v1/payments/{order_id}/cancel` closes an unpaid order (200 `canceled`:
a late scan is refused and charges nothing), or reverses a paid one as for any payment.

Notifications: the partner POSTs the result of an order to its `notify_url`::

    Content-Type: application/json
    X-Timestamp: <unix seconds>
    X-Signature: v1=<hex HMAC-SHA256(signing_secret, "<timestamp>.<raw body>")>

    {"type": "payment.result", "id": <the notification's id>, "order_id",
     "status": "succeeded" | "failed", "payment_id": "wr_pay_..." (required on success),
     "amount": <payer amount paid>, "completed_at": RFC 3339 (required on success),
     "failure_code": <a decline code> | null, "created_at"}

`read_notification` verifies the signature (else `signature`) and then the timestamp, within
`NOTIFICATION_TOLERANCE` (5 min) of our clock either way (else `stale`), before reading the
body strictly (else `malformed`); `acknowledge` answers 200 `{"received":true}` or, when the
gateway did not process it, 503 `{"received":false}` (the partner retries), both signed like
every answer (`"<timestamp>.<status>.<raw body>"`). The same notification may come more than
once; the body's `id` is the same each time.

Credentials (`REQUIRED_CREDENTIALS`): `api_key`, `signing_secret` (at least 32 characters).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from adapters._base import AdapterConfigError, Operation, RefundInquiryRequest, RefundRequest
from adapters._clock import Clock
from adapters.walletrest.client import DEFAULT_SIGNATURE_TOLERANCE, WalletRestAdapter
from adapters.walletrest.signing import WalletRestCredentials

__all__ = [
    "DEFAULT_SIGNATURE_TOLERANCE",
    "OPTIONAL_CREDENTIALS",
    "REQUIRED_CREDENTIALS",
    "RefundInquiryRequest",
    "RefundRequest",
    "WalletRestAdapter",
    "WalletRestCredentials",
    "build_adapter",
]

REQUIRED_CREDENTIALS = ("api_key", "signing_secret")
OPTIONAL_CREDENTIALS: tuple[str, ...] = ()


def build_adapter(
    *,
    partner_id: str,
    base_url: str,
    credentials: Mapping[str, str],
    http: httpx.AsyncClient,
    timeouts: Mapping[Operation, float],
    clock: Clock,
    signature_tolerance: float = DEFAULT_SIGNATURE_TOLERANCE,
) -> WalletRestAdapter:
    """Build an adapter from configuration; `AdapterConfigError` names the bad setting.

    `credentials` is keyed by `REQUIRED_CREDENTIALS`, the values being the secrets themselves.
    """

    def bad(name: str, why: str) -> AdapterConfigError:
        return AdapterConfigError(f"partner {partner_id!r}: credential {name!r} {why}")

    for name in REQUIRED_CREDENTIALS:
        value = credentials.get(name)
        if not isinstance(value, str) or not value.strip():
            raise bad(name, "is missing")
    unknown = sorted(set(credentials) - set(REQUIRED_CREDENTIALS) - set(OPTIONAL_CREDENTIALS))
    if unknown:
        raise bad(unknown[0], f"is not one of {REQUIRED_CREDENTIALS + OPTIONAL_CREDENTIALS}")
    try:
        parsed = WalletRestCredentials(
            api_key=credentials["api_key"].strip(),
            signing_secret=credentials["signing_secret"].strip(),
        )
    except ValueError as exc:
        name = "api_key" if "api_key" in str(exc) else "signing_secret"
        raise bad(name, f"is invalid: {exc}") from None
    return WalletRestAdapter(
        partner_id=partner_id,
        base_url=base_url,
        credentials=parsed,
        http=http,
        timeouts=timeouts,
        clock=clock,
        signature_tolerance=signature_tolerance,
    )
