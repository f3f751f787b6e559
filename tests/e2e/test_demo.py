"""`sidewalk demo`, what `make demo` runs: a simulated city lives in the platform, the key
and token it prints work, an order placed beside the simulated ones reaches operations, and
deliveries complete while it runs; it stops by itself after `--duration`."""

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from sidewalk.warehouse.target import open_warehouse
from tests.cli import demo_welcome, sidewalk_env
from tests.conftest import free_port_pair

pytestmark = pytest.mark.slow


def test_the_demo_runs_a_city_and_serves_a_person_beside_it(tmp_path: Path) -> None:
    port = free_port_pair()
    env = sidewalk_env(tmp_path, "", COLUMNS="200")
    demo = subprocess.Popen(
        [sys.executable, "-m", "sidewalk", "demo", "--port", str(port), "--duration", "20"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert demo.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(demo.stdout or []), daemon=True)
    try:
        printed = ""
        deadline = time.monotonic() + 90
        while "Ctrl-C" not in printed:
            assert time.monotonic() < deadline, printed
            assert demo.poll() is None, printed
            printed += demo.stdout.readline()
        reader.start()
        welcome = demo_welcome(printed)
        merchant = {"Authorization": f"Bearer {welcome.merchant_key}"}
        base = f"http://127.0.0.1:{port}"
        quoted = _when_up(
            lambda: httpx.post(
                f"{base}/v1/quotes",
                content=welcome.quote_body,
                headers={**merchant, "Content-Type": "application/json"},
            )
        )
        assert quoted.status_code == 201, quoted.text
        assert quoted.json()["provider"] == "robot"
        ordered = httpx.post(
            f"{base}/v1/deliveries",
            json={"quote_id": quoted.json()["id"]},
            headers={**merchant, "Idempotency-Key": "demo-1"},
        )
        assert ordered.status_code == 201, ordered.text
        mine = ordered.json()["id"]
        ops = {"Authorization": f"Bearer {welcome.admin_token}"}
        deadline = time.monotonic() + 10
        while True:  # the order reaches operations as a task, beside the city's own
            tasks = httpx.get(
                f"http://127.0.0.1:{port + 1}/ops/v1/tasks",
                params={"delivery_id": mine},
                headers=ops,
            ).json()["data"]
            if tasks:
                break
            assert time.monotonic() < deadline, "the order never became a task"
            time.sleep(0.2)
        me = httpx.get(f"http://127.0.0.1:{port + 1}/ops/v1/operators/me", headers=ops)
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "admin"
        assert demo.wait(timeout=60) == 0  # --duration 20: it stops by itself
        reader.join(10)
    except AssertionError as failed:  # what the demo logged (a traceback, say) tells why
        demo.terminate()
        if reader.ident is not None:
            reader.join(30)
        said = "".join(lines)[-8000:]
        raise AssertionError(f"{failed}\n--- the demo's output:\n{said}") from failed
    finally:
        if demo.poll() is None:
            demo.terminate()
            demo.communicate(timeout=30)
    delivered = [int(m[1]) for line in lines if (m := re.search(r"(\d+) delivered", line))]
    assert len(delivered) >= 2, lines
    assert delivered[-1] > delivered[0], lines  # deliveries completed while it ran
    assert "Traceback" not in "".join(lines), lines
    assert lines[-1].strip() == "demo stopped", lines  # and no agent step failed
    # The warehouse was synced on its schedule (at the start, after the warm-up).
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'demo' / 'warehouse.duckdb'}")
    _, ((mirrored,),) = warehouse.query("SELECT count(*) FROM deliveries_v3.deliveries")
    warehouse.close()
    assert mirrored > 0


def _when_up(call: Callable[[], httpx.Response]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return call()
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
