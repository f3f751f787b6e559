"""`sidewalk serve deliveries` as a real server process, talked to over a socket."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli import run_sidewalk, sidewalk_env
from tests.conftest import free_port
from tests.factories import quote_body

pytestmark = pytest.mark.slow


def wait_until_healthy(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited early: {process.communicate()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not become healthy")


def test_the_served_api_quotes_orders_and_stops_cleanly(tmp_path: Path, database_url: str) -> None:
    env = sidewalk_env(tmp_path, database_url)
    created = run_sidewalk(
        "merchants", "create", "--name", "Sunset Bakery", "--json", env=env, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sidewalk",
            "serve",
            "deliveries",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_healthy(url, server)
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        ) as http:
            assert http.get("/readyz").json() == {"status": "ready"}
            quote = http.post("/v1/quotes", json=quote_body())
            assert quote.status_code == 201, quote.text
            ordered = http.post(
                "/v1/deliveries",
                json={"quote_id": quote.json()["id"]},
                headers={"Idempotency-Key": "o-1"},
            )
            assert ordered.status_code == 201, ordered.text
            assert ordered.json()["tracking_url"].startswith(f"{url}/track/")
            fetched = http.get(f"/v1/deliveries/{ordered.json()['id']}")
            assert fetched.json()["status"] == "pending"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Finished server process" in output
    assert key not in output
