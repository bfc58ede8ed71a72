"""The Alipay+ / Antom v1 protocol family: adapter, wire format and sandbox partner.

Layout (hyperswitch style): `client.py` is the thin HTTP client, `transforms/` the pure
domain <-> wire conversions, `models.py` the wire schemas, `codes.py` the result-code tables,
`signing.py` signatures and keys, `sandbox/` the simulated partner. This package does not import
`sandbox/` (production never loads a sandbox); `adapters.sandboxes` finds it.

Operations (`client.PATHS`): pay, inquiryPayment, cancel, refund, inquiryRefund, the
settlement file, the exchange-rate inquiry (`fx_rates`, below) and order codes (`order_code`,
below). A refund names the payment by its `paymentId` (`RefundRequest.payment_partner_reference`,
which Antom requires), or by `paymentRequestId` when that is unknown (see `transforms`).

Merchant-presented order codes (`order_code`, issue #15)
--------------------------------------------------------
`create_order_code` POSTs the same `/v1/payments/pay` with `paymentFactor.inStorePaymentScenario`
OrderCode (no `paymentMethodId`, no `order.env`, `paymentExpiryTime`, `paymentNotifyUrl`); the
U PAYMENT_IN_PROCESS (or S) answer's `orderCodeForm` gives the code: its TEXT `codeValue`, until
`expireTime` (never later than asked). `read_notification` verifies a `notifyPayment`
(`client-id` ours, `request-time` within `NOTIFICATION_TOLERANCE`, RSA `Signature` over
`POST <path>\n<client-id>.<request-time>.<raw body>` with the partner's key) before reading
its body strictly; `acknowledge` answers `{"result": {"resultCode": "SUCCESS", "resultStatus":
"S", "resultMessage": "success"}}` (or F PROCESS_FAIL: send it again), HTTP 200, signed with our
key like an answer. `transforms.orders` and `transforms.notifications` say what is trusted.
Its timeout falls back to `DEFAULT_TIMEOUTS` when the configuration names none.

Settlement file (our format, in the style of Ant's settlement details report)
-----------------------------------------------------------------------------
`POST <prefix>/v1/settlements/file` with `{"settlementDate": "YYYY-MM-DD", "settlementCurrency"?:
"CNY"}`, signed like every request. The date is the partner's business day (its own zone and
cut-off). The answer is HTTP 200 `text/csv; charset=UTF-8`, signed like every answer (over the
raw CSV bytes): a header row, one row per payment or refund, and a last line `<END>` (a file
without it is truncated). `\n` line ends, RFC 4180 quoting, columns (`models.SETTLEMENT_COLUMNS`;
extra columns are ignored, order is free):

    settlementBatchId             <YYYYMMDD><currency>
    settlementDate                the date asked for
    transactionType               PAYMENT | REFUND (a cancelled payment appears in no file)
    paymentRequestId, paymentId   the payment's request id (ours) and the partner's id of it;
                                  on a REFUND, those of the payment refunded
    refundRequestId, refundId     on a REFUND: its request id (ours) and the partner's id;
                                  empty on a PAYMENT
    transactionAmountValue        minor units, signed: what the wallet was charged (> 0) or
                                  refunded (< 0)
    transactionCurrency           the payer (wallet) currency
    feeAmountValue, feeCurrency   the partner's fee, minor units, signed like the transaction
                                  (on a REFUND: the fee given back, <= 0)
    settlementAmountValue,        transactionAmountValue − feeAmountValue, what the partner
      settlementCurrency          owes (or takes back), in the same currency
    orderAmountValue, orderCurrency
                                  the pay request's `orderAmount` (the merchant's amount; empty
                                  on a REFUND: the refund request carries none)
    quoteCurrencyPair, quotePrice `<orderCurrency>/<transactionCurrency>` and transaction
                                  currency units per order currency unit, 10 significant digits
                                  (`adapters.implied_rate`); empty with no order amount
    transactionTime               ISO 8601 in the partner's zone, whole seconds

A refusal is a signed JSON `{"result": {"resultStatus": "F", "resultCode": ...}}`
(`ACCESS_DENIED`, `INVALID_SIGNATURE`, `PARAM_ILLEGAL` for a bad date or currency).
`fetch_settlement_file` raises `SettlementFileUnavailable` on it, as on any transport error,
non-200 status, unsigned or unverifiable answer, or unreadable file (`transforms.settlement_file`).

Exchange rates (`fx_rates`)
---------------------------
`POST <prefix>/v1/payments/inquireExchangeRate`, signed like `pay`, with
`{"currencyPairs": [{"sellCurrency": "THB", "buyCurrency": "CNY"}, ...],
"productCode": "IN_STORE_PAYMENT"}` (one pair per quote asked for: the base sold, the quote
bought). The answer, signed like every answer: `{"result": {...}, "quotes": [{"quoteId",
"quoteCurrencyPair": "THB/CNY", "quotePrice": 0.1832, "quoteStartTime", "quoteExpiryTime",
"guaranteed"}]}`, where "THB/CNY" at p means 1 THB = p CNY. `quotePrice` is a JSON number
(Ant's Go SDK reads it as float32); we read it, or a string, from its text without float.
Result codes: S SUCCESS; F PARAM_ILLEGAL, CURRENCY_NOT_SUPPORT, PROCESS_FAIL; U
UNKNOWN_EXCEPTION. `fetch_rates` raises `RatesUnavailable` on anything but a complete,
verified S SUCCESS answer (`transforms.rates`).
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from adapters._base import AdapterConfigError, Operation
from adapters._clock import Clock
from adapters.alipayplus.client import AlipayPlusAdapter
from adapters.alipayplus.signing import (
    AlipayPlusCredentials,
    KeyFormatError,
    generate_keypair,
    load_private_key,
    load_public_key,
)

__all__ = [
    "OPTIONAL_CREDENTIALS",
    "REQUIRED_CREDENTIALS",
    "AlipayPlusAdapter",
    "AlipayPlusCredentials",
    "build_adapter",
    "generate_keypair",
]

REQUIRED_CREDENTIALS = ("client_id", "private_key", "partner_public_key")
# Key rotation: the keyVersion we announce, and the one the partner's key is registered under.
OPTIONAL_CREDENTIALS = ("key_version", "partner_key_version")

_SANDBOX_CLIENT_PREFIX = "SANDBOX_"


def build_adapter(
    *,
    partner_id: str,
    base_url: str,
    credentials: Mapping[str, str],
    http: httpx.AsyncClient,
    timeouts: Mapping[Operation, float],
    clock: Clock,
) -> AlipayPlusAdapter:
    """Build an adapter from configuration; `AdapterConfigError` names the bad setting.

    `credentials` is keyed by `REQUIRED_CREDENTIALS` (plus optional `OPTIONAL_CREDENTIALS`),
    the values being the secrets themselves. As in Ant's SDKs, a client id starting with
    `SANDBOX_` talks to `/ams/sandbox/api` instead of `/ams/api`.
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
    versions: dict[str, int] = {}
    for name in OPTIONAL_CREDENTIALS:
        text = credentials.get(name, "1").strip()
        if not text.isdigit():
            raise bad(name, "is not a whole number")
        versions[name] = int(text)

    client_id = credentials["client_id"].strip()
    try:
        private_key = load_private_key(credentials["private_key"])
    except KeyFormatError as exc:
        raise bad("private_key", f"is invalid: {exc}") from None
    try:
        public_key = load_public_key(credentials["partner_public_key"])
    except KeyFormatError as exc:
        raise bad("partner_public_key", f"is invalid: {exc}") from None
    prefix = "/ams/sandbox/api" if client_id.startswith(_SANDBOX_CLIENT_PREFIX) else "/ams/api"
    return AlipayPlusAdapter(
        partner_id=partner_id,
        base_url=base_url,
        credentials=AlipayPlusCredentials(
            client_id=client_id,
            private_key=private_key,
            partner_public_keys={versions["partner_key_version"]: public_key},
            key_version=versions["key_version"],
        ),
        http=http,
        timeouts=timeouts,
        clock=clock,
        path_prefix=prefix,
    )
