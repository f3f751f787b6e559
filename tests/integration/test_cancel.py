"""Cancelling. A robot's delivery is stopped by the operations service, which alone knows
whether the goods are at the pickup, on board or handed over: the merchant's cancel is asked
of it (`202`, `cancel_status` `requested`), and its answer, carried back by the events
between the services (`Pump`), ends the delivery `cancelled` before pickup. With the goods on
board they come back (the loop tests drive a robot through that, and through a cancel that
crosses the robot handing over). A finished delivery cannot be cancelled."""

from datetime import timedelta
from typing import Any

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import (
    Pump,
    at,
    cancelled,
    force_delivery_status,
    post_in_parallel,
    problem,
    row_counts,
)


def ask_to_cancel(
    merchant: MerchantClient, delivery_id: str, reason: str | None = None
) -> dict[str, Any]:
    response = merchant.post(
        f"/v1/deliveries/{delivery_id}/cancel", None if reason is None else {"reason": reason}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def event_types(merchant: MerchantClient, delivery_id: str) -> list[str]:
    events = merchant.get(f"/v1/deliveries/{delivery_id}/events").json()
    return [e["type"] for e in events["data"]]


def test_a_cancel_is_asked_of_the_robot_and_ends_the_delivery_when_answered(
    platform: Platform, merchant: MerchantClient, clock: ManualClock
) -> None:
    pump = Pump(platform)
    delivery = merchant.delivery()
    pump()  # operations has the robot's task, waiting for a robot
    clock.advance(timedelta(minutes=2))

    asked = ask_to_cancel(merchant, delivery["id"])

    assert (asked["status"], asked["cancel_status"]) == ("pending", "requested")
    assert asked["cancel_reason"]
    assert asked["attempts"][0]["status"] == "requested"
    pump()
    done = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (done["status"], done["cancel_status"]) == ("cancelled", "accepted")
    assert at(done["status_times"]["cancelled"]) == clock.now()
    assert done["status_times"]["pending"] == delivery["status_times"]["pending"]
    (attempt,) = done["attempts"]
    assert attempt["status"] == "cancelled"
    assert at(attempt["status_times"]["cancelled"]) == clock.now()
    assert at(done["updated_at"]) == clock.now()


def test_the_timeline_of_a_cancelled_delivery_tells_what_happened_in_order(
    platform: Platform, merchant: MerchantClient, clock: ManualClock
) -> None:
    delivery = merchant.delivery()
    clock.advance(timedelta(minutes=2))
    cancelled(platform, merchant, delivery["id"])

    response = merchant.get(f"/v1/deliveries/{delivery['id']}/events")

    assert response.status_code == 200
    timeline = response.json()
    assert timeline["delivery_id"] == delivery["id"]
    events = timeline["data"]
    assert [e["type"] for e in events] == [
        "delivery.created",
        "attempt.requested",
        "delivery.cancel_requested",
        "attempt.cancelled",
        "delivery.cancelled",
    ]
    times = [at(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert times[0] == at(delivery["created_at"])
    assert times[-1] == clock.now()
    assert len({e["id"] for e in events}) == 5
    attempt_id = delivery["latest_attempt_id"]
    assert events[1]["data"]["attempt_id"] == attempt_id
    assert events[3]["data"]["attempt_id"] == attempt_id


def test_a_new_delivery_has_a_timeline_of_two_events(merchant: MerchantClient) -> None:
    delivery = merchant.delivery()

    assert event_types(merchant, delivery["id"]) == ["delivery.created", "attempt.requested"]


def test_asking_again_changes_nothing_and_a_cancelled_delivery_cannot_be_cancelled(
    merchant: MerchantClient, platform: Platform
) -> None:
    delivery = merchant.delivery()
    first = ask_to_cancel(merchant, delivery["id"], reason="first")
    before = row_counts(platform)

    again = ask_to_cancel(merchant, delivery["id"], reason="second")

    assert again == first
    assert row_counts(platform) == before
    done = cancelled(platform, merchant, delivery["id"])
    assert done["cancel_reason"] == "first"
    settled = row_counts(platform)
    refused = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")
    assert problem(refused, 409, "invalid_transition")["current_status"] == "cancelled"
    assert row_counts(platform) == settled


def test_a_cancel_records_the_merchants_reason(
    platform: Platform, merchant: MerchantClient
) -> None:
    delivery = merchant.delivery()

    done = cancelled(platform, merchant, delivery["id"], reason="customer changed mind")

    assert done["cancel_reason"] == "customer changed mind"
    events = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    (asked,) = [e for e in events if e["type"] == "delivery.cancel_requested"]
    assert asked["data"] == {"reason": "customer changed mind", "status": "pending"}
    (event,) = [e for e in events if e["type"] == "delivery.cancelled"]
    assert event["data"]["reason"] == "customer changed mind"
    assert event["data"]["previous"] == "pending"


def test_a_cancel_with_an_empty_body_is_a_cancel_without_reason(
    platform: Platform, merchant: MerchantClient
) -> None:
    delivery = merchant.delivery()

    done = cancelled(platform, merchant, delivery["id"])

    assert done["status"] == "cancelled"
    assert done["cancel_reason"] == "cancelled_by_merchant"


def test_a_delivery_not_yet_picked_up_is_cancelled_and_its_robot_freed(
    platform: Platform, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    for event in ((), ("started",), ("started", "arrived")):
        delivery = merchant.delivery()
        pump()
        fleet.dispatch()
        task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
        for step in event:
            fleet.post(token, f"/ops/v1/trips/{task['trips'][0]['id']}/events", {"event": step})
        pump()

        done = cancelled(platform, merchant, delivery["id"])

        assert (done["status"], done["cancel_status"]) == ("cancelled", "accepted"), event
        assert done["attempts"][0]["status"] == "cancelled", event
        assert fleet.robot_state("SW-1") == "idle", event


def test_a_finished_delivery_cannot_be_cancelled(
    merchant: MerchantClient, platform: Platform
) -> None:
    for status in ("delivered", "returned", "failed"):
        delivery = merchant.delivery()
        force_delivery_status(platform, delivery["id"], status)
        before = row_counts(platform)

        refused = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")

        assert problem(refused, 409, "invalid_transition")["current_status"] == status
        assert row_counts(platform) == before
        assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == status


def test_concurrent_cancels_ask_once(
    platform: Platform, merchant: MerchantClient, live_url: str
) -> None:
    delivery = merchant.delivery()
    path = f"/v1/deliveries/{delivery['id']}/cancel"

    answers = post_in_parallel(live_url, path, [(merchant.auth, {"reason": "twice"})] * 10)

    assert [a.status_code for a in answers] == [202] * 10, [a.text for a in answers]
    assert event_types(merchant, delivery["id"]).count("delivery.cancel_requested") == 1
    Pump(platform)()
    assert event_types(merchant, delivery["id"]).count("delivery.cancelled") == 1
    assert event_types(merchant, delivery["id"]).count("attempt.cancelled") == 1
