"""A delivery carried out across real server processes: the production layout (`serve
deliveries` and `serve operations` as separate processes, PostgreSQL, NATS JetStream between
them) and the embedded one (`serve all`: one process, SQLite, the memory bus)."""

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import run_sidewalk, sidewalk_env
from tests.conftest import free_port
from tests.databases import fresh_postgres_database, migrated_postgres_template
from tests.e2e.test_serve import wait_until_healthy
from tests.factories import quote_body
from tests.integration.test_bus import NATS_URL, _delete_stream, nats_or_skip, run

pytestmark = pytest.mark.slow


@contextmanager
def serving(args: list[str], env: dict[str, str], cwd: Path, *urls: str) -> Iterator[None]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sidewalk", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for url in urls:
            wait_until_healthy(url, process)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        assert process.returncode in (0, -signal.SIGTERM), output


def created(*args: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = run_sidewalk(*args, "--json", env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.1)
    return value


def deliver(env: dict[str, str], cwd: Path, api: str, ops: str) -> None:
    """A merchant orders, a robot reports in and drives; the merchant sees it delivered."""
    key = created("merchants", "create", "--name", "Sunset Bakery", env=env, cwd=cwd)["api_key"]
    token = created("robots", "add", "--serial", "SW-1", "--name", "Bolt", env=env, cwd=cwd)[
        "token"
    ]
    merchant = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    robot = httpx.Client(base_url=ops, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    with merchant, robot:
        here = {"lat": 34.0901, "lng": -118.3617, "battery_pct": 90.0}
        assert robot.post("/ops/v1/robots/SW-1/telemetry", json=here).status_code == 200
        quote = merchant.post("/v1/quotes", json=quote_body()).json()
        ordered = merchant.post(
            "/v1/deliveries", json={"quote_id": quote["id"]}, headers={"Idempotency-Key": "o-1"}
        )
        assert ordered.status_code == 201, ordered.text
        delivery, pin = ordered.json()["id"], ordered.json()["unlock_pin"]

        def task() -> dict[str, Any] | None:
            answer = robot.get("/ops/v1/robots/SW-1/task")
            return answer.json() if answer.status_code == 200 else None

        mine = eventually(task, "the robot was given the delivery")
        for trip in mine["trips"]:
            for event in ("started", "arrived", "completed"):
                if (trip["type"], event) == ("to_dropoff", "completed"):
                    opened = robot.post("/ops/v1/robots/SW-1/unlock", json={"pin": pin})
                    assert opened.status_code == 200, opened.text
                moved = robot.post(f"/ops/v1/trips/{trip['id']}/events", json={"event": event})
                assert moved.status_code == 200, moved.text

        def delivered() -> bool:
            return merchant.get(f"/v1/deliveries/{delivery}").json()["status"] == "delivered"

        eventually(delivered, "the merchant saw the delivery delivered")


@pytest.mark.postgres
def test_the_production_layout_on_postgresql_and_nats(tmp_path: Path) -> None:
    nats_or_skip()
    tag = uuid.uuid4().hex[:12]
    with migrated_postgres_template() as template, fresh_postgres_database(template) as url:
        env = sidewalk_env(
            tmp_path,
            url,
            SIDEWALK_BUS_URL=NATS_URL,
            SIDEWALK_BUS_STREAM=f"TEST_{tag}",
            SIDEWALK_BUS_SUBJECT_PREFIX=f"test_{tag}",
            SIDEWALK_DISPATCH_INTERVAL_S="0.2",
        )
        api, ops = free_port(), free_port()
        try:
            with (
                serving(
                    ["serve", "deliveries", "--port", str(api)],
                    env,
                    tmp_path,
                    f"http://127.0.0.1:{api}",
                ),
                serving(
                    ["serve", "operations", "--port", str(ops)],
                    env,
                    tmp_path,
                    f"http://127.0.0.1:{ops}",
                ),
            ):
                deliver(env, tmp_path, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}")
        finally:
            run(_delete_stream(f"TEST_{tag}"))


def test_the_embedded_layout_in_one_process(tmp_path: Path) -> None:
    env = sidewalk_env(tmp_path, "", SIDEWALK_DISPATCH_INTERVAL_S="0.2")
    api, ops = free_port(), free_port()
    urls = (f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}")
    args = ["serve", "all", "--port", str(api), "--ops-port", str(ops)]
    with serving(args, env, tmp_path, *urls):
        deliver(env, tmp_path, *urls)
