"""Group commit: concurrent writes of one kind share one transaction. Requests add their item
to the batch of their event loop and await it; one writer thread commits a whole batch at a
time while the next one fills. A burst of N writes costs one transaction and two thread
hand-offs instead of N of each, and the event loop never blocks on the database."""

import asyncio
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Batch(Generic[T]):
    items: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _LoopState(Generic[T]):
    filling: _Batch[T] = field(default_factory=_Batch)
    writer: "asyncio.Task[None] | None" = None


class GroupCommit(Generic[T]):
    def __init__(
        self, write: Callable[[list[T]], None], *, name: str, max_batch: int = 256
    ) -> None:
        """`write(items)` must write all the items in one transaction, or none of them."""
        self._write, self._max_batch = write, max_batch
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState[T]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, item: T) -> None:
        """Return once `item` is committed; raise what its write raised."""
        loop = asyncio.get_running_loop()
        state = self._loops.setdefault(loop, _LoopState())
        done: asyncio.Future[None] = loop.create_future()
        state.filling.items.append(item)
        state.filling.waiters.append(done)
        if state.writer is None:
            state.writer = loop.create_task(self._drain(loop, state))
        await done

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    async def _drain(self, loop: asyncio.AbstractEventLoop, state: _LoopState[T]) -> None:
        """Write batch after batch until none is left; what arrives meanwhile joins the next."""
        try:
            while state.filling.items:
                batch, state.filling = state.filling, _Batch()
                if len(batch.items) > self._max_batch:
                    cut = self._max_batch
                    state.filling.items[:0] = batch.items[cut:]
                    state.filling.waiters[:0] = batch.waiters[cut:]
                    batch = _Batch(batch.items[:cut], batch.waiters[:cut])
                errors = await loop.run_in_executor(self._executor, self._write_all, batch.items)
                for waiter, error in zip(batch.waiters, errors, strict=True):
                    if waiter.done():  # its request went away; the write stands
                        continue
                    if error is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(error)
        finally:
            state.writer = None

    def _write_all(self, items: list[T]) -> list[BaseException | None]:
        """One transaction for all; if it fails, each on its own, so that one bad item does
        not fail its neighbours."""
        try:
            self._write(items)
        except Exception as error:
            if len(items) == 1:
                return [error]
            return [e for item in items for e in self._write_all([item])]
        return [None] * len(items)
