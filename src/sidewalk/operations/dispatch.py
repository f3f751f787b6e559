"""Batch dispatch: give pending tasks to free robots, one round at a time.

Each round is an assignment problem: serve as many tasks as the batteries allow, then make the
total time to pickup as small as possible. Arrival-order greedy leaves 15-60 % on the table, and
one dense `linear_sum_assignment` over every pair takes seconds at 5,000 x 5,000 (tens of
seconds when orders are clustered), so `plan_dispatch` solves small rounds densely, exactly,
and large ones by pieces, each piece solved exactly.

The pieces work on two sides: `a`, the smaller one, every point of which should be served (the
tasks, or the robots when tasks outnumber them: a backlog), and `b`, the side to choose from.
Every rule is symmetric, so backlogs take the same path as rounds with spare robots.

1. A first plan. Orders spread like the robots: bottom up, each small area is solved with its
   own points and what is left goes to the parent area (two neighbours), up to the whole city.
   Clustered orders: a transport problem between groups of `b` and groups of `a` (HiGHS, a few
   thousand variables) says how many `b` each area lends to each group, as the
   k-nearest graphs cannot (there, they have no full matching at all).
2. One pass of the local search (step 4), which raises the count where a short swap does.
3. The maximum count, exactly: alternating paths (free point, feasible partner, that
   partner's point, ...) are searched in phases as in Hopcroft-Karp, from the side whose free
   points have fewer feasible pairs, and swapped along, until none is left. By Berge's
   theorem the count is then the maximum the batteries and the pickup cap allow, the same as
   the dense optimum's; feasibility is decided by the exact rule.
4. Local search, until the time budget (`TIME_BUDGET_S` from the start) is spent or a pass
   gains < 0.001 %: windows of a few hundred points, cut along turning directions (twice as
   large after `SMALL_PASSES` passes), are re-solved exactly with their current partners and
   their free points; a window is only taken if it serves as many for less, so the count
   never drops. Two windows that share no point are solved at once on two threads.
5. The polish: the exact optimum, for the plan's count, over a sparse graph made of the plan's
   own pairs and each point's `POLISH_NEIGHBOURS` nearest on the other side (a k-d tree), as
   a minimum-cost flow (OR-Tools). Windows stall in local optima (on uniform demand with one
   robot per task they stayed 1.5-2 % above the optimum); the polish leaves them, in about
   0.15-0.25 s at 5,000 x 5,000.

Costs inside the pieces come from one matrix product of unit vectors (within 1 cm of the
haversine); every pair taken is checked with the exact rule, and plans report exact costs
(the polish rounds them to the millisecond to solve, then reports them exactly).

Guarantees: rounds of up to `DENSE_MAX_PAIRS` pairs are exact. Larger ones serve the maximum
count (exact), and their total pickup time is the optimum over the sparse graph, which is not
the whole problem: no proven bound, but within 1 % of the dense optimum in every bench
scenario and seed (BENCHMARKS.md). Rounds take about 0.5-0.7 s at 5,000 x 5,000.
"""

import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from sidewalk.kernel.geo import EARTH_RADIUS_M, LatLng

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bools = npt.NDArray[np.bool_]

DENSE_MAX_PAIRS = 1_500_000  # up to ~1,200 x 1,200 the exact dense solve takes < 0.3 s
WINDOW_POINTS = 600  # tasks and robots per window of the local search
STOP_GAIN = 1e-5  # stop the local search when a pass gains less than this share
GROUP_SIZE = 50  # tasks (and robots) per group of the coarse transport problem
LEAF_POINTS = 200  # tasks and robots per smallest area of the first plan
PASS_ANGLES = (0.0, 45.0, 22.5, 67.5, 11.25, 56.25)  # each local-search pass cuts along these
CLUSTERED_SKEW = 0.15  # above this imbalance, start from the transport problem
TIME_BUDGET_S = 0.3  # no new local-search window is solved after this long
POLISH_NEIGHBOURS = 30  # nearest robots of each task, and tasks of each robot, in the polish
SMALL_PASSES = 4  # passes with windows of WINDOW_POINTS; twice as large after
MAX_PASSES = 1_000  # the time budget ends the local search


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
    # Seconds added to each of its pickups in the plan's objective, >= 0: what leaving it for
    # a later round costs less of (`urgency_weight_s`). A round that serves every task is
    # unchanged by it; one short of robots serves the tasks of least weight first.
    weight_s: float = 0.0


URGENCY_HORIZON_S = 900.0  # a task this far from its latest start weighs nothing more


def urgency_weight_s(behind_s: float, horizon_s: float = URGENCY_HORIZON_S) -> float:
    """A task's `weight_s` when it is `behind_s` past the latest moment a robot could leave
    its pickup and still hand over by the time promised (negative: that much ahead). From
    `2 * horizon_s` for a task `horizon_s` or more ahead down to 0 for one as far behind:
    when robots are short, the tasks furthest behind their promise go first, rather than the
    nearest to a free robot (which left far or late ones waiting until they went to a
    courier). Bounded, so that no task sends a robot across the city for a few seconds."""
    return float(min(max(horizon_s - behind_s, 0.0), 2 * horizon_s))


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


def _unit(lat: Floats, lng: Floats) -> Floats:
    """Points as unit vectors of the sphere (n x 3)."""
    p, q = np.radians(lat), np.radians(lng)
    out: Floats = np.column_stack((np.cos(p) * np.cos(q), np.cos(p) * np.sin(q), np.sin(p)))
    return out


def _chord_to_m(dot: Floats) -> Floats:
    """Great-circle metres from the dot products of unit vectors, in place: the haversine
    formula again (sqrt(h) is half the chord), off by < 1 cm from rounding near zero."""
    dot *= -0.5
    dot += 0.5
    np.maximum(dot, 0.0, out=dot)
    np.sqrt(dot, out=dot)
    np.minimum(dot, 1.0, out=dot)
    np.arcsin(dot, out=dot)
    dot *= 2 * EARTH_RADIUS_M
    return dot


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
        self.t_weight = np.array([t.weight_s for t in tasks], dtype=np.float64)
        self.t_unit = _unit(self.t_lat, self.t_lng)
        self.r_unit = _unit(self.r_lat, self.r_lng)
        self.s_per_m = detour / self.speed

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

    def objective(self, ti: Ints, cost: Floats) -> Floats:
        """What a plan minimises for pairs of tasks `ti` with these pickup seconds."""
        weighted: Floats = cost + self.t_weight[ti]
        return weighted

    def pairs(self, ti: Ints, ri: Ints) -> tuple[Floats, Bools]:
        """Pickup seconds and feasibility of tasks `ti` with robots `ri` (broadcast shapes):
        the exact rule, which every pair of a plan is checked against."""
        d = haversine_np(self.t_lat[ti], self.t_lng[ti], self.r_lat[ri], self.r_lng[ri])
        cost: Floats = self.detour * d / self.speed[ri]
        drive_km = self.detour * (d + self.task_m[ti]) / 1000
        left = self.battery[ri] - self.drain[ri] * drive_km
        ok: Bools = (left >= self.reserve[ri]) & (cost <= self.max_pickup_s)
        return cost, ok

    def block(
        self, ti: Ints, ri: Ints, *, robots_first: bool = False, slack_m: float = 0.0
    ) -> tuple[Floats, Bools]:
        """`pairs` for every task of `ti` with every robot of `ri`, as a tasks x robots matrix
        (robots x tasks with `robots_first`), about 10 times faster: distances from one matrix
        product, right to < 1 cm. `slack_m` shortens every distance, to over-approximate the
        feasible pairs. Only used to search; plans are checked with `pairs`."""
        if robots_first:
            d = _chord_to_m(self.r_unit[ri] @ self.t_unit[ti].T)
            per_r, per_t = (-1, 1), (1, -1)
        else:
            d = _chord_to_m(self.t_unit[ti] @ self.r_unit[ri].T)
            per_r, per_t = (1, -1), (-1, 1)
        if slack_m:
            d = np.maximum(d - slack_m, 0.0)
        cost: Floats = d * self.s_per_m[ri].reshape(per_r)
        d += self.task_m[ti].reshape(per_t)
        d *= self.detour / 1000
        d *= self.drain[ri].reshape(per_r)
        left = self.battery[ri].reshape(per_r) - d
        ok: Bools = (left >= self.reserve[ri].reshape(per_r)) & (cost <= self.max_pickup_s)
        return cost, ok


# --- exact dense solve -----------------------------------------------------------------------


def _assign(cost: Floats, ok: Bools) -> tuple[Ints, Ints]:
    """Maximum count of feasible pairs, then minimum cost: matched rows and columns.

    Infeasible pairs cost more than any set of feasible pickups could, so one more pair
    always wins; they are dropped from the answer."""
    # The solvers are imported where they are used: every command and server loads this
    # module, and scipy and OR-Tools take half a second to load.
    from scipy.optimize import linear_sum_assignment

    if not ok.any():
        return np.empty(0, np.intp), np.empty(0, np.intp)
    penalty = (min(cost.shape) + 1) * float(cost[ok].max()) + 1.0
    rows, cols = linear_sum_assignment(np.where(ok, cost, penalty))
    keep = ok[rows, cols]
    return rows[keep].astype(np.intp), cols[keep].astype(np.intp)


def _solve_block(rnd: _Round, ti: Ints, ri: Ints) -> tuple[Ints, Ints]:
    """The exact optimum over tasks `ti` x robots `ri`: matched (task, robot) pairs."""
    if ti.size == 0 or ri.size == 0:
        return np.empty(0, np.intp), np.empty(0, np.intp)
    cost, ok = rnd.pairs(ti[:, None], ri[None, :])
    rows, cols = _assign(rnd.objective(ti[:, None], cost), ok)
    return ti[rows], ri[cols]


# --- the large-round heuristic ---------------------------------------------------------------


class _Sides:
    """The round seen from the side to fill. Side `a` is the smaller one: the tasks, or the
    robots when tasks outnumber them (a backlog). A plan is `a_b`: for each `a`, its `b` or -1.
    Every rule is symmetric, so the pieces below do not care which side is which."""

    def __init__(self, rnd: _Round, swap: bool | None = None) -> None:
        self.rnd = rnd
        self.swap = rnd.n > rnd.m if swap is None else swap
        self.na, self.nb = (rnd.m, rnd.n) if self.swap else (rnd.n, rnd.m)

    def block(self, a: Ints, b: Ints, slack_m: float = 0.0) -> tuple[Floats, Bools]:
        """Fast objective and feasibility, `a` x `b` (see `_Round.block`)."""
        if self.swap:
            cost, ok = self.rnd.block(b, a, robots_first=True, slack_m=slack_m)
            return self.rnd.objective(b[None, :], cost), ok
        cost, ok = self.rnd.block(a, b, slack_m=slack_m)
        return self.rnd.objective(a[:, None], cost), ok

    def exact(self, a: Ints, b: Ints) -> tuple[Floats, Bools]:
        """Exact objective and feasibility of the pairs (a[i], b[i])."""
        tasks, robots = (b, a) if self.swap else (a, b)
        cost, ok = self.rnd.pairs(tasks, robots)
        return self.rnd.objective(tasks, cost), ok

    def solve(self, a: Ints, b: Ints) -> tuple[Ints, Ints, float]:
        """Maximum count, then least cost, over `a` x `b`: matched pairs and their exact cost.

        Solved on the fast costs; a pair the exact rule refuses (a battery margin within
        rounding) is dropped, so the answer is always feasible."""
        if a.size == 0 or b.size == 0:
            return np.empty(0, np.intp), np.empty(0, np.intp), 0.0
        rows, cols = _assign(*self.block(a, b))
        ai, bi = a[rows], b[cols]
        cost, ok = self.exact(ai, bi)
        return ai[ok], bi[ok], float(cost[ok].sum())

    def cost(self, a: Ints, b: Ints) -> float:
        return float(self.exact(a, b)[0].sum()) if a.size else 0.0

    def planar(self) -> tuple[Floats, Floats]:
        """Sides `a` and `b` in local metres (equirectangular): only used to cut the city."""
        rnd = self.rnd
        lat0 = math.radians(float(np.mean(np.concatenate((rnd.t_lat, rnd.r_lat)))))
        lng0 = float(np.mean(np.concatenate((rnd.t_lng, rnd.r_lng))))

        def xy(lat: Floats, lng: Floats) -> Floats:
            x = np.radians(lng - lng0) * math.cos(lat0) * EARTH_RADIUS_M
            y = np.radians(lat) * EARTH_RADIUS_M
            return np.column_stack((x, y)).astype(np.float64)

        t_xy, r_xy = xy(rnd.t_lat, rnd.t_lng), xy(rnd.r_lat, rnd.r_lng)
        return (r_xy, t_xy) if self.swap else (t_xy, r_xy)


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
    """How many `b` each `b` group sends to each `a` group: the coarse flow, every `a` group
    filled (there are at least as many `b`), at least total distance.

    Integral because a transportation problem with integer totals has integral vertices
    (dual simplex returns a vertex); rounding only removes float noise."""
    from scipy import sparse
    from scipy.optimize import linprog

    g_s, g_d = len(supply), len(demand)
    dist = np.hypot(
        supply_xy[:, None, 0] - demand_xy[None, :, 0], supply_xy[:, None, 1] - demand_xy[None, :, 1]
    ).ravel()
    # Sparse constraint matrices (the stubs of linprog do not list them, but HiGHS takes them).
    a_s: Any = sparse.kron(sparse.eye(g_s), np.ones((1, g_d)), format="csr")
    a_d: Any = sparse.kron(np.ones((1, g_s)), sparse.eye(g_d), format="csr")
    res = linprog(dist, A_ub=a_s, b_ub=supply, A_eq=a_d, b_eq=demand, method="highs-ds")
    if res.status != 0 or res.x is None:  # pragma: no cover - always feasible and bounded
        raise RuntimeError(f"transport problem failed: {res.message}")
    flows: npt.NDArray[np.int64] = np.rint(res.x).astype(np.int64).reshape(g_s, g_d)
    return flows


def _initial_transport(s: _Sides, a_xy: Floats, b_xy: Floats) -> Ints:
    """A first plan: move `b` between areas as the transport problem says, then solve each
    group of `a` exactly with the `b` sent to it."""
    from scipy.optimize import linear_sum_assignment

    a_groups = _bisect(a_xy, GROUP_SIZE)
    b_groups = _bisect(b_xy, GROUP_SIZE)
    a_centre = np.array([a_xy[g].mean(axis=0) for g in a_groups])
    b_centre = np.array([b_xy[g].mean(axis=0) for g in b_groups])
    flows = _transport(
        b_centre,
        np.array([g.size for g in b_groups], dtype=np.float64),
        a_centre,
        np.array([g.size for g in a_groups], dtype=np.float64),
    )
    sent: list[list[Ints]] = [[] for _ in a_groups]
    for g, members in enumerate(b_groups):
        dest = np.repeat(np.arange(len(a_groups)), flows[g])
        if dest.size == 0:
            continue
        d = np.hypot(
            b_xy[members, None, 0] - a_centre[None, dest, 0],
            b_xy[members, None, 1] - a_centre[None, dest, 1],
        )
        rows, cols = linear_sum_assignment(d)
        for k in np.unique(dest):
            sent[k].append(members[rows[dest[cols] == k]])
    a_b = np.full(s.na, -1, dtype=np.intp)
    for k, group in enumerate(a_groups):
        bs = np.concatenate(sent[k]) if sent[k] else np.empty(0, np.intp)
        ai, bi, _ = s.solve(group, bs)
        a_b[ai] = bi
    return a_b


def _initial(s: _Sides, a_xy: Floats, b_xy: Floats) -> Ints:
    """A first plan, bottom up: each small area is solved exactly with its own points, and
    what is left (an `a` without a `b`, or the reverse) goes to the parent area."""
    a_b = np.full(s.na, -1, dtype=np.intp)
    points = np.concatenate((a_xy, b_xy))

    def solve(idx: Ints) -> Ints:
        if idx.size > LEAF_POINTS:
            pts = points[idx]
            axis = int(np.argmax(np.ptp(pts, axis=0)))
            order = np.argsort(pts[:, axis], kind="stable")
            half = idx.size // 2
            idx = np.concatenate((solve(idx[order[:half]]), solve(idx[order[half:]])))
        ai, bi, _ = s.solve(idx[idx < s.na], idx[idx >= s.na] - s.na)
        a_b[ai] = bi
        return idx[~np.isin(idx, ai) & ~np.isin(idx, bi + s.na)]

    solve(np.arange(s.na + s.nb, dtype=np.intp))
    return a_b


def _partners(s: _Sides, a_b: Ints) -> Ints:
    b_a = np.full(s.nb, -1, dtype=np.intp)
    served = np.flatnonzero(a_b >= 0)
    b_a[a_b[served]] = served
    return b_a


def _feasible(s: _Sides, a: Ints, b: Ints) -> Bools:
    """Exact feasibility of `a` x `b`, as a matrix: the fast test settles all pairs but those
    within a metre of a battery or pickup limit, which get the exact one."""
    ok = np.empty((a.size, b.size), dtype=bool)
    rows_per_block = max(1, 2_000_000 // max(1, b.size))
    for lo in range(0, a.size, rows_per_block):
        chunk = a[lo : lo + rows_per_block]
        loose = s.block(chunk, b, slack_m=1.0)[1]
        doubt = loose & ~s.block(chunk, b, slack_m=-1.0)[1]
        rows, cols = np.nonzero(doubt)
        if rows.size:
            loose[rows, cols] = s.exact(chunk[rows], b[cols])[1]
        ok[lo : lo + rows_per_block] = loose
    return ok


def _max_count(s: _Sides, a_b: Ints) -> None:
    """Raise the plan to the maximum count (`_augment`), searching from the side whose free
    points have fewer feasible pairs: from robots with little battery left, say, rather than
    from tasks that every robot with a full battery could take."""
    b_a = _partners(s, a_b)
    free_a, free_b = np.flatnonzero(a_b < 0), np.flatnonzero(b_a < 0)
    if not free_a.size or not free_b.size:
        return
    probe = 256  # a sample of each side's free points is enough to compare
    from_a = int(_feasible(s, free_a[:probe], np.arange(s.nb, dtype=np.intp)).sum())
    from_a = from_a * free_a.size // min(probe, free_a.size)
    flip = _Sides(s.rnd, not s.swap)
    from_b = int(_feasible(flip, free_b[:probe], np.arange(s.na, dtype=np.intp)).sum())
    from_b = from_b * free_b.size // min(probe, free_b.size)
    if from_a <= from_b:
        _augment(s, a_b)
        return
    _augment(flip, b_a)
    a_b[:] = _partners(flip, b_a)


def _augment(s: _Sides, a_b: Ints) -> None:
    """Serve the maximum count: while some alternating path (free `a`, feasible `b`, that
    `b`'s `a`, ...) ends at a free `b`, swap along it. By Berge's theorem the plan is then
    a maximum matching of the exact feasibility graph.

    In phases, as Hopcroft and Karp: breadth first from every free `a` at once, each layer
    tested against the `b` not reached yet, up to the first layer that reaches a free `b`;
    then depth first back from those, for as many shortest paths sharing no point as it
    finds, each `a` tried once per phase."""
    b_a = _partners(s, a_b)
    all_b = np.arange(s.nb, dtype=np.intp)
    while (a_b < 0).any() and (b_a < 0).any():
        layers: list[tuple[Ints, Bools]] = []  # per layer: its `a`, their pairs with its `b`
        layer_of = np.full(s.nb, -1, dtype=np.intp)  # the layer that reached each `b` ...
        column = np.zeros(s.nb, dtype=np.intp)  # ... and its column there
        frontier = np.flatnonzero(a_b < 0)
        ends = np.empty(0, np.intp)
        while frontier.size and not ends.size:
            open_b = all_b[layer_of < 0]
            if not open_b.size:
                break
            ok = _feasible(s, frontier, open_b)
            hit = ok.any(axis=0)
            new_b = open_b[hit]
            layer_of[new_b] = len(layers)
            column[new_b] = np.arange(new_b.size)
            layers.append((frontier, ok[:, hit]))
            ends = new_b[b_a[new_b] < 0]
            frontier = b_a[new_b[b_a[new_b] >= 0]]
        if not ends.size:
            return  # no augmenting path: the count is the maximum
        tried = np.zeros(s.na, dtype=bool)
        for end in ends:
            path = _back(layers, layer_of, column, tried, a_b, int(end))
            for a, b in path:
                a_b[a], b_a[b] = b, a


def _back(
    layers: list[tuple[Ints, Bools]],
    layer_of: Ints,
    column: Ints,
    tried: Bools,
    a_b: Ints,
    end: int,
) -> list[tuple[int, int]]:
    """Depth first from a free `b` back to a free `a` through the layers: the path's new
    pairs, or [] when every way is blocked by an `a` already tried."""
    path: list[tuple[int, int]] = []  # pairs (a, b) from `end` backwards
    options: list[Ints] = []  # per step: the `a` not tried yet that reach the step's `b`
    b = end
    while True:
        members, ok = layers[int(layer_of[b])]
        candidates = members[ok[:, column[b]]]
        options.append(candidates[~tried[candidates]])
        while options and not options[-1].size:  # dead end: step back
            options.pop()
            if not path:
                return []
            b = path.pop()[1]
            options[-1] = options[-1][~tried[options[-1]]]
        if not options:
            return []
        a = int(options[-1][0])
        tried[a] = True
        path.append((a, b))
        if a_b[a] < 0:
            return path
        b = int(a_b[a])


@dataclass(frozen=True, slots=True)
class _Window:
    a: Ints  # the window's `a`, served or not
    b: Ints  # their `b`, then the window's free `b`
    count: int  # pairs now
    cost: float  # their exact cost now


def _window(s: _Sides, part: Ints, a_b: Ints, b_a: Ints) -> _Window:
    """The window of an area: its `a`, the `a` its `b` serve (wherever they are), all their
    `b`, and its free `b`. Taking the partners of the area's `b` lets two clusters of orders
    trade the robots that lie between them."""
    in_a = part[part < s.na]
    in_b = part[part >= s.na] - s.na
    partner = b_a[in_b]
    a = np.union1d(in_a, partner[partner >= 0])
    own = a_b[a]
    served = own >= 0
    b = np.concatenate((own[served], in_b[partner < 0]))
    return _Window(a, b, int(served.sum()), s.cost(a[served], own[served]))


def _apply(w: _Window, found: tuple[Ints, Ints, float], a_b: Ints, b_a: Ints) -> float:
    """Take a window's new plan if it serves more, or as many for less: the cost gained."""
    ai, bi, cost = found
    if ai.size < w.count or (ai.size == w.count and cost >= w.cost - 1e-9):
        return 0.0
    b_a[w.b] = -1
    a_b[w.a] = -1
    a_b[ai] = bi
    b_a[bi] = ai
    return w.cost - cost


def _improve(s: _Sides, points: Floats, a_b: Ints, deadline: float, passes: range) -> None:
    """Local search: re-solve windows exactly, pass after pass, until the time budget is
    spent or a pass gains almost nothing. Each pass cuts the city along new directions. Two
    windows far apart that share no task or robot are solved at once, on two threads (the
    assignment solver and numpy release the GIL)."""
    b_a = _partners(s, a_b)
    total = s.cost(*_plan(a_b))
    threads = ThreadPoolExecutor(2) if (os.cpu_count() or 1) > 1 else None
    try:
        for p in passes:
            size = WINDOW_POINTS if p < SMALL_PASSES else 2 * WINDOW_POINTS
            parts = _bisect(points, size, PASS_ANGLES[p % len(PASS_ANGLES)])
            half = (len(parts) + 1) // 2
            gained = 0.0
            for i in range(half):
                if time.perf_counter() > deadline:
                    return
                one = _window(s, parts[i], a_b, b_a)
                if i + half >= len(parts):
                    gained += _apply(one, s.solve(one.a, one.b), a_b, b_a)
                    continue
                two = _window(s, parts[i + half], a_b, b_a)
                apart = not np.intersect1d(one.a, two.a).size
                apart = apart and not np.intersect1d(one.b, two.b).size
                if threads is not None and apart:
                    later = threads.submit(s.solve, two.a, two.b)
                    gained += _apply(one, s.solve(one.a, one.b), a_b, b_a)
                    gained += _apply(two, later.result(), a_b, b_a)
                else:
                    gained += _apply(one, s.solve(one.a, one.b), a_b, b_a)
                    two = _window(s, parts[i + half], a_b, b_a)
                    gained += _apply(two, s.solve(two.a, two.b), a_b, b_a)
            total -= gained
            if gained <= STOP_GAIN * total:
                return
    finally:
        if threads is not None:
            threads.shutdown()


def _plan(a_b: Ints) -> tuple[Ints, Ints]:
    """Matched (a, b) index pairs of a plan."""
    matched = np.flatnonzero(a_b >= 0).astype(np.intp)
    return matched, a_b[matched]


def _imbalance(s: _Sides, points: Floats) -> float:
    """Share of points without a counterpart in their own small area: low when orders are
    spread like the robots, high when they are clustered away from them."""
    left = 0
    for part in _bisect(points, LEAF_POINTS):
        left += abs(2 * int((part < s.na).sum()) - part.size)
    return left / len(points)


def _solve_large(rnd: _Round) -> tuple[Ints, Ints]:
    """By pieces: a first plan, the count raised to the maximum, then the local search.
    Returns matched (task, robot) pairs."""
    started = time.perf_counter()
    s = _Sides(rnd)
    a_xy, b_xy = s.planar()
    points = np.concatenate((a_xy, b_xy))
    # Clustered orders: the transport problem moves supply well, the bottom-up plan does not
    # (its last steps are large dense solves of far-apart pairs). Spread orders: the reverse,
    # as the transport problem's many near-ties send robots past closer tasks.
    skew = _imbalance(s, points) - abs(s.na - s.nb) / len(points)
    first_plan = _initial_transport if skew > CLUSTERED_SKEW else _initial
    a_b = first_plan(s, a_xy, b_xy)
    # One pass of windows first: it raises the count where a short swap does, at least cost;
    # the search for alternating paths then only has the long ones left to find.
    _improve(s, points, a_b, math.inf, range(1))
    if (a_b < 0).any():
        _max_count(s, a_b)
    _improve(s, points, a_b, started + TIME_BUDGET_S, range(1, MAX_PASSES))
    a, b = _plan(a_b)
    return _polish(rnd, *((b, a) if s.swap else (a, b)))


def _polish(rnd: _Round, ti: Ints, ri: Ints) -> tuple[Ints, Ints]:
    """The exact optimum over a sparse graph: every pair of the plan, plus each task's
    `POLISH_NEIGHBOURS` nearest robots and each robot's nearest tasks (a k-d tree on local
    metres), solved as a minimum-cost flow of as many units as the plan serves (OR-Tools).
    The plan's own pairs keep a solution of that count in the graph, and the neighbours hold
    nearly every pair an optimum uses: the windows' local optima are left behind."""
    from ortools.graph.python import min_cost_flow
    from scipy.spatial import cKDTree

    if ti.size == 0:
        return ti, ri
    lat0 = math.radians(float(np.mean(rnd.t_lat)))

    def xy(lat: Floats, lng: Floats) -> Floats:
        out: Floats = np.column_stack((np.radians(lng) * math.cos(lat0), np.radians(lat)))
        return out * EARTH_RADIUS_M

    t_xy, r_xy = xy(rnd.t_lat, rnd.t_lng), xy(rnd.r_lat, rnd.r_lng)
    k_r, k_t = min(POLISH_NEIGHBOURS, rnd.m), min(POLISH_NEIGHBOURS, rnd.n)
    near_r = cKDTree(r_xy).query(t_xy, k=k_r)[1].reshape(rnd.n, k_r)
    near_t = cKDTree(t_xy).query(r_xy, k=k_t)[1].reshape(rnd.m, k_t)
    tasks = np.concatenate((np.repeat(np.arange(rnd.n), k_r), near_t.ravel(), ti))
    robots = np.concatenate((near_r.ravel(), np.repeat(np.arange(rnd.m), k_t), ri))
    pair = np.unique(tasks.astype(np.int64) * rnd.m + robots)
    tasks, robots = (pair // rnd.m).astype(np.intp), (pair % rnd.m).astype(np.intp)
    cost, ok = rnd.pairs(tasks, robots)
    tasks, robots = tasks[ok], robots[ok]
    cost = rnd.objective(tasks, cost[ok])

    flow = min_cost_flow.SimpleMinCostFlow()
    source, sink = rnd.n + rnd.m, rnd.n + rnd.m + 1
    starts = np.concatenate((np.full(rnd.n, source), tasks, rnd.n + np.arange(rnd.m)))
    ends = np.concatenate((np.arange(rnd.n), rnd.n + robots, np.full(rnd.m, sink)))
    millis = np.concatenate((np.zeros(rnd.n), np.rint(cost * 1000), np.zeros(rnd.m)))
    arcs = flow.add_arcs_with_capacity_and_unit_cost(
        starts, ends, np.ones(starts.size, dtype=np.int64), millis.astype(np.int64)
    )
    flow.set_node_supply(source, int(ti.size))
    flow.set_node_supply(sink, -int(ti.size))
    if flow.solve() != flow.OPTIMAL:  # pragma: no cover - the plan itself is a solution
        return ti, ri
    chosen = flow.flows(arcs)[rnd.n : rnd.n + tasks.size] > 0
    return tasks[chosen], robots[chosen]


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
