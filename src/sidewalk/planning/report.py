"""A fleet plan for people and programs: a JSON document, and an offline HTML page with the
recommendation, the shift plan and the trade-off of robots against on-time, fallback and
cost."""

from typing import Any

from sidewalk.charts import page as html
from sidewalk.charts.svg import bar_chart, line_chart
from sidewalk.planning.planner import Plan, Tried
from sidewalk.simulator.results import Kpis


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _spread(values: list[float]) -> list[float]:
    return [round(min(values), 4), round(max(values), 4)] if values else []


def plan_dict(plan: Plan) -> dict[str, Any]:
    """The plan as one JSON-ready document: the recommendation, its KPIs on every seed (mean
    and range), its cost, the targets it misses, and every fleet the search tried."""
    kpis = [t.kpis for t in plan.confirmed]

    def summary(name: str, pick: Any) -> dict[str, Any]:
        values = [float(pick(k)) for k in kpis]
        return {"mean": round(_mean(values), 4), "range": _spread(values), "kpi": name}

    cost = [plan.cost_per_delivery(k) or 0.0 for k in kpis]
    return {
        "city": plan.city,
        "orders_per_hour": plan.orders_per_hour,
        "hours": plan.hours,
        "targets": {
            "on_time": plan.targets.on_time,
            "max_fallback": plan.targets.max_fallback,
            "completion": plan.targets.completion,
        },
        "costs": {
            "robot_per_day": plan.costs.robot_per_day,
            "pilot_per_hour": plan.costs.pilot_per_hour,
            "courier_delivery": plan.costs.courier_delivery,
        },
        "robots": plan.robots,
        "searched": plan.searched,
        "pilots_by_hour": plan.pilots_by_hour,
        "pilot_hours": sum(plan.pilots_by_hour),
        "missed": plan.missed,
        "kpis": {
            "on_time": summary("on_time_pct", lambda k: k.on_time_pct),
            "fallback": summary("fallback_pct", lambda k: k.fallback_pct),
            "completion": summary("completion_pct", lambda k: k.completion_pct),
            "robot_utilisation": summary("robot_utilisation", lambda k: k.robot_utilisation),
            "pilot_load": summary("pilot_load", lambda k: k.pilot_load),
        },
        "cost_per_delivery": {"mean": round(_mean(cost), 2), "range": _spread(cost)},
        "seeds": [
            {
                "seed": t.seed,
                **t.kpis.as_dict(),
                "cost_per_delivery": plan.cost_per_delivery(t.kpis),
            }
            for t in plan.confirmed
        ],
        "tried": [_tried(plan, t) for t in plan.tried],
    }


def _tried(plan: Plan, t: Tried) -> dict[str, Any]:
    k = t.kpis
    return {
        "robots": t.robots,
        "seed": t.seed,
        "pilots": "to spare" if t.pilots_by_hour is None else sum(t.pilots_by_hour),
        "on_time": round(k.on_time_pct, 4),
        "fallback": round(k.fallback_pct, 4),
        "completion": round(k.completion_pct, 4),
        "cost_per_delivery": _cost(plan, t.robots, k),
    }


def _cost(plan: Plan, robots: int, k: Kpis) -> float | None:
    """Cost per delivery of a fleet tried, with the plan's pilots (the search's days had
    pilots to spare)."""
    cost = plan.cost_per_delivery(k, robots)
    return None if cost is None else round(cost, 2)


def render_plan_page(plan: Plan) -> str:
    """The plan as a self-contained HTML page (no script, no network)."""
    doc = plan_dict(plan)
    search = sorted(
        (t for t in plan.tried if t.pilots_by_hour is None and t.seed == plan.confirmed[0].seed),
        key=lambda t: t.robots,
    )
    targets = plan.targets
    trade_off = line_chart(
        {
            "on time": [(t.robots, t.kpis.on_time_pct) for t in search],
            "courier fallback": [(t.robots, t.kpis.fallback_pct) for t in search],
            "completion": [(t.robots, t.kpis.completion_pct) for t in search],
        },
        x_label="robots",
        y_label="share of orders",
        title="What more robots buy (pilots to spare)",
        y_max=1.0,
        hlines=[
            (targets.on_time, f"on time ≥ {targets.on_time:.0%}"),
            (targets.max_fallback, f"fallback ≤ {targets.max_fallback:.0%}"),
        ],
    )
    costs = line_chart(
        {"per delivery": [(t.robots, _cost(plan, t.robots, t.kpis) or 0.0) for t in search]},
        x_label="robots",
        y_label="cost per delivery",
        title="Cost per delivery against robots",
    )
    shifts = bar_chart(
        [f"{h:02d}" for h in range(24)],
        [float(p) for p in plan.pilots_by_hour],
        x_label="local hour",
        y_label="pilots",
        title="Pilots on duty, hour by hour",
    )
    k = doc["kpis"]
    tiles = [
        ("robots", f"{plan.robots:,}", "recommended"),
        ("pilot-hours", f"{sum(plan.pilots_by_hour):,}", "over the day"),
        ("on time", html.pct(k["on_time"]["mean"]), _range(k["on_time"]["range"])),
        ("courier fallback", html.pct(k["fallback"]["mean"]), _range(k["fallback"]["range"])),
        ("completion", html.pct(k["completion"]["mean"]), _range(k["completion"]["range"])),
        (
            "cost per delivery",
            f"{doc['cost_per_delivery']['mean']:.2f}",
            "robots, pilots, couriers",
        ),
    ]
    missed = (
        html.section(
            "Targets missed",
            "<p>"
            + ", ".join(plan.missed)
            + ": no number of robots changes it; trouble on the way decides it (a fault with "
            "the goods on board fails the delivery, a blocked path brings them back).</p>",
        )
        if plan.missed
        else ""
    )
    rows = [
        [str(t["robots"]), str(t["seed"]), str(t["pilots"]), html.pct(t["on_time"]),
         html.pct(t["fallback"]), html.pct(t["completion"]), str(t["cost_per_delivery"])]
        for t in doc["tried"]
    ]  # fmt: skip
    return html.page(
        f"Fleet plan: {plan.city}",
        [
            html.header(
                f"Fleet plan: {plan.city}",
                f"{plan.orders_per_hour:g} orders an hour on average over {plan.hours:g} h; "
                f"targets: on time ≥ {targets.on_time:.1%}, fallback ≤ "
                f"{targets.max_fallback:.1%}, completion ≥ {targets.completion:.1%}",
            ),
            html.tiles(tiles),
            missed,
            html.section("The trade-off", html.charts(trade_off, costs)),
            html.section("The shift plan", html.charts(shifts)),
            html.section(
                "Every day the search played",
                html.table(
                    ["robots", "seed", "pilots", "on time", "fallback", "completion", "cost"],
                    rows,
                    numeric={0, 1, 2, 3, 4, 5, 6},
                ),
            ),
        ],
        footer="Figures from the fast fleet model (sidewalk.planning.fleet_model).",
    )


def _range(values: list[float]) -> str:
    return f"{values[0]:.1%} to {values[1]:.1%} over the seeds" if values else ""
