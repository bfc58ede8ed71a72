"""Every partner call goes through `PartnerCalls`: the bookkeeping no call site may forget.

One call:
- counts itself on the row it is made for (an attempt's `pay_calls`, `inquiries`,
  `cancel_calls`; a refund's `refund_calls`, `inquiries`), before it is sent;
- marks a half-open breaker's trial as taken, and records the answer in the partner's breaker;
- runs within the caller's budget: a budget that runs out is an unknown outcome that may have
  been sent, like a timeout;
- never raises (cancellation aside): an adapter's exception (a bug, or a signed answer it cannot
  handle, such as a date past year 9999) is logged with its traceback as an ALERT and becomes an
  unknown outcome that may have been sent, so the caller's policy inquires and, at the deadline,
  cancels; otherwise the resolver would fail at every attempt and the payment would stay
  `processing` for good;
- is timed into `gateway_partner_call_seconds` and logged at debug level.

A partner's notifications come the other way: `read_notification` and `acknowledge` hand
them to its adapter (verification first), and an adapter that raises there refuses the
notification (logged as an ALERT) rather than failing the request. An entry order (a tourist
typed an amount at a store's static code, `adapters._entry`) comes the same way and is answered
with `confirm_entry_order`; an adapter that raises there answers "send it again" instead (the
repeated order gets the same confirmation). `register_store` asks for a store's static code:
counted in no row (a store has no call counters), otherwise bounded, recorded and timed as a
payment call.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from datetime import datetime
from typing import Any, TypeVar

from adapters import (
    Acknowledgment,
    Adapter,
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
    OutcomeStatus,
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
from gateway.core.metrics import Metrics
from gateway.partners.health import Health

__all__ = ["BUDGET_RAN_OUT", "PartnerCalls"]

log = logging.getLogger(__name__)

BUDGET_RAN_OUT = "the wait budget ran out"

# The row column each operation counts itself in.
_COUNTER: Mapping[Operation, str] = {
    Operation.PAY: "pay_calls",
    Operation.ORDER_CODE: "pay_calls",  # it starts the payment at the partner, as a pay does
    Operation.INQUIRE: "inquiries",
    Operation.CANCEL: "cancel_calls",
    Operation.REFUND: "refund_calls",
    Operation.INQUIRE_REFUND: "inquiries",
}

Tally = MutableMapping[str, Any]
"""The attempt or refund a call is made for: its counter columns are incremented in place."""
Issued = TypeVar("Issued")


class PartnerCalls:
    """The configured partners' adapters, called the one instrumented way."""

    def __init__(
        self,
        adapters: Mapping[str, Adapter],
        *,
        health: Health,
        metrics: Metrics,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._adapters = dict(adapters)
        self._health = health
        self._metrics = metrics
        self._timer = timer

    def __contains__(self, partner: object) -> bool:
        return partner in self._adapters

    def capabilities(self, partner: str) -> frozenset[Operation]:
        return self._adapters[partner].capabilities

    async def pay(
        self, partner: str, request: PayRequest, *, tally: Tally, deadline: float | None = None
    ) -> Outcome:
        adapter = self._adapters[partner]
        return await self._call(partner, Operation.PAY, adapter.pay(request), tally, deadline)

    async def inquire(
        self,
        partner: str,
        request: InquiryRequest,
        *,
        tally: Tally,
        deadline: float | None = None,
    ) -> Outcome:
        adapter = self._adapters[partner]
        call = adapter.inquire(request)
        return await self._call(partner, Operation.INQUIRE, call, tally, deadline)

    async def cancel(
        self,
        partner: str,
        request: CancelRequest,
        *,
        tally: Tally,
        deadline: float | None = None,
    ) -> Outcome:
        adapter = self._adapters[partner]
        call = adapter.cancel(request)
        return await self._call(partner, Operation.CANCEL, call, tally, deadline)

    async def refund(
        self,
        partner: str,
        request: RefundRequest,
        *,
        tally: Tally,
        deadline: float | None = None,
    ) -> Outcome:
        adapter = self._adapters[partner]
        call = adapter.refund(request)
        return await self._call(partner, Operation.REFUND, call, tally, deadline)

    async def inquire_refund(
        self,
        partner: str,
        request: RefundInquiryRequest,
        *,
        tally: Tally,
        deadline: float | None = None,
    ) -> Outcome:
        adapter = self._adapters[partner]
        call = adapter.inquire_refund(request)
        return await self._call(partner, Operation.INQUIRE_REFUND, call, tally, deadline)

    async def order_code(
        self,
        partner: str,
        request: OrderCodeRequest,
        *,
        tally: Tally,
        deadline: float | None = None,
    ) -> OrderCode | Outcome:
        """The code to show, or the outcome saying there is none (`adapters._orders`)."""
        produce = self._adapters[partner].create_order_code(request)
        return await self._issue(partner, Operation.ORDER_CODE, produce, OrderCode, tally, deadline)

    async def register_store(
        self,
        partner: str,
        request: StoreRegistration,
        *,
        deadline: float | None = None,
    ) -> EntryCode | Outcome:
        """The store's static code, or the outcome saying there is none (`adapters._entry`):
        FAILED, refused; UNKNOWN, ask again (the same store id is the same registration)."""
        produce = self._adapters[partner].register_store(request)
        return await self._issue(partner, Operation.ENTRY_CODE, produce, EntryCode, None, deadline)

    async def _issue(
        self,
        partner: str,
        operation: Operation,
        produce: Awaitable[Issued | Outcome],
        kind: type[Issued],
        tally: Tally | None,
        deadline: float | None,
    ) -> Issued | Outcome:
        """A call that issues a document (a code) or says why not, made like any other call
        (counted, bounded, timed, never raising): the document is a success to the breaker."""
        issued: list[Issued] = []

        async def call() -> Outcome:
            result = await produce
            if isinstance(result, kind):
                issued.append(result)
                return Outcome.succeeded()
            assert isinstance(result, Outcome)
            return result

        outcome = await self._call(partner, operation, call(), tally, deadline)
        if outcome.status is OutcomeStatus.SUCCEEDED and issued:
            return issued[0]
        return outcome

    def read_notification(
        self, partner: str, request: InboundRequest, now: datetime
    ) -> PaymentNotification | EntryOrder:
        """The partner's notification (or entry order), verified; `NotificationRefused`
        otherwise."""
        try:
            return self._adapters[partner].read_notification(request, now)
        except NotificationRefused:
            raise
        except Exception as exc:
            log.exception("ALERT adapter %s: reading a notification raised", partner)
            raise NotificationRefused(
                NotificationProblem.MALFORMED, f"the adapter raised {type(exc).__name__}"
            ) from exc

    def acknowledge(self, partner: str, request: InboundRequest, accepted: bool) -> Acknowledgment:
        return self._adapters[partner].acknowledge(request, accepted)

    def confirm_entry_order(
        self, partner: str, request: InboundRequest, confirmation: EntryOrderConfirmation
    ) -> Acknowledgment:
        """The protocol's signed answer to an entry order: charge this, or refused. An adapter
        that raises (an ALERT) answers "not processed, send it again" instead: the repeated
        order gets the same confirmation from the gateway's records."""
        started = self._timer()
        label = "refused" if confirmation.refusal is not None else "succeeded"
        try:
            return self._adapters[partner].confirm_entry_order(request, confirmation)
        except Exception:
            label = "failed"
            log.exception(
                "ALERT adapter %s: confirming entry order %r raised; answered 'send it again'",
                partner,
                confirmation.partner_order_id,
            )
            return self._adapters[partner].acknowledge(request, False)
        finally:
            self._metrics.partner_calls.labels(partner, "confirm_entry_order", label).observe(
                self._timer() - started
            )

    async def settlement_file(self, partner: str, request: SettlementFileRequest) -> SettlementFile:
        """The partner's file for a day; `SettlementFileUnavailable` when it cannot be had
        (whatever the adapter raised). Files are batch work: they do not touch the breaker."""
        started = self._timer()
        label = "unavailable"
        try:
            file = await self._adapters[partner].fetch_settlement_file(request)
            label = "succeeded"
            return file
        except SettlementFileUnavailable:
            raise
        except Exception as exc:
            log.exception("ALERT adapter %s: the settlement file call raised", partner)
            raise SettlementFileUnavailable(
                f"the adapter raised {type(exc).__name__} reading the file"
            ) from exc
        finally:
            seconds = self._timer() - started
            self._metrics.partner_calls.labels(
                partner, Operation.SETTLEMENT_FILE.value, label
            ).observe(seconds)

    async def rates(self, partner: str, request: RatesRequest) -> PartnerRates:
        """The partner's own rates; `RatesUnavailable` when they cannot be had or trusted
        (whatever the adapter raised). A rate source's work: it does not touch the breaker."""
        started = self._timer()
        label = "unavailable"
        try:
            rates = await self._adapters[partner].fetch_rates(request)
            label = "succeeded"
            return rates
        except RatesUnavailable:
            raise
        except Exception as exc:
            log.exception("ALERT adapter %s: the rates call raised", partner)
            raise RatesUnavailable(f"the adapter raised {type(exc).__name__}") from exc
        finally:
            seconds = self._timer() - started
            self._metrics.partner_calls.labels(partner, Operation.FX_RATES.value, label).observe(
                seconds
            )

    async def _call(
        self,
        partner: str,
        operation: Operation,
        call: Awaitable[Outcome],
        tally: Tally | None,
        deadline: float | None,
    ) -> Outcome:
        if tally is not None:  # None: a call made for no row (a store's registration)
            tally[_COUNTER[operation]] += 1
        self._health.begin_call(partner)
        started = self._timer()
        try:
            async with asyncio.timeout_at(deadline):
                outcome = await _guarded(partner, operation, call)
        except TimeoutError:
            outcome = Outcome.unknown(Delivery.MAYBE_SENT, BUDGET_RAN_OUT)
        seconds = self._timer() - started
        self._health.record(partner, outcome)
        self._metrics.partner_call(partner, operation.value, outcome, seconds)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "partner %s %s: %s %s in %.3fs",
                partner,
                operation.value,
                outcome.status.value,
                outcome.partner_code or outcome.message,
                seconds,
            )
        return outcome


async def _guarded(partner: str, operation: Operation, call: Awaitable[Outcome]) -> Outcome:
    try:
        return await call
    except Exception as exc:  # TimeoutError included: the caller's budget is not one
        log.exception(
            "ALERT adapter %s: %s raised %s; treated as unknown (maybe sent)",
            partner,
            operation.value,
            type(exc).__name__,
        )
        return Outcome.unknown(
            Delivery.MAYBE_SENT, f"{operation.value}: the adapter raised {type(exc).__name__}"
        )
