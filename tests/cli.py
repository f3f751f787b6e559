"""Run the real `sidewalk` command in a child process, as a user would."""

import os
import subprocess
import sys
from pathlib import Path


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
