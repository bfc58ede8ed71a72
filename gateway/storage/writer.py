"""The group-commit writer: every write in the process goes through one task.

Requests hand it work and wait for the commit that carries it. The writer drains its queue, runs
everything waiting inside one transaction, commits once, and only then answers each request: a
request still waits for its own commit before it goes on, but a hundred requests share one fsync.

Work comes in two shapes:
- a *unit*: an async function of a connection that runs its statements and returns a value;
- a *batchable command* (`Batchable`): plain data of one kind (say, "begin a payment"), whose kind
  knows how to write a whole list of commands with one `executemany` per table, through the
  driver directly (`storage/raw.py`). The hot path uses these: per statement, SQLAlchemy's async
  layer costs far more CPU than the database itself.

Neither raises for business outcomes (a duplicate reference, an idempotency conflict): they
return a value saying so. When a batch fails anyway (a unique-key race with another process, a
bug, a full disk), the writer rolls it back and reruns each piece in a transaction of its own,
so only the failing request sees the error; a piece that lost
a unique-key race runs once more, so that it reads the winner's row and reports the conflict as
its result. Everything handed to the writer must therefore be safe to run again: it reads what it
needs inside the transaction and keeps no state outside it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.storage.raw import RawStore, RawTransaction, is_unique_violation, open_raw_store

__all__ = ["Batchable", "GroupCommitWriter", "Unit", "alone"]

T = TypeVar("T")
Unit = Callable[[AsyncConnection], Awaitable[T]]

log = logging.getLogger(__name__)


_ALONE = "__gateway_commits_alone__"


def alone(unit: Unit[T]) -> Unit[T]:
    """Mark a unit that locks rows (`FOR UPDATE`) to commit in a transaction of its own.

    Two processes' batches that each lock several payments could take them in opposite orders:
    a deadlock that PostgreSQL breaks only after `deadlock_timeout` (1 s), stalling every request
    in both batches. One locked row per transaction cannot form a cycle. Such units are rare
    (refunds and cancels, not payments), so their own commit costs little.
    """
    setattr(unit, _ALONE, True)
    return unit


class Batchable(Protocol):
    """A write command that can be grouped with others of its kind (see `storage/raw.py`)."""

    kind: ClassVar[str]

    @classmethod
    async def run_batch(cls, tx: RawTransaction, commands: Sequence[Any]) -> list[Any]:
        """Write all `commands` (all of this kind); results in the same order."""
        ...


_Work = Unit[Any] | Batchable
_Item = tuple[_Work, "asyncio.Future[Any]"]


class GroupCommitWriter:
    """Serialises this process's writes and commits them in groups.

    Usage:
        writer = GroupCommitWriter(engine)
        await writer.start()
        result = await writer.run(unit_or_command)
        await writer.stop()
    """

    def __init__(self, engine: AsyncEngine, *, max_batch: int = 256) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._raw: RawStore | None = None
        self.batches = 0
        self.units = 0

    async def start(self) -> None:
        if self._task is None:
            self._raw = await open_raw_store(self._engine.url.render_as_string(hide_password=False))
            self._task = asyncio.create_task(self._loop(), name="group-commit-writer")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        self._queue.put_nowait(None)
        await self._task
        self._task = None
        if self._raw is not None:
            await self._raw.close()
            self._raw = None

    @overload
    async def run(self, work: Unit[T]) -> T: ...

    @overload
    async def run(self, work: Batchable) -> Any: ...

    async def run(self, work: Unit[T] | Batchable) -> Any:
        """Run `work` in a transaction shared with other waiting work; return after the commit."""
        if self._task is None:
            raise RuntimeError("the writer is not running")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((work, future))
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

    async def _commit(self, batch: list[_Item]) -> None:
        """Commands share one transaction on the raw connection, units one on the engine; each
        group commits and answers on its own, so a failure in one never replays the other."""
        commands = [item for item in batch if _is_command(item[0])]
        units = [item for item in batch if not _is_command(item[0])]
        shared = [item for item in units if not getattr(item[0], _ALONE, False)]
        lone = [[item] for item in units if getattr(item[0], _ALONE, False)]
        for group in (commands, shared, *lone):
            if group:
                await self._commit_group(group)

    async def _commit_group(self, group: list[_Item], *, retry_conflict: bool = True) -> None:
        try:
            if _is_command(group[0][0]):
                results = await self._run_commands(group)
            else:
                results = await self._run_units(group)
        except Exception as exc:
            if len(group) == 1:
                if retry_conflict and is_unique_violation(exc):
                    # Another process committed the same unique key first; rerun so the work's
                    # own reads see that row and it can report the conflict as a result.
                    await self._commit_group(group, retry_conflict=False)
                    return
                self._settle(group[0][1], exc=exc)
                return
            log.info("write batch of %d failed (%s); rerunning it piece by piece", len(group), exc)
            for item in group:
                await self._commit_group([item])
            return
        self.batches += 1
        self.units += len(group)
        for (_work, future), result in zip(group, results, strict=True):
            self._settle(future, result=result)

    async def _run_commands(self, group: list[_Item]) -> list[Any]:
        assert self._raw is not None
        results: list[Any] = [None] * len(group)
        kinds: dict[type[Any], list[int]] = {}
        for index, (work, _future) in enumerate(group):
            kinds.setdefault(type(work), []).append(index)
        async with self._raw.transaction() as tx:
            for kind, indexes in kinds.items():
                written = await kind.run_batch(tx, [group[i][0] for i in indexes])
                for index, result in zip(indexes, written, strict=True):
                    results[index] = result
        return results

    async def _run_units(self, group: list[_Item]) -> list[Any]:
        results: list[Any] = []
        async with self._engine.connect() as conn, conn.begin():
            for work, _future in group:
                results.append(await work(conn))  # type: ignore[operator]
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


def _is_command(work: _Work) -> bool:
    return hasattr(type(work), "run_batch")
