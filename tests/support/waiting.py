"""The one way a test waits for something the gateway does in the background.

Every wait is a poll with a deadline: `eventually` asks a probe until it answers, and fails the
test with a message that says what was awaited (and what was seen last) when the deadline passes.
`wait_final` is `eventually` over a resource's `status`: a payment, refund or settlement batch read
again and again until its status is one of the awaited ones. Nothing here sleeps a fixed time in
the hope that something happened meanwhile.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any, TypeVar, overload

__all__ = ["FINAL", "FINAL_REFUND", "eventually", "wait_final"]

T = TypeVar("T")

FINAL = frozenset({"succeeded", "failed", "cancelled"})
"""A payment's final statuses."""
FINAL_REFUND = frozenset({"succeeded", "failed"})
"""A refund's final statuses."""

Failure = str | Callable[[], str] | None
"""What a failed wait says: a text, or a function of nothing that says what was seen last."""


@overload
async def eventually(
    probe: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    failure: Failure = ...,
) -> T: ...


@overload
async def eventually(
    probe: Callable[[], T | None],
    *,
    timeout: float = ...,
    interval: float = ...,
    failure: Failure = ...,
) -> T: ...


async def eventually(
    probe: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    failure: Failure = None,
) -> Any:
    """Call `probe` (a function, or a coroutine function) until it answers something other than
    None or False, and return that answer; it is asked once more at the deadline, then
    `AssertionError(failure)`.

    An exception from `probe` ends the wait at once: a probe may refuse a state that can never
    come right (a process that exited, an error answer)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value is not None and value is not False:
            return value
        if loop.time() > deadline:
            if callable(failure):
                failure = failure()
            raise AssertionError(failure or f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def wait_final(
    read: Callable[[], Awaitable[Mapping[str, Any]]],
    *,
    final: Collection[str] = FINAL,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "the status",
    context: Callable[[], str] = lambda: "",
) -> dict[str, Any]:
    """`read()` (a resource's body, e.g. a GET's JSON) until its `status` is in `final`; that
    body. On timeout the failure names `what` was awaited, shows the last body seen, and
    `context()` (e.g. process logs)."""
    last: list[Mapping[str, Any]] = []

    async def probe() -> dict[str, Any] | None:
        body = await read()
        last[:] = [body]
        return dict(body) if body["status"] in final else None

    def failure() -> str:
        seen = last[0] if last else "nothing"
        awaited = "/".join(sorted(final))
        return f"{what} not {awaited} within {timeout} s: {seen}\n{context()}".rstrip()

    return await eventually(probe, timeout=timeout, interval=interval, failure=failure)
