"""One delivery across both services, through their outboxes and handlers (every event
handled twice, as a bus may deliver it): ordered over the merchant API, carried by a robot
reporting over the ops API, seen by the merchant step by step; and a cancel after pickup
brings the goods back."""

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, Table, select, text

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import INBOX
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.events import Envelope
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from tests.factories import MerchantClient, make_merchant
from tests.fleet import Fleet
from tests.outboxes import outbox_events


class Pump:
    """Carries each new event of one service's outbox to the other's handlers, twice."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.seen = {"deliveries": 0, "operations": 0}

    def _new(self, engine: Engine, table: Table, name: str) -> list[Envelope]:
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.seq, table.c.envelope)
                .where(table.c.seq > self.seen[name])
                .order_by(table.c.seq)
            ).all()
        if rows:
            self.seen[name] = rows[-1].seq
        return [Envelope.from_json(r.envelope) for r in rows]

    def __call__(self) -> None:
        p = self.platform
        for _ in range(3):  # what one side does may make the other say more
            p.operations.positions.flush()  # as its thread does every interval
            for e in self._new(p.deliveries_engine, DELIVERIES_OUTBOX, "deliveries"):
                operations_handlers.handle(p.operations, e)
                operations_handlers.handle(p.operations, e)
            for e in self._new(p.operations_engine, OPERATIONS_OUTBOX, "operations"):
                deliveries_handlers.handle(p.deliveries, e)
                deliveries_handlers.handle(p.deliveries, e)


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
    cancelled = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "changed mind"})
    assert cancelled.json()["status"] == "returning"
    pump()
    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    _drive(fleet, token, back["trips"][0], ("started", "arrived", "completed"))
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "returned"
    assert fleet.robot_state("SW-1") == "idle"


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
