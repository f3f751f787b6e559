"""One simulation: a fresh platform on the given databases, the city's hubs, merchants,
robots and pilots registered through the services' use cases, then the timetable run to the
end, with the platform's background jobs (dispatch rounds, the fleet's state, the courier
network) run at their intervals on the same clock and thread."""

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants
from sidewalk.deliveries.providers.simulated_courier import SimulatedCourierNetwork
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import seeded_ids
from sidewalk.kernel.settings import Settings
from sidewalk.operations import dispatcher, hubs, operators, robots
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.fleet import tell_fleet
from sidewalk.simulator.agenda import Agenda, SettableClock
from sidewalk.simulator.city import City, load_city
from sidewalk.simulator.event_pump import EventPump
from sidewalk.simulator.kpis import measure
from sidewalk.simulator.merchants import Dropoffs, MerchantAgent, Order
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.pilots import PilotAgent
from sidewalk.simulator.results import SimResult
from sidewalk.simulator.robots import WAKING_EVENTS, RobotAgent
from sidewalk.simulator.world import World

Progress = Callable[[float], None]  # simulated seconds done

# Events after which a dispatch round may find work: a task to place, a robot or pilot free.
DISPATCH_NEWS = frozenset(
    {"task.created", "task.unassigned", "task.awaiting_pilot", "pilot.released"}
)
# Rounds also run this often with no news, for their time limits.
ROUND_AT_LEAST_EVERY_S = 120.0


@dataclass(frozen=True)
class Databases:
    """Where a simulation keeps the services' data: SQLite files in a fresh folder by default,
    or PostgreSQL URLs (whose databases must be empty)."""

    deliveries_url: str | None = None
    operations_url: str | None = None


def platform_settings(params: SimParams, city: City, var_dir: Path, dbs: Databases) -> Settings:
    """The platform's settings under a simulation: the city's areas, the robots' figures, and
    intervals suited to simulated time (robots report less often than real ones)."""
    silent_after = int(3 * max(params.idle_heartbeat_s, params.telemetry_interval_s))
    return Settings(
        var_dir=var_dir,
        deliveries_database_url=dbs.deliveries_url or "",
        operations_database_url=dbs.operations_url or "",
        service_areas_file=city.service_areas_file,
        robot_speed_mps=params.robot_speed_mps,
        robot_pickup_dwell_s=params.pickup_dwell_s,
        robot_dropoff_dwell_s=params.dropoff_dwell_s,
        detour_factor=params.detour_factor,
        robot_offline_after_s=silent_after,
        robot_position_event_s=max(10.0, params.telemetry_interval_s),
        dispatch_interval_s=params.dispatch_interval_s,
        fleet_snapshot_interval_s=params.fleet_snapshot_interval_s,
        fleet_snapshot_max_age_s=3 * params.fleet_snapshot_interval_s,
        courier_sim_seed=params.seed,
        courier_sim_tick_s=params.courier_tick_s,
        courier_position_every_s=params.courier_position_every_s,
    )


class Simulation:
    def __init__(
        self, platform: Platform, params: SimParams, city: City, clock: SettableClock
    ) -> None:
        start = params.start_utc(city.utc_offset_h)
        self.world = World(platform, Agenda(clock, start), params, city)
        self.robots: dict[str, RobotAgent] = {}
        self.pilots: list[PilotAgent] = []
        self.orders: list[Order] = []
        self.merchant_keys: dict[str, str] = {}
        self.pump = EventPump(platform, self._heard)
        self._dispatch_due = True
        # Live, the platform's own loops (relays, dispatcher, couriers) do what the pump and
        # the background jobs do here.
        self.live = False

    # --- setting the city up -----------------------------------------------------------------

    def populate(self) -> None:
        w = self.world
        ops, dl = w.platform.operations, w.platform.deliveries
        added = [(hubs.add_hub(ops, p.name, p.point).id, p.point) for p in w.city.hubs]
        rng = w.rng("fleet")
        for i in range(w.params.robots):
            hub_id, hub_point = added[i % len(added)]
            serial = f"SW-{i + 1:04d}"
            robots.register_robot(ops, robots.RobotSpec(serial, f"Robot {i + 1}", hub_id=hub_id))
            battery = round(rng.uniform(70, 100), 1)
            self.robots[serial] = RobotAgent(w, serial, hub_point, battery)
        # `pilots` is the team of each shift: that many pilots on duty at any hour; or as many
        # pilots as the busiest hour of an hourly plan needs, each working its hours.
        teams = [(s, shift, w.params.pilots) for s, shift in enumerate(w.city.shifts)]
        if w.params.pilots_by_hour is not None:
            teams = [(0, w.city.shifts[0], max(w.params.pilots_by_hour))]
        for s, shift, team in teams:
            for i in range(team):
                created = operators.create_operator(
                    ops, f"pilot{s + 1}-{i + 1}@sim.sidewalk.example", OperatorRole.PILOT
                )
                self.pilots.append(PilotAgent(w, created.operator.id, shift, i))
        weights = sum(m.weight for m in w.city.merchants)
        dropoffs = Dropoffs(w.city.polygons())
        for m in w.city.merchants:
            created_m = merchants.create_merchant(dl, m.place.name)
            self.merchant_keys[m.place.name] = created_m.api_key
            principal = merchants.authenticate(dl, f"Bearer {created_m.api_key}")
            rate = w.params.orders_per_hour * m.weight / weights
            agent = MerchantAgent(w, m, principal, rate, dropoffs, self.orders)
            w.agenda.at(0.0, agent.start)
        for robot in self.robots.values():
            w.agenda.at(0.0, robot.start)
        for pilot in self.pilots:
            pilot.start()

    # --- running -------------------------------------------------------------------------------

    def _heard(self, event: Envelope) -> None:
        """What the gateways and the dispatcher learn from the platform's events."""
        # A task taken from its robot names the robot in the payload, no longer in the subject.
        serial = event.subject.get("robot_serial") or event.payload.get("robot_serial")
        if event.type in WAKING_EVENTS and serial in self.robots:
            self.robots[serial].wake(event.type)
        if event.type in DISPATCH_NEWS or (
            event.type == "robot.state_changed" and event.payload.get("to") == "idle"
        ):
            self._dispatch_due = True

    def start_background(self) -> None:
        """The platform's periodic jobs, at their intervals of simulated time: a dispatch round
        when something changed (and at least every two minutes, for its time limits), the fleet's
        state now and then, the courier network's clock."""
        w, p = self.world, self.world.params
        agenda = w.agenda
        ops = w.platform.operations
        last_full = [-1e9]

        def dispatch() -> None:
            if self.live:
                return
            if self._dispatch_due or agenda.now_s - last_full[0] >= ROUND_AT_LEAST_EVERY_S:
                self._dispatch_due = False
                last_full[0] = agenda.now_s
                dispatcher.run_round(ops)
                self.pump.drain()
            agenda.after(p.dispatch_interval_s, dispatch)

        def fleet() -> None:
            if self.live:
                return
            tell_fleet(ops)
            self.pump.drain()
            agenda.after(p.fleet_snapshot_interval_s, fleet)

        couriers = w.platform.couriers

        def courier_clock() -> None:
            if self.live:
                return
            if isinstance(couriers, SimulatedCourierNetwork) and couriers.advance(
                w.platform.clock.now()
            ):
                self.pump.drain()
            agenda.after(p.courier_tick_s, courier_clock)

        agenda.at(agenda.now_s, dispatch)
        agenda.at(agenda.now_s, fleet)
        agenda.at(agenda.now_s, courier_clock)

    def run_until(self, end_s: float, progress: Progress | None = None) -> None:
        """Run every action due by `end_s`, as fast as possible, carrying events after each."""
        agenda = self.world.agenda
        told = agenda.now_s
        while True:
            due = agenda.next_due()
            if due is None or due > end_s:
                break
            agenda.run_next()
            self.pump.drain()
            if progress is not None and agenda.now_s - told >= 60:
                told = agenda.now_s
                progress(told)
        agenda.now_s = end_s
        if agenda.steers_clock:
            agenda.set_clock(end_s)
        if progress is not None:
            progress(end_s)

    def run(self, progress: Progress | None = None) -> None:
        self.start_background()
        self.run_until(self.world.params.duration_s, progress)


def _scratch() -> str | None:
    """A memory-backed folder for the scratch databases where there is one (they are thrown
    away at the end), else the system's temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


@contextmanager
def simulated_platform(
    params: SimParams, city: City, dbs: Databases
) -> Iterator[tuple[Platform, ManualClock]]:
    with tempfile.TemporaryDirectory(prefix="sidewalk-sim-", dir=_scratch()) as folder:
        settings = platform_settings(params, city, Path(folder), dbs)
        clock = ManualClock(params.start_utc(city.utc_offset_h))
        platform = bootstrap(settings, clock=clock)
        try:
            yield platform, clock
        finally:
            platform.close()


@contextmanager
def finished_simulation(
    params: SimParams,
    city: City | None = None,
    dbs: Databases | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[Simulation, SimResult]]:
    """Run one seeded simulation to its end and measure it; the platform stays open inside
    the block, for a look at what the services recorded."""
    city = city or load_city()
    began = time.perf_counter()
    with (
        seeded_ids(params.seed),
        simulated_platform(params, city, dbs or Databases()) as (platform, clock),
    ):
        sim = Simulation(platform, params, city, clock)
        try:
            sim.populate()
            sim.run(progress)
            yield sim, measure(sim, time.perf_counter() - began)
        finally:
            sim.pump.close()


def simulate(
    params: SimParams,
    city: City | None = None,
    dbs: Databases | None = None,
    progress: Progress | None = None,
) -> SimResult:
    """Run one seeded simulation to its end and measure it."""
    with finished_simulation(params, city, dbs, progress) as (_, result):
        return result
