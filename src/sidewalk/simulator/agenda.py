"""The simulation's timetable: actions due at simulated seconds, run in time order (ties in
the order they were planned), with the platform's clock set to each action's time."""

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta

from sidewalk.kernel.clock import ManualClock

Action = Callable[[], None]


class Agenda:
    def __init__(self, clock: ManualClock, start: datetime) -> None:
        self._clock, self._start = clock, start
        self._heap: list[tuple[float, int, Action]] = []
        self._order = itertools.count()
        self.now_s = 0.0
        clock.set(start)

    def at(self, t: float, action: Action) -> None:
        heapq.heappush(self._heap, (max(t, self.now_s), next(self._order), action))

    def after(self, seconds: float, action: Action) -> None:
        self.at(self.now_s + seconds, action)

    def time_at(self, t: float) -> datetime:
        return self._start + timedelta(seconds=t)

    def seconds_at(self, at: datetime) -> float:
        return (at - self._start).total_seconds()

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_next(self) -> None:
        """Move the clock to the earliest action and run it."""
        t, _, action = heapq.heappop(self._heap)
        if t != self.now_s:
            self.now_s = t
            self._clock.set(self.time_at(t))
        action()
