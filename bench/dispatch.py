"""Dispatcher: one batch dispatch round, ours against arrival-order greedy and the dense optimum.

What is measured: for each scenario, the solve time and the total pickup time of
`greedy_arrival_order` (each task in arrival order takes the nearest free robot),
`dense_optimum` (one `linear_sum_assignment` over every pair) and `plan_dispatch` (ours), all
from `sidewalk.operations.dispatch` and on the same instance. Scenarios: 100, 1,000 and 5,000
robots; 1 or 1.5 robots per task; orders uniform over a 10 x 10 km square around West
Hollywood (34.09, -118.36), or in 20 clusters (sigma 400 m), robots uniform in both cases.
Batteries are ample, so every pair is feasible and the comparison is about the assignment.
Times are the best of several runs (one run for the dense solve at 5,000 robots, which takes
seconds to tens of seconds); the machine is shared, so they are noisy.

Prints a Rich table and rewrites the section `## Dispatcher (bench/dispatch.py)` of
BENCHMARKS.md. Run: `.venv/bin/python bench/dispatch.py [--quick] [--seed N] [--output PATH]`;
`--quick` runs the small sizes only and writes nothing unless `--output` is given.
"""

import argparse
import math
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sidewalk.kernel.geo import LatLng
from sidewalk.operations.dispatch import (
    DispatchPlan,
    FreeRobot,
    OpenTask,
    dense_optimum,
    greedy_arrival_order,
    plan_dispatch,
)

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Dispatcher (bench/dispatch.py)"
CENTRE = (34.09, -118.36)
HALF_SIDE_M = 5_000.0
M_PER_DEG = 111_195.0
CLUSTERS, CLUSTER_SIGMA_M = 20, 400.0
GOAL_RATIO = 1.01  # ours within 1 % of the dense optimum, in every scenario
GOAL_TIME_S = 1.0  # ours at most 1 s at 5,000 x 5,000 (every 5,000-robot scenario)
GOAL_GAIN = 0.25  # ours at least 25 % below arrival-order greedy on 1:1 uniform demand

console = Console()
if not console.is_terminal:
    console.width = 160

Solver = Callable[[Sequence[OpenTask], Sequence[FreeRobot], Sequence[LatLng]], DispatchPlan]


@dataclass(frozen=True)
class Scenario:
    robots: int
    ratio: float  # robots per task
    clustered: bool

    @property
    def tasks(self) -> int:
        return round(self.robots / self.ratio)

    @property
    def name(self) -> str:
        demand = "clustered" if self.clustered else "uniform"
        return f"{self.robots:,} robots, {self.tasks:,} tasks, {self.ratio:g}:1, {demand}"


@dataclass(frozen=True)
class Result:
    seconds: float
    runs: int
    total_s: float
    count: int


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    greedy: Result
    dense: Result
    ours: Result

    @property
    def ratio(self) -> float:
        return self.ours.total_s / self.dense.total_s if self.dense.total_s else 1.0

    @property
    def gain(self) -> float:
        return (self.greedy.total_s - self.ours.total_s) / self.greedy.total_s


def make_round(s: Scenario, seed: int) -> tuple[list[OpenTask], list[FreeRobot], list[LatLng]]:
    rng = np.random.default_rng(seed)
    lat0, lng0 = CENTRE
    dlat = HALF_SIDE_M / M_PER_DEG
    dlng = dlat / math.cos(math.radians(lat0))
    r_lat = lat0 + rng.uniform(-dlat, dlat, s.robots)
    r_lng = lng0 + rng.uniform(-dlng, dlng, s.robots)
    if s.clustered:
        c_lat = lat0 + rng.uniform(-0.8, 0.8, CLUSTERS) * dlat
        c_lng = lng0 + rng.uniform(-0.8, 0.8, CLUSTERS) * dlng
        which = rng.integers(0, CLUSTERS, s.tasks)
        sigma = CLUSTER_SIGMA_M / M_PER_DEG
        t_lat = c_lat[which] + rng.normal(0, sigma, s.tasks)
        t_lng = c_lng[which] + rng.normal(0, sigma / math.cos(math.radians(lat0)), s.tasks)
    else:
        t_lat = lat0 + rng.uniform(-dlat, dlat, s.tasks)
        t_lng = lng0 + rng.uniform(-dlng, dlng, s.tasks)
    e_lat = t_lat + rng.normal(0, 800 / M_PER_DEG, s.tasks)
    e_lng = t_lng + rng.normal(0, 800 / M_PER_DEG, s.tasks)
    robots = [
        FreeRobot(f"R{i:05d}", float(r_lat[i]), float(r_lng[i]), 1.5, 95.0, 2.0, 10.0)
        for i in range(s.robots)
    ]
    tasks = [
        OpenTask(f"T{i:05d}", float(t_lat[i]), float(t_lng[i]), float(e_lat[i]), float(e_lng[i]))
        for i in range(s.tasks)
    ]
    hubs = [LatLng(lat0, lng0), LatLng(lat0 + dlat / 2, lng0 - dlng / 2)]
    return tasks, robots, hubs


def measure(
    solve: Solver, instance: tuple[list[OpenTask], list[FreeRobot], list[LatLng]], runs: int
) -> Result:
    best, plan = math.inf, None
    for _ in range(runs):
        started = time.perf_counter()
        plan = solve(*instance)
        best = min(best, time.perf_counter() - started)
    assert plan is not None
    return Result(best, runs, plan.total_pickup_s, len(plan.assignments))


def bench(s: Scenario, seed: int) -> Row:
    instance = make_round(s, seed)
    small = s.robots <= 1_000
    greedy = measure(greedy_arrival_order, instance, 3 if small else 2)
    dense = measure(dense_optimum, instance, 3 if small else 1)
    ours = measure(plan_dispatch, instance, 5 if small else 3)
    return Row(s, greedy, dense, ours)


def scenarios(quick: bool) -> list[Scenario]:
    sizes = (100, 1_000) if quick else (100, 1_000, 5_000)
    return [
        Scenario(robots, ratio, clustered)
        for robots in sizes
        for ratio in (1.0, 1.5)
        for clustered in (False, True)
    ]


# --- report ------------------------------------------------------------------------------------


def rich_table(rows: list[Row]) -> Table:
    table = Table(title="Dispatch round: solve time (best of N) and total pickup time")
    table.add_column("scenario")
    for name in (
        "greedy s",
        "dense s",
        "ours s",
        "greedy total h",
        "dense total h",
        "ours total h",
        "served",
        "ours / dense",
        "gain vs greedy",
    ):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            r.scenario.name,
            f"{r.greedy.seconds:.3f}",
            f"{r.dense.seconds:.3f}",
            f"{r.ours.seconds:.3f}",
            f"{r.greedy.total_s / 3600:,.1f}",
            f"{r.dense.total_s / 3600:,.1f}",
            f"{r.ours.total_s / 3600:,.1f}",
            served(r),
            f"{r.ratio:.4f}",
            f"{r.gain:.1%}",
        )
    return table


def served(r: Row) -> str:
    counts = {r.greedy.count, r.dense.count, r.ours.count}
    return (
        f"{r.ours.count:,}"
        if len(counts) == 1
        else (f"{r.greedy.count:,} / {r.dense.count:,} / {r.ours.count:,}")
    )


def markdown_table(rows: list[Row]) -> list[str]:
    lines = [
        "| scenario | greedy s | dense s | ours s | greedy total h | dense total h "
        "| ours total h | served | ours / dense | gain vs greedy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.scenario.name} | {r.greedy.seconds:.3f} | {r.dense.seconds:.3f} "
            f"| {r.ours.seconds:.3f} | {r.greedy.total_s / 3600:,.1f} "
            f"| {r.dense.total_s / 3600:,.1f} | {r.ours.total_s / 3600:,.1f} | {served(r)} "
            f"| {r.ratio:.4f} | {r.gain:.1%} |"
        )
    return lines


def goal_verdicts(rows: list[Row]) -> list[str]:
    def verdict(ok: bool) -> str:
        return "**met**" if ok else "**not met**"

    worst = max(rows, key=lambda r: r.ratio)
    counts_ok = all(r.ours.count == r.dense.count for r in rows)
    lines = [
        f"- Same count as the dense optimum in every scenario: {verdict(counts_ok)}",
        f"- Within 1 % of the dense optimum in every scenario (worst: {worst.ratio:.4f}, "
        f"{worst.scenario.name}): {verdict(worst.ratio <= GOAL_RATIO)}",
    ]
    big = [r for r in rows if r.scenario.robots >= 5_000]
    if big:
        slowest = max(big, key=lambda r: r.ours.seconds)
        lines.append(
            f"- Ours ≤ {GOAL_TIME_S:g} s at 5,000 robots in every scenario (slowest: "
            f"{slowest.ours.seconds:.3f} s, {slowest.scenario.name}): "
            f"{verdict(slowest.ours.seconds <= GOAL_TIME_S)}"
        )
    else:
        lines.append("- Ours ≤ 1 s at 5,000 robots: not judged (no 5,000-robot scenario run)")
    uniform = [r for r in rows if r.scenario.ratio == 1.0 and not r.scenario.clustered]
    least = min(uniform, key=lambda r: r.gain)
    lines.append(
        f"- Ours ≥ {GOAL_GAIN:.0%} below arrival-order greedy on 1:1 uniform demand (least: "
        f"{least.gain:.1%}, {least.scenario.name}): {verdict(least.gain >= GOAL_GAIN)}"
    )
    return lines


def markdown_section(rows: list[Row], seed: int) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `{command_line()}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}  ",
        f"Stack: Python {platform.python_version()}, numpy {version('numpy')}, "
        f"scipy {version('scipy')}, h3 {version('h3')}; seed {seed}",
        "",
        "One round per scenario, the same instance for the three solvers: greedy is "
        "`greedy_arrival_order` (tasks in arrival order each take the nearest free robot), "
        "dense is `dense_optimum` (one `linear_sum_assignment` over every pair), ours is "
        "`plan_dispatch`. Times are the best of 3 (greedy, dense) or 5 (ours) runs up to 1,000 "
        "robots; at 5,000, best of 2 (greedy), 1 (dense) and 3 (ours). Totals are the summed "
        "pickup times in hours. Orders are uniform over 10 x 10 km around West Hollywood or in "
        f"{CLUSTERS} clusters (sigma {CLUSTER_SIGMA_M:.0f} m); robots uniform; batteries ample.",
        "",
        "Up to 1.5 M robot-task pairs (1,000 robots here) ours is the dense solve itself; above, "
        "it solves the round by pieces with a 0.8 s budget for its local search (see "
        "`src/sidewalk/operations/dispatch.py`), so its total depends a little on the machine's "
        "speed at the time.",
        "",
        *markdown_table(rows),
        "",
        "Goals:",
        "",
        *goal_verdicts(rows),
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace our section of `path` (up to the next `## ` heading), keeping the others."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def code_version() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" with uncommitted changes" if git("status", "--porcelain", "src") else "")


def command_line() -> str:
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    script = Path(sys.argv[0]).resolve()
    script_shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join([str(shown), str(script_shown), *sys.argv[1:]])


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 robots only")
    parser.add_argument("--seed", type=int, default=7, help="seed of the random instances")
    parser.add_argument("--output", type=Path, default=None, help="default: BENCHMARKS.md")
    args = parser.parse_args(argv)
    output = args.output or (None if args.quick else ROOT / "BENCHMARKS.md")
    rows = []
    for s in scenarios(args.quick):
        console.print(f"[dim]{s.name}...[/dim]")
        rows.append(bench(s, args.seed))
    console.print(rich_table(rows))
    for line in goal_verdicts(rows):
        console.print(line.replace("**", ""))
    if output is not None:
        write_section(output, markdown_section(rows, args.seed))
        console.print(f"wrote {output}")


if __name__ == "__main__":
    main(sys.argv[1:])
