"""The composition root: settings in, a running gateway (context, workers, HTTP app) out."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Mapping

import httpx
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from adapters import PROTOCOLS, Adapter, Clock, Operation, SystemClock
from adapters._transport import new_http_client
from gateway.api.events import routes as event_routes
from gateway.api.middlewares import middlewares
from gateway.api.presented import presented_routes
from gateway.api.reconciliations import routes as reconciliation_routes
from gateway.api.routes import routes
from gateway.api.settlements import routes as settlement_routes
from gateway.api.state import CONTEXT, KEYS, MAX_BODY
from gateway.context import CodeHasher, Context
from gateway.core.config import (
    ConfigError,
    ConfigProblem,
    Partner,
    Settings,
    resolve_code_hash_key,
    resolve_credentials,
    resolve_secrets_key,
)
from gateway.core.ids import new_id
from gateway.core.metrics import Metrics
from gateway.core.secrets import SecretBox
from gateway.events.delivery import WebhookWorker
from gateway.merchants.auth import KeyStore
from gateway.partners.calls import PartnerCalls
from gateway.partners.health import Health
from gateway.partners.retry import full_jitter, policy_with
from gateway.partners.routing import Router
from gateway.payments.resolver import Resolver
from gateway.quotes.markups import markup_policy
from gateway.rates.refresher import RateRefresher, rate_book
from gateway.settlement.worker import SettlementWorker
from gateway.storage.db import open_database
from gateway.storage.writer import GroupCommitWriter

__all__ = ["build_adapters", "create_app", "running_context"]

log = logging.getLogger(__name__)


def build_adapter(
    settings: Settings,
    partner: Partner,
    *,
    http: httpx.AsyncClient,
    clock: Clock,
    env: Mapping[str, str],
) -> Adapter:
    """One partner's adapter; `ConfigError` if its credentials are not in the environment."""
    timeouts = settings.partner_timeouts(partner)
    return PROTOCOLS[partner.protocol].build(
        partner_id=partner.id,
        base_url=partner.base_url,
        credentials=resolve_credentials(partner, env),
        http=http,
        timeouts={Operation(op): seconds for op, seconds in timeouts.items()},
        clock=clock,
    )


def build_adapters(
    settings: Settings, *, http: httpx.AsyncClient, clock: Clock, env: Mapping[str, str]
) -> dict[str, Adapter]:
    adapters: dict[str, Adapter] = {}
    problems: list[ConfigProblem] = []
    for partner in settings.partners:
        try:
            adapters[partner.id] = build_adapter(settings, partner, http=http, clock=clock, env=env)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return adapters


def one_partner_calls(
    settings: Settings,
    partner: str,
    *,
    http: httpx.AsyncClient,
    clock: Clock,
    env: Mapping[str, str],
) -> PartnerCalls:
    """`PartnerCalls` over one partner's adapter, for work outside a running gateway
    (`gateway reconcile`): only that partner's credentials are needed, and its breaker and
    metrics are its own. `ConfigError` if the credentials are not in the environment."""
    adapter = build_adapter(settings, settings.partner(partner), http=http, clock=clock, env=env)
    health = Health(
        [partner],
        failures=settings.partner_defaults.breaker_failures,
        cooldown=settings.durations.breaker_cooldown.total_seconds(),
    )
    return PartnerCalls({partner: adapter}, health=health, metrics=Metrics())


@contextlib.asynccontextmanager
async def running_context(
    settings: Settings,
    *,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
    http: httpx.AsyncClient | None = None,
    resolver: bool = True,
    webhooks: bool = True,
    settlement: bool = True,
    refresher: bool = True,
    adapters: Mapping[str, Adapter] | None = None,
) -> AsyncIterator[Context]:
    """Open the database, writer, partner client and workers (the resolver; the webhook worker,
    with a client of its own; the settlement worker; the rate refresher); close them all on
    exit. The rate book is filled from the database before anything runs, with or without the
    refresher. `adapters`, by
    partner id, replace the ones the settings describe (service tests script their partners)."""
    env = os.environ if env is None else env
    clock = clock or SystemClock()
    hasher = CodeHasher(resolve_code_hash_key(settings, env))
    box = SecretBox(resolve_secrets_key(settings, env))
    own_http = http is None
    http = http or new_http_client()
    db = open_database(settings.database.url)
    writer = GroupCommitWriter(db.writer)
    worker: Resolver | None = None
    deliverer: WebhookWorker | None = None
    settler: SettlementWorker | None = None
    rates: RateRefresher | None = None
    try:
        metrics = Metrics()
        health = Health(
            [p.id for p in settings.partners],
            failures=settings.partner_defaults.breaker_failures,
            cooldown=settings.durations.breaker_cooldown.total_seconds(),
        )
        ctx = Context(
            settings=settings,
            db=db,
            writer=writer,
            clock=clock,
            rates=rate_book(settings),
            markups=markup_policy(settings),
            router=Router(settings.wallets, settings.partners),
            partners=PartnerCalls(
                build_adapters(settings, http=http, clock=clock, env=env)
                if adapters is None
                else adapters,
                health=health,
                metrics=metrics,
            ),
            hash_code=hasher,
            policies={p.id: policy_with(p.retry.overrides()) for p in settings.partners},
            backoff=full_jitter(
                settings.durations.pay_retry_backoff, settings.durations.pay_retry_backoff_max
            ),
            metrics=metrics,
            health=health,
            owner=f"{socket.gethostname()}:{os.getpid()}:{new_id('proc')[-8:]}",
            secrets=box,
        )
        await writer.start()
        rates = RateRefresher(
            settings=settings,
            db=db,
            writer=writer,
            book=ctx.rates,
            http=http,
            clock=clock,
            metrics=metrics,
            owner=ctx.owner,
            partners=ctx.partners,
            sleep=ctx.sleep,
        )
        if refresher:
            await rates.start()
        else:
            await rates.prepare()
        if resolver:
            worker = Resolver(ctx)
            await worker.start()
        if webhooks:
            deliverer = WebhookWorker(ctx)
            await deliverer.start()
        if settlement:
            settler = SettlementWorker(ctx)
            await settler.start()
        yield ctx
    finally:
        if settler is not None:
            await settler.stop()
        if deliverer is not None:
            await deliverer.stop()
        if worker is not None:
            await worker.stop()
        if rates is not None:
            await rates.stop()
        await writer.stop()
        if own_http:
            await http.aclose()
        await db.dispose()


def _quiet_garbage_collector() -> None:
    """Keep full collections off the request path: what start-up built (modules, config, SQL
    metadata) lives as long as the process, so freeze it out of the collector's scans, and let
    the young generation grow before it is swept. Pauses of tens of milliseconds otherwise land
    on a few unlucky payments (the benchmark's p99)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


class _MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request its parser refuses at ERROR with a traceback that quotes the bad
    line, an `Authorization` header included: anyone could flood the log and write API keys
    into it. Such a request is answered `400` by aiohttp; one short warning is logged instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args = (
                "refused a malformed HTTP request: %s",
                (type(error).__name__,),
            )
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_MALFORMED_REQUESTS = _MalformedRequestFilter()


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    env: Mapping[str, str] | None = None,
) -> web.Application:
    """The merchant API as an aiohttp application; resources open and close with it."""
    app = web.Application(middlewares=middlewares, client_max_size=settings.server.max_body_bytes)
    logging.getLogger("aiohttp.server").addFilter(_MALFORMED_REQUESTS)  # a set: added once
    app[MAX_BODY] = settings.server.max_body_bytes

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with running_context(settings, clock=clock, env=env) as ctx:
            app[CONTEXT] = ctx
            app[KEYS] = KeyStore(
                ctx.db,
                ttl_seconds=settings.durations.key_cache_ttl.total_seconds(),
                secrets=ctx.secrets,
            )
            _quiet_garbage_collector()
            yield

    app.cleanup_ctx.append(lifecycle)
    app.add_routes(routes)
    app.add_routes(event_routes)
    app.add_routes(settlement_routes)
    app.add_routes(reconciliation_routes)
    app.add_routes(presented_routes)
    return app
