"""The warehouse's main query patterns as one offline HTML page: inline CSS and SVG, no script
and no external reference, so that it can be mailed or archived and still open anywhere. Every
figure comes from a named pattern, so that one can be run again to see the rows behind it."""

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from sidewalk.charts.page import count, header, minutes, page, pct, tiles
from sidewalk.warehouse.patterns import ensure_tables, pattern
from sidewalk.warehouse.report_parts import (
    Row,
    deliveries_section,
    delivery_times_section,
    funnel_section,
    history_section,
    on_time_section,
    pilots_section,
    providers_section,
    revenue_section,
    robots_section,
    share,
)
from sidewalk.warehouse.target import Warehouse

GRACE_MINUTES = "5"  # the on-time grace the report uses, as the simulator does

TITLE = "Sidewalk delivery warehouse"


def _rows(warehouse: Warehouse, name: str, **params: str) -> list[Row]:
    columns, rows = pattern(name).run(warehouse, params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def render_report(warehouse: Warehouse, *, generated_at: datetime) -> str:
    """The page for everything the warehouse holds; an empty warehouse gives a page of empty
    charts and tables."""
    ensure_tables(warehouse)
    used: list[str] = []

    def ask(name: str, **params: str) -> list[Row]:
        if name not in used:
            used.append(name)
        return _rows(warehouse, name, **params)

    merchants = ask("deliveries_per_merchant_per_day")
    funnel = ask("status_funnel")
    providers = ask("provider_success_and_fallback")
    attempts = ask("attempts_per_delivery")
    times = ask("delivery_time_percentiles", period="day")
    overall = ask("delivery_time_percentiles", period="all")
    on_time = ask("on_time_rate", grace_minutes=GRACE_MINUTES)
    robots = ask("robot_utilisation")
    pilots = ask("pilot_load")
    revenue = ask("revenue_per_account")
    history = ask("legacy_and_current_per_month")
    at = generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = f"Generated {at} from the {warehouse.dialect} warehouse. Days are UTC days."
    return page(
        TITLE,
        [
            header(TITLE, subtitle),
            tiles(_summary(merchants, providers, overall, on_time, robots, pilots)),
            deliveries_section(merchants),
            funnel_section(funnel),
            providers_section(providers, attempts),
            delivery_times_section(times, overall),
            on_time_section(on_time, GRACE_MINUTES),
            robots_section(robots),
            pilots_section(pilots),
            revenue_section(revenue),
            history_section(history),
        ],
        _footer(used),
    )


def _summary(
    merchants: Sequence[Row],
    providers: Sequence[Row],
    overall: Sequence[Row],
    on_time: Sequence[Row],
    robots: Sequence[Row],
    pilots: Sequence[Row],
) -> list[tuple[str, str, str]]:
    orders = sum(r["deliveries"] for r in merchants)
    delivered = sum(r["delivered"] for r in merchants)
    punctual = sum(r["on_time"] for r in on_time)
    judged = sum(r["delivered"] for r in on_time)
    times = overall[0] if overall else {}
    robot = next((r for r in providers if r["provider"] == "robot"), {})
    on_task = sum(r["on_task_hours"] for r in robots)
    in_service = sum(r["in_service_hours"] for r in robots)
    return [
        ("Orders", count(orders), f"{len({r['merchant_id'] for r in merchants})} merchants"),
        ("Delivered", pct(share(delivered, orders)), f"{count(delivered)} orders"),
        ("On time", pct(share(punctual, judged)), f"within {GRACE_MINUTES} min of the quote"),
        ("Delivery p50", minutes(times.get("p50_minutes")), "order to hand-over"),
        ("Delivery p90", minutes(times.get("p90_minutes")), "order to hand-over"),
        ("Courier fallback", pct(robot.get("then_courier_share")), "of deliveries robots tried"),
        ("Robot utilisation", pct(share(on_task, in_service)), "of time in service"),
        ("Pilot peak", str(max((r["peak_robots"] for r in pilots), default=0)), "robots at once"),
    ]


def _footer(used: Sequence[str]) -> str:
    text = (
        f"Drawn from the query patterns {', '.join(used)}; each can be run on its own for "
        "the rows behind a figure."
    )
    return f"<footer>\n<p>{escape(text)}</p>\n</footer>"
