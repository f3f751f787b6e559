"""The sections of the warehouse report, each drawn from the rows of one query pattern (as
dicts by column name): pure functions from rows to HTML, so that each can be read and tested
without a warehouse."""

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from html import escape
from typing import Any

from sidewalk.charts.page import DASH, charts, count, minutes, pct, section, table
from sidewalk.charts.svg import bar_chart, heatmap, line_chart

Row = dict[str, Any]

TABLE_ROWS = 50  # a longer table shows its first rows and says how many it left out
HEATMAP_ROBOTS, HEATMAP_DAYS = 40, 14  # beyond these a heatmap is too dense to read

WAY_LABELS = {
    "pending": "ordered",
    "assigned": "assigned",
    "enroute_to_pickup": "to pickup",
    "at_pickup": "at pickup",
    "enroute_to_dropoff": "to drop-off",
    "at_dropoff": "at drop-off",
    "delivered": "delivered",
}


def share(part: float, whole: float) -> float | None:
    return part / whole if whole else None


def hours(h: float | None) -> str:
    return DASH if h is None else f"{h:,.1f} h"


def number(x: float | None, digits: int = 2) -> str:
    return DASH if x is None else f"{x:,.{digits}f}"


def day_label(d: date | None) -> str:
    return "all" if d is None else d.isoformat()


def _short(label: str, most: int = 12) -> str:
    """A chart label short enough not to run into its neighbours (tables show it whole)."""
    return label if len(label) <= most else label[: most - 1] + "\u2026"


def note(text: str) -> str:
    return f'<p class="sub">{escape(text)}</p>'


def _limited(head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Iterable[int]) -> str:
    shown = table(head, rows[:TABLE_ROWS], numeric=numeric)
    if len(rows) > TABLE_ROWS:
        shown += note(f"The first {TABLE_ROWS} of {len(rows)} rows.")
    return shown


def _summed(rows: Iterable[Row], key: Callable[[Row], Any], *fields: str) -> dict[Any, list[float]]:
    """`fields` added up per `key`, keys in first-seen order."""
    totals: dict[Any, list[float]] = defaultdict(lambda: [0.0] * len(fields))
    for row in rows:
        acc = totals[key(row)]
        for i, f in enumerate(fields):
            acc[i] += row[f] or 0
    return dict(totals)


def _day_series(days: Sequence[date]) -> tuple[dict[date, float], list[tuple[float, str]]]:
    """Each day's place on an x axis (days since the first) and the axis labels."""
    first = min(days) if days else date.min
    place = {d: float((d - first).days) for d in days}
    return place, [(x, d.isoformat()) for d, x in sorted(place.items())]


# --- what merchants ordered ------------------------------------------------------------------


def deliveries_section(rows: Sequence[Row]) -> str:
    per_day = _summed(rows, lambda r: r["day"], "deliveries")
    days = sorted(per_day)
    chart = bar_chart(
        [d.isoformat()[5:] for d in days],
        [per_day[d][0] for d in days],
        x_label="day (UTC, month-day)",
        y_label="orders",
        title="Orders per day",
    )
    fields = ("deliveries", "delivered", "cancelled", "failed_or_returned", "open")
    per_merchant = _summed(rows, lambda r: r["merchant_id"], *fields)
    named = {r["merchant_id"]: r["merchant_name"] or r["merchant_id"] for r in rows}
    ranked = sorted(per_merchant.items(), key=lambda kv: (-kv[1][0], named[kv[0]], kv[0]))
    body = [[named[m], *(count(int(v)) for v in values)] for m, values in ranked]
    head = ["merchant", "orders", "delivered", "cancelled", "failed or returned", "open"]
    return section(
        "Deliveries per merchant", charts(chart), _limited(head, body, numeric=range(1, 6))
    )


def funnel_section(rows: Sequence[Row]) -> str:
    way = [r for r in rows if r["path"] == "way"]
    chart = bar_chart(
        [WAY_LABELS.get(str(r["stage"]), str(r["stage"])) for r in way],
        [r["deliveries"] for r in way],
        x_label="stage reached",
        y_label="deliveries",
        title="Deliveries reaching each stage",
    )
    body = [
        [r["stage"].replace("_", " "), r["path"], count(r["deliveries"]), pct(r["share_of_orders"])]
        for r in rows
    ]
    return section(
        "Status funnel",
        note(
            "A stage counts the deliveries that reached it or a later stage on the way; "
            "the exits count those that left the way."
        ),
        charts(chart),
        table(["stage", "path", "deliveries", "share of orders"], body, numeric=(2, 3)),
    )


# --- how deliveries were carried out -----------------------------------------------------------


def providers_section(providers: Sequence[Row], attempts: Sequence[Row]) -> str:
    provider_table = table(
        [
            "provider",
            "attempts",
            "succeeded",
            "failed",
            "cancelled",
            "unfinished",
            "deliveries tried",
            "a courier tried next",
        ],
        [
            [
                r["provider"],
                count(r["attempts"]),
                pct(r["succeeded_share"]),
                pct(r["failed_share"]),
                pct(r["cancelled_share"]),
                count(r["unfinished"]),
                count(r["deliveries"]),
                pct(r["then_courier_share"]),
            ]
            for r in providers
        ],
        numeric=range(1, 8),
    )
    chart = bar_chart(
        [str(r["attempts"]) for r in attempts],
        [r["deliveries"] for r in attempts],
        x_label="attempts per delivery",
        y_label="deliveries",
        title="Attempts per delivery",
    )
    attempts_table = table(
        ["attempts", "deliveries", "share", "delivered"],
        [
            [str(r["attempts"]), count(r["deliveries"]), pct(r["share"]), count(r["delivered"])]
            for r in attempts
        ],
        numeric=range(4),
    )
    return section(
        "Providers and fallback",
        note(
            "Shares of the attempts that ended. For robots, the last column is the fallback "
            "rate: of the deliveries a robot tried, the share a courier tried afterwards."
        ),
        provider_table,
        charts(chart),
        attempts_table,
    )


def delivery_times_section(per_day: Sequence[Row], overall: Sequence[Row]) -> str:
    place, names = _day_series([r["period_start"] for r in per_day])
    percentiles = (("p50", "p50_minutes"), ("p90", "p90_minutes"), ("p99", "p99_minutes"))
    chart = line_chart(
        {
            label: [(place[r["period_start"]], r[column]) for r in per_day]
            for label, column in percentiles
        },
        x_label="day of the order (UTC)",
        y_label="minutes, order to hand-over",
        title="Delivery time percentiles per day",
        x_names=names,
    )
    body = [
        [
            day_label(r["period_start"]),
            count(r["delivered"]),
            minutes(r["mean_minutes"]),
            minutes(r["p50_minutes"]),
            minutes(r["p90_minutes"]),
            minutes(r["p99_minutes"]),
        ]
        for r in [*per_day, *overall]
    ]
    head = ["day", "delivered", "mean", "p50", "p90", "p99"]
    return section("Delivery times", charts(chart), _limited(head, body, numeric=range(1, 6)))


def on_time_section(rows: Sequence[Row], grace_minutes: str) -> str:
    chart = bar_chart(
        [r["day"].isoformat()[5:] for r in rows],
        [r["on_time_share"] * 100 for r in rows],
        x_label="day of the order (UTC, month-day)",
        y_label="on time, %",
        y_max=100.0,
        title="Delivered on time per day",
    )
    body = [
        [r["day"].isoformat(), count(r["delivered"]), count(r["on_time"]), pct(r["on_time_share"])]
        for r in rows
    ]
    return section(
        "On time",
        note(
            f"Delivered by the quoted drop-off time plus {grace_minutes} minutes, among the "
            "deliveries handed over."
        ),
        charts(chart),
        _limited(["day", "delivered", "on time", "share"], body, numeric=range(1, 4)),
    )


# --- the fleet and its pilots --------------------------------------------------------------------


def robots_section(rows: Sequence[Row]) -> str:
    per_day = _summed(rows, lambda r: r["day"], "on_task_hours", "in_service_hours")
    days = sorted(per_day)
    fleet = bar_chart(
        [d.isoformat()[5:] for d in days],
        [per_day[d][0] / per_day[d][1] * 100 for d in days],
        x_label="day (UTC, month-day)",
        y_label="time on a task, %",
        y_max=100.0,
        title="Fleet utilisation per day",
    )
    serials = sorted({r["serial"] for r in rows})
    figures = [fleet]
    if len(serials) <= HEATMAP_ROBOTS and len(days) <= HEATMAP_DAYS:
        cell = {(r["serial"], r["day"]): r["utilisation"] for r in rows}
        figures.append(
            heatmap(
                serials,
                [d.isoformat()[5:] for d in days],
                [[cell.get((s, d)) for d in days] for s in serials],
                x_label="day",
                y_label="robot",
                title="Utilisation per robot and day",
            )
        )
    per_robot = _summed(rows, lambda r: r["serial"], "in_service_hours", "on_task_hours")
    body = [
        [serial, hours(in_service), hours(on_task), pct(share(on_task, in_service))]
        for serial, (in_service, on_task) in sorted(per_robot.items())
    ]
    return section(
        "Robot utilisation",
        note(
            "Time on a task over time in service (any state but offline or maintenance), "
            "from the robots' state history."
        ),
        charts(*figures),
        _limited(["robot", "in service", "on a task", "utilisation"], body, numeric=range(1, 4)),
    )


def pilots_section(rows: Sequence[Row]) -> str:
    fields = ("assignments", "busy_hours", "robot_hours")
    per_pilot = _summed(rows, lambda r: r["pilot_id"], *fields)
    named = {r["pilot_id"]: r["pilot_name"] for r in rows}
    peak: dict[str, int] = {}
    for r in rows:
        peak[r["pilot_id"]] = max(peak.get(r["pilot_id"], 0), r["peak_robots"])
    pilots = sorted(per_pilot, key=lambda p: (named[p] or p, p))
    chart = bar_chart(
        # Unnamed pilots by the end of their ids, which is what tells ids apart.
        [_short(named[p]) if named[p] else "\u2026" + p[-6:] for p in pilots],
        [share(per_pilot[p][2], per_pilot[p][1]) or 0.0 for p in pilots],
        x_label="pilot",
        y_label="robots at once",
        title="Robots supervised at once while busy, on average",
    )
    body = [
        [
            named[p] or p,
            count(int(per_pilot[p][0])),
            hours(per_pilot[p][1]),
            hours(per_pilot[p][2]),
            number(share(per_pilot[p][2], per_pilot[p][1])),
            str(peak[p]),
        ]
        for p in pilots
    ]
    head = ["pilot", "assignments", "busy", "robot-hours", "mean robots", "peak robots"]
    return section(
        "Pilot load",
        note("Busy is the time a pilot supervised at least one robot."),
        charts(chart),
        _limited(head, body, numeric=range(1, 6)),
    )


# --- money and history -----------------------------------------------------------------------


def revenue_section(rows: Sequence[Row]) -> str:
    top = [r for r in rows if r["delivered_fee_cents"]][:12]
    chart = bar_chart(
        [_short(r["account_name"]) for r in top],
        [r["delivered_fee_cents"] for r in top],
        x_label="CRM account",
        y_label="delivered fees, cents",
        title="Fees of delivered deliveries per account",
    )
    body = [
        [
            r["account_name"],
            r["merchant_id"] or DASH,
            r["currency"] or DASH,
            count(r["deliveries"]),
            count(r["delivered"]),
            count(r["delivered_fee_cents"]),
            count(r["won_opportunities"]),
            count(r["won_amount_cents"]),
        ]
        for r in rows
    ]
    head = [
        "account",
        "merchant",
        "currency",
        "orders",
        "delivered",
        "delivered fees (cents)",
        "won opportunities",
        "won amount (cents)",
    ]
    return section(
        "Revenue per CRM account", charts(chart), _limited(head, body, numeric=range(3, 8))
    )


def history_section(rows: Sequence[Row]) -> str:
    first = rows[0]["month"] if rows else date.min
    place = {
        r["month"]: float((r["month"].year - first.year) * 12 + r["month"].month - first.month)
        for r in rows
    }
    chart = line_chart(
        {
            "legacy": [(place[r["month"]], r["legacy_deliveries"]) for r in rows],
            "current": [(place[r["month"]], r["current_deliveries"]) for r in rows],
        },
        x_label="month of the order (UTC)",
        y_label="deliveries",
        title="Legacy and current deliveries per month",
        x_names=[(place[r["month"]], r["month"].isoformat()[:7]) for r in rows],
    )
    body = [
        [
            r["month"].isoformat()[:7],
            count(r["legacy_deliveries"]),
            count(r["current_deliveries"]),
            count(r["deliveries"]),
            count(r["delivered"]),
        ]
        for r in rows
    ]
    head = ["month", "legacy", "current", "all", "delivered"]
    return section(
        "Legacy and current deliveries", charts(chart), _limited(head, body, numeric=range(1, 5))
    )
