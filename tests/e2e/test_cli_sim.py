"""`sidewalk simulate`, `sidewalk plan` and `sidewalk sweep` from the command line: KPIs as
one JSON document, report pages written, a bad city refused with its reason."""

import json
from pathlib import Path

import pytest

from tests.cli import run_sidewalk, sidewalk_env

pytestmark = pytest.mark.slow

SMALL = ["--hours", "0.5", "--start-hour", "12", "--orders-per-hour", "40"]


def test_simulate_prints_kpis_that_add_up_and_writes_a_report(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    report = tmp_path / "day.html"
    done = run_sidewalk(
        "simulate", *SMALL, "--robots", "6", "--pilots", "2", "--seed", "4",
        "--out", str(report), "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    k = printed["kpis"]
    assert printed["errors"] == []
    assert k["orders"] > 5
    assert k["orders"] == (
        k["delivered"] + k["cancelled"] + k["failed"] + k["returned"] + k["in_flight"]
    )
    page = report.read_text()
    assert "<svg" in page
    assert "West Hollywood" in page
    assert "<script" not in page


def test_plan_recommends_the_cheapest_fleet_that_meets_the_targets(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    page = tmp_path / "plan.html"
    done = run_sidewalk(
        "plan", "--orders-per-day", "240", "--seeds", "2", "--min-completion", "0.9",
        "--workers", "2", "--out", str(page), "--json", env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["orders_per_hour"] == 10
    assert len(plan["pilots_by_hour"]) == 24
    assert len(plan["seeds"]) == 2
    # every seed meets every target with the fleet recommended...
    assert plan["missed"] == []
    for day in plan["seeds"]:
        assert day["on_time_pct"] >= 0.95
        assert day["fallback_pct"] <= 0.03
        assert day["completion_pct"] >= 0.9
    # ...no smaller fleet the search played met them on its seed, and the plan keeps a
    # margin above the search's answer for the other seeds
    assert plan["robots"] >= plan["searched"]
    for tried in plan["tried"]:
        if tried["robots"] < plan["searched"] and tried["pilots"] == "to spare":
            assert tried["on_time"] < 0.95 or tried["fallback"] > 0.03
    assert "<svg" in page.read_text()
    assert "<script" not in page.read_text()


def test_sweep_recommends_the_smallest_mix_that_meets_the_target(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    chart = tmp_path / "plan.html"
    done = run_sidewalk(
        "sweep", *SMALL, "--robots", "1:7:3", "--pilots", "2:2", "--seeds", "2",
        "--target-on-time", "0.5", "--workers", "2", "--out", str(chart), "--json",
        env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    cells = plan["cells"]
    assert {c["robots"] for c in cells} <= {1, 4, 7}
    assert all(len(c["on_time"]) == 2 for c in cells)
    meeting = [c for c in cells if c["mean_on_time"] >= 0.5]
    if meeting:
        assert plan["best"]["robots"] == min(c["robots"] for c in meeting)
    else:
        assert plan["best"] is None
    tried = sorted(c["robots"] for c in cells)
    met = [c["mean_on_time"] >= 0.5 for c in sorted(cells, key=lambda c: c["robots"])]
    if met[:2] == [True, True]:
        assert tried == [1, 4]  # two sizes in a row met it: more robots only help
    else:
        assert tried == [1, 4, 7]
    assert "<svg" in chart.read_text()


def test_a_broken_city_is_refused_with_its_reason(tmp_path: Path) -> None:
    city = tmp_path / "city"
    city.mkdir()
    (city / "city.toml").write_text('name = "Nowhere"\nservice_areas = "missing.geojson"\n')
    done = run_sidewalk(
        "simulate",
        "--city",
        str(city),
        "--hours",
        "1",
        env=sidewalk_env(tmp_path, ""),
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "missing.geojson" in done.stderr


def test_the_same_seed_gives_the_same_kpis_in_another_process(tmp_path: Path) -> None:
    """Nothing hangs on the process: not its hash seed (the order of sets), not its clock."""
    runs = []
    for hash_seed in ("1", "2"):
        env = sidewalk_env(tmp_path, "", PYTHONHASHSEED=hash_seed)
        done = run_sidewalk(
            "simulate", *SMALL, "--robots", "5", "--pilots", "2", "--seed", "9", "--json",
            env=env, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout)["kpis"])
    assert runs[0]["orders"] > 5
    assert runs[0] == runs[1]
