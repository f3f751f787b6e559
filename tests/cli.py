"""Run the real `sidewalk` command in a child process, as a user would."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def sidewalk_env(var_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDEWALK_")}
    env.update(
        SIDEWALK_VAR_DIR=str(var_dir), SIDEWALK_DELIVERIES_DATABASE_URL=database_url, **extra
    )
    if database_url.startswith("postgresql"):  # both services in the test's database
        env.setdefault("SIDEWALK_OPERATIONS_DATABASE_URL", database_url)
    return env


def run_sidewalk(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidewalk", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class DemoWelcome:
    """What `sidewalk demo` prints for a person: a merchant key, an admin token and the body
    of its curl quote example."""

    merchant_key: str
    admin_token: str
    quote_body: str


def demo_welcome(printed: str) -> DemoWelcome:
    key = re.search(r"SIDEWALK_KEY=(sk_live_\S+)", printed)
    token = re.search(r"SIDEWALK_OPS_TOKEN=(opt_\S+)", printed)
    quote = re.search(r"-d '(\{\"external_reference_id.*?\})'", printed)
    assert key, printed
    assert token, printed
    assert quote, printed
    return DemoWelcome(key[1], token[1], quote[1])


ROOT = Path(__file__).resolve().parents[1]


def run_bench(
    script: str, *args: str, timeout: float
) -> tuple[subprocess.CompletedProcess[str], Any]:
    """A benchmark script's short form, as `make bench` runs it; its last line of output read
    as JSON (None when it printed nothing)."""
    done = subprocess.run(
        [sys.executable, f"bench/{script}", *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    return done, json.loads(lines[-1]) if lines else None
