"""The operations commands, run as a user would: robots, operators and hubs, with `--json`
printing exactly one document, tokens shown once."""

import json
from pathlib import Path
from typing import Any

from tests.cli import run_sidewalk, sidewalk_env


def _json(*args: str, env: dict[str, str], cwd: Path) -> Any:
    done = run_sidewalk(*args, "--json", env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_hubs_robots_and_operators_from_the_command_line(tmp_path: Path, database_url: str) -> None:
    env = sidewalk_env(tmp_path / "state", database_url)
    hub = _json(
        "hubs",
        "add",
        "--name",
        "Central",
        "--lat",
        "34.088",
        "--lng",
        "-118.37",
        env=env,
        cwd=tmp_path,
    )
    assert hub["id"].startswith("hub_")
    assert hub["area_id"] == "weho"

    robot = _json(
        "robots",
        "add",
        "--serial",
        "SW-7",
        "--name",
        "Bolt",
        "--hub",
        hub["id"],
        env=env,
        cwd=tmp_path,
    )
    assert robot["serial"] == "SW-7"
    assert robot["state"] == "offline"
    assert robot["token"].startswith("rbt_")

    listed = run_sidewalk("robots", "list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    robots = json.loads(listed.stdout)
    assert [r["serial"] for r in robots] == ["SW-7"]
    assert robot["token"] not in listed.stdout

    admin = _json(
        "operators",
        "create",
        "--email",
        "Ana@Example.com",
        "--role",
        "admin",
        env=env,
        cwd=tmp_path,
    )
    assert admin["email"] == "ana@example.com"
    assert admin["role"] == "admin"
    assert admin["token"].startswith("opt_")
    assert [o["id"] for o in _json("operators", "list", env=env, cwd=tmp_path)] == [admin["id"]]

    table = run_sidewalk("robots", "list", env=env, cwd=tmp_path)
    assert "SW-7" in table.stdout


def test_bad_input_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    bad_role = run_sidewalk(
        "operators", "create", "--email", "a@b.co", "--role", "boss", env=env, cwd=tmp_path
    )
    assert bad_role.returncode == 2
    assert "boss" in bad_role.stderr
    bad_serial = run_sidewalk(
        "robots", "add", "--serial", "no spaces", "--name", "X", env=env, cwd=tmp_path
    )
    assert bad_serial.returncode == 2
    assert "serial" in bad_serial.stderr
    assert bad_serial.stdout == ""
    missing_hub = run_sidewalk(
        "robots",
        "add",
        "--serial",
        "SW-1",
        "--name",
        "X",
        "--hub",
        "hub_nope",
        env=env,
        cwd=tmp_path,
    )
    assert missing_hub.returncode == 2
    assert "hub_not_found" in missing_hub.stderr
    twice = [
        run_sidewalk(
            "operators", "create", "--email", "a@b.co", "--role", "pilot", env=env, cwd=tmp_path
        )
        for _ in range(2)
    ]
    assert twice[0].returncode == 0
    assert twice[1].returncode == 2
    assert "operator_exists" in twice[1].stderr


def test_a_dispatch_round_from_the_command_line(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    totals = _json("dispatch", "run", "--rounds", "2", "--interval", "0", env=env, cwd=tmp_path)
    assert totals["assigned"] == 0
    assert set(totals) >= {"assigned", "no_robot_available", "sent_to_charge", "went_offline"}
