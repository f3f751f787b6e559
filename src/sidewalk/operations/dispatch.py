"""Batch assignment of pending tasks to free robots (dense `linear_sum_assignment`)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from sidewalk.kernel.geo import LatLng, haversine_m


@dataclass(frozen=True, slots=True)
class FreeRobot:
    serial: str
    lat: float
    lng: float
    speed_mps: float
    battery_pct: float
    drain_pct_per_km: float
    reserve_pct: float


@dataclass(frozen=True, slots=True)
class OpenTask:
    id: str
    start_lat: float
    start_lng: float
    end_lat: float
    end_lng: float


@dataclass(frozen=True, slots=True)
class Assignment:
    task_id: str
    serial: str
    pickup_s: float


@dataclass(frozen=True)
class DispatchPlan:
    assignments: list[Assignment]
    unassigned: list[str]
    total_pickup_s: float


def plan_dispatch(
    tasks: Sequence[OpenTask],
    robots: Sequence[FreeRobot],
    hubs: Sequence[LatLng],
    *,
    detour_factor: float = 1.3,
    max_pickup_s: float | None = None,
) -> DispatchPlan:
    big = 1e12
    cost = np.full((len(tasks), len(robots)), big)
    for i, t in enumerate(tasks):
        start, end = LatLng(t.start_lat, t.start_lng), LatLng(t.end_lat, t.end_lng)
        home = min((haversine_m(end, h) for h in hubs), default=0.0)
        for j, r in enumerate(robots):
            d = haversine_m(LatLng(r.lat, r.lng), start)
            km = detour_factor * (d + haversine_m(start, end) + home) / 1000
            s = detour_factor * d / r.speed_mps
            if r.battery_pct - r.drain_pct_per_km * km < r.reserve_pct:
                continue
            if max_pickup_s is not None and s > max_pickup_s:
                continue
            cost[i, j] = s
    if cost.size == 0:
        return DispatchPlan([], [t.id for t in tasks], 0.0)
    rows, cols = linear_sum_assignment(cost)
    out = [
        Assignment(tasks[i].id, robots[j].serial, float(cost[i, j]))
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True)
        if cost[i, j] < big
    ]
    done = {a.task_id for a in out}
    return DispatchPlan(
        out, [t.id for t in tasks if t.id not in done], sum(a.pickup_s for a in out)
    )
