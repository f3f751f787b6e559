"""The crash run in its short form (`bench/crash.py --quick`): on the production layout
(PostgreSQL, NATS, two servers and five workers as processes) each process is killed once with
SIGKILL while merchants order and robots drive; once it has settled, every invariant holds."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.databases import postgres_or_skip
from tests.integration.test_bus import nats_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
PROCESSES = {
    "api", "ops", "events-deliveries", "events-operations", "dispatch", "couriers", "webhooks",
}  # fmt: skip


def test_killing_each_process_once_loses_nothing_and_doubles_nothing() -> None:
    postgres_or_skip()
    nats_or_skip()
    done = subprocess.run(
        [sys.executable, "bench/crash.py", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.stdout, done.stderr[-4000:]
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["violations"] == [], done.stderr[-4000:]
    assert done.returncode == 0, done.stderr[-4000:]
    assert {k["process"] for k in outcome["kills"]} == PROCESSES
    assert outcome["settled_in_s"] is not None
    assert outcome["answered"] == outcome["orders"] > 0
    assert outcome["tally"]["retries"] > 0  # the kills were felt by the callers
    counts = outcome["counts"]
    assert counts["deliveries"] == outcome["orders"]
    assert counts["by_status"].get("delivered", 0) > 0
    assert counts["webhooks_received"] >= counts["webhooks"] > 0
