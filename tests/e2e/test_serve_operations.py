"""`sidewalk serve operations` as a real server process: a robot reports in over a socket and
the dispatcher running inside the server gives it a task, which it then carries out."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sidewalk.bootstrap import bootstrap
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.settings import Settings
from sidewalk.operations import tasks
from tests.cli import run_sidewalk, sidewalk_env
from tests.conftest import free_port
from tests.e2e.test_serve import wait_until_healthy

pytestmark = pytest.mark.slow


def test_the_served_ops_api_dispatches_a_robot_that_reports_in(
    tmp_path: Path, database_url: str
) -> None:
    env = sidewalk_env(tmp_path, database_url, SIDEWALK_DISPATCH_INTERVAL_S="0.2")
    made = run_sidewalk(
        "robots", "add", "--serial", "SW-1", "--name", "Bolt", "--json", env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["token"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "sidewalk", "serve", "operations", "--port", str(port)]
    server = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_until_healthy(url, server)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
            assert http.get("/readyz").json() == {"status": "ready"}
            here = {"lat": 34.0901, "lng": -118.3617, "battery_pct": 88.0}
            assert http.post("/ops/v1/robots/SW-1/telemetry", json=here).json()["state"] == "idle"
            assert http.get("/ops/v1/robots/SW-1/task").status_code == 204

            platform = bootstrap(
                Settings(
                    var_dir=tmp_path,
                    operations_database_url=env.get("SIDEWALK_OPERATIONS_DATABASE_URL", ""),
                )
            )
            try:
                tasks.create_delivery_task(
                    platform.operations,
                    delivery_id="dlv_1",
                    attempt_id="att_1",
                    pickup=LatLng(34.0901, -118.3617),
                    dropoff=LatLng(34.0857, -118.3760),
                    unlock_pin="4821",
                )
            finally:
                platform.close()

            deadline = time.monotonic() + 20
            while (answer := http.get("/ops/v1/robots/SW-1/task")).status_code == 204:
                assert time.monotonic() < deadline, "the dispatcher never assigned the task"
                time.sleep(0.1)
            task = answer.json()
            assert task["status"] == "assigned"
            for trip in task["trips"]:
                for event in ("started", "arrived", "completed"):
                    if (trip["type"], event) == ("to_dropoff", "completed"):
                        opened = http.post("/ops/v1/robots/SW-1/unlock", json={"pin": "4821"})
                        assert opened.status_code == 200, opened.text
                    moved = http.post(f"/ops/v1/trips/{trip['id']}/events", json={"event": event})
                    assert moved.status_code == 200, moved.text
            assert moved.json()["status"] == "completed"
            assert http.get("/ops/v1/robots/SW-1").status_code == 403  # robots read no registry
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Finished server process" in output
    assert token not in output
