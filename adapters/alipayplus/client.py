"""`AlipayPlusAdapter`: the thin client of the Alipay+ / Antom protocol (hyperswitch's
`<connector>.rs`).

Per operation it only builds the body (transforms), signs it, POSTs it with the operation's
timeout, classifies transport errors, verifies the answer's signature and hands the parsed answer
back to transforms. An answer that is not HTTP 200, not signed with a partner key we hold, or not
parseable is never trusted: UNKNOWN, maybe sent. `fetch_settlement_file` and `fetch_rates` are
signed and verified the same way, but what they cannot trust they raise
(`SettlementFileUnavailable`, `RatesUnavailable`): a file or a rate set is not an outcome. The
sending itself (base URL, timeouts, transport errors) is `SignedHttpClient`'s; this
class adds the protocol's RSA signature (`_request_headers`) and what it trusts of an answer.

Merchant-presented order codes (`Operation.ORDER_CODE`): `create_order_code` is the `pay` of
scenario OrderCode, sent, verified and distrusted like any call; `read_notification` checks a
`notifyPayment`'s signature, addressee and time before its body is read, and `acknowledge`
signs our answer to it like the partner signs its answers.

Entry codes (`Operation.ENTRY_CODE`): `register_store` is `merchants/registration`, sent,
verified and distrusted like any call; an entry order arrives on the notify URL, checked like
a `notifyPayment` before `read_notification` tells the two apart (`notifyType`), and
`confirm_entry_order` signs our answer to it like an acknowledgment (`transforms.entry`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from adapters._base import (
    Acknowledgment,
    CancelRequest,
    Delivery,
    EntryCode,
    EntryOrder,
    EntryOrderConfirmation,
    InboundRequest,
    InquiryRequest,
    NotificationProblem,
    NotificationRefused,
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
from adapters._orders import NOTIFICATION_TOLERANCE
from adapters.alipayplus import models as wire
from adapters.alipayplus import transforms
from adapters.alipayplus.signing import (
    ALGORITHM,
    AlipayPlusCredentials,
    SignatureHeader,
    build_content,
    sign,
    verify,
)

__all__ = ["PATHS", "AlipayPlusAdapter"]

log = logging.getLogger(__name__)

_Answer = TypeVar("_Answer", bound=BaseModel)

PATHS: Mapping[Operation, str] = {
    Operation.PAY: "/v1/payments/pay",
    Operation.INQUIRE: "/v1/payments/inquiryPayment",
    Operation.CANCEL: "/v1/payments/cancel",
    Operation.REFUND: "/v1/payments/refund",
    Operation.INQUIRE_REFUND: "/v1/payments/inquiryRefund",
    Operation.SETTLEMENT_FILE: "/v1/settlements/file",
    Operation.FX_RATES: "/v1/payments/inquireExchangeRate",
    Operation.ORDER_CODE: "/v1/payments/pay",  # the pay of scenario OrderCode
    Operation.ENTRY_CODE: "/v1/merchants/registration",  # the store's entry code
}
_CONTENT_TYPE = "application/json; charset=UTF-8"


class AlipayPlusAdapter(SignedHttpClient):
    """One partner speaking Alipay+ / Antom v1.

    Usage::

        adapter = AlipayPlusAdapter(
            partner_id="antom-th",
            base_url="https://open-sea-global.alipay.com",
            credentials=AlipayPlusCredentials.from_text(...),
            http=new_http_client(),
            timeouts={
                Operation.PAY: 8,
                Operation.INQUIRE: 5,
                Operation.CANCEL: 8,
                Operation.REFUND: 8,
                Operation.INQUIRE_REFUND: 5,
                Operation.SETTLEMENT_FILE: 30,
                Operation.FX_RATES: 5,  # optional: 5 s when left out
            },
            clock=SystemClock(),
        )
        outcome = await adapter.pay(request)

    **Parameters**
    - `partner_id`: the partner's name in our configuration.
    - `base_url`: scheme, host and optional base path; no query string.
    - `credentials`: our client id and key, and the partner's public keys by keyVersion.
    - `http`: a shared client (see `adapters._transport.new_http_client`); not closed here.
    - `timeouts`: seconds per operation; each of `capabilities` needs one.
    - `clock`: source of `Request-Time`.
    - `path_prefix`: `/ams/api` (Antom), `/ams/sandbox/api` or `/aps/api` (Alipay+ acquirer).
    """

    def __init__(
        self,
        *,
        partner_id: str,
        base_url: str,
        credentials: AlipayPlusCredentials,
        http: httpx.AsyncClient,
        timeouts: Mapping[Operation, float],
        clock: Clock,
        path_prefix: str = "/ams/api",
    ) -> None:
        super().__init__(
            partner_id=partner_id,
            base_url=base_url,
            http=http,
            timeouts=timeouts,
            clock=clock,
            path_prefix=path_prefix,
        )
        self._credentials = credentials

    @property
    def capabilities(self) -> frozenset[Operation]:
        return frozenset(PATHS)

    def _base_path_of(self, url: httpx.URL) -> str:
        """Alipay+ signs the decoded path (what the partner's server reads as the path)."""
        return url.path.rstrip("/")

    async def pay(self, request: PayRequest) -> Outcome:
        answer = await self._call(Operation.PAY, transforms.pay_body(request), wire.PayResponse)
        if isinstance(answer, Outcome):
            return answer
        outcome = transforms.pay_outcome(answer, request, http_status=200)
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
        body = transforms.inquiry_body(request)
        answer = await self._call(Operation.INQUIRE, body, wire.InquiryPaymentResponse)
        if isinstance(answer, Outcome):
            return answer
        return transforms.inquiry_outcome(answer, request, http_status=200)

    async def cancel(self, request: CancelRequest) -> Outcome:
        answer = await self._call(
            Operation.CANCEL, transforms.cancel_body(request), wire.CancelResponse
        )
        if isinstance(answer, Outcome):
            return answer
        return transforms.cancel_outcome(answer, request, http_status=200)

    async def refund(self, request: RefundRequest) -> Outcome:
        """Refund `request.payer_amount` of the payment `request.payment_partner_reference`
        (its `paymentId`; by `paymentRequestId` when None, see `transforms`)."""
        answer = await self._call(
            Operation.REFUND, transforms.refund_body(request), wire.RefundResponse
        )
        if isinstance(answer, Outcome):
            return answer
        outcome = transforms.refund_outcome(answer, request, http_status=200)
        log.debug(
            "refund %s %s of %s -> %s %s",
            self._partner_id,
            request.partner_request_id,
            request.payment_partner_request_id,
            outcome.status,
            outcome.partner_code,
        )
        return outcome

    async def inquire_refund(self, request: RefundInquiryRequest) -> Outcome:
        body = transforms.refund_inquiry_body(request)
        answer = await self._call(Operation.INQUIRE_REFUND, body, wire.InquiryRefundResponse)
        if isinstance(answer, Outcome):
            return answer
        return transforms.refund_inquiry_outcome(answer, request, http_status=200)

    async def fetch_settlement_file(self, request: SettlementFileRequest) -> SettlementFile:
        """The CSV settlement file of `request.business_date` (the package docstring has its
        format); `SettlementFileUnavailable` when it cannot be fetched, verified or read."""
        operation = Operation.SETTLEMENT_FILE
        answer = await self._exchange(operation, transforms.settlement_file_body(request))
        if isinstance(answer, Outcome):
            raise SettlementFileUnavailable(answer.message, http_status=answer.http_status)
        content_type = answer.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "text/csv":
            # A signed refusal (ACCESS_DENIED, PARAM_ILLEGAL...) is a JSON result, not a file.
            try:
                refusal = wire.SettlementFileRefusal.model_validate_json(answer.content).result
            except ValidationError:
                refusal = None
            what = _describe_result(refusal) if refusal else f"a {content_type!r} answer"
            raise SettlementFileUnavailable(
                f"{operation.value}: no file: {what}", http_status=answer.status_code
            )
        return transforms.settlement_file(
            answer.content, partner_id=self._partner_id, request=request
        )

    async def fetch_rates(self, request: RatesRequest) -> PartnerRates:
        """`inquireExchangeRate` for 1 `request.base` in each of `request.quotes`;
        `RatesUnavailable` when the answer cannot be had, verified or read, or lacks a quote
        (`transforms.rates`)."""
        body = transforms.exchange_rate_body(request)
        answer = await self._exchange(Operation.FX_RATES, body)
        if isinstance(answer, Outcome):
            raise RatesUnavailable(answer.message, http_status=answer.http_status)
        return transforms.partner_rates(
            answer.content, partner_id=self._partner_id, request=request
        )

    async def create_order_code(self, request: OrderCodeRequest) -> OrderCode | Outcome:
        """The `pay` of scenario OrderCode: the code the tourist scans, from the answer's
        `orderCodeForm`, or the Outcome that is no code (`transforms.orders`)."""
        body = transforms.order_code_body(request)
        answer = await self._call(Operation.ORDER_CODE, body, wire.PayResponse)
        if isinstance(answer, Outcome):
            return answer
        result = transforms.order_code_result(answer, request, http_status=200)
        log.debug(
            "order code %s %s -> %s",
            self._partner_id,
            request.partner_request_id,
            "code" if isinstance(result, OrderCode) else result.status,
        )
        return result

    async def register_store(self, request: StoreRegistration) -> EntryCode | Outcome:
        """`merchants/registration` of `request`'s store: its entry code, or the Outcome that
        is none (`transforms.entry`)."""
        body = transforms.registration_body(request)
        answer = await self._call(Operation.ENTRY_CODE, body, wire.RegistrationResponse)
        if isinstance(answer, Outcome):
            return answer
        return transforms.entry_code_result(answer, request, http_status=200)

    def read_notification(
        self, request: InboundRequest, now: datetime
    ) -> PaymentNotification | EntryOrder:
        """A `notifyPayment` or an entry order (`userInitiatedPay`): its signature (a partner
        key we hold, over `<METHOD> <path>\n<client-id>.<request-time>.<raw body>`, addressed
        to our client id) and its time (within `NOTIFICATION_TOLERANCE` of `now`) are checked
        before the body is read (`transforms.notifications`, `transforms.entry`)."""
        headers = request.headers
        problem = self._notification_signature_problem(request)
        if problem is not None:
            raise NotificationRefused(NotificationProblem.SIGNATURE, f"notifyPayment: {problem}")
        signed_at = transforms.signed_time(headers.get("request-time"))
        if signed_at is None:
            raise NotificationRefused(
                NotificationProblem.SIGNATURE,
                "notifyPayment: request-time is not ISO 8601 with an offset",
            )
        if abs(signed_at - now) > NOTIFICATION_TOLERANCE:
            raise NotificationRefused(
                NotificationProblem.STALE,
                f"notifyPayment: signed at {signed_at.isoformat()}, "
                f"more than {NOTIFICATION_TOLERANCE} from now",
            )
        try:
            data = transforms.read_strict_json(request.body)
        except ValueError:
            data = None  # payment_notification says why, in its words
        if transforms.is_entry_order(data):
            return transforms.entry_order(request.body, signed_at)
        return transforms.payment_notification(request.body)

    def acknowledge(self, request: InboundRequest, accepted: bool) -> Acknowledgment:
        """HTTP 200 with S SUCCESS (processed) or F PROCESS_FAIL (send it again), signed as an
        answer is: `client-id`, `response-time`, `signature` over `<METHOD> <path>\n
        <client-id>.<response-time>.<body>`."""
        return self._signed_answer(request, transforms.acknowledgment_body(accepted))

    def confirm_entry_order(
        self, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        """HTTP 200, signed like an acknowledgment: S with the payment request to charge, or
        the refusal's F (U for `unavailable`) (`transforms.entry`)."""
        return self._signed_answer(request, transforms.entry_answer_body(confirmation))

    def _signed_answer(self, request: InboundRequest, body: bytes) -> Acknowledgment:
        credentials = self._credentials
        response_time = transforms.format_time(self._clock.now())
        content = build_content(
            request.method.upper(), request.path, credentials.client_id, response_time, body
        )
        signature = SignatureHeader(
            signature=sign(credentials.private_key, content),
            key_version=credentials.key_version,
        )
        return Acknowledgment(
            status=200,
            headers={
                "content-type": _CONTENT_TYPE,
                "client-id": credentials.client_id,
                "response-time": response_time,
                "signature": signature.render(),
            },
            body=body,
        )

    def _notification_signature_problem(self, request: InboundRequest) -> str | None:
        """Why a notification is not verifiably the partner's and for us, or None."""
        headers = request.headers
        header = headers.get("signature")
        client_id = headers.get("client-id")
        request_time = headers.get("request-time")
        if not header:
            return "unsigned"
        if not client_id or request_time is None:
            return "no client-id or request-time"
        if client_id != self._credentials.client_id:
            return "addressed to another client-id"
        try:
            parsed = SignatureHeader.parse(header)
        except ValueError as exc:
            return str(exc)
        if parsed.algorithm != ALGORITHM:
            return "unsupported signature algorithm"
        key = self._credentials.partner_public_keys.get(parsed.key_version)
        if key is None:
            return f"signed with unknown keyVersion {parsed.key_version}"
        content = build_content(
            request.method.upper(), request.path, client_id, request_time, request.body
        )
        if not verify(key, content, parsed.signature):
            return "the signature does not verify"
        return None

    async def _call(
        self, operation: Operation, body_model: BaseModel, answer_type: type[_Answer]
    ) -> _Answer | Outcome:
        """Sign, send and verify one call: the parsed answer, or the UNKNOWN it amounts to."""
        response = await self._exchange(operation, body_model)
        if isinstance(response, Outcome):
            return response
        try:
            return answer_type.model_validate_json(response.content)
        except ValidationError as exc:
            return Outcome.unknown(
                Delivery.MAYBE_SENT,
                f"{operation.value}: unparseable answer ({_describe_validation(exc)})",
                http_status=response.status_code,
            )

    async def _exchange(
        self, operation: Operation, body_model: BaseModel
    ) -> httpx.Response | Outcome:
        """Sign and send one call and verify the answer's signature: the HTTP 200 response, or
        the UNKNOWN it amounts to."""
        response = await self._send(operation, "POST", PATHS[operation], wire.encode(body_model))
        if isinstance(response, Outcome):
            return response
        status = response.status_code
        if status != 200:
            return Outcome.unknown(
                Delivery.MAYBE_SENT, f"{operation.value}: HTTP {status}", http_status=status
            )
        problem = self._signature_problem(self._base_path + PATHS[operation], response)
        if problem is not None:
            log.debug("%s %s: %s", self._partner_id, operation.value, problem)
            return Outcome.unknown(
                Delivery.MAYBE_SENT, f"{operation.value}: {problem}", http_status=status
            )
        return response

    async def _request_headers(self, method: str, path: str, body: bytes | None) -> dict[str, str]:
        """`client-id`, `Request-Time` and the RSA `Signature` over
        `<METHOD> <path>\n<client-id>.<Request-Time>.<body>`."""
        credentials = self._credentials
        request_time = transforms.format_time(self._clock.now())
        content = build_content(method, path, credentials.client_id, request_time, body or b"")
        # RSA signing takes ~0.5 ms and releases the GIL: off the event loop, other requests
        # keep moving meanwhile (and a second core can do the signing).
        signature = SignatureHeader(
            signature=await asyncio.to_thread(sign, credentials.private_key, content),
            key_version=credentials.key_version,
        )
        return {
            "Content-Type": _CONTENT_TYPE,
            "client-id": credentials.client_id,
            "Request-Time": request_time,
            "Signature": signature.render(),
        }

    def _signature_problem(self, path: str, response: httpx.Response) -> str | None:
        """Why the answer is not verifiably the partner's, or None when it is."""
        header = response.headers.get("signature")
        response_time = response.headers.get("response-time")
        client_id = response.headers.get("client-id")
        if not header:
            return "unsigned answer"
        if response_time is None or client_id is None:
            return "answer lacks response-time or client-id"
        try:
            parsed = SignatureHeader.parse(header)
        except ValueError as exc:
            return str(exc)
        if parsed.algorithm != ALGORITHM:
            return f"unsupported signature algorithm {parsed.algorithm!r}"
        key = self._credentials.partner_public_keys.get(parsed.key_version)
        if key is None:
            return f"answer signed with unknown keyVersion {parsed.key_version}"
        content = build_content("POST", path, client_id, response_time, response.content)
        if not verify(key, content, parsed.signature):
            return "answer signature does not verify"
        return None


def _describe_result(result: wire.Result) -> str:
    text = f"{result.result_status or '-'} {result.result_code or '-'}"
    return f"{text}: {result.result_message}" if result.result_message else text


def _describe_validation(exc: ValidationError) -> str:
    """Where and what, never the input values (which could hold anything)."""
    parts = [".".join(str(p) for p in error["loc"]) + f" {error['type']}" for error in exc.errors()]
    return "; ".join(parts[:5]) or "invalid"
