"""The life of a delivery across real processes, in both layouts: embedded (`serve all`:
SQLite, the memory bus, here with two replica processes serving the ops API) and production
(PostgreSQL, NATS JetStream, each service its own server and every background job its own
`sidewalk worker`). A test robot drives over the ops API, each request on a new connection,
so that in the embedded layout its steps land on either replica; the merchant watches over
the merchant API."""

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli import sidewalk_env
from tests.conftest import free_port
from tests.databases import fresh_postgres_database, migrated_postgres_template
from tests.e2e.test_layouts import created, eventually, serving
from tests.factories import quote_body
from tests.integration.test_bus import NATS_URL, _delete_stream, nats_or_skip, run

pytestmark = pytest.mark.slow

PICKUP = {"lat": 34.0901, "lng": -118.3617, "battery_pct": 90.0}
# A quick simulated courier network, so a fallback is delivered within seconds.
FAST_COURIERS = {
    "SIDEWALK_COURIER_ACCEPT_DELAY_S": "0.2",
    "SIDEWALK_COURIER_SPEED_MPS": "2000",
    "SIDEWALK_COURIER_FAILURE_RATE": "0",
    "SIDEWALK_COURIER_SIM_TICK_S": "0.2",
    "SIDEWALK_COURIER_PICKUP_DWELL_S": "1",
    "SIDEWALK_COURIER_DROPOFF_DWELL_S": "1",
}


@dataclass
class Layout:
    env: dict[str, str]
    cwd: Path
    api: str
    ops: str
    key: str
    robots: int = 0

    def merchant(self) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.key}"}
        return httpx.Client(base_url=self.api, headers=auth, timeout=10)

    def robot(self) -> "Robot":
        """A new robot reporting in at the pickup; the robots of earlier tests are offline."""
        self.robots += 1
        serial = f"SW-{self.robots}"
        made = created(
            "robots", "add", "--serial", serial, "--name", serial, env=self.env, cwd=self.cwd
        )
        auth = {"Authorization": f"Bearer {made['token']}"}
        fresh = httpx.Limits(max_keepalive_connections=0)  # a new connection each request
        robot = Robot(
            serial, httpx.Client(base_url=self.ops, headers=auth, timeout=10, limits=fresh)
        )
        robot.report(**PICKUP)
        return robot


@dataclass
class Robot:
    serial: str
    http: httpx.Client

    def report(self, **reading: Any) -> str:
        """Send a reading; the state the service holds the robot in."""
        answer = self.http.post(f"/ops/v1/robots/{self.serial}/telemetry", json=reading)
        assert answer.status_code == 200, answer.text
        state: str = answer.json()["state"]
        return state

    def task(self) -> dict[str, Any] | None:
        answer = self.http.get(f"/ops/v1/robots/{self.serial}/task")
        assert answer.status_code in (200, 204), answer.text
        return answer.json() if answer.status_code == 200 else None

    def drive(self, trip: dict[str, Any], *events: str, pin: str | None = None) -> None:
        """Report `events` of the trip; at a dropoff the customer types `pin` before the
        robot may complete it."""
        for event in events:
            if (trip["type"], event) == ("to_dropoff", "completed"):
                opened = self.http.post(f"/ops/v1/robots/{self.serial}/unlock", json={"pin": pin})
                assert opened.status_code == 200, opened.text
            moved = self.http.post(f"/ops/v1/trips/{trip['id']}/events", json={"event": event})
            assert moved.status_code == 200, moved.text

    def leave(self) -> None:
        """Out of the way of the next test's dispatch."""
        self.report(**PICKUP, state="offline")
        self.http.close()


def order(merchant: httpx.Client, **quote: Any) -> str:
    priced = merchant.post("/v1/quotes", json=quote_body(**quote))
    assert priced.status_code == 201, priced.text
    ordered = merchant.post(
        "/v1/deliveries",
        json={"quote_id": priced.json()["id"]},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert ordered.status_code == 201, ordered.text
    delivery_id: str = ordered.json()["id"]
    return delivery_id


def status_of(merchant: httpx.Client, delivery_id: str) -> dict[str, Any]:
    answer = merchant.get(f"/v1/deliveries/{delivery_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def reaches(merchant: httpx.Client, delivery_id: str, status: str) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        body = status_of(merchant, delivery_id)
        return body if body["status"] == status else None

    try:
        found: dict[str, Any] = eventually(seen, f"the delivery became {status}")
    except AssertionError as e:
        raise AssertionError(f"{e}; it is {status_of(merchant, delivery_id)}") from None
    return found


def _embedded(stack: ExitStack, tmp: Path) -> Layout:
    env = sidewalk_env(tmp, "", SIDEWALK_DISPATCH_INTERVAL_S="0.2", **FAST_COURIERS)
    api, ops = free_port(), free_port()
    urls = (f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}")
    key = created("merchants", "create", "--name", "Sunset Bakery", env=env, cwd=tmp)["api_key"]
    stack.enter_context(
        serving(
            ["serve", "all", "--port", str(api), "--ops-port", str(ops), "--ops-workers", "2"],
            env,
            tmp,
            *urls,
        )
    )
    return Layout(env, tmp, *urls, key=key)


def _production(stack: ExitStack, tmp: Path) -> Layout:
    nats_or_skip()
    tag = uuid.uuid4().hex[:12]
    template = stack.enter_context(migrated_postgres_template())
    url = stack.enter_context(fresh_postgres_database(template))
    stack.callback(lambda: run(_delete_stream(f"TEST_{tag}")))
    env = sidewalk_env(
        tmp,
        url,
        SIDEWALK_BUS_URL=NATS_URL,
        SIDEWALK_BUS_STREAM=f"TEST_{tag}",
        SIDEWALK_BUS_SUBJECT_PREFIX=f"test_{tag}",
        SIDEWALK_DISPATCH_INTERVAL_S="0.2",
        # The servers only serve; every background job is a worker of its own.
        SIDEWALK_EVENTS_IN_SERVER="0",
        SIDEWALK_DISPATCH_IN_SERVER="0",
        SIDEWALK_WEBHOOKS_IN_SERVER="0",
        SIDEWALK_COURIERS_IN_SERVER="0",
        **FAST_COURIERS,
    )
    api, ops = free_port(), free_port()
    key = created("merchants", "create", "--name", "Sunset Bakery", env=env, cwd=tmp)["api_key"]
    api_url, ops_url = f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}"
    stack.enter_context(serving(["serve", "deliveries", "--port", str(api)], env, tmp, api_url))
    stack.enter_context(
        serving(["serve", "operations", "--port", str(ops), "--no-dispatch"], env, tmp, ops_url)
    )
    workers = (
        ["events", "deliveries"],
        ["events", "operations"],
        ["dispatch"],
        ["couriers"],
        ["webhooks"],
    )
    for worker in workers:
        stack.enter_context(serving(["worker", *worker], env, tmp))
    return Layout(env, tmp, api_url, ops_url, key=key)


@pytest.fixture(
    scope="module",
    params=["embedded", pytest.param("production", marks=pytest.mark.postgres)],
)
def layout(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Layout]:
    build = _embedded if request.param == "embedded" else _production
    with ExitStack() as stack:
        yield build(stack, tmp_path_factory.mktemp(request.param))


def test_a_robot_delivers(layout: Layout) -> None:
    robot = layout.robot()
    with layout.merchant() as merchant:
        delivery_id = order(merchant)
        task = eventually(robot.task, "the robot was given the delivery")
        pin = status_of(merchant, delivery_id)["unlock_pin"]
        for trip in task["trips"]:
            robot.drive(trip, "started", "arrived", "completed", pin=pin)
        done = reaches(merchant, delivery_id, "delivered")
    assert [(a["provider"], a["status"]) for a in done["attempts"]] == [("robot", "succeeded")]
    assert done["latest_attempt_id"] == done["attempts"][0]["id"]
    assert {"pending", "assigned", "enroute_to_pickup", "delivered"} <= set(done["status_times"])
    robot.leave()


def test_a_cancel_before_pickup_frees_the_robot(layout: Layout) -> None:
    robot = layout.robot()
    with layout.merchant() as merchant:
        delivery_id = order(merchant)
        task = eventually(robot.task, "the robot was given the delivery")
        robot.drive(task["trips"][0], "started")
        reaches(merchant, delivery_id, "enroute_to_pickup")
        asked = merchant.post(f"/v1/deliveries/{delivery_id}/cancel", json={})
        assert asked.status_code == 202, asked.text  # the robot's operator decides
        assert asked.json()["cancel_status"] == "requested"
        assert reaches(merchant, delivery_id, "cancelled")["cancel_status"] == "accepted"
    eventually(lambda: robot.task() is None, "the robot's task ended")
    eventually(lambda: robot.report(**PICKUP) == "idle", "the robot was free again")
    robot.leave()


def test_a_cancel_after_pickup_brings_the_goods_back(layout: Layout) -> None:
    robot = layout.robot()
    with layout.merchant() as merchant:
        delivery_id = order(merchant)
        task = eventually(robot.task, "the robot was given the delivery")
        robot.drive(task["trips"][0], "started", "arrived", "completed")
        reaches(merchant, delivery_id, "enroute_to_dropoff")
        asked = merchant.post(f"/v1/deliveries/{delivery_id}/cancel", json={"reason": "closed"})
        assert asked.status_code == 202, asked.text
        reaches(merchant, delivery_id, "returning")
        back = eventually(
            lambda: (t := robot.task()) is not None and t["type"] == "return" and t,
            "the robot was told to bring the goods back",
        )
        for trip in back["trips"]:
            robot.drive(trip, "started", "arrived", "completed")
        done = reaches(merchant, delivery_id, "returned")
    assert {"returning", "returned"} <= set(done["status_times"])
    robot.leave()


def test_a_robot_fault_mid_trip_falls_back_to_a_courier(layout: Layout) -> None:
    robot = layout.robot()
    with layout.merchant() as merchant:
        delivery_id = order(merchant)
        task = eventually(robot.task, "the robot was given the delivery")
        robot.drive(task["trips"][0], "started")
        reaches(merchant, delivery_id, "enroute_to_pickup")
        robot.report(**PICKUP, state="fault")
        done = reaches(merchant, delivery_id, "delivered")
    attempts = [(a["provider"], a["status"]) for a in done["attempts"]]
    assert attempts == [("robot", "failed"), ("courier", "succeeded")]
    assert done["latest_attempt_id"] == done["attempts"][1]["id"]
    robot.http.close()
