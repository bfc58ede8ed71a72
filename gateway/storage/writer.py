"""The group-commit writer: every write in the process goes through one task.

Requests hand it a *unit of work*, an async function of a connection that runs its statements
and returns a value. The writer drains its queue, runs as many units as are waiting inside one
transaction, commits once, and only then answers each request: a request still waits for its own
commit before it goes on, but a hundred requests share one fsync.

A unit must not raise for business outcomes (a duplicate reference, an idempotency conflict): it
returns a value saying so. When a batch fails anyway (a unique-key race with another process, a
bug, a full disk), the writer rolls it back and reruns each unit in a transaction of its own, so
only the failing unit's caller sees the error; a unit that lost a unique-key race runs once more,
so that it reads the winner's row and reports the conflict as its result. Units therefore must be
safe to run again: they read what they need inside the transaction and keep no state outside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["GroupCommitWriter", "Unit"]

T = TypeVar("T")
Unit = Callable[[AsyncConnection], Awaitable[T]]

log = logging.getLogger(__name__)

_Item = tuple[Unit[Any], "asyncio.Future[Any]"]


class GroupCommitWriter:
    """Serialises this process's writes and commits them in groups.

    Usage:
        writer = GroupCommitWriter(engine)
        await writer.start()
        payment_id = await writer.run(insert_payment_unit)
        await writer.stop()
    """

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.units = 0

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None

    async def run(self, unit: Unit[T]) -> T:
        """Run `unit` in a transaction shared with other waiting units; return after the commit."""
        if self._task is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((unit, future))
        # The commit happens whether or not our caller is still waiting for it.
        return await asyncio.shield(future)

    async def _loop(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()
            if first is None:
                break
            batch: list[_Item] = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit(batch)

    async def _commit(self, batch: list[_Item], *, retry_conflict: bool = True) -> None:
        try:
            results = await self._run_in_one_transaction(batch)
        except Exception as exc:
            if len(batch) == 1:
                if retry_conflict and isinstance(exc, IntegrityError):
                    # Another process committed the same unique key first; rerun so the unit's
                    # own reads see that row and it can report the conflict as a result.
                    await self._commit(batch, retry_conflict=False)
                    return
                self._settle(batch[0][1], exc=exc)
                return
            log.info(
                "write batch of %d failed (%s); rerunning its units one by one", len(batch), exc
            )
            for item in batch:
                await self._commit([item])
            return
        self.batches += 1
        self.units += len(batch)
        for (_unit, future), result in zip(batch, results, strict=True):
            self._settle(future, result=result)

    async def _run_in_one_transaction(self, batch: list[_Item]) -> list[Any]:
        results: list[Any] = []
        async with self._engine.connect() as conn, conn.begin():
            for unit, _future in batch:
                results.append(await unit(conn))
        return results

    @staticmethod
    def _settle(
        future: asyncio.Future[Any], *, result: Any = None, exc: Exception | None = None
    ) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)
