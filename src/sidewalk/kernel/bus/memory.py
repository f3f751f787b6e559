"""The in-process bus of the embedded one-process mode and of tests: the same contract as
NATS, kept in memory. Events are stored as their JSON, so a payload that NATS would refuse
fails here too, and each handler gets its own copy.

Memory is bounded, as the embedded mode may run for days. The log keeps an event only until
every known consumer has acked it (a consumer whose first subscription comes later gets what
is still kept, so subscribe every consumer before publishing, as the event runtime does), and
never more than `max_events`: past that the oldest go, acked or not, and a consumer that had
not handled them is told in a warning how many it lost. Publishing an id again is ignored
while it is among the last `dedup_window` ids published, whether or not its event is still
kept. Cursors count publications since the bus was made; `_offset` is the index of the first
event kept.

Publishers and subscribers may run on different event loops (threads): the log and cursors
sit behind a lock and each subscription is woken on its own loop. A subscription is stopped on
its own loop, and `close()` on the loop of all of them."""

import asyncio
import contextlib
import heapq
import logging
import threading
import time
from collections import deque
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

log = logging.getLogger(__name__)

Outcome = Literal["acked", "failed", "released"]

DEFAULT_MAX_EVENTS = 100_000
DEFAULT_DEDUP_WINDOW = 100_000
LOSS_REPORT_EVERY_S = 10.0  # a consumer losing events is warned of at most this often


@dataclass
class _Consumer:
    """A durable consumer: how far it has read, and what it owes again."""

    name: str
    types: frozenset[str] | None
    next_index: int = 0
    retries: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, index)
    deliveries: dict[int, int] = field(default_factory=dict)  # unacked index → times delivered
    in_hand: set[int] = field(default_factory=set)  # indexes a handler is working on now
    subscriptions: set["MemorySubscription"] = field(default_factory=set)
    lost: int = 0  # events of its types dropped before it acked them
    unreported: int = 0  # of those, not yet told in a warning
    reported_at: float = float("-inf")

    def floor(self) -> int:
        """The oldest index it may still need."""
        return min(self.deliveries, default=self.next_index)  # each is below next_index

    def wants(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types


class MemoryBus(Bus):
    def __init__(
        self,
        *,
        retry_backoff: float = 0.5,
        max_retry_backoff: float = 30.0,
        max_events: int = DEFAULT_MAX_EVENTS,
        dedup_window: int = DEFAULT_DEDUP_WINDOW,
    ) -> None:
        """`max_events` bounds the events kept for consumers that lag or never read;
        `dedup_window` how many of the last published ids are remembered."""
        if max_events < 1 or dedup_window < 1:
            raise ValueError("max_events and dedup_window must be at least 1")
        self._backoff = Backoff(retry_backoff, max_retry_backoff)
        self._max_events, self._dedup_window = max_events, dedup_window
        self._lock = threading.Lock()
        self._log: deque[tuple[str, bytes]] = deque()  # (type, JSON) in publication order
        self._offset = 0  # index of self._log[0]
        self._ids: set[str] = set()
        self._recent_ids: deque[str] = deque()  # self._ids in publication order
        self._consumers: dict[str, _Consumer] = {}
        self._closed = False

    @property
    def retained(self) -> int:
        """How many events the bus holds now."""
        with self._lock:
            return len(self._log)

    def lost(self, consumer: str) -> int:
        """How many events of its types `consumer` lost to `max_events` before acking them."""
        with self._lock:
            state = self._consumers.get(consumer)
            return state.lost if state is not None else 0

    async def publish(self, envelope: Envelope, *, timeout: float | None = None) -> None:
        data = envelope.to_json()
        with self._lock:
            self._check_open()
            if envelope.id in self._ids:
                return
            self._remember(envelope.id)
            self._log.append((envelope.type, data))
            while len(self._log) > self._max_events:
                self._drop_oldest()
            reports = self._loss_reports(time.monotonic())
            waiting = [s for c in self._consumers.values() for s in c.subscriptions]
        _warn(reports)
        for subscription in waiting:
            subscription.wake()

    async def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None
    ) -> "MemorySubscription":
        check_consumer(consumer)
        wanted = check_types(types)
        with self._lock:
            self._check_open()
            state = self._consumers.get(consumer)
            if state is None:  # a new consumer starts at the oldest event kept
                state = _Consumer(consumer, wanted, next_index=self._offset)
                self._consumers[consumer] = state
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
            reports = self._loss_reports(None)
        _warn(reports)
        await asyncio.gather(*(s.stop() for s in running))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")

    def _remember(self, event_id: str) -> None:
        self._ids.add(event_id)
        self._recent_ids.append(event_id)
        if len(self._recent_ids) > self._dedup_window:
            self._ids.discard(self._recent_ids.popleft())

    def _take(self, consumer: _Consumer) -> tuple[int, bytes] | float | None:
        """The next event for `consumer` as (index, JSON): a due retry first, else the next
        unread one of its types. Without one, the seconds until a retry falls due, or None."""
        with self._lock:
            now = time.monotonic()
            end = self._offset + len(self._log)
            while consumer.retries and consumer.retries[0][0] <= now:
                _, index = heapq.heappop(consumer.retries)
                if index in consumer.deliveries:  # else dropped meanwhile by `max_events`
                    break
            else:
                while consumer.next_index < end and not consumer.wants(
                    self._log[consumer.next_index - self._offset][0]
                ):
                    consumer.next_index += 1
                if consumer.next_index == end:
                    self._trim()  # it has caught up: what all have acked can go
                    return consumer.retries[0][0] - now if consumer.retries else None
                index = consumer.next_index
                consumer.next_index += 1
            consumer.deliveries[index] = consumer.deliveries.get(index, 0) + 1
            consumer.in_hand.add(index)
            return index, self._log[index - self._offset][1]

    def _settle(self, consumer: _Consumer, index: int, outcome: Outcome) -> None:
        """Ack the event, or owe it again: after a backoff if the handler failed, at once if
        its subscription let go of it unhandled. One dropped meanwhile is lost if not acked."""
        with self._lock:
            consumer.in_hand.discard(index)
            if outcome == "acked" or index < self._offset:
                del consumer.deliveries[index]
                if outcome != "acked":
                    self._count_loss(consumer, 1)
                self._trim()
                reports = self._loss_reports(time.monotonic())
                others = []
            else:
                reports = []
                delay = (
                    self._backoff.after(consumer.deliveries[index]) if outcome == "failed" else 0
                )
                heapq.heappush(consumer.retries, (time.monotonic() + delay, index))
                others = list(consumer.subscriptions)
        _warn(reports)
        for subscription in others:  # a sibling may have to take it over
            subscription.wake()

    def _trim(self) -> None:
        """Drop the events every known consumer is done with (none while none is known, so a
        first consumer still gets what was published before it)."""
        if not self._consumers:
            return
        floor = min(c.floor() for c in self._consumers.values())
        while self._offset < floor:
            self._log.popleft()
            self._offset += 1

    def _drop_oldest(self) -> None:
        """Make room: drop the oldest event, counting it lost for each consumer that had not
        handled it (one a handler holds now is counted only if it is not acked)."""
        index, (event_type, _) = self._offset, self._log.popleft()
        self._offset += 1
        for consumer in self._consumers.values():
            if index >= consumer.next_index:
                consumer.next_index = self._offset
                if consumer.wants(event_type):
                    self._count_loss(consumer, 1)
            elif index in consumer.deliveries and index not in consumer.in_hand:
                del consumer.deliveries[index]  # its entry in `retries` is skipped when due
                self._count_loss(consumer, 1)

    def _count_loss(self, consumer: _Consumer, count: int) -> None:
        consumer.lost += count
        consumer.unreported += count

    def _loss_reports(self, now: float | None) -> list[tuple[str, int, int]]:
        """(consumer, lost since the last report, lost in all) for the consumers due a
        warning: the first loss at once, then at most every `LOSS_REPORT_EVERY_S` seconds;
        every one still untold when `now` is None."""
        reports = []
        for c in self._consumers.values():
            if c.unreported and (now is None or now - c.reported_at >= LOSS_REPORT_EVERY_S):
                reports.append((c.name, c.unreported, c.lost))
                c.unreported = 0
                if now is not None:
                    c.reported_at = now
        return reports

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


def _warn(reports: list[tuple[str, int, int]]) -> None:
    for consumer, lately, total in reports:
        log.warning(
            "memory bus: consumer %s lost %d event(s) it had not handled (%d in all): it lags "
            "more than max_events behind",
            consumer,
            lately,
            total,
        )


def _describe(types: frozenset[str] | None) -> str:
    return "all" if types is None else ", ".join(sorted(types))
