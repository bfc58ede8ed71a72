"""Delivers the event outbox to merchants' webhook URLs: at least once, retried on a schedule.

Every `durations.webhook_poll_interval`, and whenever kicked (`ctx.kick_webhooks()`, after a
commit that wrote events), the worker claims due events through leases (`storage/events_repo.py`)
in a short transaction, then POSTs each event's stored `body` bytes, signed with the merchant's
webhook secret, with no transaction open. A 2xx marks it `delivered`; anything else (another
status, a redirect, a timeout, a connection error) is recorded and retried after the next wait of
`webhooks.schedule`; after the last attempt the event is `failed` (`POST .../redeliver` starts
it again). A merchant without a webhook URL gets `no_endpoint`. Each attempt is one
`event_deliveries` row (url, status code, error, duration).

Leases make any number of gateway processes on one PostgreSQL database safe: an event is
delivered by one process at a time, and its outcome is written only while the lease taken for it
still holds. A process that dies mid-delivery leaves a lease that expires
(`durations.lease_duration`, which outlasts `webhooks.timeout`), and the event is delivered again:
receivers dedupe on the event id.

Cost (the worker shares the process, and its CPU, with the payments): claims and outcomes are
batchable commands through the database driver, so they ride the group-commit writer's commits
with the payments (one claim takes up to twice `webhooks.concurrency` events: those beyond the
free slots wait here, under their lease, for a slot; one that would wait past the point where its
lease still outlasts a whole attempt is handed back unattempted); the merchant's URL and sealed
secret come with the claim (a change made with the command line is used from the next claim on),
and each sealed secret is unsealed once per `durations.key_cache_ttl`; the POST goes through
aiohttp directly. At most `webhooks.concurrency` POSTs are in flight.

Logs name the event, its type, the URL's host and the outcome; never a secret, a signature or a
body.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from adapters._transport import call_deadline
from gateway.context import Context
from gateway.core.ids import new_id
from gateway.core.secrets import Purpose, SealedSecretError, SecretSet
from gateway.events.model import DeliveryStatus
from gateway.events.signing import SIGNATURE_HEADER, sign_webhook
from gateway.storage import events as events_repo
from gateway.storage.events import DueEvent

__all__ = ["USER_AGENT", "WebhookWorker", "next_attempt"]

log = logging.getLogger(__name__)

USER_AGENT = "xborder-gateway-webhooks/1"
_ERROR_CHARS = 500
_MAX_OPENED = 10_000


def next_attempt(
    schedule: tuple[timedelta, ...], attempts: int, now: datetime, jitter_percent: int
) -> datetime | None:
    """When to try again after `attempts` attempts of this schedule; None: it is exhausted."""
    if attempts >= len(schedule):
        return None
    wait = schedule[attempts]
    return now + wait * (1 + random.uniform(0, jitter_percent / 100))


class WebhookWorker:
    """Background task: claims due events and delivers each in a task of its own.

    `http`: the session to POST with (tests); by default one of its own, with a pool of
    `webhooks.concurrency` connections, no redirects followed and no cookies kept.
    """

    def __init__(self, ctx: Context, *, http: aiohttp.ClientSession | None = None) -> None:
        self._ctx = ctx
        settings = ctx.settings.webhooks
        self._own_http = http is None
        self._http = http
        self._slots = settings.concurrency
        self._timeout_s = settings.timeout.total_seconds()
        self._deadline = timedelta(seconds=call_deadline(self._timeout_s))
        self._client_timeout = aiohttp.ClientTimeout(
            total=self._deadline.total_seconds(),
            connect=self._timeout_s,
            sock_connect=self._timeout_s,
            sock_read=self._timeout_s,
        )
        self._interval = ctx.settings.durations.webhook_poll_interval.total_seconds()
        self._running: dict[str, asyncio.Task[None]] = {}
        """Events being attempted (at most `webhooks.concurrency`)."""
        self._waiting: collections.deque[DueEvent] = collections.deque()
        """Events claimed (leased to this process) waiting for a free slot."""
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._due = True
        """Something may be due: kicked, or the last claim took all it asked for."""
        self._next_look = 0.0
        """When (event loop time) to claim even without a kick: retries come due on their own."""
        self._secret_ttl = ctx.settings.durations.key_cache_ttl.total_seconds()
        self._opened: dict[str, tuple[float, str, SecretSet]] = {}
        """merchant id -> (monotonic expiry, sealed value, its secrets); never logged."""

    async def start(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._slots),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        self._stopping = False
        self._ctx.kick_webhooks = self.kick
        self._loop_task = asyncio.create_task(self._poll_forever(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop polling and abandon deliveries in flight (their leases expire; another look,
        here or in another process, delivers them again). Events still waiting for a slot are
        handed back at once."""
        self._stopping = True
        self._ctx.kick_webhooks = _no_kick
        tasks = [t for t in [self._loop_task, *self._running.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()
        self._loop_task = None
        waiting = list(self._waiting)
        self._waiting.clear()
        if waiting:
            # Best effort (their leases expire anyway): one commit for them all.
            await asyncio.gather(
                *(self._release(event) for event in waiting), return_exceptions=True
            )
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    def kick(self) -> None:
        """Look for due events now (e.g. right after a commit that wrote some)."""
        self._due = True
        self._wake.set()

    @property
    def active(self) -> int:
        """Attempts in flight."""
        return len(self._running)

    async def _poll_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive a database hiccup
                log.exception("webhook worker: looking for due events failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """Claim what is due, up to twice the slots held here, unless enough events are already
        waiting for a slot; start as many as there are free slots. Returns how many it claimed."""
        ctx = self._ctx
        self._start_waiting()
        loop = asyncio.get_running_loop()
        if not self._due and loop.time() < self._next_look:
            return 0
        if len(self._waiting) >= max(1, self._slots // 2):
            return 0  # enough claimed already: claim again once these run low
        room = 2 * self._slots - len(self._running) - len(self._waiting)
        if room <= 0:
            return 0
        self._due = False  # a kick during the claim sets it again
        self._next_look = loop.time() + self._interval
        now = ctx.clock.now()
        claimed = await ctx.writer.run(
            events_repo.claim_due(
                owner=ctx.owner,
                now=now,
                until=now + ctx.settings.durations.lease_duration,
                limit=room,
                exclude=[*self._running, *(e.id for e in self._waiting)],
            )
        )
        if len(claimed.events) >= room:
            self._due = True  # there may be more
        if claimed.no_endpoint:
            ctx.metrics.webhook_deliveries.labels("no_endpoint").inc(claimed.no_endpoint)
        self._waiting.extend(claimed.events)
        self._start_waiting()
        return len(claimed.events)

    def _start_waiting(self) -> None:
        while self._waiting and len(self._running) < self._slots:
            self._spawn(self._waiting.popleft())

    def _spawn(self, event: DueEvent) -> None:
        event_id = event.id
        task = asyncio.create_task(self._deliver_logged(event), name=f"webhook-{event_id}")
        self._running[event_id] = task

        def done(_task: asyncio.Task[None]) -> None:
            if self._running.get(event_id) is task:
                del self._running[event_id]
            if self._stopping:
                return
            self._start_waiting()  # a slot is free
            if len(self._waiting) < max(1, self._slots // 2):
                self._wake.set()  # running low: there may be more to claim

        task.add_done_callback(done)

    async def _deliver_logged(self, event: DueEvent) -> None:
        try:
            await self.deliver(event)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "webhook %s: delivery failed; it is retried once its lease expires", event.id
            )

    async def deliver(self, event: DueEvent) -> None:
        """One attempt at a claimed event, and its outcome written under the lease."""
        ctx = self._ctx
        url = event.webhook_url
        if not url:
            await self._finish(
                event,
                {"delivery_status": DeliveryStatus.NO_ENDPOINT.value, "next_attempt_at": None},
                None,
                "no_endpoint",
            )
            return
        attempted_at = ctx.clock.now()
        if event.lease_expires_at - attempted_at <= self._deadline:
            # It waited for a slot so long that its lease might run out mid-attempt, when
            # another process could take it: hand it back unattempted (it is due at once).
            log.info("webhook %s: lease too short for an attempt; handed back", event.id)
            await self._release(event)
            return
        body = event.body.encode()
        loop = asyncio.get_running_loop()
        started = loop.time()
        status_code: int | None = None
        error: str | None
        try:
            headers = self._headers(event, body, attempted_at)
        except SealedSecretError as exc:
            log.error("webhook %s: not sent: %s", event.id, exc)
            error = "not sent: the webhook secret cannot be opened (see the gateway's log)"
        else:
            status_code, error = await self._post(url, body, headers)
        duration_ms = round((loop.time() - started) * 1000)
        now = ctx.clock.now()
        attempts = event.delivery_attempts + 1
        changes: dict[str, Any] = {"delivery_attempts": attempts, "last_error": error}
        if error is None:
            changes.update(
                delivery_status=DeliveryStatus.DELIVERED.value,
                delivered_at=now,
                next_attempt_at=None,
            )
            outcome = "delivered"
        else:
            settings = ctx.settings.webhooks
            retry_at = next_attempt(settings.schedule, attempts, now, settings.jitter_percent)
            if retry_at is None:
                changes.update(delivery_status=DeliveryStatus.FAILED.value, next_attempt_at=None)
                outcome = "failed"
            else:
                changes.update(next_attempt_at=retry_at)
                outcome = "retry"
        delivery = {
            "id": new_id("dlv"),
            "event_id": event.id,
            "url": url[:2000],
            "attempted_at": attempted_at,
            "status_code": status_code,
            "error": error,
            "duration_ms": duration_ms,
        }
        written = await self._finish(event, changes, delivery, outcome)
        log.info(
            "webhook %s (%s) to %s: %s in %d ms, attempt %d: %s%s",
            event.id,
            event.type,
            _host(url),
            status_code if status_code is not None else "no answer",
            duration_ms,
            attempts,
            outcome,
            "" if written else " (superseded: not recorded on the event)",
        )

    def _headers(self, event: DueEvent, body: bytes, now: datetime) -> dict[str, str]:
        secrets = self._secret_set(event.merchant_id, event.webhook_secret)
        signature = sign_webhook(secrets.live(now), body, int(now.timestamp()))
        return {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Gateway-Event-Id": event.id,
            SIGNATURE_HEADER: signature,
        }

    def _secret_set(self, merchant_id: str, sealed: str | None) -> SecretSet:
        """The merchant's webhook secrets, unsealed once per `durations.key_cache_ttl`. The
        sealed value comes fresh with each claim: a rotated secret is used from the next claim
        on (its new sealed value replaces the cached one)."""
        if not sealed:
            raise SealedSecretError(
                f"merchant {merchant_id} has a webhook URL but no secret: run `gateway "
                f"merchants webhook rotate-secret {merchant_id}`"
            )
        now = time.monotonic()
        cached = self._opened.get(merchant_id)
        if cached is not None and cached[0] > now and cached[1] == sealed:
            return cached[2]
        opened = self._ctx.secrets.open(sealed, merchant_id=merchant_id, purpose=Purpose.WEBHOOK)
        if len(self._opened) >= _MAX_OPENED and merchant_id not in self._opened:
            self._opened = {k: v for k, v in self._opened.items() if v[0] > now}
            if len(self._opened) >= _MAX_OPENED:
                self._opened.clear()
        self._opened[merchant_id] = (now + self._secret_ttl, sealed, opened)
        return opened

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status code, error): error None means a 2xx. The answer's body is not read.

        `webhooks.timeout` bounds connecting and each wait for the receiver; the whole call is
        bounded a little beyond it (`call_deadline`), so the lease always outlasts it."""
        assert self._http is not None, "the worker is not started"
        try:
            async with self._http.post(
                url,
                data=body,
                headers=headers,
                timeout=self._client_timeout,
                allow_redirects=False,
            ) as response:
                status = response.status
        except TimeoutError:  # aiohttp's own timeouts derive from it too
            return None, f"timed out after {self._timeout_s:g} s"
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return None, _describe(exc)
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

    async def _finish(
        self,
        event: DueEvent,
        changes: dict[str, Any],
        delivery: dict[str, Any] | None,
        outcome: str | None,
    ) -> bool:
        ctx = self._ctx
        written: bool = await ctx.writer.run(
            events_repo.record_attempt(
                event_id=event.id,
                owner=ctx.owner,
                version=event.version,
                lease_until=event.lease_expires_at,
                changes=changes,
                delivery=delivery,
            )
        )
        if not written:
            self._due = True  # e.g. a redelivery asked for meanwhile: due again at once
        elif outcome is not None:
            ctx.metrics.webhook_deliveries.labels(outcome).inc()
        return written

    async def _release(self, event: DueEvent) -> None:
        """Hand a claimed event back unattempted: its lease released, nothing else changed."""
        await self._finish(event, {}, None, None)
        self._due = True
        self._wake.set()


@lru_cache(maxsize=1024)
def _host(url: str) -> str | None:
    return urlsplit(url).hostname


def _describe(exc: BaseException) -> str:
    """A short, secret-free account of a transport error (the URL is the merchant's own)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause) or str(exc)
    return f"{type(exc).__name__}: {text}"[:_ERROR_CHARS] if text else type(exc).__name__


def _no_kick() -> None:
    return None
