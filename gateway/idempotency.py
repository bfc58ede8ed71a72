"""Idempotency-Key handling (API.md, Idempotency).

A request's identity is its method, path and *parsed* JSON body (key order and whitespace do not
matter). The key is claimed in the same commit as the first write, so the first request's answer
is the one every identical retry gets back, and a retry never reaches a partner again.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from typing import Any, NoReturn

from gateway.context import Context
from gateway.core.errors import IdempotencyKeyInUse, IdempotencyKeyMissing, IdempotencyKeyReused
from gateway.storage import idempotency as records
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyOutcome, IdempotencyReplay

__all__ = ["Answer", "check_key", "claim", "precheck", "raise_conflict", "request_hash"]


@dataclasses.dataclass(frozen=True, slots=True)
class Answer:
    """What an idempotent POST answers, as it is stored for its key: every retry with the key
    gets the same status and body (`replayed`). The API layer turns it into the HTTP response;
    `partner_seconds` (the time spent waiting on partners) only feeds a metric."""

    status: int
    body: str
    replayed: bool = False
    partner_seconds: float = 0.0


_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # printable ASCII without spaces


def check_key(key: str | None) -> str:
    if key is None or key == "":
        raise IdempotencyKeyMissing("POST requests need an Idempotency-Key header.")
    if _KEY.fullmatch(key) is None:
        raise IdempotencyKeyMissing(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces.",
            param="Idempotency-Key",
        )
    return key


def request_hash(ctx: Context, method: str, path: str, body: Any) -> str:
    """Keyed, because the body holds the raw wallet code: a plain hash could be brute-forced."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return ctx.hash_code(f"{method} {path}\n{canonical}")


def claim(
    *, merchant_id: str, key: str, request_hash: str, now: datetime, ctx: Context
) -> dict[str, Any]:
    return {
        "merchant_id": merchant_id,
        "key": key,
        "request_hash": request_hash,
        "state": "in_progress",
        "created_at": now,
        "expires_at": now + ctx.settings.durations.idempotency_retention,
    }


def raise_conflict(outcome: IdempotencyConflict) -> NoReturn:
    if outcome.in_use:
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key is still being processed; retry shortly."
        )
    raise IdempotencyKeyReused(
        "This Idempotency-Key was already used for a different request.",
        param="Idempotency-Key",
    )


async def precheck(
    ctx: Context, *, merchant_id: str, key: str, request_hash: str, now: datetime
) -> IdempotencyReplay | None:
    """Answer a retry before any work: replay, or 409. The claim in the write re-checks."""
    record = await records.find_idempotency(ctx.db, merchant_id, key)
    verdict: IdempotencyOutcome = records.judge_idempotency(record, request_hash, now)
    if isinstance(verdict, IdempotencyConflict):
        raise_conflict(verdict)
    return verdict if isinstance(verdict, IdempotencyReplay) else None
