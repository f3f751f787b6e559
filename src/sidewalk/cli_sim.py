"""`sidewalk simulate`, `sidewalk plan` and `sidewalk sweep`: a day's figures from the
simulator, the cheapest fleet for a demand from the fast fleet model, and the slow,
exhaustive check of a grid of fleets with the full simulator."""

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sidewalk.planning.planner import Costs, Plan, Targets, plan_fleet
from sidewalk.planning.report import plan_dict, render_plan_page
from sidewalk.simulator.city import City, CityError, load_city
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.plan import Span, plan
from sidewalk.simulator.report import render_plan, render_simulation
from sidewalk.simulator.results import PlanCell, PlanResult, SimResult
from sidewalk.simulator.run import Databases, simulate

console = Console()
errors = Console(stderr=True)

CityOpt = Annotated[
    Path | None,
    typer.Option(
        help="A city folder (or its city.toml); default West Hollywood. See docs/cities.md."
    ),
]
HoursOpt = Annotated[float, typer.Option(min=0.1, max=24 * 14, help="Simulated hours.")]
StartOpt = Annotated[float, typer.Option(min=0, max=23.99, help="Local hour the run starts at.")]
RateOpt = Annotated[
    float,
    typer.Option(min=0, help="Mean orders per hour over the day (the city's curve shapes them)."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document, nothing else.")]


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=quiet,
        transient=True,
    )


def simulate_command(
    hours: HoursOpt = 24.0,
    robots: Annotated[int, typer.Option(min=0, max=10_000, help="Robots in the fleet.")] = 30,
    pilots: Annotated[
        int, typer.Option(min=0, max=1_000, help="Pilots on duty in each shift.")
    ] = 6,
    orders_per_hour: RateOpt = 60.0,
    seed: Annotated[int, typer.Option(help="Same seed, same run.")] = 0,
    start_hour: StartOpt = 0.0,
    city: CityOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write an HTML report (works offline).")] = None,
    deliveries_url: Annotated[
        str | None,
        typer.Option(help="An empty database for deliveries (default: a scratch SQLite file)."),
    ] = None,
    operations_url: Annotated[
        str | None,
        typer.Option(help="An empty database for operations (default: a scratch SQLite file)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Simulate a city with the whole platform, as fast as possible, and print its KPIs."""
    params = SimParams(
        hours=hours,
        robots=robots,
        pilots=pilots,
        orders_per_hour=orders_per_hour,
        seed=seed,
        start_local_hour=start_hour,
    )
    the_city = _city(city)
    with _progress(as_json) as bar:
        task = bar.add_task("simulating", total=params.duration_s, note="")

        def told(done_s: float) -> None:
            bar.update(task, completed=done_s, note=f"{done_s / 3600:.1f} h of {hours:g} h")

        result = simulate(params, the_city, Databases(deliveries_url, operations_url), told)
    if out is not None:
        out.write_text(render_simulation(result), encoding="utf-8")
    if as_json:
        print(
            json.dumps(
                {
                    "city": result.city,
                    "kpis": result.kpis.as_dict(),
                    "wall_s": result.wall_s,
                    "errors": result.errors,
                }
            )
        )
        return
    _print_kpis(result)
    if out is not None:
        console.print(f"report: {out}")


def plan_command(
    orders_per_hour: Annotated[
        float | None,
        typer.Option(min=1, help="Mean orders per hour over the day (default 400)."),
    ] = None,
    orders_per_day: Annotated[
        float | None, typer.Option(min=1, help="Orders a day, in place of --orders-per-hour.")
    ] = None,
    target_on_time: Annotated[
        float, typer.Option(min=0, max=1, help="Least share of orders on time.")
    ] = 0.95,
    max_fallback: Annotated[
        float, typer.Option(min=0, max=1, help="Most orders going to a courier after a robot.")
    ] = 0.03,
    min_completion: Annotated[
        float, typer.Option(min=0, max=1, help="Least share of orders delivered.")
    ] = 0.995,
    robot_cost: Annotated[float, typer.Option(min=0, help="A robot's day.")] = Costs.robot_per_day,
    pilot_cost: Annotated[
        float, typer.Option(min=0, help="A pilot's hour.")
    ] = Costs.pilot_per_hour,
    courier_cost: Annotated[
        float, typer.Option(min=0, help="A courier delivery.")
    ] = Costs.courier_delivery,
    seeds: Annotated[int, typer.Option(min=1, max=20, help="Days it must hold on.")] = 3,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    city: CityOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the plan as an HTML page.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes (default: one per core, two at most).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """The cheapest fleet for a demand: robots, and pilots for each hour of the day, that
    meet every target, with the expected KPIs and the cost per delivery (the fast fleet
    model; `sidewalk sweep` checks fleets with the full simulator)."""
    if orders_per_hour is not None and orders_per_day is not None:
        raise typer.BadParameter("give --orders-per-hour or --orders-per-day, not both")
    rate = orders_per_day / 24 if orders_per_day is not None else orders_per_hour or 400.0
    _city(city)
    with _progress(as_json) as bar:
        task = bar.add_task("planning", total=None, note="")
        found = plan_fleet(
            SimParams(hours=24.0, orders_per_hour=rate, seed=seed),
            targets=Targets(target_on_time, max_fallback, min_completion),
            costs=Costs(robot_cost, pilot_cost, courier_cost),
            seeds=seeds,
            city_path=city,
            workers=workers,
            progress=lambda note: bar.update(task, note=note),
        )
    if out is not None:
        out.write_text(render_plan_page(found), encoding="utf-8")
    if as_json:
        print(json.dumps(plan_dict(found)))
        return
    _print_fleet_plan(found)
    if out is not None:
        console.print(f"page: {out}")


def _print_fleet_plan(found: Plan) -> None:
    doc = plan_dict(found)
    k = doc["kpis"]
    table = Table(
        title=f"{found.city}: {found.orders_per_hour:g} orders/h on average, "
        f"{len(found.confirmed)} seeds"
    )
    table.add_column("")
    table.add_column("mean", justify="right")
    table.add_column("over the seeds", justify="right")
    for name, key in [
        ("on time", "on_time"),
        ("courier fallback", "fallback"),
        ("completion", "completion"),
        ("robot utilisation", "robot_utilisation"),
        ("pilot load", "pilot_load"),
    ]:
        low, high = k[key]["range"]
        table.add_row(name, _pct(k[key]["mean"]), f"{_pct(low)} to {_pct(high)}")
    cost = doc["cost_per_delivery"]
    table.add_row("cost per delivery", f"{cost['mean']:.2f}", f"{cost['range'][0]:.2f} to "
                  f"{cost['range'][1]:.2f}")  # fmt: skip
    console.print(table)
    shifts = ", ".join(f"{h:02d}h {p}" for h, p in enumerate(found.pilots_by_hour))
    console.print(
        f"[bold]{found.robots} robots[/bold]; pilots on duty by local hour: {shifts} "
        f"({sum(found.pilots_by_hour)} pilot-hours)"
    )
    for name in found.missed:
        console.print(
            f"[yellow]{name} is missed on some seed: more robots do not change it "
            "(faults with the goods on board, blocked paths).[/yellow]"
        )


def sweep_command(
    orders_per_hour: RateOpt = 60.0,
    robots: Annotated[str, typer.Option(help="Robots to try, start:stop:step.")] = "10:100:10",
    pilots: Annotated[
        str, typer.Option(help="Pilots per shift to try, start:stop:step.")
    ] = "2:20:2",
    target_on_time: Annotated[
        float, typer.Option(min=0, max=1, help="Share of orders on time.")
    ] = 0.95,
    seeds: Annotated[int, typer.Option(min=1, max=50, help="Runs per mix, each its own seed.")] = 3,
    hours: HoursOpt = 24.0,
    start_hour: StartOpt = 0.0,
    seed: Annotated[int, typer.Option(help="First seed.")] = 0,
    city: CityOpt = None,
    out: Annotated[Path | None, typer.Option(help="Write the sweep as an HTML page.")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Processes (default: one per core).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """A grid of fleets (robots by pilots per shift), each simulated in full on several seeds:
    the smallest that meets an on-time target. Slow; `sidewalk plan` answers in a minute."""
    try:
        robot_span, pilot_span = Span.parse(robots), Span.parse(pilots)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    _city(city)
    base = SimParams(
        hours=hours, orders_per_hour=orders_per_hour, seed=seed, start_local_hour=start_hour
    )
    with _progress(as_json) as bar:
        task = bar.add_task("planning", total=1, note="")

        def told(done: int, planned: int) -> None:
            bar.update(task, completed=done, total=planned, note=f"{done} runs")

        result = plan(
            base,
            robot_span,
            pilot_span,
            seeds,
            target_on_time,
            city_path=city,
            workers=workers,
            progress=told,
        )
    if out is not None:
        out.write_text(render_plan(result), encoding="utf-8")
    if as_json:
        print(json.dumps(_plan_dict(result)))
        return
    _print_plan(result)
    if out is not None:
        console.print(f"chart: {out}")


def _city(path: Path | None) -> City:
    try:
        return load_city(path)
    except CityError as e:
        errors.print(f"[red]{e}[/red]", soft_wrap=True)
        raise typer.Exit(2) from e


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _print_kpis(result: SimResult) -> None:
    k, p = result.kpis, result.params
    table = Table(
        title=f"{result.city}: {p.hours:g} h, {p.robots} robots, {p.pilots} pilots per shift, "
        f"{p.orders_per_hour:g} orders/h, seed {p.seed}"
    )
    table.add_column("KPI")
    table.add_column("value", justify="right")
    for name, value in [
        ("orders", str(k.orders)),
        ("refused (no provider)", str(k.refused)),
        ("delivered", f"{k.delivered} ({_pct(k.delivered_pct)})"),
        ("on time", f"{k.on_time} ({_pct(k.on_time_pct)})"),
        ("courier fallbacks", f"{k.fallbacks} ({_pct(k.fallback_pct)})"),
        ("delivered by robot / courier", f"{k.by_robot} / {k.by_courier}"),
        ("cancelled", str(k.cancelled)),
        ("failed", str(k.failed)),
        ("returned", str(k.returned)),
        ("in flight at the end", str(k.in_flight)),
        ("delivery minutes p50 / p90", f"{k.p50_delivery_min} / {k.p90_delivery_min}"),
        ("robot utilisation", _pct(k.robot_utilisation)),
        ("pilot load (mean, of capacity)", _pct(k.pilot_load)),
        ("most robots on one pilot", str(k.pilot_peak)),
    ]:
        table.add_row(name, value)
    console.print(table)
    console.print(
        f"{result.speedup:,.0f} times real time ({result.wall_s:.1f} s, {result.database})"
    )
    for error in result.errors:
        errors.print(f"[red]{error}[/red]", soft_wrap=True)


def _plan_dict(result: PlanResult) -> dict[str, object]:
    def cell(c: PlanCell) -> dict[str, object]:
        return {
            "robots": c.robots,
            "pilots": c.pilots,
            "mean_on_time": round(c.mean_on_time, 4),
            "low_on_time": round(c.low_on_time, 4),
            "on_time": c.on_time,
            "delivered": c.delivered,
        }

    return {
        "city": result.city,
        "orders_per_hour": result.orders_per_hour,
        "hours": result.hours,
        "target_on_time": result.target_on_time,
        "seeds": result.seeds,
        "best": cell(result.best) if result.best else None,
        "cells": [cell(c) for c in result.cells],
    }


def _print_plan(result: PlanResult) -> None:
    table = Table(
        title=f"{result.city}: {result.orders_per_hour:g} orders/h, "
        f"target {_pct(result.target_on_time)} on time"
    )
    for column in ("robots", "pilots per shift", "on time (mean)", "95 % low", "delivered"):
        table.add_column(column, justify="right")
    for c in result.cells:
        mark = " ◀" if c is result.best else ""
        table.add_row(
            str(c.robots),
            str(c.pilots),
            _pct(c.mean_on_time) + mark,
            _pct(c.low_on_time),
            _pct(sum(c.delivered) / len(c.delivered)),
        )
    console.print(table)
    if result.best is None:
        console.print("No mix in the sweep met the target: try more robots or pilots.")
    else:
        b = result.best
        console.print(
            f"Smallest mix meeting {_pct(result.target_on_time)}: "
            f"[bold]{b.robots} robots, {b.pilots} pilots per shift[/bold] "
            f"(on time {_pct(b.mean_on_time)}, 95 % interval from {_pct(b.low_on_time)}, "
            f"{result.seeds} seeds)"
        )
