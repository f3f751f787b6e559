"""The simulator's findings as one offline HTML page, inline CSS and SVG with no script and no
external reference, so that a report can be mailed or archived and still open anywhere."""

import math
from dataclasses import asdict
from html import escape
from statistics import fmean

from sidewalk.charts.page import (
    charts,
    count,
    header,
    minutes,
    page,
    pct,
    section,
    table,
    tiles,
    value,
)
from sidewalk.charts.svg import heatmap, histogram, line_chart
from sidewalk.simulator.results import HourRow, Kpis, PlanCell, PlanResult, SimResult


def render_simulation(result: SimResult) -> str:
    title = f"Simulation of {result.city}"
    p = result.params
    subtitle = f"{p.hours:g} h, {p.robots} robots, {p.pilots} pilots, seed {p.seed}"
    params = [(k, value(v)) for k, v in asdict(p).items()]
    return page(
        title,
        [
            header(title, subtitle),
            tiles(_kpi_tiles(result.kpis)),
            section(
                "Hour by hour",
                charts(*_hourly_charts(result.hourly, result.params.start_local_hour)),
            ),
            section("Delivery times", charts(_delivery_histogram(result.delivery_minutes))),
            section("Parameters", table(["parameter", "value"], params)),
        ],
        _sim_footer(result),
    )


def _kpi_tiles(k: Kpis) -> list[tuple[str, str, str]]:
    return [
        ("Orders", count(k.orders), f"{count(k.refused)} refused"),
        ("Delivered", pct(k.delivered_pct), f"{count(k.delivered)} orders"),
        ("On time", pct(k.on_time_pct), f"{count(k.on_time)} orders"),
        ("Fallback", pct(k.fallback_pct), f"{count(k.fallbacks)} to a courier"),
        ("Cancelled", count(k.cancelled), ""),
        ("Failed", count(k.failed), ""),
        ("Returned", count(k.returned), ""),
        ("Delivery p50", minutes(k.p50_delivery_min), "order to hand-over"),
        ("Delivery p90", minutes(k.p90_delivery_min), "order to hand-over"),
        ("Robot utilisation", pct(k.robot_utilisation), "time on a task"),
        ("Pilot load", pct(k.pilot_load), f"peak {k.pilot_peak} robots per pilot"),
    ]


def _hourly_charts(hourly: list[HourRow], start_hour: float) -> tuple[str, str]:
    """Per simulated hour, placed at the local hour it began (past midnight they go on: 25
    is 1 in the morning of the next day)."""
    start = int(start_hour)
    volume = line_chart(
        {
            "orders": [(start + h.hour, h.orders) for h in hourly],
            "delivered": [(start + h.hour, h.delivered) for h in hourly],
            "on time": [(start + h.hour, h.on_time) for h in hourly],
        },
        x_label="local hour",
        y_label="orders",
        title="Orders, deliveries and on time per hour",
    )
    load = line_chart(
        {
            "robot utilisation": [(start + h.hour, h.robot_utilisation * 100) for h in hourly],
            "pilot load": [(start + h.hour, h.pilot_load * 100) for h in hourly],
        },
        x_label="local hour",
        y_label="%",
        y_max=100.0,
        title="Robot utilisation and pilot load",
    )
    return volume, load


def _delivery_histogram(delivery_minutes: list[float]) -> str:
    bins = min(30, max(5, round(math.sqrt(len(delivery_minutes)))))
    return histogram(
        delivery_minutes,
        bins=bins,
        x_label="minutes, order to hand-over",
        title="Delivery times",
    )


def _sim_footer(result: SimResult) -> str:
    run = (
        f"Simulated {result.params.hours:g} h in {result.wall_s:.1f} s of wall time "
        f"({result.speedup:,.0f}\u00d7 real time) on {result.database}."
    )
    if result.errors:
        items = "".join(f"<li>{escape(e)}</li>" for e in result.errors)
        errors = (
            f'<p class="errors">Errors ({len(result.errors)}):</p><ul class="errors">{items}</ul>'
        )
    else:
        errors = "<p>No errors.</p>"
    return f"<footer>\n<p>{escape(run)}</p>\n{errors}\n</footer>"


def render_plan(plan: PlanResult) -> str:
    title = f"Fleet plan for {plan.city}"
    subtitle = (
        f"{plan.orders_per_hour:g} orders per hour over {plan.hours:g} h, {plan.seeds} seeds "
        f"per mix, on-time target {pct(plan.target_on_time)}"
    )
    return page(
        title,
        [
            header(title, subtitle),
            _verdict(plan),
            section("On-time share by mix", charts(_plan_heatmap(plan), _plan_lines(plan))),
            section("Every mix", _plan_table(plan)),
        ],
    )


def _mean(xs: list[float]) -> float | None:
    return fmean(xs) if xs else None


def _low(cell: PlanCell) -> float | None:
    return cell.low_on_time if cell.on_time else None


def _is_best(plan: PlanResult, cell: PlanCell) -> bool:
    best = plan.best
    return best is not None and (best.robots, best.pilots) == (cell.robots, cell.pilots)


def _verdict(plan: PlanResult) -> str:
    target = pct(plan.target_on_time)
    if plan.best is None:
        text = f"No mix of robots and pilots in this sweep met the on-time target of {target}."
        return f'<p class="verdict missed">{escape(text)}</p>'
    b = plan.best
    mix = f"{b.robots} robots and {b.pilots} pilots"
    why = (
        f", the smallest mix whose mean on-time share, {pct(_mean(b.on_time))}, meets the "
        f"target of {target} (95 % low bound {pct(_low(b))})."
    )
    return f'<p class="verdict met">Recommended: <strong>{escape(mix)}</strong>{escape(why)}</p>'


def _plan_heatmap(plan: PlanResult) -> str:
    pilots = sorted({c.pilots for c in plan.cells})
    robots = sorted({c.robots for c in plan.cells})
    by_mix = {(c.pilots, c.robots): _mean(c.on_time) for c in plan.cells}
    grid = [[by_mix.get((p, r)) for r in robots] for p in pilots]
    best = plan.best
    spot = None
    if best is not None and best.pilots in pilots and best.robots in robots:
        spot = (pilots.index(best.pilots), robots.index(best.robots))
    return heatmap(
        pilots,
        robots,
        grid,
        x_label="robots",
        y_label="pilots",
        title="Mean on-time share",
        highlight=spot,
    )


def _plan_lines(plan: PlanResult) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    for p in sorted({c.pilots for c in plan.cells}):
        cells = sorted(
            (c for c in plan.cells if c.pilots == p and c.on_time), key=lambda c: c.robots
        )
        series[f"{p} pilot" if p == 1 else f"{p} pilots"] = [
            (c.robots, c.mean_on_time * 100) for c in cells
        ]
    return line_chart(
        series,
        x_label="robots",
        y_label="on time, %",
        y_max=100.0,
        hlines=[(plan.target_on_time * 100, f"target {pct(plan.target_on_time)}")],
        title="On-time share against robots",
    )


def _plan_table(plan: PlanResult) -> str:
    cells = sorted(plan.cells, key=lambda c: (c.robots, c.pilots))
    rows = [
        [
            str(c.robots),
            str(c.pilots),
            pct(_mean(c.on_time)),
            pct(_low(c)),
            pct(_mean(c.delivered)),
            "\u2605 recommended" if _is_best(plan, c) else "",
        ]
        for c in cells
    ]
    head = ["robots", "pilots", "mean on time", "95 % low bound", "mean delivered", ""]
    marks = ["best" if _is_best(plan, c) else "" for c in cells]
    return table(head, rows, numeric=range(5), row_class=marks)
