"""Dispatch rounds: maximum count first, then least total pickup time, within battery margins.

Small rounds are checked against a brute force written here; larger ones against the dense
`linear_sum_assignment` baseline. The piecewise solver used for large rounds is also forced on
small ones (by lowering its thresholds), where it must still serve the maximum count and stay
within `PIECES_TOLERANCE` of the optimum: it ends with an exact solve over a sparse graph
(the plan's pairs and the nearest neighbours), which is not the whole problem, so it carries no
proven bound.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidewalk.kernel.geo import LatLng, haversine_m
from sidewalk.operations import dispatch
from sidewalk.operations.dispatch import (
    DispatchPlan,
    FreeRobot,
    OpenTask,
    dense_optimum,
    greedy_arrival_order,
    plan_dispatch,
)

CENTRE = (34.09, -118.36)
M_PER_DEG = 111_195.0
DETOUR = 1.3
PIECES_TOLERANCE = 0.01  # the forced piecewise solver, windows of 150 points, then the polish
BACKLOG_TOLERANCE = 0.01  # the same, 300-420 points a side, a third of robots low on battery


def make_round(
    seed: int, n_tasks: int, n_robots: int, *, clustered: bool, tight: bool, km: float = 4.0
) -> tuple[list[OpenTask], list[FreeRobot], list[LatLng]]:
    """A random round in a `km`-wide square; `tight` batteries make many pairs infeasible."""
    rng = np.random.default_rng(seed)
    lat0, lng0 = CENTRE
    half = km * 500 / M_PER_DEG
    scale_lng = 1 / math.cos(math.radians(lat0))

    def spot(n: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            lat0 + rng.uniform(-half, half, n),
            lng0 + rng.uniform(-half, half, n) * scale_lng,
        )

    r_lat, r_lng = spot(n_robots)
    if clustered:
        c_lat, c_lng = spot(3)
        which = rng.integers(0, 3, n_tasks)
        sigma = 300 / M_PER_DEG
        s_lat = c_lat[which] + rng.normal(0, sigma, n_tasks)
        s_lng = c_lng[which] + rng.normal(0, sigma * scale_lng, n_tasks)
    else:
        s_lat, s_lng = spot(n_tasks)
    e_lat = s_lat + rng.normal(0, 600 / M_PER_DEG, n_tasks)
    e_lng = s_lng + rng.normal(0, 600 / M_PER_DEG, n_tasks)
    battery = rng.uniform(15, 40, n_robots) if tight else np.full(n_robots, 95.0)
    robots = [
        FreeRobot(
            f"r{i}",
            float(r_lat[i]),
            float(r_lng[i]),
            float(rng.uniform(1.0, 2.0)),
            float(battery[i]),
            float(rng.uniform(1.5, 3.0)),
            float(rng.uniform(5, 15)),
        )
        for i in range(n_robots)
    ]
    tasks = [
        OpenTask(f"t{i}", float(s_lat[i]), float(s_lng[i]), float(e_lat[i]), float(e_lng[i]))
        for i in range(n_tasks)
    ]
    hubs = [LatLng(lat0, lng0), LatLng(lat0 + half / 2, lng0 - half / 2 * scale_lng)]
    return tasks, robots, hubs


def pickup_s(task: OpenTask, robot: FreeRobot) -> float:
    d = haversine_m(LatLng(robot.lat, robot.lng), LatLng(task.start_lat, task.start_lng))
    return DETOUR * d / robot.speed_mps


def feasible(
    task: OpenTask, robot: FreeRobot, hubs: list[LatLng], max_pickup_s: float | None
) -> bool:
    """The battery rule, recomputed from the brief with the kernel's haversine."""
    start, end = LatLng(task.start_lat, task.start_lng), LatLng(task.end_lat, task.end_lng)
    home = min((haversine_m(end, h) for h in hubs), default=0.0)
    to_start = haversine_m(LatLng(robot.lat, robot.lng), start)
    km = DETOUR * (to_start + haversine_m(start, end) + home) / 1000
    if robot.battery_pct - robot.drain_pct_per_km * km < robot.reserve_pct - 1e-9:
        return False
    return max_pickup_s is None or pickup_s(task, robot) <= max_pickup_s + 1e-9


def brute_force(
    tasks: list[OpenTask], robots: list[FreeRobot], hubs: list[LatLng], max_pickup_s: float | None
) -> tuple[int, float]:
    """Maximum count, then least cost, over every injective task -> robot assignment
    (dynamic programming over the set of robots used, task by task)."""
    best: dict[int, tuple[int, float]] = {0: (0, 0.0)}
    for task in tasks:
        nxt = dict(best)
        for used, (count, cost) in best.items():
            for j, robot in enumerate(robots):
                if used >> j & 1 or not feasible(task, robot, hubs, max_pickup_s):
                    continue
                key, cand = used | 1 << j, (count + 1, cost + pickup_s(task, robot))
                old = nxt.get(key)
                if old is None or (cand[0], -cand[1]) > (old[0], -old[1]):
                    nxt[key] = cand
        best = nxt
    count, cost = max(best.values(), key=lambda v: (v[0], -v[1]))
    return count, cost


def check_plan(
    plan: DispatchPlan,
    tasks: list[OpenTask],
    robots: list[FreeRobot],
    hubs: list[LatLng],
    max_pickup_s: float | None = None,
) -> None:
    """No robot or task twice, every pair feasible, costs and the pending list consistent."""
    by_task = {t.id: t for t in tasks}
    by_serial = {r.serial: r for r in robots}
    assert len({a.task_id for a in plan.assignments}) == len(plan.assignments)
    assert len({a.serial for a in plan.assignments}) == len(plan.assignments)
    for a in plan.assignments:
        task, robot = by_task[a.task_id], by_serial[a.serial]
        assert feasible(task, robot, hubs, max_pickup_s)
        assert a.pickup_s == pytest.approx(pickup_s(task, robot), rel=1e-9)
        if max_pickup_s is not None:
            assert a.pickup_s <= max_pickup_s + 1e-9
    done = {a.task_id for a in plan.assignments}
    assert plan.unassigned == [t.id for t in tasks if t.id not in done]
    assert plan.total_pickup_s == pytest.approx(sum(a.pickup_s for a in plan.assignments))


@contextmanager
def pieces_forced() -> Iterator[None]:
    """Run the large-round solver on small rounds: tiny groups, leaves and windows."""
    saved = {
        name: getattr(dispatch, name)
        for name in ("DENSE_MAX_PAIRS", "WINDOW_POINTS", "LEAF_POINTS", "GROUP_SIZE")
    }
    dispatch.DENSE_MAX_PAIRS, dispatch.WINDOW_POINTS = 0, 150
    dispatch.LEAF_POINTS, dispatch.GROUP_SIZE = 40, 20
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(dispatch, name, value)


seeds = st.integers(0, 2**32 - 1)
pickup_caps = st.one_of(st.none(), st.floats(300, 3000))


@settings(max_examples=200, deadline=None)
@given(
    seed=seeds,
    n_tasks=st.integers(0, 7),
    n_robots=st.integers(0, 7),
    clustered=st.booleans(),
    tight=st.booleans(),
    cap=pickup_caps,
    pieces=st.booleans(),
)
def test_small_rounds_match_brute_force(
    seed: int,
    n_tasks: int,
    n_robots: int,
    clustered: bool,
    tight: bool,
    cap: float | None,
    pieces: bool,
) -> None:
    tasks, robots, hubs = make_round(seed, n_tasks, n_robots, clustered=clustered, tight=tight)
    if pieces:
        with pieces_forced():
            plan = plan_dispatch(tasks, robots, hubs, max_pickup_s=cap)
    else:
        plan = plan_dispatch(tasks, robots, hubs, max_pickup_s=cap)
    check_plan(plan, tasks, robots, hubs, cap)
    count, cost = brute_force(tasks, robots, hubs, cap)
    assert len(plan.assignments) == count
    if not pieces or n_tasks + n_robots <= dispatch.LEAF_POINTS:
        assert plan.total_pickup_s == pytest.approx(cost, rel=1e-9, abs=1e-6)
    else:
        assert plan.total_pickup_s <= cost * (1 + PIECES_TOLERANCE) + 1e-6


@settings(max_examples=60, deadline=None)
@given(
    seed=seeds,
    n_tasks=st.integers(50, 300),
    ratio=st.sampled_from([0.7, 1.0, 1.5]),
    clustered=st.booleans(),
    tight=st.booleans(),
    cap=pickup_caps,
)
def test_larger_rounds_match_the_dense_optimum(
    seed: int, n_tasks: int, ratio: float, clustered: bool, tight: bool, cap: float | None
) -> None:
    n_robots = max(1, round(n_tasks * ratio))
    tasks, robots, hubs = make_round(
        seed, n_tasks, n_robots, clustered=clustered, tight=tight, km=8.0
    )
    dense = dense_optimum(tasks, robots, hubs, max_pickup_s=cap)
    plan = plan_dispatch(tasks, robots, hubs, max_pickup_s=cap)
    check_plan(plan, tasks, robots, hubs, cap)
    check_plan(dense, tasks, robots, hubs, cap)
    assert len(plan.assignments) == len(dense.assignments)
    assert plan.total_pickup_s == pytest.approx(dense.total_pickup_s, rel=1e-6)
    with pieces_forced():
        pieces = plan_dispatch(tasks, robots, hubs, max_pickup_s=cap)
    check_plan(pieces, tasks, robots, hubs, cap)
    assert len(pieces.assignments) == len(dense.assignments)
    assert pieces.total_pickup_s <= dense.total_pickup_s * (1 + PIECES_TOLERANCE) + 1e-6
    greedy = greedy_arrival_order(tasks, robots, hubs, max_pickup_s=cap)
    check_plan(greedy, tasks, robots, hubs, cap)
    if len(greedy.assignments) == len(dense.assignments):
        assert dense.total_pickup_s <= greedy.total_pickup_s + 1e-6


def test_no_tasks_no_robots() -> None:
    tasks, robots, hubs = make_round(1, 5, 5, clustered=False, tight=False)
    for solve in (plan_dispatch, dense_optimum, greedy_arrival_order):
        empty = solve([], robots, hubs)
        assert (empty.assignments, empty.unassigned, empty.total_pickup_s) == ([], [], 0.0)
        idle = solve(tasks, [], hubs)
        assert idle.assignments == []
        assert idle.unassigned == [t.id for t in tasks]
        assert idle.total_pickup_s == 0.0


def test_no_hubs_means_no_way_back() -> None:
    """A battery just enough for the pickup and the task, but not for a way back to a hub."""
    robot = FreeRobot("r1", 34.09, -118.36, 1.5, 20.0, 5.0, 10.0)  # 2 km of range
    task = OpenTask("t1", 34.09, -118.35, 34.09, -118.355)  # ~0.92 km + ~0.46 km, x 1.3
    far_hub = [LatLng(34.2, -118.2)]
    assert len(plan_dispatch([task], [robot], []).assignments) == 1
    assert plan_dispatch([task], [robot], far_hub).unassigned == ["t1"]


def test_all_infeasible() -> None:
    tasks, robots, hubs = make_round(3, 6, 6, clustered=False, tight=False)
    flat = [FreeRobot(r.serial, r.lat, r.lng, r.speed_mps, 11.0, 2.0, 10.0) for r in robots]
    for solve in (plan_dispatch, dense_optimum, greedy_arrival_order):
        plan = solve(tasks, flat, hubs)
        assert plan.assignments == []
        assert plan.unassigned == [t.id for t in tasks]
    assert plan_dispatch(tasks, robots, hubs, max_pickup_s=0.0).assignments == []


def test_batch_beats_arrival_order() -> None:
    """The textbook case: the first task's nearest robot is the only one the second can use."""
    robots = [
        FreeRobot("near-both", 34.0900, -118.3600, 1.5, 90, 2, 10),
        FreeRobot("near-first", 34.0900, -118.3500, 1.5, 90, 2, 10),
    ]
    tasks = [
        OpenTask("first", 34.0900, -118.3580, 34.0910, -118.3580),
        OpenTask("second", 34.0900, -118.3620, 34.0910, -118.3620),
    ]
    greedy = greedy_arrival_order(tasks, robots, [])
    plan = plan_dispatch(tasks, robots, [])
    assert {a.task_id: a.serial for a in greedy.assignments}["first"] == "near-both"
    assert {a.task_id: a.serial for a in plan.assignments} == {
        "first": "near-first",
        "second": "near-both",
    }
    assert plan.total_pickup_s < greedy.total_pickup_s


def test_cardinality_before_cost() -> None:
    """Serving both tasks beats serving one task very cheaply."""
    robots = [
        FreeRobot("long-range", 34.0900, -118.3600, 1.5, 90, 2, 10),
        FreeRobot("short-range", 34.0900, -118.3601, 1.5, 10.5, 2, 10),
    ]
    tasks = [
        OpenTask("far", 34.1000, -118.3600, 34.1000, -118.3600),
        OpenTask("here", 34.0900, -118.3600, 34.0900, -118.3600),
    ]
    plan = plan_dispatch(tasks, robots, [])
    assert {a.task_id: a.serial for a in plan.assignments} == {
        "far": "long-range",
        "here": "short-range",
    }


def low_battery(robots: list[FreeRobot], share: int = 3, pct: float = 18.0) -> list[FreeRobot]:
    """Every `share`-th robot with little battery left: many of its pairs are infeasible."""
    return [
        FreeRobot(r.serial, r.lat, r.lng, r.speed_mps, pct, r.drain_pct_per_km, r.reserve_pct)
        if i % share == 0
        else r
        for i, r in enumerate(robots)
    ]


@pytest.mark.parametrize("clustered", [False, True])
@pytest.mark.parametrize(("n_tasks", "n_robots"), [(400, 300), (300, 300), (300, 420)])
@pytest.mark.parametrize("seed", [1, 2])
def test_pieces_serve_the_maximum_count(
    seed: int, n_tasks: int, n_robots: int, clustered: bool
) -> None:
    """Backlogs (more tasks than robots) and low batteries on the piecewise path: the count
    of the dense optimum, only feasible pairs, and a cost close to the optimum."""
    tasks, robots, hubs = make_round(
        seed, n_tasks, n_robots, clustered=clustered, tight=False, km=8.0
    )
    robots = low_battery(robots)
    dense = dense_optimum(tasks, robots, hubs)
    with pieces_forced():
        plan = plan_dispatch(tasks, robots, hubs)
    check_plan(plan, tasks, robots, hubs)
    assert len(plan.assignments) == len(dense.assignments)
    assert plan.total_pickup_s <= dense.total_pickup_s * (1 + BACKLOG_TOLERANCE) + 1e-6


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    n_tasks=st.integers(1, 120),
    n_robots=st.integers(1, 120),
    clustered=st.booleans(),
    cap=pickup_caps,
)
def test_augmenting_paths_reach_the_maximum_count(
    seed: int, n_tasks: int, n_robots: int, clustered: bool, cap: float | None
) -> None:
    """From an empty plan, the alternating-path search alone serves the dense count."""
    tasks, robots, hubs = make_round(seed, n_tasks, n_robots, clustered=clustered, tight=True)
    rnd = dispatch._Round(tasks, robots, hubs, DETOUR, cap)
    sides = dispatch._Sides(rnd)
    a_b = np.full(sides.na, -1, dtype=np.intp)
    dispatch._max_count(sides, a_b)
    a, b = dispatch._plan(a_b)
    assert sides.exact(a, b)[1].all()
    assert len(set(b.tolist())) == b.size
    assert a.size == len(dense_optimum(tasks, robots, hubs, max_pickup_s=cap).assignments)


# --- weighing promises -----------------------------------------------------------------------


def _task(name: str, metres_north: float, weight_s: float = 0.0) -> OpenTask:
    lat, lng = CENTRE[0] + metres_north / M_PER_DEG, CENTRE[1]
    return OpenTask(name, lat, lng, lat + 0.005, lng, weight_s=weight_s)


ROBOT = FreeRobot("SW-1", CENTRE[0], CENTRE[1], 1.6, 90.0, 4.0, 10.0)


def test_one_robot_short_serves_the_task_furthest_behind_its_promise() -> None:
    near_but_early = _task("early", 100.0, weight_s=dispatch.urgency_weight_s(-600.0))
    far_but_late = _task("late", 900.0, weight_s=dispatch.urgency_weight_s(300.0))
    plan = plan_dispatch([near_but_early, far_but_late], [ROBOT], [], detour_factor=DETOUR)
    assert [a.task_id for a in plan.assignments] == ["late"]
    assert plan.unassigned == ["early"]
    # without the weights, the nearer task wins
    unweighted = [_task("early", 100.0), _task("late", 900.0)]
    plan = plan_dispatch(unweighted, [ROBOT], [], detour_factor=DETOUR)
    assert [a.task_id for a in plan.assignments] == ["early"]


@given(seed=st.integers(0, 10_000), weights=st.lists(st.floats(0, 1800), min_size=6, max_size=6))
@settings(max_examples=30, deadline=None)
def test_weights_change_nothing_when_every_task_is_served(seed: int, weights: list[float]) -> None:
    tasks, robots, hubs = make_round(seed, 6, 12, clustered=False, tight=False)
    weighted = [
        OpenTask(t.id, t.start_lat, t.start_lng, t.end_lat, t.end_lng, weight_s=w)
        for t, w in zip(tasks, weights, strict=True)
    ]
    plain = plan_dispatch(tasks, robots, hubs, detour_factor=DETOUR)
    with_weights = plan_dispatch(weighted, robots, hubs, detour_factor=DETOUR)
    assert len(plain.assignments) == len(with_weights.assignments)
    if not plain.unassigned:
        assert with_weights.total_pickup_s == pytest.approx(plain.total_pickup_s, rel=1e-9)


def test_the_urgency_weight_is_bounded_and_falls_as_a_task_falls_behind() -> None:
    horizon = dispatch.URGENCY_HORIZON_S
    assert dispatch.urgency_weight_s(-10 * horizon) == 2 * horizon
    assert dispatch.urgency_weight_s(0.0) == horizon
    assert dispatch.urgency_weight_s(10 * horizon) == 0.0
    assert dispatch.urgency_weight_s(100.0) < dispatch.urgency_weight_s(50.0)
