"""The simulator's speed: simulated hours per wall-clock second for a day of a busy city
(24 h, 200 robots, 400 orders an hour on average) on the embedded default (SQLite files, the
simulator's in-process event pump), and the same run on PostgreSQL beside it, with where the
wall time went. Goal: 1,000 times real time (24 h in under 90 s on 2 cores).

Every run drives the real services' use cases, one transaction each, as `sidewalk simulate`
does; the KPIs of both runs are printed (the same seed gives the same figures on both
databases). Wall time is split by what ran: the simulated merchants, robots and pilots, the
platform's background jobs (dispatch rounds, the fleet's state, the courier network's clock)
and the event handlers of each service, timed around the simulator's own calls.

Prints Rich tables and rewrites the section `## Simulator (bench/simulate.py)` of
BENCHMARKS.md. Run: `make bench`, or `.venv/bin/python bench/simulate.py [--hours 24]
[--robots 200] [--pilots 50] [--orders-per-hour 400] [--no-postgres] [--quick]`; `--quick`
(2 simulated hours) writes nothing unless `--output` is given.
"""

import argparse
import platform
import shlex
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from rich.console import Console

from scratch_postgres import postgres_database, postgres_reachable
from sections import code_version, machine, write_section
from sidewalk.kernel.events import Envelope
from sidewalk.simulator import agenda as agenda_module
from sidewalk.simulator import event_pump
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.results import SimResult
from sidewalk.simulator.run import Databases, simulate

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Simulator (bench/simulate.py)"
GOAL = 1000.0
console = Console()


class WallSplit:
    """Wall time by what ran, from wrappers around the agenda's actions and the event pump's
    deliveries (an event's handlers and whatever the simulated robots do on hearing it)."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._open: list[float] = []  # per timer running: the time of the timers inside it

    def _timed(self, kind: str, step: Callable[[], None]) -> None:
        """Time `step` as `kind`, less what timers inside it counted as theirs."""
        began = time.perf_counter()
        self._open.append(0.0)
        try:
            step()
        finally:
            elapsed = time.perf_counter() - began
            self.seconds[kind] += elapsed - self._open.pop()
            if self._open:
                self._open[-1] += elapsed

    @contextmanager
    def installed(self) -> Iterator[None]:
        run_next, deliver = agenda_module.Agenda.run_next, event_pump.EventPump._deliver
        split = self

        def timed_run_next(self: agenda_module.Agenda) -> None:
            kind = _kind(self._heap[0][2])  # the action about to run
            split._timed(kind, lambda: run_next(self))

        def timed_deliver(self: event_pump.EventPump, envelope: Envelope) -> None:
            split._timed(f"events from {envelope.source}", lambda: deliver(self, envelope))

        agenda_module.Agenda.run_next = timed_run_next  # type: ignore[method-assign]
        event_pump.EventPump._deliver = timed_deliver  # type: ignore[method-assign]
        try:
            yield
        finally:
            agenda_module.Agenda.run_next = run_next  # type: ignore[method-assign]
            event_pump.EventPump._deliver = deliver  # type: ignore[method-assign]

    def own(self) -> dict[str, float]:
        return dict(self.seconds)


def _kind(action: Callable[[], None]) -> str:
    name = getattr(action, "__qualname__", "") or getattr(
        getattr(action, "func", None), "__qualname__", ""
    )
    if name.endswith("guarded") and action.__closure__:  # a robot's planned step
        return "robots"
    for word, kind in (
        ("Robot", "robots"),
        ("Merchant", "merchants"),
        ("Pilot", "pilots"),
        ("dispatch", "dispatch rounds"),
        ("fleet", "fleet state"),
        ("courier", "courier network"),
    ):
        if word in name:
            return kind
    return "other"


def run(params: SimParams, dbs: Databases, label: str) -> tuple[SimResult, dict[str, float], int]:
    split = WallSplit()
    carried = [0]
    original_drain = event_pump.EventPump.drain

    def counting_drain(self: event_pump.EventPump) -> int:
        n = original_drain(self)
        carried[0] += n
        return n

    event_pump.EventPump.drain = counting_drain  # type: ignore[method-assign]
    try:
        with split.installed(), console.status(f"{label}: {params.hours:g} simulated hours…"):
            result = simulate(params, dbs=dbs)
    finally:
        event_pump.EventPump.drain = original_drain  # type: ignore[method-assign]
    return result, split.own(), carried[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--robots", type=int, default=200)
    parser.add_argument("--pilots", type=int, default=50, help="pilots on duty per shift")
    parser.add_argument("--orders-per-hour", type=float, default=400.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="2 simulated hours")
    parser.add_argument("--output", type=Path, default=None)
    opts = parser.parse_args(argv)
    hours = 2.0 if opts.quick else opts.hours
    params = SimParams(
        hours=hours,
        robots=opts.robots,
        pilots=opts.pilots,
        orders_per_hour=opts.orders_per_hour,
        seed=opts.seed,
    )
    runs: list[tuple[str, SimResult, dict[str, float], int]] = []
    result, split, carried = run(params, Databases(), "SQLite")
    runs.append(("SQLite (embedded default)", result, split, carried))
    if not opts.no_postgres and postgres_reachable():
        with postgres_database() as url:
            result, split, carried = run(params, Databases(url, url), "PostgreSQL")
        runs.append(("PostgreSQL", result, split, carried))
    section = render(params, runs, argv if argv is not None else sys.argv[1:])
    console.print(section)
    output = opts.output or (None if opts.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_section(output, SECTION, section)
        console.print(f"wrote {output}")


def render(
    params: SimParams,
    runs: list[tuple[str, SimResult, dict[str, float], int]],
    argv: list[str],
) -> str:
    first = runs[0][1]
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/simulate.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}  ",
        f"Stack: Python {platform.python_version()}, sqlalchemy {version('sqlalchemy')}, "
        f"SQLite {sqlite3.sqlite_version}, psycopg {version('psycopg')}",
        "",
        f"{first.city}, {params.hours:g} simulated hours from local midnight, "
        f"{params.robots} robots, "
        f"{params.pilots} pilots on duty per shift, {params.orders_per_hour:g} orders an hour on "
        f"average (the city's demand curve: about twice that at the dinner peak), seed "
        f"{params.seed}; robots report every {params.telemetry_interval_s:g} s while driving, "
        f"dispatch rounds every {params.dispatch_interval_s:g} s of simulated time. Goal: "
        f"{GOAL:,.0f} times real time.",
        "",
        "| databases | orders | events carried | wall s | simulated h per wall s "
        "| times real time | of goal | PostgreSQL / SQLite |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = first.wall_s
    for label, result, _, carried in runs:
        ratio = "-" if result is first else f"{result.wall_s / base:.2f} times the wall time"
        lines.append(
            f"| {label} | {result.kpis.orders:,} | {carried:,} | {result.wall_s:,.1f} | "
            f"{params.hours / result.wall_s:.3f} | {result.speedup:,.0f} | "
            f"{result.speedup / GOAL:.0%} | {ratio} |"
        )
    lines += [
        "",
        "Where the wall time went (seconds; an event's handlers apart from the step that caused "
        "it):",
        "",
    ]
    kinds = sorted({k for *_, split, _ in runs for k in split}, key=lambda k: -runs[0][2].get(k, 0))
    lines.append("| | " + " | ".join(label for label, *_ in runs) + " |")
    lines.append("| --- |" + " ---: |" * len(runs))
    for kind in kinds:
        lines.append(
            f"| {kind} | "
            + " | ".join(f"{split.get(kind, 0):,.1f}" for _, _, split, _ in runs)
            + " |"
        )
    lines += ["", "KPIs of the runs (identical when the engines agree):", ""]
    keys = list(first.kpis.as_dict())
    lines.append("| KPI | " + " | ".join(label for label, *_ in runs) + " |")
    lines.append("| --- |" + " ---: |" * len(runs))
    for key in keys:
        lines.append(
            f"| {key} | " + " | ".join(str(r.kpis.as_dict()[key]) for _, r, _, _ in runs) + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
