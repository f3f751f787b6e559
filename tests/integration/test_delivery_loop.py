"""One delivery across both services, through their outboxes and handlers (every event
handled twice, as a bus may deliver it): ordered over the merchant API, carried by a robot
reporting over the ops API, seen by the merchant step by step; and a cancel after pickup
brings the goods back."""

from datetime import timedelta
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import INBOX
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.contracts import TaskEnded
from sidewalk.kernel.events import Envelope
from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient, make_merchant
from tests.fleet import Fleet
from tests.integration.helpers import Pump
from tests.outboxes import outbox_events

FAULT = {"lat": 34.0890, "lng": -118.3650, "battery_pct": 70, "state": "fault"}


def _robot_takes_an_order(
    platform: Platform, merchant: MerchantClient, fleet: Fleet
) -> tuple[Pump, str, dict[str, Any], dict[str, Any]]:
    """One robot, SW-1, and one order it is given: the pump, the robot's token, the delivery
    and the robot's task."""
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()
    pump()
    fleet.dispatch()
    return pump, token, delivery, fleet.get(token, "/ops/v1/robots/SW-1/task").json()


def _drive(fleet: Fleet, token: str, trip: dict[str, Any], events: tuple[str, ...]) -> None:
    for event in events:
        answer = fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
        assert answer.status_code == 200, answer.text


def test_a_robot_delivers_and_the_merchant_sees_every_step(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()
    pump()
    fleet.dispatch()
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "assigned"
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert seen["attempts"][0]["provider_id"] == task["id"]
    assert seen["attempts"][0]["status"] == "assigned"

    to_pickup, to_dropoff = task["trips"]
    statuses = []
    for trip, event in [
        (to_pickup, "started"),
        (to_pickup, "arrived"),
        (to_pickup, "completed"),
        (to_dropoff, "started"),
        (to_dropoff, "arrived"),
        (to_dropoff, "completed"),
    ]:
        if (trip, event) == (to_dropoff, "completed"):  # the customer types the PIN
            opened = fleet.post(
                token, "/ops/v1/robots/SW-1/unlock", {"pin": delivery["unlock_pin"]}
            )
            assert opened.status_code == 200, opened.text
        _drive(fleet, token, trip, (event,))
        pump()
        statuses.append(merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"])
    assert statuses == [
        "enroute_to_pickup",
        "at_pickup",
        "enroute_to_dropoff",
        "enroute_to_dropoff",
        "at_dropoff",
        "delivered",
    ]
    done = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert done["attempts"][0]["status"] == "succeeded"
    assert set(done["status_times"]) >= {"pending", "assigned", "at_pickup", "delivered"}
    timeline = [
        e["type"] for e in merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    ]
    assert timeline.count("delivery.delivered") == 1


def test_a_cancel_after_pickup_brings_the_goods_back(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    _drive(fleet, token, task["trips"][0], ("started", "arrived", "completed"))
    pump()
    asked = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "changed mind"})
    assert asked.status_code == 202, asked.text  # the robot's operator decides
    assert (asked.json()["status"], asked.json()["cancel_status"]) == (
        "enroute_to_dropoff",
        "requested",
    )
    pump()
    turned = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (turned["status"], turned["cancel_status"]) == ("returning", "accepted")
    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    _drive(fleet, token, back["trips"][0], ("started", "arrived", "completed"))
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "returned"
    assert fleet.robot_state("SW-1") == "idle"


def test_goods_whose_return_robot_faults_fail_the_delivery_instead_of_leaving_it_returning(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    _drive(fleet, token, task["trips"][0], ("started", "arrived", "completed"))
    pump()
    merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "changed mind"})
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "returning"
    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", FAULT).status_code == 200
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (seen["status"], seen["failure_reason"]) == ("failed", "robot_fault")
    failed = [
        e
        for e in merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
        if e["type"] == "delivery.failed"
    ]
    assert [(e["data"]["previous"], e["data"]["return_task_id"]) for e in failed] == [
        ("returning", back["id"])
    ]


def test_news_out_of_order_of_goods_on_board_never_opens_another_attempt(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    """Operations says the task failed with the goods on board before the news of the pickup
    came: no other attempt takes over; and the return's failure, before any news of the
    return, still fails the delivery, through `returning`."""
    pump, _, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "assigned"
    about = {"robot_serial": "SW-1", "delivery_id": delivery["id"]}
    now = platform.clock.now()
    failed = TaskEnded(
        task_id=task["id"],
        attempt_id=seen["latest_attempt_id"],
        task_type="delivery",
        reason="blocked_path",
        goods_on_board=True,
        **about,
    ).envelope(occurred_at=now, type_="task.failed")
    deliveries_handlers.handle(platform.deliveries, failed)
    after = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert [(a["provider"], a["status"]) for a in after["attempts"]] == [("robot", "failed")]
    assert after["status"] == "assigned"  # the goods come back on the return task

    back = TaskEnded(task_id="tsk_back", task_type="return", reason="robot_fault", **about)
    deliveries_handlers.handle(
        platform.deliveries, back.envelope(occurred_at=now, type_="task.failed")
    )
    final = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (final["status"], final["failure_reason"]) == ("failed", "robot_fault")
    told = [
        e["type"] for e in merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    ]
    assert told[-2:] == ["delivery.returning", "delivery.failed"]


def test_a_cancel_before_pickup_frees_the_robot(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()
    pump()
    fleet.dispatch()
    pump()
    merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")
    pump()
    assert fleet.robot_state("SW-1") == "idle"
    assert fleet.get(token, "/ops/v1/robots/SW-1/task").status_code == 204
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "cancelled"
    assert seen["attempts"][0]["status"] == "cancelled"


def _at_the_door(
    platform: Platform, merchant: MerchantClient, fleet: Fleet
) -> tuple[Pump, str, dict[str, Any], dict[str, Any]]:
    """A robot delivery driven to the door, all of it known to the merchant: the pump, the
    robot's token, the delivery and the dropoff trip."""
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    to_pickup, to_dropoff = task["trips"]
    _drive(fleet, token, to_pickup, ("started", "arrived", "completed"))
    _drive(fleet, token, to_dropoff, ("started", "arrived"))
    pump()
    return pump, token, delivery, to_dropoff


def _open(fleet: Fleet, token: str, delivery: dict[str, Any]) -> httpx.Response:
    return fleet.post(token, "/ops/v1/robots/SW-1/unlock", {"pin": delivery["unlock_pin"]})


def _told(merchant: MerchantClient, delivery_id: str) -> list[str]:
    events = merchant.get(f"/v1/deliveries/{delivery_id}/events").json()["data"]
    return [e["type"] for e in events if e["type"].startswith("delivery.")]


def test_a_cancel_that_crosses_the_robot_handing_over_ends_delivered_and_too_late(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    """The robot hands the goods over; the news is still on its way when the merchant
    cancels. The merchant is told what happened to the goods: delivered, the cancel too late,
    and never cancelled."""
    pump, token, delivery, to_dropoff = _at_the_door(platform, merchant, fleet)
    assert _open(fleet, token, delivery).status_code == 200
    _drive(fleet, token, to_dropoff, ("completed",))  # not yet heard by the deliveries side

    asked = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "late"})
    assert asked.status_code == 202, asked.text
    assert asked.json()["status"] == "at_dropoff"
    pump()

    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (seen["status"], seen["cancel_status"]) == ("delivered", "too_late")
    assert seen["attempts"][0]["status"] == "succeeded"
    told = _told(merchant, delivery["id"])
    assert "delivery.cancelled" not in told
    assert "delivery.returning" not in told
    assert told[-1] == "delivery.delivered"
    assert told.index("delivery.cancel_requested") < told.index("delivery.delivered")
    assert fleet.robot_state("SW-1") == "idle"
    assert fleet.get(token, "/ops/v1/robots/SW-1/task").status_code == 204  # no return task


def test_a_cancel_after_the_customer_opened_the_compartment_is_too_late(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    """The compartment is open: the goods are the customer's. The cancel stops nothing, and
    the robot completes the dropoff."""
    pump, token, delivery, to_dropoff = _at_the_door(platform, merchant, fleet)
    assert _open(fleet, token, delivery).status_code == 200
    asked = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")
    assert asked.status_code == 202, asked.text
    pump()
    assert fleet.get(token, "/ops/v1/robots/SW-1/task").json()["type"] == "delivery"
    _drive(fleet, token, to_dropoff, ("completed",))
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (seen["status"], seen["cancel_status"]) == ("delivered", "too_late")


def test_a_cancel_that_reaches_the_robot_first_brings_the_goods_back(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    """The other way round: the cancel reaches the robot at the door before the customer
    opens it. Its task ends, the compartment stays shut, it may not complete the dropoff, and
    it brings the goods back."""
    pump, token, delivery, to_dropoff = _at_the_door(platform, merchant, fleet)

    asked = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "wrong address"})
    assert asked.status_code == 202, asked.text
    pump()
    assert _open(fleet, token, delivery).status_code == 409
    late = fleet.post(token, f"/ops/v1/trips/{to_dropoff['id']}/events", {"event": "completed"})
    assert late.status_code == 409, late.text

    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    _drive(fleet, token, back["trips"][0], ("started", "arrived", "completed"))
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (seen["status"], seen["cancel_status"]) == ("returned", "accepted")
    assert "delivery.delivered" not in _told(merchant, delivery["id"])


def test_a_robot_fault_before_pickup_hands_the_delivery_to_a_courier(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    hooked = merchant.post(
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "events": ["delivery.pending"]},
    )
    assert hooked.status_code == 201, hooked.text
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    _drive(fleet, token, task["trips"][0], ("started",))
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", FAULT).status_code == 200
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "pending"
    # The merchant hears that the delivery waits again, between the robot's failure and the
    # courier's request, on the timeline and by webhook.
    timeline = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    types = [e["type"] for e in timeline]
    failed = types.index("attempt.failed")
    assert types[failed : failed + 3] == ["attempt.failed", "delivery.pending", "attempt.requested"]
    assert timeline[failed + 1]["data"]["previous"] == "enroute_to_pickup"
    with platform.deliveries_engine.connect() as connection:
        told = connection.execute(
            text("SELECT event_type FROM webhook_messages WHERE delivery_id = :d"),
            {"d": delivery["id"]},
        ).all()
    assert [t for (t,) in told] == ["delivery.pending"]
    assert [(a["provider"], a["status"]) for a in seen["attempts"]] == [
        ("robot", "failed"),
        ("courier", "requested"),
    ]
    assert seen["latest_attempt_id"] == seen["attempts"][1]["id"]
    courier_asked = [
        e
        for e in outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
        if e.subject.get("attempt_id") == seen["latest_attempt_id"]
    ]
    assert [e.payload["provider"] for e in courier_asked] == ["courier"]
    assert len(all_fleet_tasks(fleet)) == 1  # operations leaves courier attempts alone


def test_late_news_of_the_robot_changes_nothing_once_a_courier_took_over(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", FAULT).status_code == 200
    pump()
    before = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    robot_attempt = before["attempts"][0]["id"]
    late = Envelope.new(
        "trip.in_progress",
        "operations",
        occurred_at=platform.clock.now(),
        subject={"task_id": task["id"], "delivery_id": delivery["id"], "attempt_id": robot_attempt},
        payload={"task_type": "delivery", "trip_type": "to_pickup"},
    )
    deliveries_handlers.handle(platform.deliveries, late)
    after = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (after["status"], after["attempts"], after["status_times"]) == (
        before["status"],
        before["attempts"],
        before["status_times"],
    )
    events = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    assert "attempt.in_progress" not in [e["type"] for e in events]
    # An event naming a delivery this service never had is remembered as handled.
    unknown = Envelope.new(
        "task.assigned",
        "operations",
        occurred_at=platform.clock.now(),
        subject={"task_id": task["id"], "delivery_id": "dlv_unknown", "attempt_id": "att_x"},
        payload={"task_type": "delivery"},
    )
    deliveries_handlers.handle(platform.deliveries, unknown)
    with platform.deliveries_engine.connect() as connection:
        handled = connection.execute(
            select(INBOX.c.event_id).where(INBOX.c.event_id == unknown.id)
        ).all()
    assert len(handled) == 1


def test_without_couriers_a_delivery_no_robot_takes_fails(
    platform: Platform, client: TestClient, fleet: Fleet, clock: ManualClock
) -> None:
    strict = make_merchant(platform, client, "Robots Only", courier_fallback=False)
    pump = Pump(platform)
    delivery = strict.order(key="order-1").json()
    pump()
    clock.advance(timedelta(seconds=platform.settings.task_assign_limit_s))
    fleet.dispatch()
    pump()
    seen = strict.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "failed"
    assert seen["attempts"][0]["status"] == "failed"


def test_a_blocked_path_after_pickup_brings_the_goods_back(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump, token, delivery, task = _robot_takes_an_order(platform, merchant, fleet)
    _drive(fleet, token, task["trips"][0], ("started", "arrived", "completed"))
    blocked = {"event": "failed", "reason": "blocked_path"}
    fleet.post(token, f"/ops/v1/trips/{task['trips'][1]['id']}/events", blocked)
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "returning"
    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    _drive(fleet, token, back["trips"][0], ("started", "arrived", "completed"))
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["status"] == "returned"
    assert seen["attempts"][0]["status"] == "failed"


def all_fleet_tasks(fleet: Fleet) -> list[Any]:
    admin = fleet.operator(OperatorRole.ADMIN)
    return list(fleet.get(admin.token, "/ops/v1/tasks").json()["data"])
