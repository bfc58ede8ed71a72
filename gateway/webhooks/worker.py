"""Delivers the event outbox to merchants' webhook URLs: at least once, retried on a schedule.

Every `durations.webhook_poll_interval`, and whenever kicked (`ctx.kick_webhooks()`, after a
commit that wrote events), the worker claims due events through leases (`storage/events_repo.py`)
in a short transaction, then POSTs each event's stored `body` bytes, signed with the merchant's
webhook secret, with no transaction open. A 2xx marks it `delivered`; anything else (another
status, a timeout, a connection error) is recorded and retried after the next wait of
`webhooks.schedule`; after the last attempt the event is `failed` (`POST .../redeliver` starts
it again). A merchant without a webhook URL gets `no_endpoint`. Each attempt is one
`event_deliveries` row (url, status code, error, duration).

Leases make any number of gateway processes on one PostgreSQL database safe: an event is
delivered by one process at a time, and its outcome is written only while the lease taken for it
still holds. A process that dies mid-delivery leaves a lease that expires
(`durations.lease_duration`, which outlasts `webhooks.timeout`), and the event is delivered again:
receivers dedupe on the event id.

Logs name the event, its type, the URL's host and the outcome; never a secret, a signature or a
body.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters._transport import call_deadline, new_http_client, request_timeout
from gateway.context import Context
from gateway.events import DeliveryStatus
from gateway.ids import new_id
from gateway.secrets import Purpose, SealedSecretError, SecretSet
from gateway.storage import events_repo
from gateway.storage.events_repo import DueEvent
from gateway.webhooks.signing import SIGNATURE_HEADER, sign_webhook

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
    """Background task: claims due events and delivers each in a task of its own."""

    def __init__(self, ctx: Context, *, http: httpx.AsyncClient | None = None) -> None:
        self._ctx = ctx
        settings = ctx.settings.webhooks
        self._own_http = http is None
        self._http = http or new_http_client(max_connections=settings.concurrency)
        self._slots = settings.concurrency
        self._running: dict[str, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._secret_ttl = ctx.settings.durations.key_cache_ttl.total_seconds()
        self._opened: dict[tuple[str, str], tuple[float, SecretSet]] = {}
        """(merchant id, sealed value) -> (monotonic expiry, its secrets); never logged."""

    async def start(self) -> None:
        self._ctx.kick_webhooks = self.kick
        self._loop_task = asyncio.create_task(self._poll_forever(), name="webhook-worker")

    async def stop(self) -> None:
        """Stop polling and abandon deliveries in flight (their leases expire; another look,
        here or in another process, delivers them again)."""
        self._ctx.kick_webhooks = _no_kick
        tasks = [t for t in [self._loop_task, *self._running.values()] if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._running.clear()
        self._loop_task = None
        if self._own_http:
            await self._http.aclose()

    def kick(self) -> None:
        """Look for due events now (e.g. right after a commit that wrote some)."""
        self._wake.set()

    @property
    def active(self) -> int:
        return len(self._running)

    async def _poll_forever(self) -> None:
        interval = self._ctx.settings.durations.webhook_poll_interval.total_seconds()
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive a database hiccup
                log.exception("webhook worker: looking for due events failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    async def run_once(self) -> int:
        """Claim what is due (as many as there are free slots) and start delivering it."""
        ctx = self._ctx
        free = self._slots - len(self._running)
        if free <= 0:
            return 0
        now = ctx.clock.now()
        claimed = await ctx.writer.run(
            events_repo.claim_due(
                owner=ctx.owner,
                now=now,
                until=now + ctx.settings.durations.lease_duration,
                limit=free,
                exclude=self._running,
            )
        )
        if claimed.no_endpoint:
            ctx.metrics.webhook_deliveries.labels("no_endpoint").inc(claimed.no_endpoint)
        for event in claimed.events:
            self._spawn(event)
        return len(claimed.events)

    def _spawn(self, event: DueEvent) -> None:
        event_id = event.id
        task = asyncio.create_task(self._deliver_logged(event), name=f"webhook-{event_id}")
        self._running[event_id] = task

        def done(_task: asyncio.Task[None]) -> None:
            self._running.pop(event_id, None)
            self._wake.set()  # a slot is free: there may be more to claim

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
        body = event.body.encode()
        attempted_at = ctx.clock.now()
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
        if log.isEnabledFor(logging.INFO):
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
        """The merchant's webhook secrets, unsealed once per sealed value and kept for
        `durations.key_cache_ttl` (the sealed value comes fresh with each claim, so a rotation
        is used from the next claim on; a value replaced is dropped within the TTL)."""
        if not sealed:
            raise SealedSecretError(
                f"merchant {merchant_id} has a webhook URL but no secret: run `gateway "
                f"merchants webhook rotate-secret {merchant_id}`"
            )
        key = (merchant_id, sealed)
        now = time.monotonic()
        cached = self._opened.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        opened = self._ctx.secrets.open(sealed, merchant_id=merchant_id, purpose=Purpose.WEBHOOK)
        if len(self._opened) >= _MAX_OPENED:
            self._opened = {k: v for k, v in self._opened.items() if v[0] > now}
            if len(self._opened) >= _MAX_OPENED:
                self._opened.clear()
        self._opened[key] = (now + self._secret_ttl, opened)
        return opened

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        """(status code, error): error None means a 2xx. The answer's body is not read."""
        seconds = self._ctx.settings.webhooks.timeout.total_seconds()
        try:
            async with asyncio.timeout(call_deadline(seconds)):
                async with self._http.stream(
                    "POST", url, content=body, headers=headers, timeout=request_timeout(seconds)
                ) as response:
                    status = response.status_code
        except (TimeoutError, httpx.TimeoutException):
            return None, f"timed out after {seconds:g} s"
        except httpx.HTTPError as exc:
            return None, _describe(exc)
        except OSError as exc:  # pragma: no cover - transports wrap these; defensive
            return None, _describe(exc)
        if 200 <= status < 300:
            return status, None
        return status, f"HTTP {status}"

    async def _finish(
        self,
        event: DueEvent,
        changes: dict[str, Any],
        delivery: dict[str, Any] | None,
        outcome: str,
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
        if written:
            ctx.metrics.webhook_deliveries.labels(outcome).inc()
        return written


def _describe(exc: BaseException) -> str:
    """A short, secret-free account of a transport error (the URL is the merchant's own)."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    text = str(cause) or str(exc)
    return f"{type(exc).__name__}: {text}"[:_ERROR_CHARS] if text else type(exc).__name__


@lru_cache(maxsize=1024)
def _host(url: str) -> str | None:
    return urlsplit(url).hostname


def _no_kick() -> None:
    return None
