"""A fast model of a day of the fleet, for planning. The simulator drives the real services,
one transaction a step, and takes minutes for a day of 200 robots; a plan weighs dozens of
fleets. This model plays the same day in memory, in seconds, and keeps what decides the
figures a plan is judged by:

- the same orders: the simulator's merchants and their random streams (arrival times,
  doors, cancellations), so a seed gives the same demand in both;
- the platform's own rules, called as the services call them: which provider serves a trip
  (`deliveries.domain.serviceability`), the promised times (`deliveries.eta` and
  `deliveries.promises`, calibrated on the model's own deliveries), the dispatch plan
  (`operations.dispatch`, weighed by the promises), the attempt policy after a failure, the
  simulated courier network's timelines, pilots' capacity and breaks, charging;
- the simulator's robots: their speed, detours, waits at each end, battery use, faults and
  blocked paths.

What it leaves out: the database, the events between the services and their order (a step
here takes effect at once), robots' positions as last reported (the model knows where each
robot is), customers who are not at the door. `tests/integration/test_fleet_model.py` holds
its figures against the full simulator's."""

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from functools import partial
from pathlib import Path

from sidewalk.deliveries.attempt_policy import (
    AttemptPolicy,
    next_provider,
    robot_in_time,
)
from sidewalk.deliveries.domain import AttemptProvider, CourierStatus, MerchantTerms, serviceability
from sidewalk.deliveries.eta import (
    DistanceEta,
    FleetState,
    fleet_pickup_lead_s,
    promise_policy,
)
from sidewalk.deliveries.promises import (
    Errors,
    Margins,
    calibrate,
    outcome,
    promised,
)
from sidewalk.deliveries.providers import courier_timeline
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.geo import LatLng, ServiceAreas, haversine_m
from sidewalk.kernel.settings import Settings
from sidewalk.operations.dispatch import FreeRobot, OpenTask, plan_dispatch, urgency_weight_s
from sidewalk.operations.domain import (
    TRIPS_OF,
    TaskType,
    delivery_time_s,
    remaining_travel_s,
    stop_wait_s,
)
from sidewalk.simulator.city import City
from sidewalk.simulator.merchants import Dropoffs
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.pilots import breaks, shift_spans
from sidewalk.simulator.results import Kpis

ROBOT, COURIER = AttemptProvider.ROBOT, AttemptProvider.COURIER
ROUND_AT_LEAST_EVERY_S = 120.0  # as the simulator runs the dispatcher
TELL_EVERY_S = 300.0  # a charging robot's reports, which end its charge


class Phase(Enum):
    PENDING = "pending"  # waiting for a robot
    TO_PICKUP = "to_pickup"
    AT_PICKUP = "at_pickup"
    TO_DROPOFF = "to_dropoff"
    AT_DROPOFF = "at_dropoff"
    TO_HUB = "to_hub"  # a charge task
    TO_MERCHANT = "to_merchant"  # a return task
    AT_MERCHANT = "at_merchant"


@dataclass(slots=True, eq=False)
class Order:
    n: int
    created: float
    pickup: LatLng
    dropoff: LatLng
    distance_m: int
    area_id: str | None
    provider: AttemptProvider
    promise_pickup: float
    promise_dropoff: float
    margins: Margins
    providers: list[AttemptProvider] = field(default_factory=list)
    status: str = "pending"  # then delivered, cancelled, failed, returned
    reached_pickup: float | None = None
    delivered: float | None = None
    on_board: bool = False
    cancel_asked: bool = False
    task: "Task | None" = None
    job: int = 0  # the courier attempt under way (its number), 0 for none


@dataclass(slots=True, eq=False)
class Task:
    kind: str  # delivery, charge, return
    stops: list[LatLng]
    area_id: str | None
    since: float  # waiting for a robot since
    order: Order | None = None
    dropoff_by: float | None = None
    robot: "Robot | None" = None
    phase: Phase = Phase.PENDING
    stop: int = 0  # the stop driven to (or waited at)
    piloted: bool = False
    waiting_pilot_since: float | None = None
    done: bool = False
    latest: float | None = None  # the latest moment to leave and keep the promise


@dataclass(slots=True, eq=False)
class Robot:
    n: int
    hub: LatLng
    where: LatLng
    battery: float
    area_id: str | None
    state: str = "idle"  # on_task, charging, fault
    task: Task | None = None
    rng: random.Random = field(default_factory=random.Random)
    # The leg being driven: from, to, when it began and ends, its way in metres.
    leg: tuple[LatLng, LatLng, float, float, float] | None = None
    generation: int = 0  # bumped when what the robot was doing is called off
    free: FreeRobot | None = None  # what a dispatch plan reads of it while it is idle
    busy_since: float | None = None


@dataclass(frozen=True)
class HourFigures:
    hour: int  # from the start of the run
    orders: int
    supervised_robot_s: float  # robot-seconds under a pilot
    pilots_on_shift_s: float
    waiting_pilot_s: float  # task-seconds spent waiting for a pilot


@dataclass(frozen=True)
class ModelResult:
    kpis: Kpis
    hours: list[HourFigures]
    driven_km: float
    faults: int
    courier_jobs: int


@dataclass
class _Events:
    """The timetable: (time, sequence, action); ties run in the order they were set."""

    now: float = 0.0
    _heap: list[tuple[float, int, Callable[[], object]]] = field(default_factory=list)
    _seq: "itertools.count[int]" = field(default_factory=itertools.count)

    def at(self, t: float, action: Callable[[], object]) -> None:
        heapq.heappush(self._heap, (t, next(self._seq), action))

    def after(self, dt: float, action: Callable[[], object]) -> None:
        self.at(self.now + dt, action)

    def run(self, until: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= until:
            t, _, action = heapq.heappop(heap)
            self.now = t
            action()
        self.now = until


class FleetModel:
    """One day: build it with the city, the run's parameters and the platform's settings
    (what the simulator gives the platform), optionally pilots per local hour instead of a
    team per shift, then `run()`."""

    def __init__(
        self,
        city: City,
        params: SimParams,
        settings: Settings,
        *,
        pilots_by_hour: list[int] | None = None,
    ) -> None:
        self.city, self.p, self.s = city, params, settings
        self.ev = _Events()
        self.start = params.start_utc(city.utc_offset_h)
        self.areas = ServiceAreas.from_file(city.service_areas_file)
        self.terms = MerchantTerms(
            currency=settings.default_currency,
            base_fee_cents=settings.default_base_fee_cents,
            fee_per_km_cents=settings.default_fee_per_km_cents,
            courier_base_fee_cents=settings.default_courier_base_fee_cents,
            courier_fee_per_km_cents=settings.default_courier_fee_per_km_cents,
            max_robot_distance_m=settings.default_max_robot_distance_m,
            courier_fallback=settings.default_courier_fallback,
            quote_lifetime_s=settings.quote_lifetime_s,
        )
        self.policy = AttemptPolicy(
            settings.default_max_attempts, settings.default_courier_fallback
        )
        self.distance_eta = DistanceEta.from_settings(settings)
        self.promise = promise_policy(settings)
        # Positions on the way and nobody at the door are not modelled.
        self.courier = replace(
            courier_timeline.SimParams.from_settings(settings),
            position_every_s=1e9,
            undeliverable_rate=0.0,
        )
        self.hubs = [h.point for h in city.hubs]
        self.robots: list[Robot] = []
        self.idle: dict[int, Robot] = {}  # by number
        self.orders: list[Order] = []
        self.pending: list[Task] = []
        self.refused = 0
        self.faults = 0
        self.driven_m = 0.0
        self.courier_jobs = 0
        # Promises: the fleet as last told, orders since, outcomes, margins in force.
        self.snapshots: dict[str, FleetState] = {}
        self.taken: dict[str, list[tuple[float, LatLng]]] = {}
        self.outcomes: dict[AttemptProvider, list[tuple[float | None, float]]] = {
            ROBOT: [],
            COURIER: [],
        }
        self.margins: dict[AttemptProvider, Margins] = calibrate({}, self.promise)
        # Pilots: places free to supervise, tasks waiting for one.
        self.pilots_on = 0
        self.supervising = 0
        self.waiting_pilot: list[Task] = []
        self.pilots_by_hour = pilots_by_hour
        if pilots_by_hour is None and params.pilots_by_hour is not None:
            self.pilots_by_hour = list(params.pilots_by_hour)
        self._news = True
        self._last_round = -1e9
        hours = max(1, math.ceil(params.duration_s / 3600))
        self._supervised = [0.0] * hours
        self._on_shift = [0.0] * hours
        self._waited = [0.0] * hours
        self._ordered = [0] * hours
        self._level_since = 0.0
        self._busy: list[tuple[float, float]] = []

    # --- the day ----------------------------------------------------------------------------

    def run(self) -> ModelResult:
        self._populate()
        self.ev.at(0.0, self._dispatch_tick)
        self.ev.at(0.0, self._snapshot_tick)
        self.ev.run(self.p.duration_s)
        self._account(self.p.duration_s)
        for robot in self.robots:
            if robot.busy_since is not None:
                self._busy.append((robot.busy_since, self.p.duration_s))
        return self._result()

    def _populate(self) -> None:
        p, rng = self.p, random.Random(f"{self.p.seed}:fleet")
        for i in range(p.robots):
            hub = self.hubs[i % len(self.hubs)]
            area = self.areas.containing(hub)
            battery = round(rng.uniform(70, 100), 1)
            robot = Robot(i, hub, hub, battery, area.id if area else None)
            robot.rng = random.Random(f"{p.seed}:robot:SW-{i + 1:04d}")
            self.robots.append(robot)
            self._to(robot, "idle")
        self._plan_pilots()
        weights = sum(m.weight for m in self.city.merchants)
        dropoffs = Dropoffs(self.city.polygons())
        for m in self.city.merchants:
            _Merchant(self, m.place.point, m.place.name, p.orders_per_hour * m.weight / weights,
                      dropoffs).start()  # fmt: skip

    # --- pilots -------------------------------------------------------------------------------

    def _plan_pilots(self) -> None:
        p = self.p
        if self.pilots_by_hour is not None:
            start_h = p.start_local_hour
            for h in range(math.ceil(p.duration_s / 3600) + 1):
                local = int((start_h + h) % 24)
                at = max(0.0, (h - (start_h % 1)) * 3600)
                count = self.pilots_by_hour[local]
                self.ev.at(at, partial(self._pilots_to, count))
            return
        for shift in self.city.shifts:
            for i in range(p.pilots):
                for begin, end in shift_spans(shift, p):
                    self.ev.at(begin, lambda: self._pilot_change(+1))
                    self.ev.at(end, lambda: self._pilot_change(-1))
                    for off, back in breaks(begin, end, i, p):
                        self.ev.at(off, lambda: self._pilot_change(-1))
                        self.ev.at(back, lambda: self._pilot_change(+1))

    def _pilots_to(self, count: int) -> None:
        self._pilot_change(count - self.pilots_on)

    def _pilot_change(self, delta: int) -> None:
        self._account(self.ev.now)
        self.pilots_on += delta
        capacity = self.pilots_on * self.s.pilot_capacity
        if self.supervising > capacity:
            # The pilot's robots go to others; past the team's capacity, their tasks wait.
            for task in self._piloted_tasks()[: self.supervising - capacity]:
                task.piloted = False
                self.supervising -= 1
                self._wait_for_pilot(task)
        self._news = True

    def _piloted_tasks(self) -> list[Task]:
        return [
            r.task for r in self.robots if r.task is not None and r.task.piloted and not r.task.done
        ]

    def _account(self, t: float) -> None:
        """Add the time since the last change of pilots or supervision to the hours' sums."""
        lo = self._level_since
        while lo < t:
            h = min(int(lo // 3600), len(self._supervised) - 1)
            hi = min(t, (h + 1) * 3600) if h < len(self._supervised) - 1 else t
            span = hi - lo
            self._supervised[h] += span * self.supervising
            self._on_shift[h] += span * self.pilots_on
            self._waited[h] += span * len(self.waiting_pilot)
            lo = hi
        self._level_since = t

    def _take_pilot(self, task: Task) -> bool:
        if self.supervising >= self.pilots_on * self.s.pilot_capacity:
            return False
        self._account(self.ev.now)
        self.supervising += 1
        task.piloted = True
        task.waiting_pilot_since = None
        return True

    def _release_pilot(self, task: Task) -> None:
        if task.piloted:
            self._account(self.ev.now)
            self.supervising -= 1
            task.piloted = False
            self._news = True
        if task.waiting_pilot_since is not None:
            self._account(self.ev.now)
            self.waiting_pilot.remove(task)
            task.waiting_pilot_since = None

    def _wait_for_pilot(self, task: Task) -> None:
        robot = task.robot
        assert robot is not None
        self._account(self.ev.now)
        task.waiting_pilot_since = self.ev.now
        self.waiting_pilot.append(task)
        if robot.leg is not None:  # it stops where it is
            self._settle(robot)
            robot.leg = None
            robot.generation += 1

    # --- merchants and quotes -----------------------------------------------------------------

    def quote_and_order(self, pickup: LatLng, dropoff: LatLng) -> Order | None:
        try:
            served = serviceability(
                self.terms, self.areas, pickup, dropoff,
                detour_factor=self.s.detour_factor,
                courier_max_distance_m=self.s.courier_max_distance_m,
            )  # fmt: skip
        except SidewalkError:
            served = None
        if served is None or served.provider is None:
            self.refused += 1
            return None
        now = self.ev.now
        provider, area_id = served.provider, served.service_area_id
        at = self._time(now)
        estimate = None
        if provider is ROBOT and area_id is not None:
            estimate = self._robot_estimate(pickup, served.distance_m, area_id, at)
        if estimate is None:
            eta = self.distance_eta.estimate(provider, pickup, dropoff, served.distance_m, at=at)
            estimate = (eta.pickup, eta.dropoff)
        pickup_at, dropoff_at, margins = promised(at, *estimate, self.margins[provider])
        order = Order(
            len(self.orders), now, pickup, dropoff, served.distance_m, area_id, provider,
            self._seconds(pickup_at), self._seconds(dropoff_at), margins,
        )  # fmt: skip
        self.orders.append(order)
        h = min(int(now // 3600), len(self._ordered) - 1)
        self._ordered[h] += 1
        if provider is ROBOT:
            if area_id is not None:
                self.taken.setdefault(area_id, []).append((now, pickup))
            self._robot_attempt(order)
        else:
            self._courier_attempt(order)
        return order

    def _robot_estimate(
        self, pickup: LatLng, distance_m: int, area_id: str, at: datetime, unavailable: int = 0
    ) -> tuple[datetime, datetime] | None:
        state = self.snapshots.get(area_id)
        if state is None or (at - state.taken_at).total_seconds() > self.s.fleet_snapshot_max_age_s:
            return None
        since = (state.taken_at - self.start).total_seconds()
        lead = fleet_pickup_lead_s(
            state,
            pickup,
            detour_factor=self.s.detour_factor,
            cycle_s=self.s.robot_pickup_lead_s,
            age_s=max(0.0, (at - state.taken_at).total_seconds()),
            unavailable=unavailable,
            taken=[where for t, where in self.taken.get(area_id, ()) if t > since],
        )
        if lead is None:
            return None
        pickup_at = at + timedelta(seconds=round(lead))
        return pickup_at, self.distance_eta.dropoff_after(ROBOT, pickup_at, distance_m)

    def cancel(self, order: Order) -> None:
        """The merchant calls the order off: what the services do with a cancel."""
        if order.status != "pending" or order.cancel_asked:
            return
        order.cancel_asked = True
        task = order.task
        if order.providers[-1] is COURIER:
            if order.on_board:
                order.status = "returned"
            else:
                order.status = "cancelled"
            order.job = 0
            return
        if task is None or task.done:
            order.status = "cancelled"
            return
        if order.on_board:
            if task.phase is Phase.AT_DROPOFF:
                return  # at the door: too late, it is handed over
            self._end_task(task, failed=False, reason="cancelled")
            return
        self._end_task(task, failed=False, reason="cancelled")
        order.status = "cancelled"

    # --- robot attempts and tasks -------------------------------------------------------------

    def _robot_attempt(self, order: Order) -> None:
        order.providers.append(ROBOT)
        task = Task("delivery", [order.pickup, order.dropoff], order.area_id, self.ev.now, order,
                    dropoff_by=order.promise_dropoff)  # fmt: skip
        order.task = task
        self.pending.append(task)
        self._news = True

    def _dispatch_tick(self) -> None:
        now = self.ev.now
        if self._news or now - self._last_round >= ROUND_AT_LEAST_EVERY_S:
            self._news = False
            self._last_round = now
            self._round()
        self.ev.after(self.p.dispatch_interval_s, self._dispatch_tick)

    def _round(self) -> None:
        now = self.ev.now
        for task in list(self.waiting_pilot):  # staff waiting tasks, fail those waited too long
            if self._take_pilot(task):
                self._account(now)
                self.waiting_pilot.remove(task)
                self._go_on(task)
        for task in list(self.waiting_pilot):
            since = task.waiting_pilot_since
            if since is not None and now - since >= self.s.pilot_wait_limit_s:
                self._end_task(task, failed=True, reason="no_pilot_available")
        self._send_to_charge()
        if not self.pending:
            return
        by_area: dict[str | None, list[Task]] = {}
        for task in self.pending:
            by_area.setdefault(task.area_id, []).append(task)
        for area_id, waiting in by_area.items():
            self._dispatch_area(area_id, waiting)

    def _to(self, robot: Robot, state: str) -> None:
        """Change a robot's state, keeping the idle ones at hand (rounds ask for them)."""
        robot.state = state
        if state == "idle":  # an idle robot neither moves nor drains: what a plan reads of it
            s = self.s
            robot.free = FreeRobot(
                str(robot.n), robot.where.lat, robot.where.lng, s.robot_speed_mps,
                robot.battery, s.robot_drain_pct_per_km, s.robot_battery_reserve_pct,
            )  # fmt: skip
            self.idle[robot.n] = robot
        else:
            self.idle.pop(robot.n, None)

    def _send_to_charge(self) -> None:
        low = self.s.robot_battery_low_pct
        for robot in sorted(self.idle.values(), key=lambda r: r.n):
            if robot.task is None and robot.battery < low:
                i = min(range(len(self.hubs)), key=lambda k: haversine_m(robot.where, self.hubs[k]))
                task = Task("charge", [self.hubs[i]], robot.area_id, self.ev.now)
                self._assign(task, robot)

    def _dispatch_area(self, area_id: str | None, waiting: list[Task]) -> None:
        now, s = self.ev.now, self.s
        free = sorted(
            (r for r in self.idle.values() if r.task is None and r.area_id == area_id),
            key=lambda r: r.n,
        )
        plan = None
        if free:
            plan = plan_dispatch(
                [self._open_task(i, t) for i, t in enumerate(waiting)],
                [r.free for r in free if r.free is not None],
                self.hubs,
                detour_factor=s.detour_factor,
                max_pickup_s=s.dispatch_max_pickup_s,
            )
            for a in plan.assignments:
                task = waiting[int(a.task_id)]
                self.pending.remove(task)
                self._assign(task, self.robots[int(a.serial)])
        left = {int(i) for i in plan.unassigned} if plan is not None else set(range(len(waiting)))
        for i in sorted(left):
            task = waiting[i]
            if now - task.since >= s.task_assign_limit_s:
                self.pending.remove(task)
                task.done = True
                self._attempt_failed(task.order, "no_robot_available", robot_at_fault=False)

    def _open_task(self, i: int, task: Task) -> OpenTask:
        start, end = task.stops[0], task.stops[-1]
        if task.latest is None:  # as the dispatcher weighs it (`dispatcher._open_task`)
            s = self.s
            if task.dropoff_by is not None:
                there_s = delivery_time_s(
                    start,
                    end,
                    speed_mps=s.robot_speed_mps,
                    detour_factor=s.detour_factor,
                    pickup_s=s.robot_pickup_dwell_s,
                    dropoff_s=s.robot_dropoff_dwell_s,
                )
                task.latest = task.dropoff_by - there_s
            else:
                task.latest = task.since + s.robot_pickup_lead_s
        weight = urgency_weight_s(self.ev.now - task.latest)
        return OpenTask(str(i), start.lat, start.lng, end.lat, end.lng, weight_s=weight)

    def _assign(self, task: Task, robot: Robot) -> None:
        task.robot, robot.task = robot, task
        self._to(robot, "on_task")
        robot.busy_since = self.ev.now
        task.phase = Phase.TO_HUB if task.kind == "charge" else Phase.TO_PICKUP
        if task.kind == "return":
            task.phase = Phase.TO_MERCHANT
        if self._take_pilot(task):
            self._go_on(task)
        else:
            self._wait_for_pilot(task)
            self._news = True

    def _go_on(self, task: Task) -> None:
        """The robot carries on from where its task stands."""
        robot = task.robot
        assert robot is not None
        if task.phase in (Phase.AT_PICKUP, Phase.AT_DROPOFF, Phase.AT_MERCHANT):
            self._dwell(task)
        else:
            self._drive(robot, task, task.stops[task.stop])

    def _drive(self, robot: Robot, task: Task, to: LatLng) -> None:
        p = self.p
        way_m = haversine_m(robot.where, to) * p.detour_factor
        duration = way_m / p.robot_speed_mps
        now = self.ev.now
        robot.leg = (robot.where, to, now, now + duration, way_m)
        robot.generation += 1
        fault = 1 - math.exp(-p.fault_per_km * way_m / 1000)
        draw = robot.rng.random()
        if draw < fault:
            at = duration * robot.rng.random()
            self._later(robot, at, lambda: self._fault(robot))
        elif draw < fault + p.blocked_trip_rate:
            at = duration * robot.rng.random()
            self._later(robot, at, lambda: self._blocked(robot))
        else:
            self._later(robot, duration, lambda: self._arrive(robot))

    def _later(self, robot: Robot, dt: float, action: Callable[[], object]) -> None:
        """`action` in `dt`, unless what the robot was doing is called off meanwhile."""
        generation = robot.generation

        def act() -> None:
            if generation == robot.generation:
                action()

        self.ev.after(dt, act)

    def _settle(self, robot: Robot) -> None:
        """Bring the robot's place and battery up to now along its leg."""
        if robot.leg is None:
            return
        a, b, t0, t1, way_m = robot.leg
        f = 1.0 if t1 <= t0 else min(1.0, max(0.0, (self.ev.now - t0) / (t1 - t0)))
        robot.where = LatLng(a.lat + (b.lat - a.lat) * f, a.lng + (b.lng - a.lng) * f)
        driven = way_m * f
        self.driven_m += driven
        robot.battery = max(0.0, robot.battery - driven / 1000 * self.s.robot_drain_pct_per_km)
        robot.leg = (robot.where, b, self.ev.now, t1, way_m - driven)

    def _arrive(self, robot: Robot) -> None:
        self._settle(robot)
        robot.leg = None
        task = robot.task
        assert task is not None
        if task.kind == "charge":
            self._end_task(task, failed=False, reason=None, completed=True)
            return
        if task.phase is Phase.TO_PICKUP:
            task.phase = Phase.AT_PICKUP
            if task.order is not None and task.order.reached_pickup is None:
                task.order.reached_pickup = self.ev.now
        elif task.phase is Phase.TO_DROPOFF:
            task.phase = Phase.AT_DROPOFF
        elif task.phase is Phase.TO_MERCHANT:
            task.phase = Phase.AT_MERCHANT
        self._dwell(task)

    def _dwell(self, task: Task) -> None:
        robot = task.robot
        assert robot is not None
        p = self.p
        wait = {
            Phase.AT_PICKUP: p.pickup_dwell_s,
            Phase.AT_DROPOFF: p.dropoff_dwell_s,
            Phase.AT_MERCHANT: p.return_dwell_s,
        }[task.phase]
        robot.generation += 1
        self._later(robot, wait, lambda: self._dwelt(task))

    def _dwelt(self, task: Task) -> None:
        order = task.order
        if task.phase is Phase.AT_PICKUP:
            task.phase, task.stop = Phase.TO_DROPOFF, 1
            if order is not None:
                order.on_board = True
            self._go_on(task)
        elif task.phase is Phase.AT_DROPOFF:
            if order is not None:
                self._delivered(order)
            self._end_task(task, failed=False, reason=None, completed=True)
        elif task.phase is Phase.AT_MERCHANT:
            if order is not None:
                order.status, order.on_board = "returned", False
            self._end_task(task, failed=False, reason=None, completed=True)

    def _fault(self, robot: Robot) -> None:
        self._settle(robot)
        robot.leg = None
        self.faults += 1
        task = robot.task
        self._to(robot, "fault")
        if task is not None:
            self._end_task(task, failed=True, reason="robot_fault")
        robot.generation += 1
        self._later(robot, self.p.repair_s, lambda: self._repaired(robot))

    def _repaired(self, robot: Robot) -> None:
        robot.where = robot.hub
        self._to(robot, "idle")
        self._news = True

    def _blocked(self, robot: Robot) -> None:
        self._settle(robot)
        robot.leg = None
        task = robot.task
        assert task is not None
        self._end_task(task, failed=True, reason="blocked_path")

    def _end_task(
        self, task: Task, *, failed: bool, reason: str | None, completed: bool = False
    ) -> None:
        """End a task as `tasks.finish` does: its pilot released, its robot free (charging
        after a charge task), goods on board of a robot that can still drive sent back."""
        if task.done:
            return
        task.done = True
        if task in self.pending:
            self.pending.remove(task)
        self._release_pilot(task)
        robot, order = task.robot, task.order
        if robot is not None:
            if robot.leg is not None:
                self._settle(robot)
                robot.leg = None
            robot.generation += 1
            robot.task = None
            if robot.busy_since is not None:
                self._busy.append((robot.busy_since, self.ev.now))
                robot.busy_since = None
            if robot.state == "on_task":
                if completed and task.kind == "charge":
                    self._to(robot, "charging")
                    self._charge(robot)
                else:
                    self._to(robot, "idle")
            self._news = True
        if order is None or completed or task.kind != "delivery":
            if task.kind == "return" and not completed and order is not None:
                order.status = "failed"
            return
        if order.on_board:
            if robot is not None and robot.state == "idle" and reason != "robot_fault":
                back = Task("return", [order.pickup], task.area_id, self.ev.now, order)
                self._assign(back, robot)
            elif order.status == "pending":
                order.status = "failed"
            return
        if reason == "cancelled":
            return
        self._attempt_failed(
            order, reason or "failed", robot_at_fault=reason != "no_pilot_available"
        )

    def _charge(self, robot: Robot) -> None:
        p, full = self.p, self.s.robot_charged_pct
        gen = robot.generation

        def tick() -> None:
            if gen != robot.generation or robot.state != "charging":
                return
            robot.battery = min(100.0, robot.battery + p.charge_pct_per_min * TELL_EVERY_S / 60)
            if robot.battery >= full:
                self._to(robot, "idle")
                self._news = True
            else:
                self.ev.after(TELL_EVERY_S, tick)

        self.ev.after(TELL_EVERY_S, tick)

    # --- after a failure: the attempt policy --------------------------------------------------

    def _attempt_failed(self, order: Order | None, reason: str, *, robot_at_fault: bool) -> None:
        if order is None or order.status != "pending":
            return
        ended = order.providers[-1]
        can_make_it = False
        if ended is ROBOT and order.area_id is not None:
            at = self._time(self.ev.now)
            found = self._robot_estimate(
                order.pickup, order.distance_m, order.area_id, at, unavailable=int(robot_at_fault)
            )
            if found is not None:
                _, dropoff, _ = promised(at, *found, self.margins[ROBOT])
                can_make_it = robot_in_time(
                    dropoff,
                    dropoff_before=None,
                    promised_dropoff=self._time(order.promise_dropoff),
                    grace_s=self.s.robot_retry_grace_s,
                )
        following = next_provider(
            self.policy,
            attempts=len(order.providers),
            ended=ended,
            reason=reason,
            robot_can_make_it=can_make_it,
        )
        if following is None:
            order.status = "failed"
        elif following is ROBOT:
            self._robot_attempt(order)
        else:
            self._courier_attempt(order)

    # --- couriers -----------------------------------------------------------------------------

    def _courier_attempt(self, order: Order) -> None:
        order.providers.append(COURIER)
        self.courier_jobs += 1
        order.job = job = len(order.providers)
        at = self._time(self.ev.now)
        timeline = courier_timeline.plan_job(
            order.pickup, order.dropoff, f"{self.p.seed}-{order.n}-{job}", at, self.courier
        )
        for step in timeline.steps:
            when = self._seconds(step.at)
            if step.status is CourierStatus.ARRIVED_AT_PICKUP:
                self.ev.at(when, self._for_job(order, job, lambda: self._courier_at_pickup(order)))
            elif step.status is CourierStatus.PICKED_UP:
                self.ev.at(
                    when, self._for_job(order, job, lambda: setattr(order, "on_board", True))
                )
            elif step.status is CourierStatus.DELIVERED:
                self.ev.at(when, self._for_job(order, job, lambda: self._courier_delivered(order)))
            elif step.status is CourierStatus.FAILED:
                reason = step.reason or "courier_failed"
                self.ev.at(
                    when, self._for_job(order, job, partial(self._courier_failed, order, reason))
                )

    @staticmethod
    def _for_job(order: Order, job: int, action: Callable[[], object]) -> Callable[[], None]:
        """`action`, if the courier attempt `job` is still the order's when it comes."""

        def act() -> None:
            if order.job == job:
                action()

        return act

    def _courier_at_pickup(self, order: Order) -> None:
        if order.reached_pickup is None:
            order.reached_pickup = self.ev.now

    def _courier_delivered(self, order: Order) -> None:
        order.job = 0
        if order.status == "pending":
            self._delivered(order)

    def _courier_failed(self, order: Order, reason: str) -> None:
        order.job = 0
        self._attempt_failed(order, reason, robot_at_fault=False)

    # --- deliveries and promises --------------------------------------------------------------

    def _delivered(self, order: Order) -> None:
        order.status, order.delivered, order.on_board = "delivered", self.ev.now, False
        if len(order.providers) == 1 and order.providers[0] is order.provider:
            kept = outcome(
                order.provider,
                self._time(order.promise_pickup),
                self._time(order.promise_dropoff),
                order.margins,
                reached_pickup=(
                    None if order.reached_pickup is None else self._time(order.reached_pickup)
                ),
                delivered=self._time(self.ev.now),
            )
            self.outcomes[order.provider].append((kept.pickup_error_s, kept.dropoff_error_s))

    def _snapshot_tick(self) -> None:
        """The fleet's state as operations tells it, and the margins read again with it."""
        self.snapshots = self._snapshot()
        for orders in self.taken.values():
            orders[:] = [o for o in orders if o[0] > self.ev.now]
        legs = self.s.eta_calibration_legs
        recent = {
            provider: Errors(
                [pk for pk, _ in kept[-legs:] if pk is not None], [d for _, d in kept[-legs:]]
            )
            for provider, kept in self.outcomes.items()
        }
        self.margins = calibrate(recent, self.promise)
        self.ev.after(self.p.fleet_snapshot_interval_s, self._snapshot_tick)

    def _snapshot(self) -> dict[str, FleetState]:
        s, now = self.s, self.ev.now
        rows: dict[str, list[list[float]]] = {a.id: [] for a in self.areas}
        for robot in self.robots:
            if robot.area_id is None:
                continue
            task = robot.task
            if task is None:
                if robot.state != "idle" or robot.battery < s.robot_battery_low_pct:
                    continue
                free_in, free_at = 0.0, robot.where
            elif task.kind in ("delivery", "return"):
                free_in, free_at = self._remaining_s(robot, task), task.stops[-1]
            else:
                continue
            rows[robot.area_id].append(
                [free_at.lat, free_at.lng, round(free_in, 1), s.robot_speed_mps]
            )
        pending: dict[str, int] = {}
        for task in self.pending:
            if task.area_id is not None:
                pending[task.area_id] = pending.get(task.area_id, 0) + 1
        taken_at = self._time(now)
        return {a: FleetState.of(taken_at, r, pending.get(a, 0)) for a, r in rows.items()}

    def _remaining_s(self, robot: Robot, task: Task) -> float:
        """What `operations.fleet.snapshot` counts: the way through the stops ahead and the
        waits at them."""
        s = self.s
        where = robot.where
        if robot.leg is not None:
            a, b, t0, t1, _ = robot.leg
            f = 1.0 if t1 <= t0 else min(1.0, max(0.0, (self.ev.now - t0) / (t1 - t0)))
            where = LatLng(a.lat + (b.lat - a.lat) * f, a.lng + (b.lng - a.lng) * f)
        way_s = remaining_travel_s(
            where, task.stops[task.stop :], s.robot_speed_mps, s.detour_factor
        )
        trips = TRIPS_OF[TaskType(task.kind)][task.stop :]
        waits = {"pickup_s": s.robot_pickup_dwell_s, "dropoff_s": s.robot_dropoff_dwell_s}
        return way_s + sum(stop_wait_s(trip, **waits) for trip in trips)

    # --- figures ------------------------------------------------------------------------------

    def _time(self, seconds: float) -> datetime:
        return self.start + timedelta(seconds=seconds)

    def _seconds(self, at: datetime) -> float:
        return (at - self.start).total_seconds()

    def _result(self) -> ModelResult:
        p, end = self.p, self.p.duration_s
        grace = p.on_time_grace_s
        orders = self.orders
        delivered = [o for o in orders if o.status == "delivered"]
        on_time = [
            o
            for o in delivered
            if o.delivered is not None and o.delivered <= o.promise_dropoff + grace
        ]
        terminal = {"delivered", "cancelled", "failed", "returned"}
        due = [
            o
            for o in orders
            if o.status != "cancelled"
            and (o.status == "delivered" or not o.cancel_asked)
            and (o.status in terminal or o.promise_dropoff + grace <= end)
        ]
        minutes = sorted(
            (o.delivered - o.created) / 60 for o in delivered if o.delivered is not None
        )
        busy_s = sum(min(b, end) - a for a, b in self._busy)
        on_shift = sum(self._on_shift)
        kpis = Kpis(
            orders=len(orders),
            refused=self.refused,
            delivered=len(delivered),
            on_time=len(on_time),
            due=len(due),
            cancelled=sum(o.status == "cancelled" for o in orders),
            failed=sum(o.status == "failed" for o in orders),
            returned=sum(o.status == "returned" for o in orders),
            in_flight=sum(o.status not in terminal for o in orders),
            by_robot=sum(o.providers[-1] is ROBOT for o in delivered),
            by_courier=sum(o.providers[-1] is COURIER for o in delivered),
            fallbacks=sum(o.providers[0] is ROBOT and COURIER in o.providers[1:] for o in orders),
            p50_delivery_min=_percentile(minutes, 0.5),
            p90_delivery_min=_percentile(minutes, 0.9),
            robot_utilisation=round(busy_s / (len(self.robots) * end), 4) if self.robots else 0.0,
            pilot_load=round(sum(self._supervised) / (on_shift * self.s.pilot_capacity), 4)
            if on_shift
            else 0.0,
            pilot_peak=self.s.pilot_capacity,
            unfinished=sum(
                o.status == "failed" or (o.status == "returned" and not o.cancel_asked)
                for o in orders
            ),
        )
        hours = [
            HourFigures(
                h, self._ordered[h], self._supervised[h], self._on_shift[h], self._waited[h]
            )
            for h in range(len(self._supervised))
        ]
        return ModelResult(
            kpis, hours, round(self.driven_m / 1000, 1), self.faults, self.courier_jobs
        )


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


class _Merchant:
    """The simulator's merchant, its random stream drawn in the same order: the same orders
    at the same times to the same doors, cancelled alike."""

    def __init__(
        self, model: FleetModel, place: LatLng, name: str, per_hour: float, dropoffs: Dropoffs
    ) -> None:
        self.model, self.place, self.dropoffs = model, place, dropoffs
        city = model.city
        self._mean_per_s = per_hour / 3600
        self._peak = max(city.demand_at(h) for h in range(24))
        self._rng = random.Random(f"{model.p.seed}:merchant:{name}")
        self._value = next(m.order_value_cents for m in city.merchants if m.place.name == name)

    def start(self) -> None:
        self._next()

    def _next(self) -> None:
        rate = self._mean_per_s * self._peak
        if rate <= 0:
            return
        self.model.ev.after(self._rng.expovariate(rate), self._arrive)

    def _arrive(self) -> None:
        self._next()
        m = self.model
        local_h = (m.ev.now / 3600 + m.p.start_local_hour) % 24
        if self._rng.random() * self._peak < m.city.demand_at(local_h):
            self._order()

    def _order(self) -> None:
        m = self.model
        lat, lng = self.dropoffs.draw(self._rng)
        self._rng.gauss(self._value, 800)  # the basket's value: drawn, as the simulator does
        order = m.quote_and_order(self.place, LatLng(lat, lng))
        if order is None:
            return
        if self._rng.random() < m.p.cancel_rate:
            low, high = m.p.cancel_after_s
            m.ev.after(self._rng.uniform(low, high), lambda: m.cancel(order))


def run_model(
    params: SimParams,
    city: City,
    settings: Settings,
    *,
    pilots_by_hour: list[int] | None = None,
) -> ModelResult:
    return FleetModel(city, params, settings, pilots_by_hour=pilots_by_hour).run()


def model_settings(params: SimParams, city: City) -> Settings:
    """The platform's settings as the simulator gives them: the same figures for the model."""
    from sidewalk.simulator.run import Databases, platform_settings

    return platform_settings(params, city, Path("var"), Databases())
