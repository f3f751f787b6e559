"""Each service writes the events the other needs to its outbox, in the transaction of the
change: ordering a delivery asks for its attempt, a cancel asks to stop it, and operations
tells every step of a task. A refused change writes none."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.errors import InvalidTransition
from sidewalk.operations import tasks
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.outboxes import outbox_events


def test_ordering_asks_for_the_attempt_and_a_replay_asks_nothing_more(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    quote = merchant.quote()
    first = merchant.order(quote["id"], key="order-1")
    assert first.status_code == 201, first.text
    merchant.order(quote["id"], key="order-1")  # a replay
    merchant.order(quote["id"], key="order-2")  # the quote is used: refused
    (requested,) = outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
    delivery: dict[str, Any] = first.json()
    assert requested.type == "attempt.requested"
    assert requested.source == "deliveries"
    assert requested.subject == {
        "delivery_id": delivery["id"],
        "attempt_id": delivery["latest_attempt_id"],
    }
    assert requested.payload["provider"] == "robot"
    assert requested.payload["pickup"]["lat"] == quote["pickup"]["lat"]
    assert requested.payload["dropoff"]["full_address"] == quote["dropoff"]["full_address"]


def test_cancelling_asks_operations_to_stop_the_attempt(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    delivery = merchant.order(key="order-1").json()
    merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "customer_left"})
    told = outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
    assert [e.type for e in told] == ["attempt.requested", "attempt.cancel_requested"]
    # Where the goods are, the operations service knows: the request says only why.
    assert told[1].payload == {
        "provider": "robot",
        "reason": "customer_left",
        "goods_on_board": None,
    }


def test_operations_tells_every_step_of_a_task_and_nothing_of_a_refused_one(
    fleet: Fleet,
) -> None:
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    for trip in task.trips:
        for event in ("started", "arrived", "completed"):
            if (trip.type, event) == ("to_dropoff", "completed"):
                fleet.open_door("SW-1")
            fleet.report(trip.id, event)
    before = outbox_events(fleet.platform.operations_engine, OPERATIONS_OUTBOX)
    with pytest.raises(InvalidTransition):
        tasks.cancel_task(fleet.ctx, task.id)
    after = outbox_events(fleet.platform.operations_engine, OPERATIONS_OUTBOX)
    assert after == before
    task_events = [e.type for e in after if e.type.startswith(("task.", "trip."))]
    assert task_events[:2] == ["task.created", "task.assigned"]
    assert task_events[-1] == "task.completed"
    assert task_events.count("trip.arrived") == 2
    for e in after:
        assert e.source == "operations"
        if e.type.startswith("task."):
            assert e.subject["attempt_id"] == "att_test1"
            assert e.subject["delivery_id"] == "dlv_test1"
