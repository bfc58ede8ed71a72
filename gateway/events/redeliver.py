"""`POST /v1/events/{id}/redeliver`: deliver an event again, on a fresh schedule.

The event becomes `pending`, due now, with its attempt count reset (`delivery.attempts` counts the
attempts of the current schedule; `event_deliveries` keeps every one). It works for any status:
`failed` after the schedule ran out, `no_endpoint` once the merchant has a URL, even `delivered`
(the receiver gets the same event id again and dedupes on it).

Idempotent like every POST: the answer (`202` and the event) is stored under the
`Idempotency-Key` in the same commit as the change. The key's scope is the merchant for `pos`
keys; operator keys, bound to no merchant, have a scope of their own (their key id). Refusals
change nothing and are not stored: `404 not_found` (unknown, or another merchant's) and
`409 webhook_not_configured` (the merchant has no webhook URL; set one, then retry with the same
key).
"""

from __future__ import annotations

from gateway import idempotency
from gateway.context import Context
from gateway.core.errors import NotFound, WebhookNotConfigured
from gateway.core.render import dumps
from gateway.events.model import event_view
from gateway.idempotency import Answer
from gateway.merchants.auth import Principal, Role
from gateway.storage import events as events_repo
from gateway.storage.idempotency import IdempotencyConflict, IdempotencyReplay

__all__ = ["REDELIVER_STATUS", "redeliver"]

REDELIVER_STATUS = 202  # accepted: delivery happens in the background


async def redeliver(
    ctx: Context, *, principal: Principal, event_id: str, key: str, request_hash: str
) -> Answer:
    principal.require(Role.POS, Role.OPERATOR)
    now = ctx.clock.now()
    operator = principal.role is Role.OPERATOR
    claim = idempotency.claim(
        merchant_id=principal.key_id if operator else str(principal.merchant_id),
        key=key,
        request_hash=request_hash,
        now=now,
        ctx=ctx,
    )
    outcome = await ctx.writer.run(
        events_repo.redeliver(
            event_id=event_id,
            merchant_id=None if operator else principal.merchant_id,
            claim=claim,
            now=now,
            status=REDELIVER_STATUS,
            render=lambda row: dumps(event_view(row)),
        )
    )
    if isinstance(outcome, IdempotencyReplay):
        return Answer(outcome.status, outcome.body, replayed=True)
    if isinstance(outcome, IdempotencyConflict):
        idempotency.raise_conflict(outcome)
    if isinstance(outcome, events_repo.RedeliverRefused):
        if outcome.reason == "no_endpoint":
            raise WebhookNotConfigured(
                "The merchant has no webhook URL, so the event cannot be delivered; the "
                "operator sets one with `gateway merchants webhook set`, then retry."
            )
        raise NotFound("No such event.")
    assert isinstance(outcome, events_repo.Redelivered)
    ctx.kick_webhooks()
    return Answer(outcome.status, outcome.body)
