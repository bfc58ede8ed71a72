"""Resolves what a POS request left unfinished: unknown payments (inquire until the deadline,
then cancel), pending merchant cancels, and unknown refunds (inquire, re-send if never received).

It never sends a new `pay`: after the POS wait budget, and always after a crash, the tourist may
have walked away. Work is claimed through leases on the payment row (owner, expiry, version), so
a payment left behind by a dead process is picked up once its lease expires, by this process or
another one sharing the database; the lease is renewed before every partner call and every result
is written only while the lease is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from datetime import datetime, timedelta

from adapters import (
    CancelRequest,
    FailureCode,
    InquiryRequest,
    Outcome,
    OutcomeStatus,
)
from gateway.context import Context
from gateway.merchants.model import Merchant
from gateway.partners.retry import full_jitter
from gateway.payments.booking import book_payment, payment_body
from gateway.payments.cancels import drive_cancel
from gateway.payments.model import Attempt, CancelStatus, Payment, PaymentMethod, PaymentStatus
from gateway.refunds.service import commit_refund_outcome, drive_refund
from gateway.storage import hand_over as net
from gateway.storage import leases
from gateway.storage import payments as repo
from gateway.storage import reversals as lifecycle

__all__ = ["Resolver"]

log = logging.getLogger(__name__)


class Resolver:
    """Background task: sweeps for due payments and resolves each in its own task."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._running: dict[str, asyncio.Task[None]] = {}
        self._wakers: dict[str, asyncio.Event] = {}
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

    def kick(self, item_id: str) -> None:
        """Look at a payment (`pay_...`) or a refund (`rf_...`) now (one being resolved is
        woken from its pause: a merchant's cancel must not wait for the next inquiry)."""
        if item_id not in self._running:
            self._spawn(item_id)
        elif (waker := self._wakers.get(item_id)) is not None:
            waker.set()

    @property
    def active(self) -> int:
        return len(self._running)

    def _spawn(self, item_id: str) -> None:
        task = asyncio.create_task(self._resolve_logged(item_id), name=f"resolve-{item_id}")
        self._running[item_id] = task
        self._wakers[item_id] = asyncio.Event()

        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(item_id, None)
            self._wakers.pop(item_id, None)

        task.add_done_callback(done)

    async def _sweep_forever(self) -> None:
        interval = self._ctx.settings.durations.resume_interval.total_seconds()
        while True:
            try:
                now = self._ctx.clock.now()
                due = await leases.resumable_payments(self._ctx.db, now, limit=100)
                due += await lifecycle.resumable_refunds(self._ctx.db, now, limit=100)
                for item_id in due:
                    self.kick(item_id)
            except Exception:  # the sweep must outlive a database hiccup
                log.exception("resolver sweep failed")
            await asyncio.sleep(interval)

    async def _resolve_logged(self, item_id: str) -> None:
        try:
            if item_id.startswith("rf_"):
                await self.resolve_refund(item_id)
            else:
                await self.resolve(item_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("resolving %s failed; the sweep will retry it", item_id)

    async def _lease(self, payment_id: str, *, held: Payment | None = None) -> Payment | None:
        """Take the payment's lease, or renew the one `held` was taken under."""
        ctx = self._ctx
        now = ctx.clock.now()
        owner = held.lease_owner if held is not None else leases.lease_name(ctx.owner)
        assert owner is not None
        return await ctx.writer.run(
            leases.claim_lease(
                payment_id=payment_id,
                owner=owner,
                renew=held is not None,
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
        merchant = await repo.get_merchant(ctx.db, payment.merchant_id)
        assert merchant is not None
        if payment.cancel_status is CancelStatus.PENDING:
            await drive_cancel(ctx, payment, merchant, None)
            return
        attempt = _open_attempt(await repo.get_attempts(ctx.db, payment_id))
        counts = attempt.counts()
        partner = attempt.partner
        calls = ctx.partners
        inquiry = InquiryRequest(attempt.partner_request_id, payment.payer_amount)
        assert payment.resolve_deadline is not None, "a processing payment has a deadline"
        resolve_deadline = payment.resolve_deadline
        cancel_deadline: datetime = resolve_deadline + durations.cancel_deadline
        inquiry_wait = full_jitter(
            durations.inquiry_initial_interval, durations.inquiry_max_interval
        )
        cancel_wait = full_jitter(durations.cancel_initial_interval, durations.cancel_max_interval)
        cancelling = False
        first = True  # always ask once: after a crash the deadline may be long past

        while True:
            now = ctx.clock.now()
            if not cancelling and (first or now < resolve_deadline):
                first = False
                outcome = await calls.inquire(partner, inquiry, tally=counts)
                if outcome.is_final:
                    await self._commit(payment, merchant, (attempt, counts), outcome, now)
                    return
                pause = inquiry_wait(counts["inquiries"])
            else:
                if not cancelling:
                    log.info("payment %s still unknown at its deadline: cancelling", payment_id)
                    cancelling = True
                    if not await self._cancel_ahead(payment, attempt, counts):
                        return  # taken from us: its new holder ends it
                cancel = CancelRequest(attempt.partner_request_id)
                outcome = await calls.cancel(partner, cancel, tally=counts)
                if outcome.status is OutcomeStatus.SUCCEEDED:
                    reversed_ = _cancelled_unpaid(payment, outcome)
                    await self._commit(payment, merchant, (attempt, counts), reversed_, now)
                    return
                if outcome.status is OutcomeStatus.FAILED:
                    # The partner refuses to cancel: its own record decides.
                    known = await calls.inquire(partner, inquiry, tally=counts)
                    if known.is_final:
                        await self._commit(payment, merchant, (attempt, counts), known, now)
                        return
                if now >= cancel_deadline:
                    log.error(
                        "payment %s: cancel still unconfirmed after %s; needs an operator",
                        payment_id,
                        durations.cancel_deadline,
                    )
                    await ctx.writer.run(
                        repo.commit_outcome(
                            before=payment,
                            after=payment.released(due=now + durations.cancel_max_interval),
                            attempts=[(attempt, attempt.counted(counts))],
                        )
                    )
                    return
                pause = cancel_wait(counts["cancel_calls"])
            await self._pause(payment_id, pause)
            renewed = await self._lease(payment_id, held=payment)
            if renewed is None:
                return
            payment = renewed
            if payment.cancel_status is CancelStatus.PENDING:  # the merchant cancelled meanwhile
                await drive_cancel(ctx, payment, merchant, None)
                return

    async def _pause(self, item_id: str, seconds: float) -> None:
        """`ctx.sleep(seconds)`, cut short by a `kick` of the item since the last pause."""
        waker = self._wakers.get(item_id)
        if waker is None:  # resolved directly (tests, the CLI), not through `kick`
            await self._ctx.sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self._ctx.sleep(seconds))
        woken = asyncio.ensure_future(waker.wait())
        try:
            await asyncio.wait((sleeping, woken), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            woken.cancel()
            waker.clear()

    async def resolve_refund(self, refund_id: str) -> None:
        """One round on an unknown refund: ask the partner (re-send if it never arrived), write
        what it says, or come back later on the inquiry schedule. Refunds do not expire."""
        ctx = self._ctx
        durations = ctx.settings.durations
        now = ctx.clock.now()
        refund = await ctx.writer.run(
            lifecycle.claim_refund_lease(
                refund_id=refund_id,
                owner=leases.lease_name(ctx.owner),
                now=now,
                until=now + durations.lease_duration,
            )
        )
        if refund is None:
            return
        payment = await repo.get_payment(ctx.db, refund.payment_id)
        merchant = await repo.get_merchant(ctx.db, refund.merchant_id)
        assert payment is not None and merchant is not None
        attempt = _open_attempt(await repo.get_attempts(ctx.db, payment.id))
        counts = refund.counts()
        outcome = await drive_refund(
            ctx, refund, payment, attempt, None, counts=counts, ask_first=True
        )
        wait = full_jitter(durations.inquiry_initial_interval, durations.inquiry_max_interval)
        written = await ctx.writer.run(
            commit_refund_outcome(
                ctx,
                refund,
                merchant,
                outcome,
                answer=False,
                retry_at=ctx.clock.now() + timedelta(seconds=wait(counts["inquiries"])),
                counters=counts,
            )
        )
        if written is not None and outcome.is_final:
            ctx.kick_webhooks()
            log.info("refund %s resolved: %s", refund_id, written.status.value)

    async def _commit(
        self,
        payment: Payment,
        merchant: Merchant,
        tallied: tuple[Attempt, dict[str, int]],
        outcome: Outcome,
        now: datetime,
    ) -> bool:
        ctx = self._ctx
        booked = book_payment(ctx, payment.finished(outcome, now), merchant, ctx.clock.now())
        final = booked.payment
        attempt, counts = tallied  # as read, and the calls made since
        note = net.with_notes(attempt.message, outcome.message)
        ended = attempt.counted(counts).ended(outcome, final.updated_at, note=note)
        written = await ctx.writer.run(
            repo.commit_outcome(
                before=payment,
                after=final,
                attempts=[(attempt, ended)],
                # A crash (or the safety net) lost the POS's answer: its retry with the same key
                # gets this one. Rendered so that it cannot stop the final state.
                response=(201, payment_body(final)),
                rows=booked.rows,
            )
        )
        if written:
            ctx.kick_webhooks()
            ctx.metrics.resolved.labels(final.status.value).inc()
            log.info("payment %s resolved: %s", payment.id, final.status.value)
        return bool(written)

    async def _cancel_ahead(
        self, payment: Payment, attempt: Attempt, counts: dict[str, int]
    ) -> bool:
        """Write, before a cancel is sent, that it may reach the partner (the attempt's cancel
        count, one ahead): whoever books the payment paid from then on (a partner's
        notification takes the lease) sees it and undoes the payment, as our cancel may have at
        the partner. False if the lease is no longer ours (nothing is sent then)."""
        ctx = self._ctx
        ahead = dict(counts, cancel_calls=counts["cancel_calls"] + 1)
        written = await ctx.writer.run(
            repo.commit_outcome(
                before=payment,
                after=dataclasses.replace(payment, updated_at=ctx.clock.now()),
                attempts=[(attempt, attempt.counted(ahead))],
            )
        )
        return bool(written)


def _cancelled_unpaid(payment: Payment, cancel: Outcome) -> Outcome:
    """The end of an open payment the partner cancelled at its deadline: a code nobody paid
    in time expired; a payment whose outcome stayed unknown was cancelled after the timeout."""
    if payment.status is PaymentStatus.REQUIRES_CUSTOMER:
        return Outcome.failed(
            FailureCode.CODE_EXPIRED,
            partner_code=cancel.partner_code,
            message="the code expired unpaid; cancelled at the partner",
        )
    if payment.method is PaymentMethod.ENTRY_CODE:
        return Outcome.failed(
            FailureCode.PAYMENT_EXPIRED,
            partner_code=cancel.partner_code,
            message="the tourist did not confirm the entry order in time; cancelled",
        )
    return Outcome.failed(
        FailureCode.CANCELLED_AFTER_TIMEOUT,
        partner_code=cancel.partner_code,
        message="cancelled after the inquiry deadline",
    )


def _open_attempt(attempts: list[Attempt]) -> Attempt:
    """The attempt that may have charged: the last one (earlier ones charged nothing)."""
    if not attempts:
        raise RuntimeError("a processing payment without attempts")
    return attempts[-1]
