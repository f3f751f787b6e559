"""The planner's speed and its word against the full simulator: `sidewalk plan` for the
default city at its default demand (400 orders an hour on average), timed as a user runs it
(goal: 60 s on this 2-core machine); then the fleet it recommends simulated in full for a
day on seeds the plan did not see, beside the fast model's day for the same fleet and seed.

Prints Rich tables and rewrites the section `## Planner (bench/plan.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/plan.py [--orders-per-hour 400]
[--check-seeds 3] [--no-simulate] [--output FILE]`. The full simulator's days run two at a
time, one per core, and take several minutes each."""

import argparse
import shlex
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from sections import code_version, machine, write_section
from sidewalk.planning.fleet_model import model_settings, run_model
from sidewalk.simulator.city import load_city
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.results import Kpis
from sidewalk.simulator.run import simulate

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Planner (bench/plan.py)"
GOAL_S = 60.0
console = Console()


def plan_as_a_user(orders_per_hour: float) -> tuple[float, dict[str, object]]:
    """`sidewalk plan --json`, in its own process as a user starts it: the wall time, the plan."""
    import json

    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sidewalk", "plan", "--orders-per-hour", str(orders_per_hour),
         "--json"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return time.perf_counter() - began, json.loads(done.stdout)


def full_day(params: SimParams) -> tuple[float, Kpis]:
    began = time.perf_counter()
    result = simulate(params)
    return time.perf_counter() - began, result.kpis


def model_day(params: SimParams) -> tuple[float, Kpis]:
    city = load_city()
    began = time.perf_counter()
    result = run_model(params, city, model_settings(params, city))
    return time.perf_counter() - began, result.kpis


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders-per-hour", type=float, default=400.0)
    parser.add_argument("--check-seeds", type=int, default=3, help="seeds 100, 101, ...")
    parser.add_argument("--no-simulate", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    opts = parser.parse_args(argv)
    wall, plan = plan_as_a_user(opts.orders_per_hour)
    console.print(f"sidewalk plan: {wall:.1f} s, {plan['robots']} robots")
    checks: list[tuple[int, float, Kpis, float, Kpis]] = []
    if not opts.no_simulate:
        pilots = tuple(int(p) for p in plan["pilots_by_hour"])  # type: ignore[attr-defined]
        days = [
            SimParams(
                hours=24.0,
                robots=int(plan["robots"]),  # type: ignore[call-overload]
                pilots_by_hour=pilots,
                orders_per_hour=opts.orders_per_hour,
                seed=100 + s,
            )
            for s in range(opts.check_seeds)
        ]
        with ProcessPoolExecutor(2) as pool:
            full = list(pool.map(full_day, days))
        for params, (full_s, full_k) in zip(days, full, strict=True):
            fast_s, fast_k = model_day(params)
            checks.append((params.seed, full_s, full_k, fast_s, fast_k))
            console.print(f"seed {params.seed}: simulator {full_s:.0f} s, model {fast_s:.1f} s")
    section = render(opts.orders_per_hour, wall, plan, checks, argv or sys.argv[1:])
    console.print(section)
    output = opts.output or ROOT / "BENCHMARKS.md"
    write_section(output, SECTION, section)
    console.print(f"wrote {output}")


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def render(
    rate: float,
    wall: float,
    plan: dict[str, object],
    checks: list[tuple[int, float, Kpis, float, Kpis]],
    argv: list[str],
) -> str:
    kpis = plan["kpis"]
    assert isinstance(kpis, dict)
    targets = plan["targets"]
    assert isinstance(targets, dict)
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/plan.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}",
        "",
        f"`sidewalk plan --orders-per-hour {rate:g}` (West Hollywood, 24 h, 3 seeds; targets: on "
        f"time ≥ {targets['on_time']:.0%}, courier fallback ≤ {targets['max_fallback']:.0%}, "
        f"completion ≥ {targets['completion']:.1%}), timed from the command to its answer "
        f"(goal: ≤ {GOAL_S:.0f} s):",
        "",
        "| wall s | of goal | robots | pilot-hours | on time | fallback | completion "
        "| cost per delivery | targets missed |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {wall:.1f} | {wall / GOAL_S:.0%} | {plan['robots']} | {plan['pilot_hours']} | "
        f"{_pct(kpis['on_time']['mean'])} | {_pct(kpis['fallback']['mean'])} | "
        f"{_pct(kpis['completion']['mean'])} | {plan['cost_per_delivery']['mean']:.2f} | "  # type: ignore[index]
        f"{', '.join(plan['missed']) or 'none'} |",  # type: ignore[arg-type]
    ]
    if checks:
        lines += [
            "",
            "The recommended fleet (robots and the hourly pilot plan) for a day on seeds the plan "
            "did not see: the full simulator (the services' use cases on SQLite) beside the fast "
            "model, and the model's speed against it on the same machine:",
            "",
            "| seed | on time: simulator / model | fallback: simulator / model "
            "| completion: simulator / model | simulator s | model s | model faster |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for seed, full_s, full, fast_s, fast in checks:
            lines.append(
                f"| {seed} | {_pct(full.on_time_pct)} / {_pct(fast.on_time_pct)} | "
                f"{_pct(full.fallback_pct)} / {_pct(fast.fallback_pct)} | "
                f"{_pct(full.completion_pct)} / {_pct(fast.completion_pct)} | {full_s:.0f} | "
                f"{fast_s:.1f} | {full_s / fast_s:.0f} times |"
            )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
