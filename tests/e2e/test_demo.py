"""`sidewalk demo`, what `make demo` runs: it serves both APIs, the key and token it prints
work, and an order reaches operations as an event."""

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli import sidewalk_env
from tests.conftest import free_port
from tests.factories import quote_body

pytestmark = pytest.mark.slow


def test_the_demo_prints_a_working_key_and_admin_token(tmp_path: Path) -> None:
    port = free_port()
    while True:  # the ops API takes the next port
        ops_port = port + 1
        try:
            with httpx.Client() as probe:
                probe.get(f"http://127.0.0.1:{ops_port}", timeout=0.2)
            port = free_port()
        except httpx.TransportError:
            break
    env = sidewalk_env(tmp_path, "", COLUMNS="200")
    demo = subprocess.Popen(
        [sys.executable, "-m", "sidewalk", "demo", "--port", str(port), "--duration", "30"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        printed = ""
        deadline = time.monotonic() + 30
        while "Ctrl-C" not in printed:
            assert time.monotonic() < deadline, printed
            printed += demo.stdout.readline()
        key = re.search(r"SIDEWALK_KEY=(sk_live_\S+)", printed)
        token = re.search(r"SIDEWALK_OPS_TOKEN=(opt_\S+)", printed)
        assert key is not None, printed
        assert token is not None, printed
        deadline = time.monotonic() + 30
        while True:
            try:
                quoted = httpx.post(
                    f"http://127.0.0.1:{port}/v1/quotes",
                    json=quote_body(),
                    headers={"Authorization": f"Bearer {key[1]}"},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert quoted.status_code == 201, quoted.text
        ordered = httpx.post(
            f"http://127.0.0.1:{port}/v1/deliveries",
            json={"quote_id": quoted.json()["id"]},
            headers={"Authorization": f"Bearer {key[1]}", "Idempotency-Key": "demo-1"},
        )
        assert ordered.status_code == 201, ordered.text
        deadline = time.monotonic() + 15
        while True:  # the order reaches operations as an event, and becomes a task
            listed = httpx.get(
                f"http://127.0.0.1:{ops_port}/ops/v1/tasks",
                params={"delivery_id": ordered.json()["id"]},
                headers={"Authorization": f"Bearer {token[1]}"},
            ).json()["data"]
            if listed:
                break
            assert time.monotonic() < deadline, "the order never became a task"
            time.sleep(0.1)
        me = httpx.get(
            f"http://127.0.0.1:{ops_port}/ops/v1/operators/me",
            headers={"Authorization": f"Bearer {token[1]}"},
        )
        assert me.status_code == 200, me.text
        assert me.json()["role"] == "admin"
    finally:
        demo.terminate()
        demo.communicate(timeout=30)
