"""The POS wait budget, shared by every request that calls a partner while the POS waits
(payments, refunds, cancels): when to stop calling so the answer still arrives in time."""

from __future__ import annotations

from gateway.context import Context

__all__ = ["MIN_CALL_SECONDS", "answer_deadline"]

# Time kept back from the budget for the final commit and the answer.
_ANSWER_RESERVE = 0.1
# A partner call with less time left than this is not worth starting.
MIN_CALL_SECONDS = 0.02


def answer_deadline(ctx: Context, started_at: float) -> float:
    """Loop time after which no partner call starts, for a request that arrived at `started_at`."""
    budget = ctx.settings.durations.pos_wait_budget.total_seconds()
    return started_at + budget - min(_ANSWER_RESERVE, budget / 10)
