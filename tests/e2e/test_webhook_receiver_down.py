"""A merchant's webhook receiver down for a while: `sidewalk serve deliveries` (two worker
processes, each sending webhooks) keeps trying, and once the receiver is back every webhook
arrives, once, with a valid signature and its original `webhook-id`. Real time, a real
receiver on a local port, a short retry schedule."""

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import run_sidewalk, sidewalk_env
from tests.conftest import free_port
from tests.e2e.test_serve import wait_until_healthy
from tests.factories import quote_body
from tests.integration.helpers import EAST_WEHO, WEST_WEHO
from tests.webhook_receiver import running_receiver, verify_now

pytestmark = pytest.mark.slow

EVENTS = ["delivery.created", "delivery.cancelled"]
COURIER_RIDE = {"pickup": WEST_WEHO, "dropoff": EAST_WEHO}
SERVE = [sys.executable, "-m", "sidewalk", "serve", "deliveries", "--host", "127.0.0.1"]


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def test_every_webhook_arrives_signed_with_its_original_id_once_the_receiver_is_back(
    tmp_path: Path, database_url: str
) -> None:
    env = sidewalk_env(
        tmp_path,
        database_url,
        SIDEWALK_WEBHOOK_RETRY_SCHEDULE_S="[0.2, 0.5]",
        SIDEWALK_WEBHOOK_POLL_INTERVAL_S="0.1",
        SIDEWALK_WEBHOOKS_ALLOW_PRIVATE_TARGETS="true",
    )
    created = run_sidewalk(
        "merchants", "create", "--name", "Sunset Bakery", "--json", env=env, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)["api_key"]
    port, hook_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), "--workers", "2"],
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
            endpoint = http.post(
                "/v1/webhook-endpoints",
                json={"url": f"http://127.0.0.1:{hook_port}/hooks", "events": EVENTS},
            ).json()
            log_path = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

            def log() -> list[dict[str, Any]]:
                data: list[dict[str, Any]] = http.get(log_path, params={"limit": 100}).json()[
                    "data"
                ]
                return data

            deliveries = []
            for n in range(3):
                # A courier's delivery (too far for a robot), which a cancel ends at once:
                # a robot's is asked of the operations service, which is not served here.
                quote = http.post("/v1/quotes", json=quote_body(**COURIER_RIDE)).json()
                assert quote["provider"] == "courier", quote
                ordered = http.post(
                    "/v1/deliveries",
                    json={"quote_id": quote["id"]},
                    headers={"Idempotency-Key": f"o-{n}"},
                ).json()
                assert http.post(f"/v1/deliveries/{ordered['id']}/cancel").status_code == 200
                deliveries.append(ordered["id"])

            # Nothing listens: every message is refused, and refused again.
            wait_for(
                "every message was refused twice",
                lambda: len(log()) == 6 and all(m["attempt_count"] >= 2 for m in log()),
            )
            with running_receiver(hook_port) as receiver:
                receiver.status = 503  # up, but not ready
                wait_for(
                    "every message got a 503", lambda: len({r.id for r in receiver.received}) == 6
                )
                receiver.status = 200
                wait_for(
                    "every message was accepted",
                    lambda: all(m["status"] == "succeeded" for m in log()),
                )
                messages = log()
                accepted = receiver.accepted()
                refused = [r for r in receiver.received if r.answered == 503]
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)

    ids = {m["id"] for m in messages}
    assert sorted(r.id for r in accepted) == sorted(ids)  # each once, under its own id
    assert {r.id for r in refused} == ids
    for received in accepted:
        payload = verify_now(endpoint["secret"], received)
        assert payload["type"] in EVENTS
        assert payload["data"]["id"] in deliveries
        assert payload["type"].removeprefix("delivery.") in {"created", payload["data"]["status"]}
        first = next(r for r in receiver.received if r.id == received.id)
        assert first.body == received.body
    for message in messages:
        attempts = message["attempts"]
        assert attempts[0]["status_code"] is None
        assert "Connect" in attempts[0]["error"]
        assert 503 in [a["status_code"] for a in attempts]
        assert attempts[-1]["status_code"] == 200
        assert message["attempt_count"] == len(attempts)
