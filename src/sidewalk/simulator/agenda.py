"""The simulation's timetable: actions due at simulated seconds, run in time order (ties in
the order they were planned), with the platform's clock set to each action's time."""

import heapq
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

Action = Callable[[], None]


class SettableClock(Protocol):
    def now(self) -> datetime: ...

    def set(self, at: datetime) -> None: ...


class Agenda:
    """`steers_clock`: whether running an action sets the clock to its time (as fast as
    possible); a live run turns it off and waits for the clock instead."""

    def __init__(self, clock: SettableClock, start: datetime) -> None:
        self._clock, self._start = clock, start
        self.steers_clock = True
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

    def catch_up(self, t: float) -> None:
        """Live: what happens next happens at `t` at the earliest (the clock has moved on)."""
        self.now_s = max(self.now_s, t)

    def set_clock(self, t: float) -> None:
        self._clock.set(self.time_at(t))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def run_next(self) -> None:
        """Move the clock to the earliest action and run it."""
        t, _, action = heapq.heappop(self._heap)
        if t > self.now_s:  # live, the agenda may have been brought past it already
            self.now_s = t
            if self.steers_clock:
                self._clock.set(self.time_at(t))
        action()
