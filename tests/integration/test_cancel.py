"""Cancelling: before pickup the delivery ends; with the goods on board they go back.

The operations service that moves a delivery along (assigned, picked up, delivered...) does
not exist yet, so the tests that need a later status set the `deliveries.status` column
directly (`force_delivery_status`)."""

from datetime import timedelta
from typing import Any

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from tests.factories import MerchantClient
from tests.integration.helpers import (
    at,
    force_delivery_status,
    post_in_parallel,
    problem,
    row_counts,
)


def cancel(merchant: MerchantClient, delivery_id: str, reason: str | None = None) -> dict[str, Any]:
    response = merchant.post(
        f"/v1/deliveries/{delivery_id}/cancel", None if reason is None else {"reason": reason}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def event_types(merchant: MerchantClient, delivery_id: str) -> list[str]:
    events = merchant.get(f"/v1/deliveries/{delivery_id}/events").json()
    return [e["type"] for e in events["data"]]


def test_cancelling_a_pending_delivery_cancels_it_and_its_attempt(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    delivery = merchant.delivery()
    clock.advance(timedelta(minutes=2))

    response = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")

    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled"
    assert at(cancelled["status_times"]["cancelled"]) == clock.now()
    assert cancelled["status_times"]["pending"] == delivery["status_times"]["pending"]
    (attempt,) = cancelled["attempts"]
    assert attempt["status"] == "cancelled"
    assert at(attempt["status_times"]["cancelled"]) == clock.now()
    assert cancelled["cancel_reason"]
    assert at(cancelled["updated_at"]) == clock.now()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json() == cancelled


def test_the_timeline_of_a_cancelled_delivery_tells_what_happened_in_order(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    delivery = merchant.delivery()
    clock.advance(timedelta(minutes=2))
    cancel(merchant, delivery["id"])

    response = merchant.get(f"/v1/deliveries/{delivery['id']}/events")

    assert response.status_code == 200
    timeline = response.json()
    assert timeline["delivery_id"] == delivery["id"]
    events = timeline["data"]
    assert [e["type"] for e in events] == [
        "delivery.created",
        "attempt.requested",
        "delivery.cancelled",
        "attempt.cancelled",
    ]
    times = [at(e["occurred_at"]) for e in events]
    assert times == sorted(times)
    assert times[0] == at(delivery["created_at"])
    assert times[-1] == clock.now()
    assert len({e["id"] for e in events}) == 4
    attempt_id = delivery["latest_attempt_id"]
    assert events[1]["data"]["attempt_id"] == attempt_id
    assert events[3]["data"]["attempt_id"] == attempt_id


def test_a_new_delivery_has_a_timeline_of_two_events(merchant: MerchantClient) -> None:
    delivery = merchant.delivery()

    assert event_types(merchant, delivery["id"]) == ["delivery.created", "attempt.requested"]


def test_a_delivery_cannot_be_cancelled_twice(merchant: MerchantClient, platform: Platform) -> None:
    delivery = merchant.delivery()
    first = cancel(merchant, delivery["id"])
    before = row_counts(platform)

    again = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")

    body = problem(again, 409, "invalid_transition")
    assert body["current_status"] == "cancelled"
    assert row_counts(platform) == before
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json() == first


def test_a_cancel_records_the_merchants_reason(merchant: MerchantClient) -> None:
    delivery = merchant.delivery()

    cancelled = cancel(merchant, delivery["id"], reason="customer changed mind")

    assert cancelled["cancel_reason"] == "customer changed mind"
    events = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    (event,) = [e for e in events if e["type"] == "delivery.cancelled"]
    assert event["data"]["reason"] == "customer changed mind"
    assert event["data"]["previous"] == "pending"


def test_a_cancel_with_an_empty_body_is_a_cancel_without_reason(
    merchant: MerchantClient,
) -> None:
    delivery = merchant.delivery()

    cancelled = cancel(merchant, delivery["id"], reason=None)

    assert cancelled["status"] == "cancelled"


def test_a_delivery_not_yet_picked_up_is_cancelled(
    merchant: MerchantClient, platform: Platform
) -> None:
    for status in ("assigned", "enroute_to_pickup", "at_pickup"):
        delivery = merchant.delivery()
        force_delivery_status(platform, delivery["id"], status)

        cancelled = cancel(merchant, delivery["id"])

        assert cancelled["status"] == "cancelled", status
        assert cancelled["attempts"][0]["status"] == "cancelled", status


def test_cancelling_after_pickup_sends_the_goods_back(
    merchant: MerchantClient, platform: Platform, clock: ManualClock
) -> None:
    for status in ("enroute_to_dropoff", "at_dropoff"):
        delivery = merchant.delivery()
        force_delivery_status(platform, delivery["id"], status)
        clock.advance(timedelta(minutes=5))

        returning = cancel(merchant, delivery["id"], reason="wrong address")

        assert returning["status"] == "returning", status
        assert at(returning["status_times"]["returning"]) == clock.now()
        assert returning["cancel_reason"] == "wrong address"
        assert "cancelled" not in returning["status_times"]
        assert event_types(merchant, delivery["id"])[-1] == "delivery.returning"
        again = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")
        problem(again, 409, "invalid_transition")


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


def test_concurrent_cancels_cancel_once(merchant: MerchantClient, live_url: str) -> None:
    delivery = merchant.delivery()
    path = f"/v1/deliveries/{delivery['id']}/cancel"

    answers = post_in_parallel(live_url, path, [(merchant.auth, {"reason": "twice"})] * 10)

    assert sorted(a.status_code for a in answers) == [200] + [409] * 9, [a.text for a in answers]
    assert event_types(merchant, delivery["id"]).count("delivery.cancelled") == 1
    assert event_types(merchant, delivery["id"]).count("attempt.cancelled") == 1
