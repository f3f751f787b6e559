"""The latest reading of every robot, held in memory and written to the database in batches.

A fleet reports about once a second per robot. A reading that changes no state (a robot on
the move, an idle robot's heartbeat) is taken here in microseconds and written, with every
other robot's, by one transaction every `telemetry_flush_interval_s` (group commit). Each
write is guarded so that an older reading never replaces a newer one, also when several
processes ingest for one fleet. Anything that changes a state (a fault, going offline,
charging, back from offline) goes through the full use case at once, in its own transaction.

What a process knows of a robot's state follows the database: each flush reads back the state
of the robots it wrote (so what another process changed shows within a flush), a change made in
this process forgets the robot's view at once (its next reading reads it afresh), and a reading
that reports a state is checked against a view no older than `robot_view_max_age_s`.

The window: a process killed between two flushes loses the readings taken since the last one
(at most `telemetry_flush_interval_s`), never a state change."""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Engine, Select, Table, bindparam, select
from sqlalchemy.orm import Session

from sidewalk.kernel.clock import Clock
from sidewalk.kernel.db import OneOrMany, among
from sidewalk.kernel.flusher import Flusher
from sidewalk.kernel.geo import LatLng, ServiceAreas
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    RobotConfig,
    RobotState,
    crosses_interval,
)
from sidewalk.operations.models import Robot, Task
from sidewalk.operations.position_store import (
    StoredRow,
    refreshed,
    stored_rows,
    write_readings,
)
from sidewalk.operations.uow import OperationsUnitOfWork, OpsEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RobotView:
    """A robot as the service last knew it, with the newest reading taken: what the telemetry
    route answers, and what readers in this process see before the next flush."""

    serial: str
    display_name: str
    state: RobotState
    hub_id: str | None
    lat: float | None
    lng: float | None
    battery_pct: float | None
    area_id: str | None
    speed_mps: float
    battery_low_pct: float
    battery_reserve_pct: float
    drain_pct_per_km: float
    last_seen_at: datetime | None
    reading_at: datetime | None
    state_changed_at: datetime
    created_at: datetime

    @property
    def config(self) -> RobotConfig:
        return RobotConfig(
            speed_mps=self.speed_mps,
            battery_low_pct=self.battery_low_pct,
            battery_reserve_pct=self.battery_reserve_pct,
            drain_pct_per_km=self.drain_pct_per_km,
        )

    @classmethod
    def of(cls, robot: Robot) -> "RobotView":
        return cls(**{name: getattr(robot, name) for name in _VIEW_FIELDS})


_VIEW_FIELDS = tuple(RobotView.__dataclass_fields__)


def stored_views(session: Session) -> list[RobotView]:
    """Every robot as stored, in serial order, read as plain views: a board of thousands of
    robots, read every few seconds, costs no ORM object."""
    query = _views().order_by(Robot.serial)
    return [RobotView(*row) for row in session.execute(query)]


def _views() -> Select[Any]:
    """The columns of the robots' table that make a view, in the view's order."""
    t = cast(Table, Robot.__table__)
    return select(*(t.c[name] for name in _VIEW_FIELDS))


# Built once: a robot this process does not know is looked up at its first reading.
_VIEW_OF_ROBOT = _views().where(Robot.serial == bindparam("serial"))

# What a use case records when it changes what a view holds (a reading's own use case tells
# the view itself, `know`).
_CHANGES_VIEW = frozenset({"robot.state_changed", "robot.registered"})


@dataclass(slots=True)
class _Entry:
    view: RobotView
    known_at: float  # monotonic time the view's state was read from the database
    forgotten: bool = False  # changed by a use case here since: read it again
    dirty: bool = False  # a reading not yet written
    tell: bool = False  # an on-task robot's position is due to be told (`robot.position`)
    taken: int = 0  # readings taken here, to tell which ones a use case has seen
    stored: StoredRow | None = None  # the row read back at the last flush, as the driver gave it


@dataclass(frozen=True, slots=True)
class Reading:
    lat: float
    lng: float
    battery_pct: float
    taken: datetime


Decide = Callable[[RobotView, Reading, bool], bool]


class LivePositions:
    """The in-memory readings of one process and their writer. `take` is called on the event
    loop or any thread; `flush` runs on a thread of its own (`start`) or, without one, from
    `take` itself when the interval has passed by the platform's clock (the simulator)."""

    def __init__(
        self,
        uow: Callable[[], OperationsUnitOfWork],
        clock: Clock,
        areas: ServiceAreas,
        *,
        reader: Engine,
        flush_interval_s: float,
        max_age_s: float,
        position_event_s: float,
    ) -> None:
        """`reader` reads a robot afresh without a write transaction (on SQLite, one that
        takes no write lock: the robot's reading never waits for another use case)."""
        self._uow, self._clock, self._areas, self._reader = uow, clock, areas, reader
        self._looker = ThreadPoolExecutor(max_workers=2, thread_name_prefix="robot-look")
        self._interval, self._max_age = flush_interval_s, max_age_s
        self._position_event_s = position_event_s
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()  # guards the entries
        self._flushing = threading.Lock()  # one flush at a time
        self._last_flush = clock.now()
        # Each app serving the service starts and stops it; it runs while any of them does.
        self._writer = Flusher(self.flush, flush_interval_s, name="live-positions")
        self.start, self.stop = self._writer.start, self._writer.stop

    # --- taking readings ------------------------------------------------------------------

    def take(
        self, serial: str, reading: Reading, changes_state: Decide, *, says_state: bool = False
    ) -> RobotView | None:
        """Keep `reading` if it changes no state (`changes_state(view, reading, fresh)` says);
        the robot as it now stands, or None when it must be read afresh or taken by the full
        use case: the robot is not known here or was changed here since, its state changes,
        or the reading `says_state` and the view is older than `max_age_s` (what another
        process changed shows at the next flush; a reported state is checked against a view
        no older than that)."""
        monotonic = time.monotonic()
        with self._lock:
            entry = self._entries.get(serial)
            if entry is None or entry.forgotten:
                return None
            if says_state and monotonic - entry.known_at > self._max_age:
                return None
            view = entry.view
            fresh = view.reading_at is None or reading.taken >= view.reading_at
            if changes_state(view, reading, fresh):
                return None
            now = self._clock.now()
            if fresh:
                area = self._areas.containing(LatLng(reading.lat, reading.lng))
                entry.tell |= view.state is RobotState.ON_TASK and crosses_interval(
                    view.reading_at, reading.taken, self._position_event_s
                )
                view = replace(
                    view,
                    lat=reading.lat,
                    lng=reading.lng,
                    battery_pct=reading.battery_pct,
                    reading_at=reading.taken,
                    area_id=area.id if area else None,
                    last_seen_at=now,
                )
            else:
                view = replace(view, last_seen_at=now)
            entry.view, entry.dirty = view, True
            entry.taken += 1
        if not self._writer.running and (now - self._last_flush).total_seconds() >= self._interval:
            self.flush()
        return view

    def look(self, serial: str) -> RobotView | None:
        """The robot as the database has it now, remembered here (None: no such robot)."""
        with self._reader.connect() as connection:
            row = connection.execute(_VIEW_OF_ROBOT, {"serial": serial}).one_or_none()
        if row is None:
            return None
        return self.know(RobotView(**row._mapping))

    def close(self) -> None:
        self._looker.shutdown(wait=True)
        self._reader.dispose()

    def know(self, robot: Robot | RobotView, *, through: int | None = None) -> RobotView:
        """What the database says of the robot now, read (or written, by a use case that saw
        the readings held here `through` that count) in a committed transaction. A reading
        taken here since, or one not yet written that is as new, stays, to be written."""
        fresh = robot if isinstance(robot, RobotView) else RobotView.of(robot)
        with self._lock:
            entry = self._entries.get(fresh.serial)
            keep = (
                entry is not None
                and entry.dirty
                and (through is None or entry.taken > through)
                and _newer(entry.view, fresh)
            )
            if entry is not None and keep:
                fresh = _with_reading(fresh, entry.view)
                entry.view, entry.known_at, entry.forgotten = fresh, time.monotonic(), False
            else:
                taken = entry.taken if entry is not None else 0
                self._entries[fresh.serial] = _Entry(fresh, time.monotonic(), taken=taken)
        return fresh

    def pending(self, serial: str) -> tuple[RobotView | None, int]:
        """The robot's reading not yet written, if any, and how many were taken so far (for
        the full use case to start from, and to say so to `know`)."""
        with self._lock:
            entry = self._entries.get(serial)
            if entry is None:
                return None, 0
            return (entry.view if entry.dirty else None), entry.taken

    def observe(self, events: Sequence[OpsEvent]) -> None:
        """An observer of the unit of work: a robot whose state changed here, or that was
        registered, is read afresh at its next reading (its unwritten reading stays)."""
        changed = {e.robot_serial for e in events if e.type in _CHANGES_VIEW and e.robot_serial}
        with self._lock:
            for serial in changed:
                entry = self._entries.get(serial)
                if entry is not None:
                    entry.forgotten = True

    async def look_async(self, serial: str) -> RobotView | None:
        """`look` on a thread of its own, which never waits behind use cases for a thread."""
        return await asyncio.get_running_loop().run_in_executor(self._looker, self.look, serial)

    def overlay(self, robots: Sequence[Robot]) -> list[Robot | RobotView]:
        """`robots` as read from the database, each with its newer reading taken here."""
        with self._lock:
            shown: list[Robot | RobotView] = []
            for robot in robots:
                entry = self._entries.get(robot.serial)
                stored = RobotView.of(robot) if entry is not None and entry.dirty else None
                if entry is not None and stored is not None and _newer(entry.view, stored):
                    shown.append(_with_reading(stored, entry.view))
                else:
                    shown.append(robot)
            return shown

    # --- writing them ---------------------------------------------------------------------

    def flush(self) -> int:
        """Write every reading taken since the last flush in one transaction, tell the
        positions that are due, and read back the state of the robots written. How many
        robots were written; never raises (what failed stays, to be written next time)."""
        with self._flushing:
            with self._lock:
                batch = {s: (e.view, e.tell) for s, e in self._entries.items() if e.dirty}
                for entry in self._entries.values():
                    entry.dirty = entry.tell = False
            self._last_flush = self._clock.now()
            if not batch:
                return 0
            try:
                fresh = self._write(batch)
            except Exception:
                log.exception("%d robots' readings were not written; trying again", len(batch))
                self._requeue(batch)
                return 0
            self._refresh(fresh)
            return len(batch)

    def _write(self, batch: dict[str, tuple[RobotView, bool]]) -> list[StoredRow]:
        with self._uow() as uow:
            connection = uow.connection
            write_readings(connection, (view for view, _ in batch.values()))
            due = [v for v, tell in batch.values() if tell]
            if due:
                _tell_positions(uow, due)
            fresh = stored_rows(connection, sorted(batch))
            uow.commit()
        return fresh

    def _refresh(self, rows: list[StoredRow]) -> None:
        """Views whose stored state changed under them (another process's use case) take it;
        a row read as it was last time costs a comparison."""
        known_at = time.monotonic()
        entries = self._entries
        for row in rows:
            held = entries.get(row[0])
            if held is None:
                continue
            if held.stored == row:
                held.known_at = known_at
                continue
            values = refreshed(row)
            with self._lock:
                if not held.forgotten:
                    held.view = replace(held.view, **values)
                    held.known_at, held.stored = known_at, row

    def _requeue(self, batch: dict[str, tuple[RobotView, bool]]) -> None:
        with self._lock:
            for serial, (_, tell) in batch.items():
                entry = self._entries.get(serial)
                if entry is not None:
                    entry.dirty, entry.tell = True, entry.tell or tell


def _newer(mine: RobotView, theirs: RobotView) -> bool:
    """Whether `mine` was taken after `theirs`, or at the same time: readings are held in
    arrival order, so the one held here came after the one written."""
    return mine.reading_at is not None and (
        theirs.reading_at is None or mine.reading_at >= theirs.reading_at
    )


def _with_reading(view: RobotView, reading: RobotView) -> RobotView:
    return replace(
        view,
        lat=reading.lat,
        lng=reading.lng,
        battery_pct=reading.battery_pct,
        reading_at=reading.reading_at,
        area_id=reading.area_id,
        last_seen_at=max(filter(None, (view.last_seen_at, reading.last_seen_at)), default=None),
    )


def _tell_positions(uow: OperationsUnitOfWork, due: list[RobotView]) -> None:
    """`robot.position` for each robot on a delivery (or bringing its goods back) whose
    interval came round, in the flush's transaction."""
    by_serial = {v.serial: v for v in due}
    found = uow.connection.execute(*_CARRYING.pick(sorted(by_serial)))
    for task in found:
        robot = by_serial[task.robot_serial]
        assert robot.reading_at is not None
        tell_position(uow, task, robot, robot.reading_at)


# The delivery (or return) tasks of robots, built once: every flush with a position due asks.
_TASKS_CARRYING = select(
    Task.id, Task.type, Task.robot_serial, Task.delivery_id, Task.attempt_id
).where(among(Task.status, ACTIVE_TASK), Task.delivery_id.is_not(None))
_CARRYING = OneOrMany(_TASKS_CARRYING.where, Task.robot_serial, "serials")


def tell_position(
    uow: OperationsUnitOfWork, task: Any, robot: Robot | RobotView, taken: datetime
) -> None:
    """`robot.position`: where the robot carrying out `task` (a delivery, or bringing its goods
    back) is, for the merchant and their customer."""
    uow.record(
        "robot.position",
        task_id=task.id,
        robot_serial=robot.serial,
        delivery_id=task.delivery_id,
        attempt_id=task.attempt_id,
        data={
            "task_type": task.type.value,
            "lat": robot.lat,
            "lng": robot.lng,
            "battery_pct": robot.battery_pct,
            "taken_at": taken.isoformat(),
        },
    )
