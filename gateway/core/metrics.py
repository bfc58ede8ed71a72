"""Prometheus metrics (`GET /metrics`), on a registry of the app's own.

prometheus-client rather than hand-written text: the exposition format, histogram buckets and
label escaping are its job. One registry per app, so two gateways in one test process (or one
process's restarts) never share counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from adapters import Outcome
from fx import SourceState

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_BREAKER_STATES = ("closed", "half_open", "open")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.payments = Counter(
            "gateway_payments_total",
            "Payments answered to the POS, by the status they had then.",
            ["status"],
            registry=self.registry,
        )
        self.notifications = Counter(
            "gateway_partner_notifications_total",
            "Partners' notifications received, by partner and what the gateway did with them "
            "(booked, already, refused_signature, refused_stale, refused_malformed, "
            "unknown_payment, amount_mismatch, contradicts, busy; entry orders: entry_confirmed, "
            "entry_repeated, entry_<refusal>).",
            ["partner", "verdict"],
            registry=self.registry,
        )
        self.resolved = Counter(
            "gateway_payments_resolved_total",
            "Payments the resolver settled after the POS answer, by final status.",
            ["status"],
            registry=self.registry,
        )
        self.partner_calls = Histogram(
            "gateway_partner_call_seconds",
            "Partner calls by partner, operation and outcome.",
            ["partner", "operation", "outcome"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.webhook_deliveries = Counter(
            "gateway_webhook_deliveries_total",
            "Webhook outcomes: delivered, retry (an attempt failed, another is scheduled), "
            "failed (the schedule ran out), no_endpoint (the merchant has no webhook URL).",
            ["outcome"],
            registry=self.registry,
        )
        self.breaker = Gauge(
            "gateway_partner_breaker",
            "1 for the state each partner's circuit breaker is in.",
            ["partner", "state"],
            registry=self.registry,
        )

        self.rate_fetches = Counter(
            "gateway_fx_fetches_total",
            "Rate feed fetches this process made: new, unchanged, older (not used), refused "
            "(garbage, from the future, or a move beyond fx.max_move_bps), failed.",
            ["source", "outcome"],
            registry=self.registry,
        )
        self.rate_age = Gauge(
            "gateway_fx_rate_age_seconds",
            "Seconds since the publication of each rate source's current set.",
            ["source"],
            registry=self.registry,
        )
        self.rate_fresh = Gauge(
            "gateway_fx_rate_fresh",
            "1 when the source's current set may price quotes (not stale on its calendar).",
            ["source"],
            registry=self.registry,
        )

    def rate_sources(self, states: Iterable[SourceState], now: datetime) -> None:
        for state in states:
            age = state.age_seconds(now)
            if age is not None:
                self.rate_age.labels(state.source).set(age)
            self.rate_fresh.labels(state.source).set(1 if state.fresh else 0)

    def partner_call(self, partner: str, operation: str, outcome: Outcome, seconds: float) -> None:
        label = outcome.status.value
        if label == "unknown":
            label = f"unknown_{outcome.delivery.value}"
        self.partner_calls.labels(partner, operation, label).observe(seconds)

    def breakers(self, states: dict[str, str]) -> None:
        for partner, current in states.items():
            for state in _BREAKER_STATES:
                self.breaker.labels(partner, state).set(1 if state == current else 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
