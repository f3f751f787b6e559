"""The command line, run as a child process from a directory of its own."""

import json
from pathlib import Path

from tests.cli import run_sidewalk, sidewalk_env


def test_merchants_create_json_prints_one_document_with_the_key_once(
    tmp_path: Path, database_url: str
) -> None:
    env = sidewalk_env(tmp_path / "state", database_url)
    created = run_sidewalk(
        "merchants",
        "create",
        "--name",
        "Sunset Bakery",
        "--partner-id",
        "market-1",
        "--max-attempts",
        "2",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    merchant = json.loads(created.stdout)
    assert merchant["name"] == "Sunset Bakery"
    assert merchant["partner_id"] == "market-1"
    assert merchant["max_attempts"] == 2
    assert merchant["id"].startswith("mer_")
    assert merchant["api_key"].startswith("sk_live_")

    listed = run_sidewalk("merchants", "list", "--json", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    merchants = json.loads(listed.stdout)
    assert [m["id"] for m in merchants] == [merchant["id"]]
    assert "api_key" not in merchants[0]
    assert merchant["api_key"] not in listed.stdout


def test_the_first_command_creates_var_and_a_migrated_database(tmp_path: Path) -> None:
    state = tmp_path / "fresh" / "var"
    env = sidewalk_env(state, "")
    upgraded = run_sidewalk("db", "upgrade", env=env, cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (state / "deliveries.db").is_file()
    assert (state / "operations.db").is_file()
    again = run_sidewalk("merchants", "list", "--json", env=env, cwd=Path("/"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == []


def test_a_bad_merchant_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "")
    refused = run_sidewalk(
        "merchants", "create", "--name", "X", "--currency", "dollars", env=env, cwd=tmp_path
    )
    assert refused.returncode == 2
    assert "ISO 4217" in refused.stderr
    assert refused.stdout == ""


def test_without_a_var_dir_setting_commands_use_the_checkouts_var_from_anywhere(
    tmp_path: Path,
) -> None:
    env = sidewalk_env(tmp_path, "")
    del env["SIDEWALK_VAR_DIR"]
    probe = "from sidewalk.kernel.settings import Settings; print(Settings().var_dir)"
    import subprocess
    import sys

    here = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    root = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd="/", capture_output=True, text=True
    )
    assert here.stdout == root.stdout
    assert Path(here.stdout.strip()).name == "var"
