"""Both services in one process with the event runtime: relays and consumers on a real bus
(memory, and NATS JetStream), so a delivery ordered over the merchant API is carried out by a
robot reporting over the ops API, with nothing but events between the services."""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.kernel.bus import Bus
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.test_bus import (
    NATS_URL,
    _delete_stream,
    fast_memory_bus,
    fast_nats_bus,
    nats_or_skip,
    run,
)
from tests.runtime import running_events


@pytest.fixture(params=["memory", "nats"])
def make_bus(request: pytest.FixtureRequest) -> Iterator[Callable[[], Bus]]:
    if request.param == "memory":
        yield fast_memory_bus
        return
    nats_or_skip()
    tag = uuid.uuid4().hex[:12]
    yield lambda: fast_nats_bus(NATS_URL, stream=f"TEST_{tag}", prefix=f"test_{tag}")
    run(_delete_stream(f"TEST_{tag}"))


@pytest.fixture
def runtime(platform: Platform, make_bus: Callable[[], Bus]) -> Iterator[None]:
    """The event runtime on a thread of its own, for the length of the test."""
    with running_events(platform, make_bus):
        yield


def eventually(check: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_delivery_is_carried_out_with_only_events_between_the_services(
    runtime: None, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    token = fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()

    def robot_task() -> dict[str, Any] | None:
        fleet.dispatch()
        answer = fleet.get(token, "/ops/v1/robots/SW-1/task")
        return answer.json() if answer.status_code == 200 else None

    task = eventually(robot_task, "the robot got the delivery's task")
    assert task["delivery_id"] == delivery["id"]

    def status() -> str:
        return str(merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"])

    eventually(lambda: status() == "assigned", "the merchant saw the robot assigned")
    for trip in task["trips"]:
        for event in ("started", "arrived", "completed"):
            if (trip["type"], event) == ("to_dropoff", "completed"):
                fleet.post(token, "/ops/v1/robots/SW-1/unlock", {"pin": delivery["unlock_pin"]})
            fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
    eventually(lambda: status() == "delivered", "the merchant saw the delivery delivered")
    final = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert final["attempts"][0]["status"] == "succeeded"
    assert final["attempts"][0]["provider_id"] == task["id"]
