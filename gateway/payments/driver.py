"""Calling partners for one payment within the POS wait budget (DESIGN.md, Retries).

Within the budget a maybe-sent pay is re-sent with the *same* partner request id and an "in
process" answer is followed by inquiries; a partner that certainly charged nothing (not sent, or
a signed "not accepted") is replaced by the next eligible one, and once a request may have been
sent the payment never fails over. Each partner's policy table (`partners/retry.py`) says which.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from adapters import Delivery, InquiryRequest, Outcome, PayRequest
from gateway.context import Context
from gateway.partners.retry import Action, Verdict, verdict
from gateway.partners.routing import Route
from gateway.payments.budget import MIN_CALL_SECONDS
from gateway.payments.model import Attempt, AttemptStatus, Payment
from gateway.storage import payments as repo


class LeaseLost(Exception):
    """The payment was taken from this request (by a partner's notification): stop, and let
    the safety net show what is stored."""


__all__ = ["PayDriver"]

log = logging.getLogger(__name__)


class PayDriver:
    """Calls partners for one payment until an answer, a budget end, or no partner left."""

    def __init__(
        self,
        ctx: Context,
        payment: Payment,
        attempt: Attempt,
        routes: Sequence[Route],
        request: PayRequest,
        deadline: float,
    ) -> None:
        self.ctx = ctx
        self.payment = payment
        self.attempt = attempt
        self.counts = attempt.counts()
        """The open attempt's calls so far (the tally each partner call increments)."""
        self.closed_attempts: list[tuple[Attempt, Attempt]] = []
        """Attempts failed over from: (as opened, as ended)."""
        self.routes = list(routes)
        self.request = request
        self.deadline = deadline
        self.all_refused = False
        self.committed: Payment | None = None  # the payment as commit #2 wrote it

    def _remaining(self) -> float:
        return self.deadline - asyncio.get_running_loop().time()

    async def _call(self, operation: str) -> Outcome:
        partner = self.attempt.partner
        calls = self.ctx.partners
        if operation == "pay":
            return await calls.pay(partner, self.request, tally=self.counts, deadline=self.deadline)
        inquiry = InquiryRequest(
            partner_request_id=self.attempt.partner_request_id,
            payer_amount=self.request.payer_amount,
        )
        return await calls.inquire(partner, inquiry, tally=self.counts, deadline=self.deadline)

    def ended(self, outcome: Outcome, now: datetime) -> list[tuple[Attempt, Attempt]]:
        """Every attempt of the payment (as opened, as ended): the failed-over ones, then the
        open one, ended by `outcome`."""
        last = self.attempt.ended(outcome, now, counts=self.counts)
        return [*self.closed_attempts, (self.attempt, last)]

    async def run(self) -> Outcome:
        """Follow the partner's policy table until a final answer, the budget's end, or no
        partner left to try (`all_refused`: nothing was charged anywhere)."""
        route_index = 0
        maybe_sent = False  # once true, this attempt's partner may have charged: never fail over
        operation = "pay"
        calls = 0  # of this attempt, for the backoff
        outcome = Outcome.unknown(Delivery.MAYBE_SENT, "the POS wait budget ran out")
        while self._remaining() > MIN_CALL_SECONDS:
            outcome = await self._call(operation)
            calls += 1
            partner = self.ctx.settings.partner(self.attempt.partner)
            found = verdict(outcome)
            action = self.ctx.policies[partner.id][(operation, found)]
            if action is Action.STOP:
                return outcome
            if found in (Verdict.MAYBE_SENT, Verdict.IN_PROCESS) and operation == "pay":
                maybe_sent = True
            if action is Action.FAIL_OVER and not maybe_sent:
                next_index = self._next_healthy(route_index)
                if next_index is not None:
                    route_index = next_index
                    await self._fail_over(outcome, self.routes[route_index])
                    calls = 0
                    continue
                action = Action.RETRY  # nowhere else to go: try this partner again
            elif action is Action.FAIL_OVER:
                action = Action.RETRY  # it may have charged: stay with it
            sends_left = self.counts["pay_calls"] < partner.retry.max_attempts
            if action is Action.RETRY and operation == "pay" and not sends_left:
                if not maybe_sent:
                    self.all_refused = True
                    return outcome
                action = Action.INQUIRE  # no more sends: only ask from now on
            operation = "inquire" if action is Action.INQUIRE else operation
            pause = self.ctx.backoff(calls)
            if self._remaining() - pause <= MIN_CALL_SECONDS:
                break
            await self.ctx.sleep(pause)
        return outcome

    def _next_healthy(self, index: int) -> int | None:
        for candidate in range(index + 1, len(self.routes)):
            if self.ctx.health.allows(self.routes[candidate].partner):
                return candidate
        return None

    async def _fail_over(self, outcome: Outcome, route: Route) -> None:
        now = self.ctx.clock.now()
        failed = self.attempt.counted(self.counts).ended(
            outcome, now, status=AttemptStatus.NOT_ACCEPTED
        )
        self.closed_attempts.append((self.attempt, failed))
        nxt = Attempt.first(self.payment.id, self.attempt.seq + 1, route.partner, route.reason, now)
        log.info(
            "payment %s: %s charged nothing (%s); failing over to %s",
            self.payment.id,
            self.attempt.partner,
            outcome.message,
            route.partner,
        )
        switched = await self.ctx.writer.run(
            repo.switch_partner(
                payment=self.payment,
                failed_attempt=(self.attempt, failed),
                next_attempt=nxt,
                now=now,
            )
        )
        if not switched:  # taken from us (a partner's notification): it is theirs to end
            raise LeaseLost(f"payment {self.payment.id}: lease lost before failing over")
        self.attempt, self.counts = nxt, nxt.counts()
        self.payment = self.payment.routed(route.partner, route.reason, now)
        self.request = dataclasses.replace(self.request, partner_request_id=nxt.partner_request_id)
