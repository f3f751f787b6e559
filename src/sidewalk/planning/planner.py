"""The cheapest fleet that meets an operator's targets, found with the fast fleet model.

1. Robots first, with pilots to spare: the fewest robots whose day meets every target (on
   time, courier fallback, completion) on the search seed. A first guess from the peak
   hour's load (orders times a robot's time per order, charging included) brackets the
   answer; the bracket is then cut in three at each step, two fleets at once, one per core,
   until it is `resolution` wide. The day's figures move with the fleet but not strictly
   (a seed's faults fall where they fall), so the answer is the smallest fleet seen to meet
   the targets above the largest seen to miss them.
2. Pilots per hour of the day, a shift plan: each hour's robots under supervision (from
   that day) with a margin of two standard deviations of a Poisson count, divided by a
   pilot's capacity.
3. The plan is confirmed on every seed asked for, with `SEED_MARGIN` more robots than the
   search found (its seed sits at the edge, and other seeds' days vary by a point or two);
   the search and the confirmation hold on-time and fallback to `SAFETY` more than the
   targets, for the days the plan does not see;
   while a seed misses a target, robots grow by as much again, and hours where tasks waited
   for a pilot get one more.

Robots decide on-time and fallback; completion is decided by trouble on the way (a fault
with the goods on board, a blocked path), which more robots do not change, so it is
reported, not searched. Costs are per day: robots, pilot-hours and courier deliveries
(couriers are paid per delivery they carry)."""

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from sidewalk.planning.fleet_model import ModelResult, model_settings, run_model
from sidewalk.simulator.city import City, load_city
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.results import Kpis

SAFETY = 0.005  # on-time and fallback are held to half a point more than the targets
SEED_MARGIN = 0.04  # robots above the search's answer, and the step up if a seed misses
PILOT_WAIT_S = 300.0  # task-seconds in an hour spent waiting for a pilot that add one
UNLIMITED_PILOTS = [10_000] * 24
# A robot's time per order (minutes): the way to the pickup and the trip at the simulator's
# typical lengths, the waits at both ends, and the charging the driving costs. Only the
# first guess uses it; the search corrects it.
ROBOT_MIN_PER_ORDER = 22.0


@dataclass(frozen=True)
class Targets:
    on_time: float = 0.95  # share of orders due handed over by the promised time (+ grace)
    max_fallback: float = 0.03  # share of orders that went to a courier after a robot
    completion: float = 0.995  # delivered among the orders that ended, bar merchant cancels

    def missed(self, k: Kpis) -> list[str]:
        """The targets `k` misses, by name."""
        found = []
        if k.on_time_pct < self.on_time:
            found.append("on_time")
        if k.fallback_pct > self.max_fallback:
            found.append("fallback")
        if k.completion_pct < self.completion:
            found.append("completion")
        return found


@dataclass(frozen=True)
class Costs:
    """What a day of the fleet costs, in the currency's units. The defaults are assumptions
    to be replaced with an operator's own: a robot's day (its hardware spread over its life,
    maintenance, charging, field support), a remote pilot's hour, a courier delivery (a
    third-party network's fee)."""

    robot_per_day: float = 30.0
    pilot_per_hour: float = 20.0
    courier_delivery: float = 9.0


@dataclass(frozen=True)
class Tried:
    """One fleet, one seed: what the model's day gave."""

    robots: int
    pilots_by_hour: tuple[int, ...] | None  # None: pilots to spare
    seed: int
    kpis: Kpis
    supervised_by_hour: tuple[float, ...]  # mean robots under a pilot, per local hour
    waited_by_hour: tuple[float, ...]  # task-seconds spent waiting for a pilot, per local hour


@dataclass
class Plan:
    city: str
    orders_per_hour: float
    hours: float
    targets: Targets
    costs: Costs
    robots: int
    pilots_by_hour: list[int]
    confirmed: list[Tried]  # the plan on each seed
    searched: int  # the fewest robots meeting the targets on the search's seed
    missed: list[str]  # targets the plan misses on some seed (completion, where trouble decides)
    tried: list[Tried] = field(default_factory=list)  # every day played, for the trade-off

    def cost_per_day(self, k: Kpis, robots: int | None = None) -> float:
        """A day's cost with the plan's pilots: its robots, or `robots` (another fleet's
        day, `k`)."""
        days = self.hours / 24
        fleet = (self.robots if robots is None else robots) * self.costs.robot_per_day * days
        pilots = sum(self.pilots_by_hour) * self.costs.pilot_per_hour * days
        return fleet + pilots + k.by_courier * self.costs.courier_delivery

    def cost_per_delivery(self, k: Kpis, robots: int | None = None) -> float | None:
        return self.cost_per_day(k, robots) / k.delivered if k.delivered else None


def plan_fleet(
    base: SimParams,
    *,
    targets: Targets | None = None,
    costs: Costs | None = None,
    seeds: int = 3,
    city_path: Path | None = None,
    resolution: float = 0.02,
    max_robots: int = 5_000,
    workers: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> Plan:
    """Search for the plan; `progress(note)` before each batch of days."""
    targets, costs = targets or Targets(), costs or Costs()
    # Days the plan does not see vary by a point or so: it is held to a little more.
    strict = replace(
        targets,
        on_time=min(1.0, targets.on_time + SAFETY),
        max_fallback=max(0.0, targets.max_fallback - SAFETY),
    )
    city = load_city(city_path)
    workers = workers or max(1, min(os.cpu_count() or 1, 2))
    tell = progress or (lambda _: None)
    with ProcessPoolExecutor(workers) as pool:
        days = _Days(pool, base, city_path)
        found = _robots(days, base, city, strict, resolution, max_robots, tell)
        # The search's seed sits at the edge; other seeds' days vary by a few points, so the
        # plan starts a little above it and grows by as much until every seed meets them.
        robots, pilots = found, _pilots_for(days, base, found, [])
        margin = max(1, round(found * SEED_MARGIN))
        robots = min(max_robots, found + margin)
        while True:
            tell(f"confirming: {robots} robots, {sum(pilots)} pilot-hours, {seeds} seeds")
            confirmed = days.run([(robots, tuple(pilots), base.seed + s) for s in range(seeds)])
            if not any(_misses(strict, t.kpis) for t in confirmed) or robots >= max_robots:
                break
            pilots = _pilots_for(days, base, found, confirmed)
            robots = min(max_robots, robots + margin)
    return Plan(
        city=city.name,
        orders_per_hour=base.orders_per_hour,
        hours=base.hours,
        targets=targets,
        costs=costs,
        robots=robots,
        pilots_by_hour=pilots,
        confirmed=confirmed,
        searched=found,
        missed=sorted({name for t in confirmed for name in targets.missed(t.kpis)}),
        tried=days.tried,
    )


def first_guess(base: SimParams, city: City) -> int:
    """Robots for the busiest hour's orders, each taking a robot `ROBOT_MIN_PER_ORDER`."""
    peak = max(city.demand_at(h) for h in range(24)) * base.orders_per_hour
    busy = peak * ROBOT_MIN_PER_ORDER / 60
    return max(1, math.ceil(busy + 2 * math.sqrt(busy)))


# Robots decide these; completion is decided by trouble on the way (a fault with the goods on
# board, a blocked path), which more robots do not change: it is reported, not searched.
CAPACITY_TARGETS = ("on_time", "fallback")


def _misses(targets: Targets, k: Kpis, judged: Sequence[str] = CAPACITY_TARGETS) -> bool:
    return any(name in judged for name in targets.missed(k))


def _robots(
    days: "_Days",
    base: SimParams,
    city: City,
    targets: Targets,
    resolution: float,
    max_robots: int,
    tell: Callable[[str], None],
) -> int:
    """The fewest robots meeting the capacity targets with pilots to spare, within
    `resolution` of the answer (a share of it): the bracket around the first guess is cut in
    three at each step, two fleets at once."""
    seed = base.seed
    guess = min(first_guess(base, city), max_robots)
    lo, hi = 0, None  # the largest fleet seen to miss, the smallest seen to meet
    probe = sorted({max(1, round(guess * 0.85)), min(max_robots, round(guess * 1.15))})
    while True:
        tell(f"robots: trying {' and '.join(map(str, probe))}")
        for t in days.run([(r, None, seed) for r in probe]):
            if _misses(targets, t.kpis):
                lo = max(lo, t.robots)
            elif hi is None or t.robots < hi:
                hi = t.robots
        if hi is None:
            if probe[-1] >= max_robots:
                return max_robots  # the most allowed; the plan says what it misses
            probe = sorted({min(max_robots, round(probe[-1] * f)) for f in (1.3, 1.7)})
            continue
        if lo == 0 and min(probe) > 1 and hi == min(probe):
            probe = sorted({max(1, round(hi * f)) for f in (0.5, 0.75)})
            continue
        if hi - lo <= max(1, resolution * hi):
            return hi
        step = max(1, (hi - lo) // 3)
        probe = sorted({lo + step, max(lo + 1, hi - step)})


def _pilots_for(days: "_Days", base: SimParams, robots: int, missed: list[Tried]) -> list[int]:
    """Pilots per local hour: each hour's robots under supervision with pilots to spare (on
    the search's day with `robots`), plus a margin of two standard deviations, divided by a
    pilot's capacity; one more in each hour where a day that missed a target (`missed`) had
    tasks wait more than `PILOT_WAIT_S` for a pilot."""
    unlimited = next(t for t in days.tried if t.robots == robots and t.pilots_by_hour is None)
    capacity = days.settings.pilot_capacity
    pilots = [
        math.ceil((load + 2 * math.sqrt(load)) / capacity) if load > 0 else 0
        for load in unlimited.supervised_by_hour
    ]
    for t in missed:
        base_pilots = t.pilots_by_hour or ()
        for h, waited in enumerate(t.waited_by_hour):
            if waited > PILOT_WAIT_S and h < len(base_pilots):
                pilots[h] = max(pilots[h], base_pilots[h] + 1)
    return pilots


class _Days:
    """Days of the model played in a pool of processes; every one is kept."""

    def __init__(self, pool: ProcessPoolExecutor, base: SimParams, city_path: Path | None) -> None:
        self.pool, self.base, self.city_path = pool, base, city_path
        self.settings = model_settings(base, load_city(city_path))
        self.tried: list[Tried] = []

    def run(self, fleets: Sequence[tuple[int, tuple[int, ...] | None, int]]) -> list[Tried]:
        futures = [
            self.pool.submit(_play, replace(self.base, robots=r, seed=s), p, self.city_path)
            for r, p, s in fleets
        ]
        found = [f.result() for f in futures]
        self.tried.extend(found)
        return found


def _play(params: SimParams, pilots: tuple[int, ...] | None, city_path: Path | None) -> Tried:
    city = load_city(city_path)
    by_hour = list(pilots) if pilots is not None else UNLIMITED_PILOTS
    result = run_model(params, city, model_settings(params, city), pilots_by_hour=by_hour)
    return Tried(
        params.robots,
        pilots,
        params.seed,
        result.kpis,
        _by_local_hour(result, params, lambda h: h.supervised_robot_s / 3600),
        _by_local_hour(result, params, lambda h: h.waiting_pilot_s),
    )


def _by_local_hour(
    result: ModelResult, params: SimParams, figure: Callable[..., float]
) -> tuple[float, ...]:
    """A figure of each hour of the run, by local hour of the day (the busiest day's, where
    the run is longer than a day)."""
    out = [0.0] * 24
    for h in result.hours:
        local = int((params.start_local_hour + h.hour) % 24)
        out[local] = max(out[local], figure(h))
    return tuple(out)
