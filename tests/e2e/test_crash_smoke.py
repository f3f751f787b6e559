"""The crash run in its short form (`bench/crash.py --quick`): on the production layout
(PostgreSQL, NATS, two servers and five workers as processes) each process is killed once with
SIGKILL while merchants order and robots drive; once it has settled, every invariant holds."""

import pytest

from tests.cli import run_bench
from tests.databases import postgres_or_skip
from tests.integration.test_bus import nats_or_skip

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
PROCESSES = {
    "api", "ops", "events-deliveries", "events-operations", "dispatch", "couriers", "webhooks",
}  # fmt: skip


def test_killing_each_process_once_loses_nothing_and_doubles_nothing() -> None:
    postgres_or_skip()
    nats_or_skip()
    done, outcome = run_bench("crash.py", "--quick", timeout=400)
    assert outcome is not None, done.stderr[-4000:]
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
