"""`sidewalk warehouse …` as a user runs it: a sync (with `--json`) that adds the services'
rows once, the imports, the query patterns in each format and the report page; a bad name,
parameter, format or file is exit code 2 with a message (checked in-process)."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sidewalk.cli import app
from tests.cli import run_sidewalk, sidewalk_env

LEGACY = (
    "order_id,merchant_name,pickup_address,pickup_lat,pickup_lng,dropoff_address,dropoff_lat,"
    "dropoff_lng,created_at,picked_up_at,delivered_at,final_status,robot_name\n"
    "L-1,Old Bakery,1 A St,34.09,-118.37,2 B St,34.08,-118.36,2019-05-01T10:00:00Z,"
    "2019-05-01T10:10:00Z,2019-05-01T10:40:00Z,delivered,Robo 1\n"
    "L-2,Old Bakery,1 A St,34.09,-118.37,2 B St,34.08,-118.36,not a time,,,delivered,Robo 1\n"
)


def test_the_warehouse_commands(tmp_path: Path) -> None:
    env = sidewalk_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'deliveries.db'}",
        SIDEWALK_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )

    def sidewalk(*args: str) -> str:
        done = run_sidewalk(*args, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    sidewalk("merchants", "create", "--name", "Sunset Bakery", "--json")
    first = json.loads(sidewalk("warehouse", "sync", "--json"))
    assert first["config.merchants"] == 1
    assert set(json.loads(sidewalk("warehouse", "sync", "--json")).values()) == {0}

    (tmp_path / "legacy.csv").write_text(LEGACY)
    imported = json.loads(sidewalk("warehouse", "import-legacy", "legacy.csv", "--json"))
    assert (imported["added"], imported["rejected"]) == (1, 1)

    listed = json.loads(sidewalk("warehouse", "patterns", "--json"))
    assert len(listed) >= 10
    assert all(p["name"] and p["description"] for p in listed)
    rows = json.loads(
        sidewalk("warehouse", "query", "legacy_and_current_per_month", "--format", "json")
    )
    assert rows
    assert sum(r["legacy_deliveries"] for r in rows) == 1
    table = list(
        csv.reader(io.StringIO(sidewalk("warehouse", "query", "status_funnel", "--format", "csv")))
    )
    assert table[0]

    sidewalk("warehouse", "report", "--out", "report.html")
    page = (tmp_path / "report.html").read_text()
    assert "<svg" in page
    assert not re.search(r"https?://", page)


def test_bad_names_params_and_files_are_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = sidewalk_env(
        tmp_path,
        f"sqlite:///{tmp_path / 'deliveries.db'}",
        SIDEWALK_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'wh.duckdb'}",
    )
    for name, value in env.items():
        if name.startswith("SIDEWALK_"):
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.csv").write_text("just,a,header\n")
    runner = CliRunner()
    for args, message in (
        (("warehouse", "query", "no_such_pattern"), "no pattern named"),
        (("warehouse", "query", "status_funnel", "--param", "bogus=1"), "bogus"),
        (("warehouse", "query", "status_funnel", "--param", "novalue"), "name=value"),
        (("warehouse", "query", "status_funnel", "--format", "xml"), "table, csv or json"),
        (("warehouse", "import-legacy", "missing.csv"), "no file"),
        (("warehouse", "import-legacy", "broken.csv"), "broken.csv"),
        (("warehouse", "import-crm", "missing.csv"), "no file"),
    ):
        done = runner.invoke(app, list(args))
        assert done.exit_code == 2, (args, done.output)
        assert message in " ".join(done.output.split()), (args, done.output)
