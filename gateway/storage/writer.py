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

On PostgreSQL a batch of one kind of command may also commit as one statement of its own, with no
`BEGIN` and `COMMIT` (`run_in_one_statement`): one round trip instead of four or five, each a
wake-up of a server process on a busy machine. That statement checks its own preconditions (no
known key, leases held, days open) and writes nothing when one fails; the batch then takes the
transaction. Batches that mix kinds (high load only) take the transaction.

On PostgreSQL a command kind may ask for a *lane* of its own (`lane = "..."`): its batches then
commit on a connection of their own, beside the other writes instead of between them. A batch
on PostgreSQL is a few round trips, each waiting for the server to get a core on a busy machine,
so a payment's first commit waiting for the last one's second doubled the wait. Only commands
that touch nothing the others lock may do so (`BeginPayment` inserts rows no one else can see
yet): two lanes must never wait for each other. SQLite has one writer at a time: one lane.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gateway.storage.raw import RawStore, RawTransaction, is_unique_violation, open_raw_store

__all__ = ["Batchable", "GroupCommitWriter", "Unit", "in_own_transaction"]

T = TypeVar("T")
Unit = Callable[[AsyncConnection], Awaitable[T]]

log = logging.getLogger(__name__)


_ALONE = "__gateway_commits_alone__"


def in_own_transaction(unit: Unit[T]) -> Unit[T]:
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
    # Optionally `lane: ClassVar[str]`: commit on a lane of its own (PostgreSQL, see above),
    # and `run_in_one_statement(db: OneStatement, commands) -> list | None`: the whole batch
    # in one statement, or None having written nothing (see above).

    @classmethod
    async def run_batch(cls, tx: RawTransaction, commands: Sequence[Any]) -> list[Any]:
        """Write all `commands` (all of this kind); results in the same order."""
        ...


_Work = Unit[Any] | Batchable
_Item = tuple[_Work, "asyncio.Future[Any]"]

_MAIN = "main"


@dataclasses.dataclass(frozen=True, slots=True)
class _Lane:
    """A queue of writes, the task committing them in groups, and its own connection."""

    queue: asyncio.Queue[_Item | None]
    task: asyncio.Task[None]
    raw: RawStore


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
        self._url = engine.url.render_as_string(hide_password=False)
        self._max_batch = max_batch
        self._lanes: dict[str, _Lane] = {}
        self._running = False
        self.batches = 0
        self.units = 0

    async def start(self) -> None:
        if not self._running:
            await self._open_lane(_MAIN)
            self._running = True

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if not self._running:
            return
        self._running = False
        lanes = list(self._lanes.values())
        self._lanes.clear()
        for lane in lanes:
            lane.queue.put_nowait(None)
        for lane in lanes:
            await lane.task
            await lane.raw.close()

    @overload
    async def run(self, work: Unit[T]) -> T: ...

    @overload
    async def run(self, work: Batchable) -> Any: ...

    async def run(self, work: Unit[T] | Batchable) -> Any:
        """Run `work` in a transaction shared with other waiting work; return after the commit."""
        if not self._running:
            raise RuntimeError("the writer is not running")
        name = getattr(type(work), "lane", None) if _is_command(work) else None
        if name is None or self._url.startswith("sqlite"):
            name = _MAIN
        lane = self._lanes.get(name) or await self._open_lane(name)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        lane.queue.put_nowait((work, future))
        # The commit happens whether or not our caller is still waiting for it.
        return await asyncio.shield(future)

    async def _open_lane(self, name: str) -> _Lane:
        raw = await open_raw_store(self._url)
        if name in self._lanes:  # another request opened it meanwhile
            await raw.close()
            return self._lanes[name]
        if name != _MAIN and not self._running:  # stopped while we connected
            await raw.close()
            raise RuntimeError("the writer is not running")
        queue: asyncio.Queue[_Item | None] = asyncio.Queue()
        task = asyncio.create_task(self._loop(queue, raw), name=f"group-commit-writer:{name}")
        self._lanes[name] = lane = _Lane(queue, task, raw)
        return lane

    async def _loop(self, queue: asyncio.Queue[_Item | None], raw: RawStore) -> None:
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            batch: list[_Item] = [first]
            while len(batch) < self._max_batch:
                try:
                    item = queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            await self._commit(raw, batch)

    async def _commit(self, raw: RawStore, batch: list[_Item]) -> None:
        """Commands share one transaction on the raw connection, units one on the engine; each
        group commits and answers on its own, so a failure in one never replays the other."""
        commands = [item for item in batch if _is_command(item[0])]
        units = [item for item in batch if not _is_command(item[0])]
        shared = [item for item in units if not getattr(item[0], _ALONE, False)]
        lone = [[item] for item in units if getattr(item[0], _ALONE, False)]
        for group in (commands, shared, *lone):
            if group:
                await self._commit_group(raw, group)

    async def _commit_group(
        self, raw: RawStore, group: list[_Item], *, retry_conflict: bool = True
    ) -> None:
        try:
            if _is_command(group[0][0]):
                results = await self._run_commands(raw, group)
            else:
                results = await self._run_units(group)
        except Exception as exc:
            if len(group) == 1:
                if retry_conflict and is_unique_violation(exc):
                    # Another process committed the same unique key first; rerun so the work's
                    # own reads see that row and it can report the conflict as a result.
                    await self._commit_group(raw, group, retry_conflict=False)
                    return
                self._settle(group[0][1], exc=exc)
                return
            log.info("write batch of %d failed (%s); rerunning it piece by piece", len(group), exc)
            for item in group:
                await self._commit_group(raw, [item])
            return
        self.batches += 1
        self.units += len(group)
        for (_work, future), result in zip(group, results, strict=True):
            self._settle(future, result=result)

    async def _run_commands(self, raw: RawStore, group: list[_Item]) -> list[Any]:
        results: list[Any] = [None] * len(group)
        kinds: dict[type[Any], list[int]] = {}
        for index, (work, _future) in enumerate(group):
            kinds.setdefault(type(work), []).append(index)
        if len(kinds) == 1:
            [(kind, indexes)] = kinds.items()
            alone = raw.alone()
            in_one = getattr(kind, "run_in_one_statement", None)
            if alone is not None and in_one is not None:
                written = await in_one(alone, [group[i][0] for i in indexes])
                if written is not None:
                    return list(written)
        async with raw.transaction() as tx:
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
