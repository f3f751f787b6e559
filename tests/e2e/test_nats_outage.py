"""The production layout through a NATS outage: `serve deliveries` and `serve operations` as
separate processes with a private NATS JetStream server between them. The server is stopped
in the middle of a delivery; merchants keep ordering and the robot keeps reporting while it is
away; once it is back on the same port and store, every event written meanwhile arrives and
takes effect exactly once."""

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import sidewalk_env
from tests.conftest import free_port
from tests.databases import fresh_postgres_database
from tests.e2e.test_layouts import created, eventually, serving
from tests.factories import quote_body
from tests.nats_server import NatsServer

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HERE = {"lat": 34.0901, "lng": -118.3617, "battery_pct": 90.0}
ROBOTS = ("SW-1", "SW-2")


class Served:
    """The two served APIs, seen by one merchant, the robots and an admin."""

    def __init__(self, api: str, ops: str, key: str, admin: str, robots: dict[str, str]):
        self._clients = ExitStack()
        self.merchant = self._client(api, key)
        self.admin = self._client(ops, admin)
        self.robots = {serial: self._client(ops, token) for serial, token in robots.items()}

    def _client(self, url: str, token: str) -> httpx.Client:
        return self._clients.enter_context(
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        )

    def close(self) -> None:
        self._clients.close()

    def order(self, key: str) -> str:
        quote = self.merchant.post("/v1/quotes", json=quote_body()).json()
        ordered = self.merchant.post(
            "/v1/deliveries", json={"quote_id": quote["id"]}, headers={"Idempotency-Key": key}
        )
        assert ordered.status_code == 201, ordered.text
        return str(ordered.json()["id"])

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        seen: dict[str, Any] = self.merchant.get(f"/v1/deliveries/{delivery_id}").json()
        return seen

    def status(self, delivery_id: str) -> str:
        return str(self.delivery(delivery_id)["status"])

    def timeline(self, delivery_id: str) -> list[str]:
        events = self.merchant.get(f"/v1/deliveries/{delivery_id}/events").json()["data"]
        return [str(e["type"]) for e in events]

    def delivery_tasks(self) -> list[dict[str, Any]]:
        answer = self.admin.get("/ops/v1/tasks", params={"type": "delivery", "limit": 100})
        assert answer.status_code == 200, answer.text
        tasks: list[dict[str, Any]] = answer.json()["data"]
        return tasks

    def assigned_task(self, delivery_id: str) -> dict[str, Any] | None:
        mine = [t for t in self.delivery_tasks() if t["delivery_id"] == delivery_id]
        return mine[0] if mine and mine[0]["robot_serial"] else None

    def report(self, serial: str, trip: dict[str, Any], *events: str, pin: str = "") -> None:
        """The robot reports `events` of the trip; at the dropoff the customer first opens the
        compartment with the delivery's `pin` (the merchant has it)."""
        for event in events:
            if (trip["type"], event) == ("to_dropoff", "completed"):
                opened = self.robots[serial].post(
                    f"/ops/v1/robots/{serial}/unlock", json={"pin": pin}
                )
                assert opened.status_code == 200, opened.text
            moved = self.robots[serial].post(
                f"/ops/v1/trips/{trip['id']}/events", json={"event": event}
            )
            assert moved.status_code == 200, moved.text


@pytest.fixture
def database_url(postgres_template: str) -> Iterator[str]:
    """NATS is the production layout's bus, and PostgreSQL its database (SQLite goes with the
    in-process bus of the embedded layout)."""
    with fresh_postgres_database(postgres_template) as url:
        yield url


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats")
    server.start()
    yield server
    server.stop()


def test_every_event_written_while_nats_is_away_takes_effect_once_it_is_back(
    tmp_path: Path, database_url: str, nats_server: NatsServer
) -> None:
    env = sidewalk_env(
        tmp_path,
        database_url,
        SIDEWALK_BUS_URL=nats_server.url,
        SIDEWALK_DISPATCH_INTERVAL_S="0.2",
    )
    key = created("merchants", "create", "--name", "Sunset Bakery", env=env, cwd=tmp_path)
    admin = created(
        "operators",
        "create",
        "--email",
        "admin@example.com",
        "--role",
        "admin",
        env=env,
        cwd=tmp_path,
    )
    robots = {
        serial: created(
            "robots", "add", "--serial", serial, "--name", serial, env=env, cwd=tmp_path
        )
        for serial in ROBOTS
    }
    api, ops = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
    with (
        serving(["serve", "deliveries", "--port", api.rsplit(":", 1)[1]], env, tmp_path, api),
        serving(["serve", "operations", "--port", ops.rsplit(":", 1)[1]], env, tmp_path, ops),
    ):
        served = Served(
            api, ops, key["api_key"], admin["token"], {s: r["token"] for s, r in robots.items()}
        )
        try:
            for serial in ROBOTS:
                here = served.robots[serial].post(f"/ops/v1/robots/{serial}/telemetry", json=HERE)
                assert here.status_code == 200, here.text

            # A delivery under way, both ways through NATS: ordered, given a robot, at pickup.
            first = served.order("order-1")
            task = eventually(lambda: served.assigned_task(first), "the first task assigned")
            serial = task["robot_serial"]
            to_pickup, to_dropoff = task["trips"]
            served.report(serial, to_pickup, "started", "arrived")
            eventually(lambda: served.status(first) == "at_pickup", "the merchant saw pickup")

            nats_server.stop()
            later = [served.order(f"order-{n}") for n in (2, 3, 4)]
            served.report(serial, to_pickup, "completed")
            pin = served.delivery(first)["unlock_pin"]
            served.report(serial, to_dropoff, "started", "arrived", "completed", pin=pin)
            assert served.status(first) == "at_pickup"  # nothing crosses while it is away
            assert [t["delivery_id"] for t in served.delivery_tasks()] == [first]
            time.sleep(3)  # away for a few of the clients' reconnect attempts (one a second)

            nats_server.start()
            eventually(lambda: served.status(first) == "delivered", "the first delivered")
            eventually(
                lambda: {t["delivery_id"] for t in served.delivery_tasks()} == {first, *later},
                "a task for every delivery ordered while NATS was away",
            )
            eventually(
                lambda: sum(served.status(d) == "assigned" for d in later) == len(ROBOTS),
                "the merchant saw the robots take two of them",
            )

            tasks = Counter(t["delivery_id"] for t in served.delivery_tasks())
            assert tasks == dict.fromkeys([first, *later], 1)
            timeline = Counter(served.timeline(first))
            assert timeline["delivery.delivered"] == 1
            assert max(timeline.values()) == 1, timeline
            done = served.delivery(first)
            assert [(a["provider"], a["status"]) for a in done["attempts"]] == [
                ("robot", "succeeded")
            ]
            for delivery_id in later:
                attempts = served.delivery(delivery_id)["attempts"]
                assert [(a["provider"], a["status"]) for a in attempts] in (
                    [("robot", "requested")],
                    [("robot", "assigned")],
                )
        finally:
            served.close()
