"""Every partner call returns an outcome, whatever the adapter does.

An adapter that raises (a bug, or a signed answer it cannot handle, such as a date past year
9999) must not stop a payment's schedule: the resolver would fail at every attempt and the
payment would stay `processing` for good. So an exception is an unknown outcome that may have
been sent, like a timeout: the caller's policy inquires, then cancels at the deadline. It is
logged with its traceback, as a bug to fix.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from adapters import (
    Adapter,
    CancelRequest,
    Delivery,
    InquiryRequest,
    Operation,
    Outcome,
    PayRequest,
    RefundInquiryRequest,
    RefundRequest,
    SettlementFile,
    SettlementFileRequest,
    SettlementFileUnavailable,
)

__all__ = ["GuardedAdapter"]

log = logging.getLogger(__name__)


class GuardedAdapter:
    """An `Adapter` whose calls never raise (cancellation aside): see the module docstring."""

    def __init__(self, inner: Adapter) -> None:
        self._inner = inner

    @property
    def partner_id(self) -> str:
        return self._inner.partner_id

    @property
    def capabilities(self) -> frozenset[Operation]:
        return self._inner.capabilities

    async def pay(self, request: PayRequest) -> Outcome:
        return await self._guarded("pay", self._inner.pay(request))

    async def inquire(self, request: InquiryRequest) -> Outcome:
        return await self._guarded("inquire", self._inner.inquire(request))

    async def cancel(self, request: CancelRequest) -> Outcome:
        return await self._guarded("cancel", self._inner.cancel(request))

    async def refund(self, request: RefundRequest) -> Outcome:
        return await self._guarded("refund", self._inner.refund(request))

    async def inquire_refund(self, request: RefundInquiryRequest) -> Outcome:
        return await self._guarded("inquire_refund", self._inner.inquire_refund(request))

    async def fetch_settlement_file(self, request: SettlementFileRequest) -> SettlementFile:
        try:
            return await self._inner.fetch_settlement_file(request)
        except SettlementFileUnavailable:
            raise
        except Exception as exc:
            log.exception("adapter %s: settlement file raised", self.partner_id)
            raise SettlementFileUnavailable(
                f"the adapter raised {type(exc).__name__} reading the file"
            ) from exc

    async def _guarded(self, operation: str, call: Awaitable[Outcome]) -> Outcome:
        try:
            return await call
        except Exception as exc:  # TimeoutError included: the caller's budget is not one
            log.exception(
                "ALERT adapter %s: %s raised %s; treated as unknown (maybe sent)",
                self.partner_id,
                operation,
                type(exc).__name__,
            )
            return Outcome.unknown(
                Delivery.MAYBE_SENT, f"{operation}: the adapter raised {type(exc).__name__}"
            )
