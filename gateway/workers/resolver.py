"""Resolves payments whose outcome is unknown: inquire until the deadline, then cancel.

It never sends a new `pay`: after the POS wait budget, and always after a crash, the tourist may
have walked away. Work is claimed through leases on the payment row (owner, expiry, version), so
a payment left behind by a dead process is picked up once its lease expires, by this process or
another one sharing the database; the lease is renewed before every partner call and every result
is written only while the lease is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import Any

from adapters import (
    CancelRequest,
    FailureCode,
    InquiryRequest,
    Outcome,
    OutcomeStatus,
)
from fx import Money, get_currency
from gateway.context import Context
from gateway.retry import full_jitter
from gateway.services.payments import outcome_changes
from gateway.storage import repository as repo
from gateway.views import dumps, payment_view

__all__ = ["Resolver"]

log = logging.getLogger(__name__)


class Resolver:
    """Background task: sweeps for due payments and resolves each in its own task."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._running: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._ctx.kick = self.kick
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="resolver-sweep")

    async def stop(self) -> None:
        tasks = [t for t in [self._sweeper, *self._running.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()

    def kick(self, payment_id: str) -> None:
        if payment_id not in self._running:
            self._spawn(payment_id)

    @property
    def active(self) -> int:
        return len(self._running)

    def _spawn(self, payment_id: str) -> None:
        task = asyncio.create_task(self._resolve_logged(payment_id), name=f"resolve-{payment_id}")
        self._running[payment_id] = task
        task.add_done_callback(lambda _t: self._running.pop(payment_id, None))

    async def _sweep_forever(self) -> None:
        interval = self._ctx.settings.durations.resume_interval.total_seconds()
        while True:
            try:
                due = await repo.resumable_payments(self._ctx.db, self._ctx.clock.now(), limit=100)
                for payment_id in due:
                    self.kick(payment_id)
            except Exception:  # the sweep must outlive a database hiccup
                log.exception("resolver sweep failed")
            await asyncio.sleep(interval)

    async def _resolve_logged(self, payment_id: str) -> None:
        try:
            await self.resolve(payment_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resolving payment %s failed; the sweep will retry it", payment_id)

    async def _lease(self, payment_id: str) -> dict[str, Any] | None:
        ctx = self._ctx
        now = ctx.clock.now()
        return await ctx.writer.run(
            repo.claim_lease(
                payment_id=payment_id,
                owner=ctx.owner,
                now=now,
                until=now + ctx.settings.durations.lease_duration,
            )
        )

    async def resolve(self, payment_id: str) -> None:
        ctx = self._ctx
        durations = ctx.settings.durations
        payment = await self._lease(payment_id)
        if payment is None:
            return  # resolved meanwhile, or another process holds it
        attempt = _open_attempt(await repo.get_attempts(ctx.db, payment_id))
        partner = attempt["partner"]
        adapter = ctx.adapters[partner]
        payer_amount = Money(payment["payer_value"], get_currency(payment["payer_currency"]))
        inquiry = InquiryRequest(attempt["partner_request_id"], payer_amount)
        cancel_deadline: datetime = payment["resolve_deadline"] + durations.cancel_deadline
        inquiry_wait = full_jitter(
            durations.inquiry_initial_interval, durations.inquiry_max_interval
        )
        cancel_wait = full_jitter(durations.cancel_initial_interval, durations.cancel_max_interval)
        cancelling = False
        first = True  # always ask once: after a crash the deadline may be long past

        while True:
            now = ctx.clock.now()
            if not cancelling and (first or now < payment["resolve_deadline"]):
                first = False
                attempt["inquiries"] += 1
                outcome = self._recorded(partner, await adapter.inquire(inquiry))
                if outcome.is_final:
                    await self._settle(payment, attempt, outcome_changes(outcome, now), outcome)
                    return
                pause = inquiry_wait(attempt["inquiries"])
            else:
                if not cancelling:
                    log.info("payment %s still unknown at its deadline: cancelling", payment_id)
                cancelling = True
                attempt["cancel_calls"] += 1
                outcome = self._recorded(
                    partner, await adapter.cancel(CancelRequest(attempt["partner_request_id"]))
                )
                if outcome.status is OutcomeStatus.SUCCEEDED:
                    reversed_ = Outcome.failed(
                        FailureCode.CANCELLED_AFTER_TIMEOUT,
                        partner_code=outcome.partner_code,
                        message="cancelled after the inquiry deadline",
                    )
                    await self._settle(payment, attempt, outcome_changes(reversed_, now), reversed_)
                    return
                if outcome.status is OutcomeStatus.FAILED:
                    # The partner refuses to cancel: its own record decides.
                    attempt["inquiries"] += 1
                    known = self._recorded(partner, await adapter.inquire(inquiry))
                    if known.is_final:
                        await self._settle(payment, attempt, outcome_changes(known, now), known)
                        return
                if now >= cancel_deadline:
                    log.error(
                        "payment %s: cancel still unconfirmed after %s; needs an operator",
                        payment_id,
                        durations.cancel_deadline,
                    )
                    await ctx.writer.run(
                        repo.settle_payment(
                            payment_id=payment_id,
                            changes={
                                "next_action_at": now + durations.cancel_max_interval,
                                "lease_owner": None,
                                "lease_expires_at": None,
                            },
                            attempt_changes=[],
                            owner=ctx.owner,
                        )
                    )
                    return
                pause = cancel_wait(attempt["cancel_calls"])
            await asyncio.sleep(pause)
            renewed = await self._lease(payment_id)
            if renewed is None:
                return
            payment = renewed

    def _recorded(self, partner: str, outcome: Outcome) -> Outcome:
        self._ctx.health.record(partner, outcome)
        return outcome

    async def _settle(
        self,
        payment: dict[str, Any],
        attempt: dict[str, Any],
        changes: dict[str, Any],
        outcome: Outcome,
    ) -> None:
        ctx = self._ctx
        attempt_row = {
            "id": attempt["id"],
            "status": outcome.status.value,
            "partner_code": outcome.partner_code,
            "message": outcome.message[:500],
            "inquiries": attempt["inquiries"],
            "cancel_calls": attempt["cancel_calls"],
            "updated_at": changes["updated_at"],
        }
        final = {**payment, **changes}
        written = await ctx.writer.run(
            repo.settle_payment(
                payment_id=payment["id"],
                changes=changes,
                attempt_changes=[attempt_row],
                owner=ctx.owner,
                # A crash lost the POS's answer: its retry with the same key gets this one.
                response=(
                    payment["merchant_id"],
                    payment["idempotency_key"],
                    201,
                    dumps(payment_view(final)),
                ),
            )
        )
        if written:
            ctx.metrics.resolved.labels(changes["status"]).inc()
            log.info("payment %s resolved: %s", payment["id"], changes["status"])


def _open_attempt(attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """The attempt that may have charged: the last one (earlier ones charged nothing)."""
    if not attempts:
        raise RuntimeError("a processing payment without attempts")
    return dict(attempts[-1])
