"""The warehouse report's sections, from rows as the patterns give them: no warehouse needed.
The whole page, on both engines, is tested with the patterns in
`tests/integration/test_warehouse_patterns.py`."""

import re
from datetime import date

import pytest

from sidewalk.warehouse.report_parts import (
    TABLE_ROWS,
    history_section,
    pilots_section,
    robots_section,
)
from tests.unit.test_report import parse


def robot_day(serial: str, day: date, in_service: float, on_task: float) -> dict[str, object]:
    return {
        "day": day,
        "serial": serial,
        "in_service_hours": in_service,
        "on_task_hours": on_task,
        "utilisation": on_task / in_service,
    }


def test_a_long_table_shows_its_first_rows_and_says_how_many_there_are() -> None:
    rows = [robot_day(f"SW-{i:04d}", date(2026, 6, 1), 10.0, 5.0) for i in range(TABLE_ROWS + 7)]
    html = robots_section(rows)
    parse(html)
    assert html.count("<td>SW-") == TABLE_ROWS
    assert f"The first {TABLE_ROWS} of {TABLE_ROWS + 7} rows." in html
    # Too many robots for a heatmap: the fleet chart alone.
    assert html.count("<svg") == 1


def test_robot_utilisation_adds_hours_before_dividing() -> None:
    rows = [
        robot_day("SW-0001", date(2026, 6, 1), 10.0, 1.0),
        robot_day("SW-0001", date(2026, 6, 2), 2.0, 2.0),
    ]
    html = robots_section(rows)
    # (1 + 2) / (10 + 2) = 25 %, not the mean of 10 % and 100 %.
    assert re.search(
        r"<td>SW-0001</td><td[^>]*>12.0 h</td><td[^>]*>3.0 h</td><td[^>]*>25.0 %", html
    )


def test_unnamed_pilots_are_told_apart_by_the_end_of_their_ids() -> None:
    rows = [
        {
            "day": date(2026, 6, 1),
            "pilot_id": f"opr_000000000000{suffix}",
            "pilot_name": None,
            "assignments": 3,
            "busy_hours": 2.0,
            "robot_hours": 3.0,
            "mean_robots": 1.5,
            "peak_robots": 2,
        }
        for suffix in ("aaaaaa", "bbbbbb")
    ]
    html = pilots_section(rows)
    assert "\u2026aaaaaa</text>" in html
    assert "\u2026bbbbbb</text>" in html
    assert "<td>opr_000000000000aaaaaa</td>" in html


def test_months_without_deliveries_keep_their_place_on_the_axis() -> None:
    rows = [
        {
            "month": month,
            "legacy_deliveries": 1,
            "current_deliveries": 0,
            "deliveries": 1,
            "delivered": 1,
        }
        for month in (date(2026, 1, 1), date(2026, 2, 1), date(2026, 5, 1))
    ]
    html = history_section(rows)
    ticks = {
        label: float(x)
        for x, label in re.findall(r'<text x="([\d.]+)"[^>]*>(2026-\d\d)</text>', html)
    }
    # January to February is one month, February to May three.
    month = ticks["2026-02"] - ticks["2026-01"]
    assert ticks["2026-05"] - ticks["2026-02"] == pytest.approx(3 * month, abs=0.2)
