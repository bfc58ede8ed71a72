"""What to do after each partner answer: a policy table, per partner and operation.

An outcome is first reduced to a `Verdict`; the table maps (operation, verdict) to an `Action`.
The defaults follow DESIGN.md: a final answer stops; "not sent" and a signed "not accepted" fail
over to the next eligible partner (or retry this one when there is none); "maybe sent" re-sends
the same request to the same partner; "in process" is followed by inquiries. A partner's config
may override entries (`[retry.pay]`, `[retry.inquire]`), but one rule is not data: once a call
of an attempt may have reached the partner, that attempt never fails over (it could charge
twice) — the driver turns such a FAIL_OVER into a RETRY.

Waits between calls are exponential with full jitter (tenacity's `wait_random_exponential`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import timedelta

import tenacity

from adapters import Delivery, Outcome

__all__ = ["DEFAULT_POLICY", "Action", "Policy", "Verdict", "full_jitter", "verdict"]


class Verdict(enum.StrEnum):
    FINAL = "final"
    """Succeeded, or declined: nothing more to ask."""
    NOT_SENT = "not_sent"
    """Never reached the partner (refused, connect timeout)."""
    NOT_ACCEPTED = "not_accepted"
    """A signed refusal: the partner charged nothing."""
    IN_PROCESS = "in_process"
    """The partner has it and is waiting (e.g. for the tourist's password)."""
    NOT_FOUND = "not_found"
    """An inquiry found no record (yet): unknown, never a failure by itself."""
    MAYBE_SENT = "maybe_sent"
    """Read timeout, HTTP 5xx, an answer we cannot trust: it may have been charged."""


class Action(enum.StrEnum):
    STOP = "stop"
    RETRY = "retry"
    """The same operation, same partner, same partner request id."""
    INQUIRE = "inquire"
    FAIL_OVER = "fail_over"
    """A new attempt with the next eligible partner (only if nothing can have been charged)."""


def verdict(outcome: Outcome) -> Verdict:
    if outcome.is_final:
        return Verdict.FINAL
    if outcome.in_process:
        return Verdict.IN_PROCESS
    if outcome.not_found:
        return Verdict.NOT_FOUND
    if outcome.delivery is Delivery.NOT_SENT:
        return Verdict.NOT_ACCEPTED if outcome.http_status is not None else Verdict.NOT_SENT
    return Verdict.MAYBE_SENT


Policy = Mapping[tuple[str, Verdict], Action]

DEFAULT_POLICY: Policy = {
    ("pay", Verdict.FINAL): Action.STOP,
    ("pay", Verdict.NOT_SENT): Action.FAIL_OVER,
    ("pay", Verdict.NOT_ACCEPTED): Action.FAIL_OVER,
    ("pay", Verdict.IN_PROCESS): Action.INQUIRE,
    ("pay", Verdict.NOT_FOUND): Action.RETRY,
    ("pay", Verdict.MAYBE_SENT): Action.RETRY,
    ("inquire", Verdict.FINAL): Action.STOP,
    ("inquire", Verdict.NOT_SENT): Action.INQUIRE,
    ("inquire", Verdict.NOT_ACCEPTED): Action.INQUIRE,
    ("inquire", Verdict.IN_PROCESS): Action.INQUIRE,
    ("inquire", Verdict.NOT_FOUND): Action.INQUIRE,
    ("inquire", Verdict.MAYBE_SENT): Action.INQUIRE,
}


def policy_with(overrides: Mapping[str, Mapping[str, str]]) -> Policy:
    """The default table with a partner's overrides, e.g. `{"pay": {"not_sent": "retry"}}`."""
    table = dict(DEFAULT_POLICY)
    for operation, entries in overrides.items():
        for name, action in entries.items():
            table[(operation, Verdict(name))] = Action(action)
    return table


def full_jitter(initial: timedelta, cap: timedelta) -> Callable[[int], float]:
    """Seconds to wait before call number `n` (1 = the first retry): uniform in
    [0, min(cap, initial × 2^(n−1))]. Durations, not money: floats are fine here."""
    wait = tenacity.wait_random_exponential(
        multiplier=initial.total_seconds(), max=cap.total_seconds()
    )

    def seconds(n: int) -> float:
        state = tenacity.RetryCallState(None, None, (), {})  # type: ignore[arg-type]
        state.attempt_number = n
        return float(wait(state))

    return seconds
