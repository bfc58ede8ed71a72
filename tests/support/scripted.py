"""A partner whose answers the test scripts: a fake `adapters.Adapter` for service tests.

Service tests check the gateway's own rules (never fail over once a pay may have been sent, a
cancel wins over a late approval, refunds never exceed the payment), not a protocol: so the partner
is reduced to the adapter contract (`adapters/_base.py`), one `Outcome` per call, and the test says
which. Each operation has a script of answers, used in order; the last one repeats (a partner that
keeps saying "in process"); a test rewrites a script when its story moves on. An answer is an
`Outcome`, a function of the request giving one, or a `Held` answer that the test gives later,
while the call waits for it. The partner's own rates (`fx_rates`, an optional operation) are a
document, not an outcome: their answers are a `PartnerRates`, answered, or a `RatesUnavailable`,
raised (or a function of the `RatesRequest` giving either). Every call is recorded (operation,
request, and the business time it was made), so a test can say exactly what the partner was
asked.

Merchant-presented payments (`order_code`, optional) answer an `OrderCode` or an `Outcome`.
A notification is made by the test (`notification(...)` gives the `InboundRequest` the partner
would send, its body a token naming what it says); `read_notification` reads it back, or
refuses a body it did not make (a forgery), and `acknowledge` answers 200 or 503.

A call nobody scripted is a failure of the test: it is recorded in `unscripted` and raises
(which `PartnerCalls` would turn into an unknown outcome, so the harness checks `unscripted`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from adapters import (
    Acknowledgment,
    CancelRequest,
    Clock,
    Delivery,
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
)

__all__ = [
    "IN_PROCESS",
    "NOT_FOUND",
    "NOT_SENT",
    "TIMED_OUT",
    "Call",
    "Held",
    "ScriptedPartner",
]

Request = (
    PayRequest
    | InquiryRequest
    | CancelRequest
    | RefundRequest
    | RefundInquiryRequest
    | RatesRequest
    | OrderCodeRequest
)

TIMED_OUT = Outcome.unknown(Delivery.MAYBE_SENT, "read timeout: the partner may have it")
"""A pay (or refund) that may have reached the partner: never failed over, never re-priced."""
NOT_SENT = Outcome.unknown(Delivery.NOT_SENT, "connection refused: nothing left this process")
"""Certainly not received: safe to send to the next partner."""
IN_PROCESS = Outcome.unknown(Delivery.MAYBE_SENT, "the tourist is confirming", in_process=True)
NOT_FOUND = Outcome.unknown(Delivery.MAYBE_SENT, "no such request", not_found=True)


class Held:
    """An answer the test gives later: the call waits (on no timer) until `give(outcome)`.
    `arrived` is set once the call is waiting, so the test knows the partner "has" it."""

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._given = asyncio.Event()
        self._outcome: Outcome | None = None

    async def __call__(self, _request: Request) -> Outcome:
        self.arrived.set()
        await self._given.wait()
        assert self._outcome is not None
        return self._outcome

    def give(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self._given.set()


RatesAnswer = PartnerRates | RatesUnavailable
"""What `fx_rates` is scripted with: rates to answer, or the failure to raise."""
Answer = (
    Outcome
    | Held
    | OrderCode
    | RatesAnswer
    | Callable[[Any], Outcome | Awaitable[Outcome]]
    | Callable[[Any], RatesAnswer | Awaitable[RatesAnswer]]
)


@dataclasses.dataclass(frozen=True)
class Call:
    operation: Operation
    request: Request
    at: datetime | None
    """Business time when it was made (with a clock given to the partner)."""

    @property
    def request_id(self) -> str:
        """The partner request id the call carried (the attempt's, or the refund's own)."""
        assert not isinstance(self.request, RatesRequest), "a rates request carries no id"
        return self.request.partner_request_id


class ScriptedPartner:
    """`adapters.Adapter` for one partner, answering from per-operation scripts."""

    capabilities = frozenset(
        {
            Operation.PAY,
            Operation.INQUIRE,
            Operation.CANCEL,
            Operation.REFUND,
            Operation.INQUIRE_REFUND,
            Operation.FX_RATES,
            Operation.ORDER_CODE,
        }
    )

    def __init__(self, partner_id: str, clock: Clock | None = None) -> None:
        self._partner_id = partner_id
        self._clock = clock
        self._scripts: dict[Operation, list[Answer]] = {}
        self.calls: list[Call] = []
        self.unscripted: list[Call] = []
        self._notifications: dict[bytes, PaymentNotification] = {}

    @property
    def partner_id(self) -> str:
        return self._partner_id

    def on(self, operation: Operation, *answers: Answer) -> ScriptedPartner:
        """From now on, answer `operation` with `answers` in order; the last one repeats."""
        self._scripts[operation] = list(answers)
        return self

    def asked(self, operation: Operation | None = None) -> list[Call]:
        """The calls made (of `operation`), in order."""
        return [c for c in self.calls if operation is None or c.operation is operation]

    def operations(self) -> list[str]:
        """What it was asked, in order: `["pay", "pay", "inquire"]`."""
        return [c.operation.value for c in self.calls]

    async def _given(self, operation: Operation, request: Request) -> object:
        """Record the call and give the script's next answer (a function's, once called)."""
        call = Call(operation, request, None if self._clock is None else self._clock.now())
        self.calls.append(call)
        script = self._scripts.get(operation)
        if not script:
            self.unscripted.append(call)
            raise AssertionError(f"{self._partner_id}: nobody scripted {operation.value}")
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Outcome | OrderCode | PartnerRates | RatesUnavailable):
            return answer
        given = answer(request)
        if inspect.isawaitable(given):
            given = await given
        return given

    async def _answer(self, operation: Operation, request: Request) -> Outcome:
        given = await self._given(operation, request)
        assert isinstance(given, Outcome), given
        return given

    async def pay(self, request: PayRequest) -> Outcome:
        return await self._answer(Operation.PAY, request)

    async def inquire(self, request: InquiryRequest) -> Outcome:
        return await self._answer(Operation.INQUIRE, request)

    async def cancel(self, request: CancelRequest) -> Outcome:
        return await self._answer(Operation.CANCEL, request)

    async def refund(self, request: RefundRequest) -> Outcome:
        return await self._answer(Operation.REFUND, request)

    async def inquire_refund(self, request: RefundInquiryRequest) -> Outcome:
        return await self._answer(Operation.INQUIRE_REFUND, request)

    async def fetch_settlement_file(self, request: SettlementFileRequest) -> SettlementFile:
        raise SettlementFileUnavailable("a scripted partner keeps no settlement file")

    async def fetch_rates(self, request: RatesRequest) -> PartnerRates:
        """The scripted rates, answered; a scripted `RatesUnavailable`, raised."""
        given = await self._given(Operation.FX_RATES, request)
        if isinstance(given, RatesUnavailable):
            raise given.with_traceback(None)  # a script may raise it again: no old frames
        assert isinstance(given, PartnerRates), given
        return given

    async def create_order_code(self, request: OrderCodeRequest) -> OrderCode | Outcome:
        given = await self._given(Operation.ORDER_CODE, request)
        assert isinstance(given, OrderCode | Outcome), given
        return given

    def notification(self, said: PaymentNotification) -> InboundRequest:
        """The request the partner would send to tell `said`."""
        body = f"notification-{len(self._notifications) + 1}".encode()
        self._notifications[body] = said
        path = f"/partners/{self._partner_id}/notify"
        return InboundRequest("POST", path, {"content-type": "text/plain"}, body)

    def read_notification(self, request: InboundRequest, now: datetime) -> PaymentNotification:
        said = self._notifications.get(request.body)
        if said is None:
            raise NotificationRefused(NotificationProblem.SIGNATURE, "not one the partner sent")
        return said

    def acknowledge(self, request: InboundRequest, accepted: bool) -> Acknowledgment:
        return Acknowledgment(200 if accepted else 503, {}, b"ok" if accepted else b"again")
