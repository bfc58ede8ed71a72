"""`WalletRestAdapter`: the thin client of the WalletRest protocol.

Per operation it only builds the path and body (transforms), signs the request, sends it with
the operation's timeout, classifies transport errors, and verifies the answer's signature and
timestamp before handing its status and bytes to transforms. An answer that is unsigned, badly
signed or stale is never trusted, whatever its status: UNKNOWN, maybe sent. The settlement report
and the exchange rates are fetched and verified the same way, but what cannot be trusted is
raised (`SettlementFileUnavailable`, `RatesUnavailable`): a file or a rate set is not an
outcome. An order code is an answer like any other; the partner's notifications come the other
way and are verified (HMAC and time) by `read_notification` before anything of them is read.
Entry codes: `register_store` is `POST /v1/stores` (keyed by the store id), an answer like any
other; an entry order arrives on the notify URL, verified like a notification before
`read_notification` tells it apart (`type`), and `confirm_entry_order` signs our answer to it
like an acknowledgment (`transforms.entry`).
The sending itself (base URL, timeouts,
transport errors) is `SignedHttpClient`'s; this class adds the protocol's HMAC signature
(`_request_headers`), the `Idempotency-Key`, and what it trusts of an answer.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from urllib.parse import quote

import httpx

from adapters._base import (
    Acknowledgment,
    AdapterConfigError,
    CancelRequest,
    Delivery,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    InboundRequest,
    InquiryRequest,
    Operation,
    OrderCode,
    OrderCodeRequest,
    Outcome,
    PartnerRates,
    PaymentNotification,
    PayRequest,
    RatesRequest,
    RatesUnavailable,
    RefundInquiryRequest,
    RefundRequest,
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
    StoreRegistration,
)
from adapters._clock import Clock
from adapters._http import SignedHttpClient
from adapters.walletrest import models as wire
from adapters.walletrest import transforms
from adapters.walletrest.signing import (
    WalletRestCredentials,
    is_fresh,
    request_content,
    response_content,
    sign,
    timestamp_of,
    verify,
)

__all__ = ["DEFAULT_SIGNATURE_TOLERANCE", "WalletRestAdapter"]

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE_TOLERANCE = 300.0  # seconds between an answer's X-Timestamp and our clock
_JSON = "application/json"


def _id(value: str) -> str:
    return quote(value, safe="")


class WalletRestAdapter(SignedHttpClient):
    """One partner speaking WalletRest v1.

    Usage::

        adapter = WalletRestAdapter(
            partner_id="ph-islandpay",
            base_url="https://api.islandpay.example",
            credentials=WalletRestCredentials(api_key=..., signing_secret=...),
            http=new_http_client(),
            timeouts={op: 8 for op in Operation},
            clock=SystemClock(),
        )
        outcome = await adapter.pay(request)

    **Parameters**
    - `partner_id`: the partner's name in our configuration.
    - `base_url`: scheme, host and optional base path; no query string.
    - `credentials`: our API key and the shared signing secret.
    - `http`: a shared client (see `adapters._transport.new_http_client`); not closed here.
    - `timeouts`: seconds per operation; each of `capabilities` needs one.
    - `clock`: source of `X-Timestamp`, and "now" for an answer's timestamp check.
    - `signature_tolerance`: how far (seconds) an answer's `X-Timestamp` may be from `clock`.
    """

    def __init__(
        self,
        *,
        partner_id: str,
        base_url: str,
        credentials: WalletRestCredentials,
        http: httpx.AsyncClient,
        timeouts: Mapping[Operation, float],
        clock: Clock,
        signature_tolerance: float = DEFAULT_SIGNATURE_TOLERANCE,
    ) -> None:
        super().__init__(
            partner_id=partner_id,
            base_url=base_url,
            http=http,
            timeouts=timeouts,
            clock=clock,
        )
        if not signature_tolerance > 0:
            raise AdapterConfigError(f"partner {partner_id!r}: signature_tolerance must be > 0")
        self._credentials = credentials
        self._tolerance = float(signature_tolerance)

    @property
    def capabilities(self) -> frozenset[Operation]:
        return frozenset(
            {
                Operation.PAY,
                Operation.INQUIRE,
                Operation.CANCEL,
                Operation.REFUND,
                Operation.INQUIRE_REFUND,
                Operation.SETTLEMENT_FILE,
                Operation.FX_RATES,
                Operation.ORDER_CODE,
                Operation.ENTRY_CODE,
            }
        )

    async def pay(self, request: PayRequest) -> Outcome:
        body = wire.encode(transforms.create_payment_body(request))
        answer = await self._call(
            Operation.PAY, "POST", "/v1/payments", body, request.partner_request_id
        )
        if isinstance(answer, Outcome):
            return answer
        outcome = transforms.pay_outcome(*answer, request)
        log.debug(
            "pay %s %s code %s -> %s %s",
            self._partner_id,
            request.partner_request_id,
            request.code.masked,
            outcome.status,
            outcome.partner_code,
        )
        return outcome

    async def inquire(self, request: InquiryRequest) -> Outcome:
        path = f"/v1/payments/{_id(request.partner_request_id)}"
        answer = await self._call(Operation.INQUIRE, "GET", path, None, None)
        if isinstance(answer, Outcome):
            return answer
        return transforms.inquiry_outcome(*answer, request)

    async def cancel(self, request: CancelRequest) -> Outcome:
        path = f"/v1/payments/{_id(request.partner_request_id)}/cancel"
        answer = await self._call(Operation.CANCEL, "POST", path, b"{}", request.partner_request_id)
        if isinstance(answer, Outcome):
            return answer
        return transforms.cancel_outcome(*answer, request)

    async def refund(self, request: RefundRequest) -> Outcome:
        body = wire.encode(transforms.create_refund_body(request))
        answer = await self._call(
            Operation.REFUND, "POST", "/v1/refunds", body, request.partner_request_id
        )
        if isinstance(answer, Outcome):
            return answer
        return transforms.refund_outcome(*answer, request)

    async def inquire_refund(self, request: RefundInquiryRequest) -> Outcome:
        path = f"/v1/refunds/{_id(request.partner_request_id)}"
        answer = await self._call(Operation.INQUIRE_REFUND, "GET", path, None, None)
        if isinstance(answer, Outcome):
            return answer
        return transforms.refund_inquiry_outcome(*answer, request)

    async def fetch_settlement_file(self, request: SettlementFileRequest) -> SettlementFile:
        """`GET /v1/settlement_reports/{date}` (the package docstring has the format);
        `SettlementFileUnavailable` when it cannot be fetched, verified or read."""
        path = transforms.settlement_report_path(request)
        answer = await self._call(Operation.SETTLEMENT_FILE, "GET", path, None, None)
        if isinstance(answer, Outcome):
            raise SettlementFileUnavailable(answer.message, http_status=answer.http_status)
        status, body = answer
        return transforms.settlement_file(
            status, body, partner_id=self._partner_id, request=request
        )

    async def fetch_rates(self, request: RatesRequest) -> PartnerRates:
        """`GET /v1/fx/rates?base=...&quotes=...` (the package docstring has the format);
        `RatesUnavailable` when the answer cannot be had, verified or read, or lacks a quote."""
        path = transforms.rates_path(request)
        answer = await self._call(Operation.FX_RATES, "GET", path, None, None)
        if isinstance(answer, Outcome):
            raise RatesUnavailable(answer.message, http_status=answer.http_status)
        status, body = answer
        return transforms.partner_rates(status, body, partner_id=self._partner_id, request=request)

    async def create_order_code(self, request: OrderCodeRequest) -> OrderCode | Outcome:
        """`POST /v1/orders` (the package docstring has the format): the code to display, or
        the Outcome when there is none (`transforms.orders`)."""
        body = wire.encode(transforms.create_order_body(request))
        answer = await self._call(
            Operation.ORDER_CODE, "POST", transforms.ORDERS_PATH, body, request.partner_request_id
        )
        if isinstance(answer, Outcome):
            return answer
        result = transforms.order_code_outcome(*answer, request)
        log.debug(
            "order_code %s %s -> %s",
            self._partner_id,
            request.partner_request_id,
            "code" if isinstance(result, OrderCode) else f"{result.status} {result.partner_code}",
        )
        return result

    async def register_store(self, request: StoreRegistration) -> EntryCode | Outcome:
        """`POST /v1/stores` keyed by the store id: its entry code, or the Outcome that is
        none (`transforms.entry`)."""
        body = wire.encode(transforms.registration_body(request))
        store_id = request.merchant.store_id
        answer = await self._call(
            Operation.ENTRY_CODE, "POST", transforms.STORES_PATH, body, store_id
        )
        if isinstance(answer, Outcome):
            return answer
        return transforms.entry_code_outcome(*answer, request)

    def read_notification(
        self, request: InboundRequest, now: datetime
    ) -> PaymentNotification | EntryOrder:
        """A `payment.result` notification or an `entry_order.created`, its HMAC and time
        checked before it is read (`transforms.notifications`); `NotificationRefused`
        otherwise."""
        return transforms.read_notification(request, now, secret=self._credentials.signing_secret)

    def acknowledge(self, request: InboundRequest, accepted: bool) -> Acknowledgment:
        """200 `{"received":true}` or 503 `{"received":false}`, signed like every answer."""
        del request  # the answer is the same for every notification
        return transforms.acknowledgment(
            accepted, self._clock.now(), secret=self._credentials.signing_secret
        )

    def confirm_entry_order(
        self, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        """200 with the order to charge, or 422 (503: ask again) with the refusal, signed
        like every answer (`transforms.entry`)."""
        del request  # the answer depends on the confirmation alone
        return transforms.entry_answer(
            confirmation, self._clock.now(), secret=self._credentials.signing_secret
        )

    async def _call(
        self,
        operation: Operation,
        method: str,
        path: str,
        body: bytes | None,
        idempotency_key: str | None,
    ) -> tuple[int, bytes] | Outcome:
        """Sign, send and verify one call: (status, raw body), or the UNKNOWN it amounts to."""
        extra = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else None
        response = await self._send(operation, method, path, body, headers=extra)
        if isinstance(response, Outcome):
            return response
        status = response.status_code
        problem = self._signature_problem(response)
        if problem is not None:
            log.debug("%s %s: HTTP %s, %s", self._partner_id, operation.value, status, problem)
            return Outcome.unknown(
                Delivery.MAYBE_SENT,
                f"{operation.value}: HTTP {status}, {problem}",
                http_status=status,
            )
        return status, response.content

    async def _request_headers(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        """`Authorization`, `X-Timestamp` and the HMAC `X-Signature` over
        `<timestamp>.<METHOD>.<path>.<raw body>` (a request without a body signs an empty one)."""
        timestamp = timestamp_of(self._clock.now())
        headers = {
            "Accept": _JSON,
            "Authorization": f"Bearer {self._credentials.api_key}",
            "X-Timestamp": timestamp,
            "X-Signature": sign(
                self._credentials.signing_secret,
                request_content(timestamp, method, path, body or b""),
            ),
        }
        if body is not None:
            headers["Content-Type"] = _JSON
        return headers

    def _signature_problem(self, response: httpx.Response) -> str | None:
        """Why the answer is not verifiably the partner's, or None when it is."""
        header = response.headers.get("x-signature")
        timestamp = response.headers.get("x-timestamp")
        if not header:
            return "unsigned answer"
        if not is_fresh(timestamp, self._clock.now(), self._tolerance):
            return "answer timestamp missing or outside the tolerance"
        assert timestamp is not None
        content = response_content(timestamp, response.status_code, response.content)
        if not verify(self._credentials.signing_secret, content, header):
            return "answer signature does not verify"
        return None
