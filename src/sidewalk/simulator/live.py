"""The simulation running live, for the demo: a clock that stands still while the city warms
up (run as fast as possible, so that the demo opens on a busy city), then runs `speed` times
faster than real time, with the agents acting when the clock reaches their time and the
platform's own loops (relays, consumers, dispatcher, courier network) doing the rest, as in
production. People may use the APIs meanwhile."""

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from sidewalk.operations.uow import OpsEvent
from sidewalk.simulator.robots import WAKING_EVENTS
from sidewalk.simulator.run import Simulation

log = logging.getLogger(__name__)


class DemoClock:
    """Set by hand until `go_live()`, then simulated time running `speed` times real time."""

    def __init__(self, start: datetime, speed: float) -> None:
        self._at, self._speed = start, speed
        self._since: float | None = None

    @property
    def speed(self) -> float:
        return self._speed

    def now(self) -> datetime:
        if self._since is None:
            return self._at
        return self._at + timedelta(seconds=(time.monotonic() - self._since) * self._speed)

    def set(self, at: datetime) -> None:
        if self._since is None:
            self._at = at

    def go_live(self) -> None:
        self._since = time.monotonic()


class LiveCity:
    """Runs the simulation's agents on a thread of their own, in step with a live clock."""

    def __init__(self, sim: Simulation, clock: DemoClock) -> None:
        self.sim, self.clock = sim, clock
        self.failures = 0
        self._wakes: queue.SimpleQueue[tuple[str, str]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulated-city", daemon=True)

    def warm_up(self, seconds: float) -> None:
        """Run the first `seconds` of the city as fast as possible."""
        self.sim.start_background()
        self.sim.run_until(seconds)

    def start(self) -> None:
        """Hand over to the platform's loops and follow the clock from here on."""
        self.sim.pump.drain()
        self.sim.pump.settle(self.clock.now())
        self.sim.live = True
        self.sim.world.agenda.steers_clock = False
        self.sim.world.platform.operations_observers.append(self._observe)
        self.clock.go_live()
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _observe(self, events: Sequence[OpsEvent]) -> None:
        """Told after each operations commit, on whatever thread made it."""
        for e in events:
            serial = e.robot_serial or e.data.get("robot_serial")
            if e.type in WAKING_EVENTS and serial in self.sim.robots:
                self._wakes.put((str(serial), e.type))

    def _run(self) -> None:
        agenda = self.sim.world.agenda
        while not self._stop.is_set():
            agenda.catch_up(agenda.seconds_at(self.clock.now()))
            try:
                while True:
                    serial, kind = self._wakes.get_nowait()
                    self._safely(partial(self.sim.robots[serial].wake, kind))
            except queue.Empty:
                pass
            now_s = agenda.seconds_at(self.clock.now())
            agenda.catch_up(now_s)
            due = agenda.next_due()
            if due is not None and due <= now_s:
                self._safely(agenda.run_next)
                continue
            wait = 0.05 if due is None else min(0.05, (due - now_s) / self.clock.speed)
            self._stop.wait(max(wait, 0.001))

    def _safely(self, action: Callable[[], None]) -> None:
        """An agent's step that fails (a race with a person using the APIs, say) is logged;
        the city goes on."""
        try:
            action()
        except Exception:
            self.failures += 1
            log.exception("a simulated agent's step failed")
