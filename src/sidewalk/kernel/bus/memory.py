"""The in-process bus of the embedded one-process mode and of tests: the same contract as
NATS, kept in memory for as long as the process lives. Events are stored as their JSON, so a
payload that NATS would refuse fails here too, and each handler gets its own copy.

Publishers and subscribers may run on different event loops (threads): the log and cursors
sit behind a lock and each subscription is woken on its own loop. A subscription is stopped on
its own loop, and `close()` on the loop of all of them."""

import asyncio
import contextlib
import heapq
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

from sidewalk.kernel.bus.base import (
    Backoff,
    Bus,
    Handler,
    Subscription,
    check_consumer,
    check_types,
    run_handler,
)
from sidewalk.kernel.events import Envelope

Outcome = Literal["acked", "failed", "released"]


@dataclass
class _Consumer:
    """A durable consumer: how far it has read, and what it owes again."""

    name: str
    types: frozenset[str] | None
    next_index: int = 0
    retries: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, index)
    deliveries: dict[int, int] = field(default_factory=dict)  # unacked index → times delivered
    subscriptions: set["MemorySubscription"] = field(default_factory=set)


class MemoryBus(Bus):
    def __init__(self, *, retry_backoff: float = 0.5, max_retry_backoff: float = 30.0) -> None:
        self._backoff = Backoff(retry_backoff, max_retry_backoff)
        self._lock = threading.Lock()
        self._log: list[tuple[str, bytes]] = []  # (type, JSON) in publication order
        self._ids: set[str] = set()
        self._consumers: dict[str, _Consumer] = {}
        self._closed = False

    async def publish(self, envelope: Envelope, *, timeout: float | None = None) -> None:
        data = envelope.to_json()
        with self._lock:
            self._check_open()
            if envelope.id in self._ids:
                return
            self._ids.add(envelope.id)
            self._log.append((envelope.type, data))
            waiting = [s for c in self._consumers.values() for s in c.subscriptions]
        for subscription in waiting:
            subscription.wake()

    async def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None
    ) -> "MemorySubscription":
        check_consumer(consumer)
        wanted = check_types(types)
        with self._lock:
            self._check_open()
            state = self._consumers.setdefault(consumer, _Consumer(consumer, wanted))
            if state.types != wanted:
                raise ValueError(
                    f"consumer {consumer!r} exists for types {_describe(state.types)}, "
                    f"not {_describe(wanted)}: use another name for another filter"
                )
            subscription = MemorySubscription(self, state, handler)
            state.subscriptions.add(subscription)
        subscription.start()
        return subscription

    async def close(self) -> None:
        with self._lock:
            self._closed = True
            running = [s for c in self._consumers.values() for s in c.subscriptions]
        await asyncio.gather(*(s.stop() for s in running))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")

    def _take(self, consumer: _Consumer) -> tuple[int, bytes] | float | None:
        """The next event for `consumer` as (index, JSON): a due retry first, else the next
        unread one of its types. Without one, the seconds until a retry falls due, or None."""
        with self._lock:
            now = time.monotonic()
            if consumer.retries and consumer.retries[0][0] <= now:
                _, index = heapq.heappop(consumer.retries)
            else:
                while consumer.next_index < len(self._log) and not _wants(
                    consumer, self._log[consumer.next_index][0]
                ):
                    consumer.next_index += 1
                if consumer.next_index == len(self._log):
                    return consumer.retries[0][0] - now if consumer.retries else None
                index = consumer.next_index
                consumer.next_index += 1
            consumer.deliveries[index] = consumer.deliveries.get(index, 0) + 1
            return index, self._log[index][1]

    def _settle(self, consumer: _Consumer, index: int, outcome: Outcome) -> None:
        """Ack the event, or owe it again: after a backoff if the handler failed, at once if
        its subscription let go of it unhandled."""
        with self._lock:
            if outcome == "acked":
                del consumer.deliveries[index]
                return
            delay = self._backoff.after(consumer.deliveries[index]) if outcome == "failed" else 0
            heapq.heappush(consumer.retries, (time.monotonic() + delay, index))
            others = list(consumer.subscriptions)
        for subscription in others:  # a sibling may have to take it over
            subscription.wake()

    def _leave(self, subscription: "MemorySubscription") -> None:
        with self._lock:
            subscription.state.subscriptions.discard(subscription)


class MemorySubscription(Subscription):
    """One worker task of a consumer, handling its events one at a time."""

    def __init__(self, bus: MemoryBus, state: _Consumer, handler: Handler) -> None:
        self.consumer = state.name
        self.state = state
        self._bus, self._handler = bus, handler
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=f"bus consumer {self.consumer}")

    def wake(self) -> None:
        """Tell the worker there may be something new; safe from any thread."""
        with contextlib.suppress(RuntimeError):  # its loop is closed: nothing left to wake
            self._loop.call_soon_threadsafe(self._woken.set)

    async def stop(self) -> None:
        self._stopping = True
        self.wake()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            await task

    async def _run(self) -> None:
        try:
            while not self._stopping:
                self._woken.clear()  # before looking, so a publish meanwhile is not missed
                taken = self._bus._take(self.state)
                if isinstance(taken, tuple):
                    await self._deliver(*taken)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), timeout=taken)
        finally:
            self._bus._leave(self)

    async def _deliver(self, index: int, data: bytes) -> None:
        outcome: Outcome = "released"
        try:
            envelope = Envelope.from_json(data)
            ok = await run_handler(self._handler, envelope, consumer=self.consumer)
            outcome = "acked" if ok else "failed"
        finally:
            self._bus._settle(self.state, index, outcome)


def _wants(consumer: _Consumer, event_type: str) -> bool:
    return consumer.types is None or event_type in consumer.types


def _describe(types: frozenset[str] | None) -> str:
    return "all" if types is None else ", ".join(sorted(types))
