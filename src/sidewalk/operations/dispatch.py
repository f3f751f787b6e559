"""Batch dispatch: give pending tasks to free robots, one round at a time.

Each round is an assignment problem: serve as many tasks as the batteries allow, then make the
total time to pickup as small as possible. Arrival-order greedy leaves 15-60 % on the table, and
one dense `linear_sum_assignment` over every pair takes seconds at 5,000 x 5,000 (tens of
seconds when orders are clustered), so `plan_dispatch` solves small rounds densely, exactly,
and large ones by pieces, each piece solved exactly:

1. A first plan. Orders spread like the robots: bottom up, each small area is solved with its
   own robots and what is left goes to the parent area (two neighbours), up to the whole city.
   Clustered orders: a transport problem between groups of robots and groups of tasks (HiGHS,
   a few thousand variables) says how many robots each area lends to each cluster, as the
   k-nearest-robot graphs cannot (there, they have no full matching at all).
2. Local search: windows of a few hundred tasks and robots, cut along turning directions, are
   re-solved exactly with their current robots and their idle ones; a window never gets worse
   or serves fewer tasks. It stops when a pass gains < 0.01 % or the time budget is spent.
3. Pieces are only used when there are at least as many robots as tasks and the plan serves
   every task, which is then the maximum count. Otherwise (more tasks than robots, or
   batteries or the pickup cap leaving a task unserved) choosing which tasks to serve is
   global, and the round is solved densely: exact, but as slow as the baseline.

Rounds of up to `DENSE_MAX_PAIRS` pairs are exact. Larger ones are a heuristic with no proven
bound: within 1 % of the dense optimum in the bench scenarios (BENCHMARKS.md).
"""

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment, linprog

from sidewalk.kernel.geo import EARTH_RADIUS_M, LatLng

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

DENSE_MAX_PAIRS = 1_500_000  # up to ~1,200 x 1,200 the exact dense solve takes < 0.3 s
WINDOW_POINTS = 600  # tasks and robots per window of the local search
STOP_GAIN = 1e-4  # stop the local search when a pass gains less than this share
GROUP_SIZE = 50  # tasks (and robots) per group of the coarse transport problem
LEAF_POINTS = 200  # tasks and robots per smallest area of the first plan
PASS_ANGLES = (0.0, 45.0, 22.5, 67.5, 11.25, 56.25)  # each local-search pass cuts along these
CLUSTERED_SKEW = 0.15  # above this imbalance, start from the transport problem
TIME_BUDGET_S = 0.8  # no new local-search window is solved after this long
MAX_PASSES = 8


@dataclass(frozen=True, slots=True)
class FreeRobot:
    serial: str
    lat: float
    lng: float
    speed_mps: float  # sidewalk speed, > 0
    battery_pct: float  # 0..100
    drain_pct_per_km: float  # battery % used per km driven
    reserve_pct: float  # must still be left on arrival at the hub


@dataclass(frozen=True, slots=True)
class OpenTask:
    id: str
    start_lat: float  # where the robot must go first (the pickup, or the hub)
    start_lng: float
    end_lat: float  # where the task ends (dropoff)
    end_lng: float


@dataclass(frozen=True, slots=True)
class Assignment:
    task_id: str
    serial: str
    pickup_s: float  # estimated time for the robot to reach start


@dataclass(frozen=True)
class DispatchPlan:
    assignments: list[Assignment]
    unassigned: list[str]  # task ids left pending this round, in input order
    total_pickup_s: float


# --- geometry --------------------------------------------------------------------------------


def haversine_np(lat1: Floats, lng1: Floats, lat2: Floats, lng2: Floats) -> Floats:
    """Great-circle metres, element-wise with broadcasting: the same formula as
    `sidewalk.kernel.geo.haversine_m`, so costs agree with it to rounding."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(lng2 - lng1)
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: Floats = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return out


# --- the instance ----------------------------------------------------------------------------


class _Round:
    """Tasks and robots as arrays, and the rules of one round: who may take what, at what cost."""

    def __init__(
        self,
        tasks: Sequence[OpenTask],
        robots: Sequence[FreeRobot],
        hubs: Sequence[LatLng],
        detour: float,
        max_pickup_s: float | None,
    ) -> None:
        self.n, self.m = len(tasks), len(robots)
        self.detour = detour
        self.max_pickup_s = math.inf if max_pickup_s is None else max_pickup_s
        self.t_lat = np.array([t.start_lat for t in tasks], dtype=np.float64)
        self.t_lng = np.array([t.start_lng for t in tasks], dtype=np.float64)
        e_lat = np.array([t.end_lat for t in tasks], dtype=np.float64)
        e_lng = np.array([t.end_lng for t in tasks], dtype=np.float64)
        self.r_lat = np.array([r.lat for r in robots], dtype=np.float64)
        self.r_lng = np.array([r.lng for r in robots], dtype=np.float64)
        self.speed = np.array([r.speed_mps for r in robots], dtype=np.float64)
        self.battery = np.array([r.battery_pct for r in robots], dtype=np.float64)
        self.drain = np.array([r.drain_pct_per_km for r in robots], dtype=np.float64)
        self.reserve = np.array([r.reserve_pct for r in robots], dtype=np.float64)
        # The part of the drive that does not depend on the robot: the task and the way back.
        leg = haversine_np(self.t_lat, self.t_lng, e_lat, e_lng)
        self.task_m = leg + self._to_nearest_hub(e_lat, e_lng, hubs)

    @staticmethod
    def _to_nearest_hub(lat: Floats, lng: Floats, hubs: Sequence[LatLng]) -> Floats:
        if not hubs or lat.size == 0:
            return np.zeros(lat.size)
        h_lat = np.array([h.lat for h in hubs], dtype=np.float64)
        h_lng = np.array([h.lng for h in hubs], dtype=np.float64)
        nearest: Floats = np.empty(lat.size)
        for lo in range(0, lat.size, 2048):  # bounded memory with many hubs
            d = haversine_np(lat[lo : lo + 2048, None], lng[lo : lo + 2048, None], h_lat, h_lng)
            nearest[lo : lo + 2048] = d.min(axis=1)
        return nearest

    def pairs(self, ti: Ints, ri: Ints) -> tuple[Floats, Bools]:
        """Pickup seconds and feasibility of tasks `ti` with robots `ri` (broadcast shapes)."""
        d = haversine_np(self.t_lat[ti], self.t_lng[ti], self.r_lat[ri], self.r_lng[ri])
        cost: Floats = self.detour * d / self.speed[ri]
        drive_km = self.detour * (d + self.task_m[ti]) / 1000
        left = self.battery[ri] - self.drain[ri] * drive_km
        ok: Bools = (left >= self.reserve[ri]) & (cost <= self.max_pickup_s)
        return cost, ok


# --- exact dense solve of a block --------------------------------------------------------------


def _solve_block(rnd: _Round, ti: Ints, ri: Ints) -> tuple[Ints, Ints]:
    """Maximum count, then minimum cost, over tasks `ti` x robots `ri`: returns matched pairs.

    Infeasible pairs cost more than any set of feasible pickups could, so one more task served
    always wins; they are dropped from the answer."""
    if ti.size == 0 or ri.size == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    cost, ok = rnd.pairs(ti[:, None], ri[None, :])
    if not ok.any():
        return np.empty(0, np.intp), np.empty(0, np.intp)
    penalty = (min(ti.size, ri.size) + 1) * float(cost[ok].max()) + 1.0
    rows, cols = linear_sum_assignment(np.where(ok, cost, penalty))
    keep = ok[rows, cols]
    return ti[rows[keep]], ri[cols[keep]]


def _plan(rnd: _Round, task_robot: Ints) -> tuple[Ints, Ints]:
    """Matched (task, robot) index pairs of a task -> robot array (-1: unserved)."""
    matched = np.flatnonzero(task_robot >= 0)
    return matched.astype(np.intp), task_robot[matched]


# --- the large-round heuristic ---------------------------------------------------------------


def _planar(rnd: _Round) -> tuple[Floats, Floats]:
    """Tasks and robots in local metres (equirectangular): only used to cut the city in parts."""
    lat0 = math.radians(float(np.mean(np.concatenate((rnd.t_lat, rnd.r_lat)))))
    lng0 = float(np.mean(np.concatenate((rnd.t_lng, rnd.r_lng))))

    def xy(lat: Floats, lng: Floats) -> Floats:
        x = np.radians(lng - lng0) * math.cos(lat0) * EARTH_RADIUS_M
        y = np.radians(lat) * EARTH_RADIUS_M
        return np.column_stack((x, y)).astype(np.float64)

    return xy(rnd.t_lat, rnd.t_lng), xy(rnd.r_lat, rnd.r_lng)


def _bisect(points: Floats, size: int, angle_deg: float = 0.0) -> list[Ints]:
    """Split points into parts of at most `size` by recursive median cuts along the longer
    side, in axes turned by `angle_deg`: different angles give parts with different borders."""
    a = math.radians(angle_deg)
    rot = points @ np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    parts: list[Ints] = []
    stack = [np.arange(len(points), dtype=np.intp)]
    while stack:
        idx = stack.pop()
        if idx.size <= size:
            if idx.size:
                parts.append(idx)
            continue
        pts = rot[idx]
        axis = int(np.argmax(np.ptp(pts, axis=0)))
        order = np.argsort(pts[:, axis], kind="stable")
        half = idx.size // 2
        stack += [idx[order[:half]], idx[order[half:]]]
    return parts


def _transport(
    supply_xy: Floats, supply: Floats, demand_xy: Floats, demand: Floats
) -> npt.NDArray[np.int64]:
    """Robots to send from each robot group to each task group: the coarse flow of supply.

    Integral because a transportation problem with integer totals has integral vertices
    (dual simplex returns a vertex); rounding only removes float noise."""
    g_s, g_d = len(supply), len(demand)
    dist = np.hypot(
        supply_xy[:, None, 0] - demand_xy[None, :, 0], supply_xy[:, None, 1] - demand_xy[None, :, 1]
    ).ravel()
    a_s = np.kron(np.eye(g_s), np.ones(g_d))
    a_d = np.kron(np.ones(g_s), np.eye(g_d))
    if supply.sum() >= demand.sum():
        res = linprog(dist, A_ub=a_s, b_ub=supply, A_eq=a_d, b_eq=demand, method="highs-ds")
    else:
        res = linprog(dist, A_ub=a_d, b_ub=demand, A_eq=a_s, b_eq=supply, method="highs-ds")
    if res.status != 0 or res.x is None:  # pragma: no cover - always feasible and bounded
        raise RuntimeError(f"transport problem failed: {res.message}")
    flows: npt.NDArray[np.int64] = np.rint(res.x).astype(np.int64).reshape(g_s, g_d)
    return flows


def _initial_transport(rnd: _Round, t_xy: Floats, r_xy: Floats) -> Ints:
    """A first plan: move supply between areas as the transport problem says, then solve each
    group of tasks exactly with the robots sent to it."""
    t_groups = _bisect(t_xy, GROUP_SIZE)
    r_groups = _bisect(r_xy, GROUP_SIZE)
    t_centre = np.array([t_xy[g].mean(axis=0) for g in t_groups])
    r_centre = np.array([r_xy[g].mean(axis=0) for g in r_groups])
    flows = _transport(
        r_centre,
        np.array([g.size for g in r_groups], dtype=np.float64),
        t_centre,
        np.array([g.size for g in t_groups], dtype=np.float64),
    )
    sent: list[list[Ints]] = [[] for _ in t_groups]
    for a, robots in enumerate(r_groups):
        dest = np.repeat(np.arange(len(t_groups)), flows[a])
        if dest.size == 0:
            continue
        d = np.hypot(
            r_xy[robots, None, 0] - t_centre[None, dest, 0],
            r_xy[robots, None, 1] - t_centre[None, dest, 1],
        )
        rows, cols = linear_sum_assignment(d)
        for b in np.unique(dest):
            sent[b].append(robots[rows[dest[cols] == b]])
    task_robot = np.full(rnd.n, -1, dtype=np.intp)
    for b, tasks in enumerate(t_groups):
        robots = np.concatenate(sent[b]) if sent[b] else np.empty(0, np.intp)
        ti, ri = _solve_block(rnd, tasks, robots)
        task_robot[ti] = ri
    return task_robot


def _initial(rnd: _Round, t_xy: Floats, r_xy: Floats) -> Ints:
    """A first plan, bottom up: each small area is solved exactly with its own robots, and
    what is left (tasks without a robot, robots without a task) goes to the parent area."""
    task_robot = np.full(rnd.n, -1, dtype=np.intp)
    points = np.concatenate((t_xy, r_xy))

    def solve(idx: Ints) -> Ints:
        if idx.size > LEAF_POINTS:
            pts = points[idx]
            axis = int(np.argmax(np.ptp(pts, axis=0)))
            order = np.argsort(pts[:, axis], kind="stable")
            half = idx.size // 2
            idx = np.concatenate((solve(idx[order[:half]]), solve(idx[order[half:]])))
        ti, ri = _solve_block(rnd, idx[idx < rnd.n], idx[idx >= rnd.n] - rnd.n)
        task_robot[ti] = ri
        return idx[~np.isin(idx, ti) & ~np.isin(idx, ri + rnd.n)]

    solve(np.arange(rnd.n + rnd.m, dtype=np.intp))
    return task_robot


def _improve(rnd: _Round, t_xy: Floats, r_xy: Floats, task_robot: Ints, deadline: float) -> None:
    """Local search: re-solve windows exactly until a pass gains almost nothing.

    A window is an area cut from tasks and robots together: its tasks, the tasks its robots
    serve (wherever they are), their robots, and its idle robots. Taking the tasks of the
    robots in the area lets two clusters of orders trade the robots that lie between them."""
    robot_task = np.full(rnd.m, -1, dtype=np.intp)
    served = task_robot >= 0
    robot_task[task_robot[served]] = np.flatnonzero(served)
    points = np.concatenate((t_xy, r_xy))
    total = _cost_of(rnd, *_plan(rnd, task_robot))
    for p in range(MAX_PASSES):
        if time.perf_counter() > deadline:
            break
        improved = 0.0
        for part in _bisect(points, WINDOW_POINTS, PASS_ANGLES[p % len(PASS_ANGLES)]):
            if time.perf_counter() > deadline:
                return
            in_tasks = part[part < rnd.n]
            in_robots = part[part >= rnd.n] - rnd.n
            window = np.union1d(in_tasks, robot_task[in_robots][robot_task[in_robots] >= 0])
            own = task_robot[window]
            busy = own[own >= 0]
            idle = in_robots[robot_task[in_robots] < 0]
            robots = np.concatenate((busy, idle))
            before_c = _cost_of(rnd, window[own >= 0], busy)
            ti, ri = _solve_block(rnd, window, robots)
            after_c = _cost_of(rnd, ti, ri)
            if ti.size < busy.size or (ti.size == busy.size and after_c >= before_c - 1e-9):
                continue
            improved += before_c - after_c
            robot_task[busy] = -1
            task_robot[window] = -1
            task_robot[ti] = ri
            robot_task[ri] = ti
        total -= improved
        if improved <= STOP_GAIN * total:
            break


def _cost_of(rnd: _Round, ti: Ints, ri: Ints) -> float:
    if ti.size == 0:
        return 0.0
    return float(rnd.pairs(ti, ri)[0].sum())


def _imbalance(rnd: _Round, points: Floats) -> float:
    """Share of tasks and robots without a counterpart in their own small area: low when
    orders are spread like the robots, high when they are clustered away from them."""
    left = 0
    for part in _bisect(points, LEAF_POINTS):
        tasks = int((part < rnd.n).sum())
        left += abs(2 * tasks - part.size)
    return left / len(points)


def _solve_large(rnd: _Round) -> tuple[Ints, Ints]:
    """Pieces when robots outnumber tasks and every task gets one; otherwise dense.

    With more tasks than robots, or when batteries or the pickup cap leave a task unserved,
    which tasks to serve is a global choice that windows make badly (up to +15 % in the
    tests), so those rounds pay for the dense solve."""
    everything = np.arange(rnd.n, dtype=np.intp), np.arange(rnd.m, dtype=np.intp)
    if rnd.n > rnd.m:
        return _solve_block(rnd, *everything)
    started = time.perf_counter()
    t_xy, r_xy = _planar(rnd)
    points = np.concatenate((t_xy, r_xy))
    # Clustered orders: the transport problem moves supply well, the bottom-up plan does not
    # (its last steps are large dense solves of far-apart pairs). Spread orders: the reverse,
    # as the transport problem's many near-ties send robots past closer tasks.
    skew = _imbalance(rnd, points) - abs(rnd.n - rnd.m) / len(points)
    if skew > CLUSTERED_SKEW:
        task_robot = _initial_transport(rnd, t_xy, r_xy)
    else:
        task_robot = _initial(rnd, t_xy, r_xy)
    _improve(rnd, t_xy, r_xy, task_robot, started + TIME_BUDGET_S)
    ti, ri = _plan(rnd, task_robot)
    if ti.size < rnd.n:
        return _solve_block(rnd, *everything)
    return ti, ri


# --- public entry points ---------------------------------------------------------------------


def _to_plan(
    rnd: _Round, tasks: Sequence[OpenTask], robots: Sequence[FreeRobot], ti: Ints, ri: Ints
) -> DispatchPlan:
    order = np.argsort(ti, kind="stable")
    ti, ri = ti[order], ri[order]
    cost = rnd.pairs(ti, ri)[0] if ti.size else np.empty(0)
    assignments = [
        Assignment(tasks[int(t)].id, robots[int(r)].serial, float(c))
        for t, r, c in zip(ti, ri, cost, strict=True)
    ]
    taken = np.zeros(rnd.n, dtype=bool)
    taken[ti] = True
    unassigned = [tasks[int(i)].id for i in np.flatnonzero(~taken)]
    return DispatchPlan(assignments, unassigned, float(sum(a.pickup_s for a in assignments)))


def plan_dispatch(
    tasks: Sequence[OpenTask],
    robots: Sequence[FreeRobot],
    hubs: Sequence[LatLng],
    *,
    detour_factor: float = 1.3,
    max_pickup_s: float | None = None,
) -> DispatchPlan:
    """One dispatch round: the most tasks the batteries allow, then the least total pickup time.

    Exact up to `DENSE_MAX_PAIRS` pairs; past that, see the module docstring."""
    rnd = _Round(tasks, robots, hubs, detour_factor, max_pickup_s)
    if rnd.n * rnd.m <= DENSE_MAX_PAIRS:
        ti, ri = _solve_block(rnd, np.arange(rnd.n), np.arange(rnd.m))
    else:
        ti, ri = _solve_large(rnd)
    return _to_plan(rnd, tasks, robots, ti, ri)


def dense_optimum(
    tasks: Sequence[OpenTask],
    robots: Sequence[FreeRobot],
    hubs: Sequence[LatLng],
    *,
    detour_factor: float = 1.3,
    max_pickup_s: float | None = None,
) -> DispatchPlan:
    """Baseline: the exact optimum from one dense `linear_sum_assignment` over every pair."""
    rnd = _Round(tasks, robots, hubs, detour_factor, max_pickup_s)
    ti, ri = _solve_block(rnd, np.arange(rnd.n), np.arange(rnd.m))
    return _to_plan(rnd, tasks, robots, ti, ri)


def greedy_arrival_order(
    tasks: Sequence[OpenTask],
    robots: Sequence[FreeRobot],
    hubs: Sequence[LatLng],
    *,
    detour_factor: float = 1.3,
    max_pickup_s: float | None = None,
) -> DispatchPlan:
    """Baseline: each task, in the order it came, takes the feasible free robot nearest in time."""
    rnd = _Round(tasks, robots, hubs, detour_factor, max_pickup_s)
    free = np.ones(rnd.m, dtype=bool)
    all_robots = np.arange(rnd.m)
    ti: list[int] = []
    ri: list[int] = []
    for t in range(rnd.n):
        if not free.any():
            break
        cost, ok = rnd.pairs(np.full(rnd.m, t), all_robots)
        cost = np.where(ok & free, cost, np.inf)
        best = int(np.argmin(cost))
        if math.isfinite(cost[best]):
            free[best] = False
            ti.append(t)
            ri.append(best)
    return _to_plan(rnd, tasks, robots, np.array(ti, dtype=np.intp), np.array(ri, dtype=np.intp))
