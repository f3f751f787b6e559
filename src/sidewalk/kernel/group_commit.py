"""Group commit: concurrent writes of one kind share one transaction. Each request adds its
item to the batch of its event loop and awaits it; one writer task per loop commits a whole
batch at a time while the next one fills. A burst of N writes costs one transaction instead
of N. The write is a coroutine: it must not block the loop for long (an async driver, or a
local file written in well under a millisecond)."""

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

T = TypeVar("T")


@dataclass
class _Batch(Generic[T]):
    items: list[T] = field(default_factory=list)
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


@dataclass
class _LoopState(Generic[T]):
    filling: _Batch[T] = field(default_factory=_Batch)
    writers: "set[asyncio.Task[None]]" = field(default_factory=set)
    # The writer started and yet to take its first batch: no other is started meanwhile.
    starting: "asyncio.Task[None] | None" = None


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        close: Callable[[], Awaitable[None]] | None = None,
        max_batch: int = 256,
        writers: int = 1,
    ) -> None:
        """`write(items)` must write all the items in one transaction, or none of them;
        `close()` releases what the writer holds for the running event loop. With `writers`
        above one, that many batches may be written at once (a database whose transactions
        wait on the network rather than on one lock: each batch then waits in parallel)."""
        self._write, self._close, self._max_batch = write, close, max_batch
        self._max_writers = writers
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
        if state.starting is None and len(state.writers) < self._max_writers:
            state.starting = loop.create_task(self._drain(state))
            state.writers.add(state.starting)
        await done

    async def aclose(self) -> None:
        """Wait for the batch being written on this loop, then release the writer's hold."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is not None and state.writers:
            await asyncio.gather(*state.writers)
        if self._close is not None:
            await self._close()

    async def _drain(self, state: _LoopState[T]) -> None:
        """Write batch after batch until none is left; what arrives meanwhile joins the next
        (or is taken by another writer, when more than one may write)."""
        me = cast("asyncio.Task[None]", asyncio.current_task())
        try:
            await asyncio.sleep(0)  # one turn of the loop: the requests already read join
            state.starting = None
            while state.filling.items:
                batch, state.filling = state.filling, _Batch()
                if len(batch.items) > self._max_batch:
                    cut = self._max_batch
                    state.filling.items[:0] = batch.items[cut:]
                    state.filling.waiters[:0] = batch.waiters[cut:]
                    batch = _Batch(batch.items[:cut], batch.waiters[:cut])
                errors = await self._write_all(batch.items)
                for waiter, error in zip(batch.waiters, errors, strict=True):
                    if waiter.done():  # its request went away; the write stands
                        continue
                    if error is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(error)
        finally:
            # At once, not in a done callback: an item submitted from now on starts a writer.
            state.writers.discard(me)
            if state.starting is me:
                state.starting = None

    async def _write_all(self, items: list[T]) -> list[BaseException | None]:
        """One transaction for all; if it fails, each on its own, so that one bad item does
        not fail its neighbours."""
        try:
            await self._write(items)
        except Exception as error:
            if len(items) == 1:
                return [error]
            return [e for item in items for e in await self._write_all([item])]
        return [None] * len(items)
