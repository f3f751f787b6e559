"""A simulated robot, behaving as a real one (or its gateway) does: it reports where it is
and how charged, asks for its task when told it has changed, drives each trip along the
straight way times the detour factor at its speed, waits at pickups and dropoffs, charges at a
hub, and now and then breaks down or meets a blocked path. It acts only through the
operations service's use cases, the ones behind the robot API."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import bindparam, select

from sidewalk.deliveries.models import Delivery
from sidewalk.kernel.errors import Conflict, Forbidden
from sidewalk.kernel.geo import LatLng, haversine_m
from sidewalk.operations import doorstep, reads, robots, tasks
from sidewalk.operations.domain import RobotState, TaskType, TripEvent, TripStatus, TripType
from sidewalk.operations.schemas import TaskRead, TripRead
from sidewalk.simulator.world import World

# The events that tell a robot's gateway to look at its task again.
WAKING_EVENTS = frozenset(
    {
        "task.assigned",
        "task.unassigned",
        "task.cancelled",
        "task.failed",
        "pilot.assigned",
        "task.awaiting_pilot",
    }
)


# What the tracking page shows the customer (the simulated customer reads it at the door).
_PIN = select(Delivery.unlock_pin).where(Delivery.id == bindparam("delivery_id"))


class Mode(StrEnum):
    IDLE = "idle"
    DRIVING = "driving"
    DWELLING = "dwelling"
    WAITING_PILOT = "waiting_pilot"
    CHARGING = "charging"
    FAULT = "fault"


@dataclass
class Leg:
    trip_id: str
    trip_type: TripType
    start: LatLng
    end: LatLng
    t0: float
    t1: float
    battery0: float
    way_m: float
    done: float = 0.0  # the share of the way driven so far


class RobotAgent:
    def __init__(self, world: World, serial: str, hub: LatLng, battery: float) -> None:
        self.world, self.serial, self.hub = world, serial, hub
        self.position, self.battery = hub, battery
        self.mode = Mode.IDLE
        self.task: TaskRead | None = None
        self.leg: Leg | None = None
        self._generation = 0  # plans made before the last change of plan are dropped
        self._last_report = -math.inf
        self._resyncing = False
        self._rng = world.rng(f"robot:{serial}")
        p = world.params
        self._drain_per_m = world.platform.settings.robot_drain_pct_per_km / 1000
        self._speed = p.robot_speed_mps

    # --- what the robot does on its own ----------------------------------------------------

    def start(self) -> None:
        self.report(RobotState.IDLE)
        self._schedule_heartbeat()

    def report(self, state: RobotState | None = None) -> None:
        self._settle()
        self.world.tally.telemetry += 1
        self._last_report = self.world.agenda.now_s
        robots.report_telemetry(
            self.world.platform.operations,
            self.serial,
            robots.Telemetry(
                self.position.lat, self.position.lng, round(self.battery, 3), state=state
            ),
        )

    def _schedule_heartbeat(self) -> None:
        every = self.world.params.idle_heartbeat_s

        def beat() -> None:
            self.world.agenda.after(every, beat)  # first: a failed report must not end the beat
            if self.world.agenda.now_s - self._last_report >= every * 0.99:
                self.report()

        self.world.agenda.after(every, beat)

    def _later(self, seconds: float, action: Callable[[], None]) -> None:
        generation = self._generation

        def guarded() -> None:
            if generation == self._generation:
                action()

        self.world.agenda.after(seconds, guarded)

    def _replan(self) -> None:
        self._settle()
        self._generation += 1
        self.leg = None

    def _settle(self) -> None:
        """Bring position and battery up to now along the leg being driven."""
        leg = self.leg
        if leg is None or self.mode is not Mode.DRIVING:
            return
        now = self.world.agenda.now_s
        f = 1.0 if leg.t1 <= leg.t0 else min(1.0, max(0.0, (now - leg.t0) / (leg.t1 - leg.t0)))
        self.world.tally.driven_m += leg.way_m * max(0.0, f - leg.done)
        leg.done = max(leg.done, f)
        self.position = LatLng(
            leg.start.lat + (leg.end.lat - leg.start.lat) * f,
            leg.start.lng + (leg.end.lng - leg.start.lng) * f,
        )
        self.battery = max(0.0, leg.battery0 - leg.way_m * f * self._drain_per_m)

    # --- told by the platform ----------------------------------------------------------------

    def wake(self, event_type: str) -> None:
        """The platform changed something about this robot's work: look at the task again."""
        if self.mode is Mode.FAULT:
            return
        if event_type == "pilot.assigned" and self.mode is not Mode.WAITING_PILOT:
            return
        self.resync()

    def resync(self) -> None:
        """Read the active task, as the robot API gives it, and carry on from what it says."""
        task = reads.robot_task(self.world.platform.operations, self.serial)
        if task is None:
            if self.mode in (Mode.DRIVING, Mode.DWELLING, Mode.WAITING_PILOT):
                self._replan()
                self.mode = Mode.IDLE
            self.task = None
            return
        same_task = self.task is not None and self.task.id == task.id
        self.task = task
        if task.awaiting_pilot:  # no robot moves unsupervised: it stops where it is
            if self.mode in (Mode.DRIVING, Mode.DWELLING):
                self._replan()
            self.mode = Mode.WAITING_PILOT
            return
        if same_task and self.mode in (Mode.DRIVING, Mode.DWELLING):
            return
        self._replan()
        self._go_on(task)

    def _go_on(self, task: TaskRead) -> None:
        """Carry out the task from where it stands."""
        trip = next((t for t in task.trips if t.status not in _DONE), None)
        if trip is None:
            self.mode = Mode.IDLE
            return
        if trip.status is TripStatus.PENDING:
            if not self._trip(trip, TripEvent.STARTED):
                return
            self._drive(trip)
        elif trip.status is TripStatus.IN_PROGRESS:
            self._drive(trip)
        elif trip.status is TripStatus.ARRIVED:
            self._dwell(trip)

    def _trip(self, trip: TripRead, event: TripEvent, reason: str | None = None) -> bool:
        """Report a trip event; False when the platform refused it (the task changed)."""
        self.world.tally.trip_reports += 1
        try:
            tasks.report_trip(
                self.world.platform.operations,
                tasks.TripReport(trip.id, event, reason),
                by_robot=self.serial,
            )
        except Conflict as e:
            self.world.tally.rejected_reports.append(f"{self.serial} {event}: {e.code}")
            self._replan()
            self.mode = Mode.IDLE
            if not self._resyncing:  # the task changed under it: carry on with what it is now
                self._resyncing = True
                try:
                    self.resync()
                finally:
                    self._resyncing = False
            return False
        return True

    def _drive(self, trip: TripRead) -> None:
        p = self.world.params
        end = LatLng(trip.destination.lat, trip.destination.lng)
        way_m = haversine_m(self.position, end) * p.detour_factor
        now = self.world.agenda.now_s
        duration = way_m / self._speed
        self.leg = Leg(
            trip.id, trip.type, self.position, end, now, now + duration, self.battery, way_m
        )
        self.mode = Mode.DRIVING
        trouble = self._trouble(way_m)
        if trouble is not None:
            kind, fraction = trouble
            self._later(duration * fraction, lambda: self._meet(kind, trip))
        else:
            self._later(duration, lambda: self._arrive(trip))
        self._tick_telemetry()

    def _trouble(self, way_m: float) -> tuple[str, float] | None:
        """Whether this leg ends in a fault or a blocked path, and where along it."""
        p = self.world.params
        fault = 1 - math.exp(-p.fault_per_km * way_m / 1000)
        draw = self._rng.random()
        if draw < fault:
            return "fault", self._rng.random()
        if draw < fault + p.blocked_trip_rate:
            return "blocked", self._rng.random()
        return None

    def _tick_telemetry(self) -> None:
        leg = self.leg

        def tick() -> None:
            if self.leg is leg and self.mode is Mode.DRIVING:  # one chain per leg
                self._later(self.world.params.telemetry_interval_s, tick)
                self.report()

        self._later(self.world.params.telemetry_interval_s, tick)

    def _arrive(self, trip: TripRead) -> None:
        self._settle()
        assert self.leg is not None
        self.position = self.leg.end
        self.leg = None
        self.mode = Mode.DWELLING
        self.report()
        if self._trip(trip, TripEvent.ARRIVED):
            self._dwell(trip)

    def _dwell(self, trip: TripRead) -> None:
        self.mode = Mode.DWELLING
        p = self.world.params
        wait = {
            TripType.TO_PICKUP: p.pickup_dwell_s,
            TripType.TO_DROPOFF: p.dropoff_dwell_s,
            TripType.TO_MERCHANT: p.return_dwell_s,
        }.get(trip.type, 0.0)
        if trip.type is TripType.TO_DROPOFF:
            self._customer_opens()
        self._later(wait, lambda: self._complete(trip))

    def _customer_opens(self) -> None:
        """The customer, waiting at the door, types the PIN their tracking page shows."""
        task = self.task
        if task is None or task.type is not TaskType.DELIVERY or task.delivery_id is None:
            return
        with self.world.platform.deliveries.uow() as uow:
            pin = uow.session.scalar(_PIN, {"delivery_id": task.delivery_id})
        if pin is None:
            return
        try:
            doorstep.unlock(self.world.platform.operations, self.serial, pin=pin)
        except (Conflict, Forbidden) as e:  # the task changed meanwhile
            self.world.tally.rejected_reports.append(f"{self.serial} unlock: {e.code}")

    def _complete(self, trip: TripRead) -> None:
        if not self._trip(trip, TripEvent.COMPLETED):
            return
        task = self.task
        assert task is not None
        following = [t for t in task.trips if t.sequence > trip.sequence]
        if following:
            nxt = following[0]
            if self._trip(nxt, TripEvent.STARTED):
                self._drive(nxt)
            return
        self.task = None
        if task.type is TaskType.CHARGE:
            self.mode = Mode.CHARGING
            self._charge()
        else:
            self.mode = Mode.IDLE

    def _charge(self) -> None:
        p = self.world.params
        full = self.world.platform.settings.robot_charged_pct

        def tick() -> None:
            if self.mode is not Mode.CHARGING:
                return
            self.battery = min(
                100.0, self.battery + p.charge_pct_per_min * p.telemetry_interval_s / 60
            )
            if self.battery >= full:
                self.mode = Mode.IDLE
            else:
                self._later(p.telemetry_interval_s, tick)
            self.report()

        self._later(p.telemetry_interval_s, tick)

    def _meet(self, kind: str, trip: TripRead) -> None:
        self._settle()
        self.leg = None
        if kind == "blocked":
            self.world.tally.blocked += 1
            self.mode = Mode.IDLE
            self.report()
            self._generation += 1
            self._trip(trip, TripEvent.FAILED, "blocked_path")
            return
        self.world.tally.faults += 1
        self._generation += 1
        self.mode = Mode.FAULT
        self.task = None
        self.report(RobotState.FAULT)
        self.world.agenda.after(self.world.params.repair_s, self._repaired)

    def _repaired(self) -> None:
        """A technician brings the robot back to its hub, fixed."""
        self.position = self.hub
        self.mode = Mode.IDLE
        self.report(RobotState.IDLE)


_DONE = frozenset({TripStatus.COMPLETED, TripStatus.CANCELLED, TripStatus.FAILED})
