"""The offline reports: well-formed HTML with inline charts, figures formatted, every text
escaped, nothing fetched from anywhere, and empty results drawn rather than crashing."""

import re
from dataclasses import asdict
from html.parser import HTMLParser

import pytest

from sidewalk.charts.svg import bar_chart, heatmap, histogram, line_chart
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.report import render_plan, render_simulation
from sidewalk.simulator.results import HourRow, Kpis, PlanCell, PlanResult, SimResult

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source"}


class TagChecker(HTMLParser):
    """Walks a page and records tags that close out of order or never close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.problems == []
    assert checker.stack == []
    return checker


def assert_offline(page: str) -> None:
    lowered = page.lower()
    for banned in ("<script", "<link", "<img", "<iframe", "@import", "url(", "src="):
        assert banned not in lowered, banned
    # Not even the SVG namespace: inline in HTML, an `<svg>` needs none.
    assert re.findall(r"https?://", page) == []


def kpis(**changes: object) -> Kpis:
    base: dict[str, object] = {
        "orders": 1234,
        "refused": 7,
        "delivered": 1150,
        "on_time": 1003,
        "due": 1210,
        "cancelled": 24,
        "failed": 40,
        "returned": 20,
        "in_flight": 0,
        "by_robot": 1000,
        "by_courier": 150,
        "fallbacks": 62,
        "p50_delivery_min": 23.44,
        "p90_delivery_min": 41.06,
        "robot_utilisation": 0.6123,
        "pilot_load": 0.7755,
        "pilot_peak": 5,
    }
    base.update(changes)
    return Kpis(**base)  # type: ignore[arg-type]


def hourly(hours: int = 24) -> list[HourRow]:
    return [
        HourRow(
            hour=h,
            orders=20 + h % 7 * 9,
            delivered=18 + h % 7 * 8,
            on_time=15 + h % 7 * 7,
            robot_utilisation=0.3 + h % 5 * 0.1,
            pilot_load=0.5 + h % 3 * 0.2,  # reaches 90 %, and one hour over capacity below
        )
        for h in range(hours)
    ]


def sim_result(**changes: object) -> SimResult:
    base: dict[str, object] = {
        "city": "West Hollywood",
        "params": SimParams(robots=30, pilots=6),
        "kpis": kpis(),
        "hourly": hourly(),
        "delivery_minutes": [12.0 + (i * 7.3) % 40 for i in range(200)],
        "wall_s": 12.34,
        "database": "sqlite",
    }
    base.update(changes)
    return SimResult(**base)  # type: ignore[arg-type]


def plan_result(*, best: bool = True, city: str = "West Hollywood") -> PlanResult:
    cells = [
        PlanCell(
            robots=r,
            pilots=p,
            on_time=[min(1.0, 0.4 + r / 100 + p / 40 + s / 100) for s in range(3)],
            delivered=[min(1.0, 0.6 + r / 100 + p / 50)] * 3,
        )
        for r in (10, 20, 30, 40)
        for p in (2, 4, 6)
    ]
    chosen = next(c for c in cells if (c.robots, c.pilots) == (30, 6))
    return PlanResult(
        city=city,
        orders_per_hour=60.0,
        hours=8.0,
        target_on_time=0.85,
        seeds=3,
        cells=cells,
        best=chosen if best else None,
    )


def test_simulation_page_is_well_formed_and_offline() -> None:
    page = render_simulation(sim_result())
    checker = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert "<style>" in page
    assert checker.tags.count("svg") == 3
    assert page.count('role="img"') == 3
    assert "West Hollywood" in page
    assert_offline(page)


def test_simulation_page_formats_the_kpis() -> None:
    page = render_simulation(sim_result())
    for shown in (
        "1,234",  # orders
        "93.2 %",  # delivered 1150 / 1234
        "82.9 %",  # on time 1003 / (1234 - 24)
        "5.0 %",  # fallbacks 62 / 1234
        "23.4 min",
        "41.1 min",
        "61.2 %",  # robot utilisation
        "77.5 %",  # pilot load
        "sqlite",
        "\u00d7 real time",  # the speed-up
    ):
        assert shown in page, shown
    speedup = f"{24 * 3600 / 12.34:,.0f}"
    assert speedup in page


def test_simulation_page_lists_the_parameters() -> None:
    result = sim_result()
    page = render_simulation(result)
    for name in asdict(result.params):
        assert f"<td>{name}</td>" in page
    assert "<td>orders_per_hour</td><td>60</td>" in page
    assert "<td>cancel_after_s</td><td>60, 1200</td>" in page


def test_text_is_escaped() -> None:
    evil = '<script>alert("x")</script> & Co'
    page = render_simulation(sim_result(city=evil, errors=["<b>boom</b> & more"]))
    assert "<script" not in page
    assert "&lt;script&gt;" in page
    assert "&lt;b&gt;boom&lt;/b&gt; &amp; more" in page
    parse(page)
    plan_page = render_plan(plan_result(city=evil))
    assert "<script" not in plan_page
    assert "&lt;script&gt;" in plan_page
    parse(plan_page)


def test_errors_appear_in_the_footer() -> None:
    page = render_simulation(sim_result(errors=["worker crashed", "late event"]))
    footer = page[page.index("<footer>") :]
    assert "worker crashed" in footer
    assert "late event" in footer
    assert "No errors." in render_simulation(sim_result())


def test_a_simulation_with_no_deliveries_renders() -> None:
    empty = sim_result(
        kpis=kpis(delivered=0, on_time=0, p50_delivery_min=None, p90_delivery_min=None),
        delivery_minutes=[],
        hourly=[],
        wall_s=0.0,
    )
    page = render_simulation(empty)
    parse(page)
    assert "no data" in page
    assert "\u2013" in page  # p50 and p90 shown as a dash
    assert_offline(page)


def test_plan_page_shows_heatmap_chart_table_and_best() -> None:
    plan = plan_result()
    page = render_plan(plan)
    parse(page)
    assert_offline(page)
    assert page.count("<svg") == 2
    assert "Recommended" in page
    assert "30 robots and 6 pilots" in page
    assert page.count('<tr class="best">') == 1
    assert 'stroke-width="3"' in page  # the best mix outlined in the heatmap
    assert "target 85.0 %" in page
    assert 'stroke-dasharray="5 4"' in page  # the target line
    # Every cell has a row in the table: 12 mixes and the header.
    assert page.count("<tr") == 13
    best = plan.best
    assert best is not None
    assert f"{best.low_on_time * 100:.1f} %" in page


def test_plan_without_a_best_mix_says_so() -> None:
    page = render_plan(plan_result(best=False))
    parse(page)
    assert "No mix of robots and pilots" in page
    assert 'class="best"' not in page


def test_an_empty_plan_renders() -> None:
    plan = PlanResult(
        city="Nowhere",
        orders_per_hour=0.0,
        hours=1.0,
        target_on_time=0.9,
        seeds=0,
        cells=[PlanCell(robots=5, pilots=1, on_time=[], delivered=[])],
        best=None,
    )
    page = render_plan(plan)
    parse(page)
    empty_page = render_plan(PlanResult("Nowhere", 0.0, 1.0, 0.9, seeds=0, cells=[], best=None))
    parse(empty_page)
    assert empty_page.count("no data") == 2


@pytest.mark.parametrize(
    "chart",
    [
        line_chart({}, x_label="x", y_label="y", title="t"),
        line_chart({"a": []}, x_label="x", y_label="y", title="t"),
        line_chart({"a": [(float("nan"), 1.0)]}, x_label="x", y_label="y", title="t"),
        bar_chart([], [], x_label="x", y_label="y", title="t"),
        histogram([], x_label="x", title="t"),
        heatmap([], [], [], x_label="x", y_label="y", title="t"),
    ],
)
def test_charts_without_data_say_so(chart: str) -> None:
    assert "no data" in chart
    assert 'role="img"' in chart
    assert "<title>t</title>" in chart
    parse(chart)


@pytest.mark.parametrize(
    "chart",
    [
        line_chart({"a": [(3.0, 0.0)]}, x_label="x", y_label="y", title="one point"),
        line_chart({"a": [(1.0, 5.0), (2.0, 5.0)]}, x_label="x", y_label="y", title="flat"),
        bar_chart(["only"], [0.0], x_label="x", y_label="y", title="one bar"),
        histogram([7.0], x_label="x", title="one value"),
        histogram([2.0, 2.0, 2.0], bins=0, x_label="x", title="same values"),
        heatmap([1], [5], [[None]], x_label="x", y_label="y", title="one empty cell"),
        heatmap([1, 2], [5], [[0.5]], x_label="x", y_label="y", title="ragged"),
    ],
)
def test_charts_draw_single_points(chart: str) -> None:
    assert "no data" not in chart
    assert "nan" not in chart.lower()
    parse(chart)


def test_heatmap_writes_the_numbers_and_colours_from_red_to_green() -> None:
    svg = heatmap(
        [2, 4], [10, 20], [[0.0, 0.5], [0.9, 1.0]], x_label="robots", y_label="pilots", title="h"
    )
    for shown in ("0%", "50%", "90%", "100%"):
        assert f">{shown}</text>" in svg
    assert 'fill="#d73027"' in svg  # red at 0
    assert 'fill="#fee08b"' in svg  # yellow half way
    assert 'fill="#1a9850"' in svg  # green at 1
    assert 'viewBox="0 0 ' in svg
    assert 'width="100%"' in svg


def test_line_chart_axis_rises_above_y_max_when_the_data_do() -> None:
    svg = line_chart(
        {"load": [(0.0, 50.0), (1.0, 130.0)]}, x_label="h", y_label="%", y_max=100.0, title="t"
    )
    assert ">140</text>" in svg or ">150</text>" in svg
    assert "<title>load: 1, 130</title>" in svg


def test_line_chart_names_its_x_positions_and_thins_them_to_fit() -> None:
    days = [(float(i), f"2026-06-{i + 1:02d}") for i in range(30)]
    svg = line_chart(
        {"orders": [(x, x) for x, _ in days]},
        x_label="day",
        y_label="orders",
        title="t",
        x_names=days,
    )
    shown = re.findall(r">(2026-06-\d\d)</text>", svg)
    assert shown[0] == "2026-06-01"
    assert 1 < len(shown) < len(days)
    assert re.findall(r'text-anchor="middle">[\d,.]+</text>', svg) == []  # no numbered x ticks


def test_bar_chart_needs_one_value_per_label() -> None:
    with pytest.raises(ValueError, match="one value per label"):
        bar_chart(["a", "b"], [1.0], x_label="x", y_label="y", title="t")
