"""What the services need, in one object built by `bootstrap.py` (the composition root)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping

from adapters import Clock
from fx import RateBook
from gateway.core.config import Settings
from gateway.core.metrics import Metrics
from gateway.core.secrets import SecretBox
from gateway.partners.calls import PartnerCalls
from gateway.partners.health import Health
from gateway.partners.retry import Policy
from gateway.partners.routing import Router
from gateway.quotes.markups import MarkupPolicy
from gateway.storage.db import Database
from gateway.storage.writer import GroupCommitWriter

__all__ = ["CodeHasher", "Context"]


class CodeHasher:
    """Keyed hash of a wallet code: lets us spot a reused code without ever storing it."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the wallet-code hash key must have at least 16 bytes")
        self._key = key

    def __call__(self, code: str) -> str:
        return hmac.new(self._key, code.encode(), hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "CodeHasher(key=***)"


@dataclasses.dataclass
class Context:
    settings: Settings
    db: Database
    writer: GroupCommitWriter
    clock: Clock
    rates: RateBook
    """The current rate set of each source; kept current by `gateway/rates/refresher.py`."""
    markups: MarkupPolicy
    """The configured markup rules (`gateway/quotes/markups.py`); merchants add their own."""
    router: Router
    partners: PartnerCalls
    """Every partner call goes through it (`gateway/partners/calls.py`)."""
    hash_code: CodeHasher
    health: Health
    policies: Mapping[str, Policy]
    """Each partner's retry policy table (`gateway/partners/retry.py`)."""
    backoff: Callable[[int], float]
    """Seconds before the n-th retry of a POS-time call (full jitter)."""
    metrics: Metrics
    owner: str
    """This process's name in leases."""
    secrets: SecretBox
    """Opens merchants' sealed webhook and signing secrets (`gateway/core/secrets.py`)."""
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    """How the services wait between partner calls (tests pass one that takes no real time)."""
    kick: Callable[[str], None] = lambda _payment_id: None
    """Ask the resolver to look at a payment now (set by the resolver when it starts)."""
    kick_webhooks: Callable[[], None] = lambda: None
    """Ask the webhook worker to look for due events now: call it after a commit that wrote
    outbox rows (set by the worker when it starts; a no-op without one)."""
