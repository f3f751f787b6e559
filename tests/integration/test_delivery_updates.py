"""`PATCH /v1/deliveries/{id}`: what a merchant may change after ordering, and until when.
The order's value until pickup; the customer and the instructions until the door. Too late
refuses the whole update with `409 delivery_update_too_late` and changes nothing."""

from typing import Any

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import Pump, cancelled


def patch(merchant: MerchantClient, delivery_id: str, body: dict[str, Any]) -> Any:
    return merchant.http.patch(f"/v1/deliveries/{delivery_id}", json=body, headers=merchant.auth)


def test_before_pickup_everything_may_change_and_the_timeline_says_what(
    merchant: MerchantClient,
) -> None:
    delivery = merchant.delivery(dropoff_instructions="Leave at the door")
    changed = patch(
        merchant,
        delivery["id"],
        {
            "customer": {"name": "Ana Ruiz", "phone": "+13105550100"},
            "dropoff_instructions": "Ring twice",
            "order_value_cents": 4200,
        },
    )
    assert changed.status_code == 200, changed.text
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert seen["customer"] == {"name": "Ana Ruiz", "phone": "+13105550100"}
    assert seen["dropoff_instructions"] == "Ring twice"
    assert seen["order_value_cents"] == 4200
    assert seen["status"] == "pending"
    events = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    updated = [e for e in events if e["type"] == "delivery.updated"]
    assert [e["data"] for e in updated] == [
        {"fields": ["customer", "dropoff_instructions", "order_value_cents"]}
    ]

    cleared = patch(merchant, delivery["id"], {"dropoff_instructions": None, "customer": None})
    assert cleared.status_code == 200, cleared.text
    body = cleared.json()
    assert (body["dropoff_instructions"], body["customer"]) == (None, None)
    assert body["order_value_cents"] == 4200  # not sent, not changed


def test_bad_updates_are_refused_with_a_code(merchant: MerchantClient) -> None:
    delivery = merchant.delivery()
    for body in ({}, {"status": "delivered"}, {"order_value_cents": -1},
                 {"customer": {"name": "Ana", "phone": "call me"}}):  # fmt: skip
        refused = patch(merchant, delivery["id"], body)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.json()["code"] == "validation_error"
    unknown = patch(merchant, "dlv_unknown", {"dropoff_instructions": "x"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "delivery_not_found")


def test_after_pickup_only_the_door_details_change_and_a_late_value_changes_nothing(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.delivery(key="order-1")
    pump()
    fleet.dispatch()
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    to_pickup, to_dropoff = task["trips"]
    for event in ("started", "arrived", "completed"):
        fleet.post(token, f"/ops/v1/trips/{to_pickup['id']}/events", {"event": event})
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == (
        "enroute_to_dropoff"
    )

    late = patch(merchant, delivery["id"], {"order_value_cents": 1, "dropoff_instructions": "x"})
    assert (late.status_code, late.json()["code"]) == (409, "delivery_update_too_late")
    assert "order_value_cents" in late.json()["detail"]
    unchanged = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert unchanged["dropoff_instructions"] is None
    assert unchanged["order_value_cents"] == 2350

    door = patch(merchant, delivery["id"], {"dropoff_instructions": "Side gate"})
    assert door.status_code == 200, door.text

    for event in ("started", "arrived"):
        fleet.post(token, f"/ops/v1/trips/{to_dropoff['id']}/events", {"event": event})
    pump()
    at_door = patch(merchant, delivery["id"], {"dropoff_instructions": "Too late"})
    assert (at_door.status_code, at_door.json()["code"]) == (409, "delivery_update_too_late")


def test_an_ended_delivery_changes_no_more(platform: Platform, merchant: MerchantClient) -> None:
    delivery = merchant.delivery()
    assert cancelled(platform, merchant, delivery["id"])["status"] == "cancelled"
    refused = patch(merchant, delivery["id"], {"customer": {"name": "A", "phone": "+1310555"}})
    assert (refused.status_code, refused.json()["code"]) == (409, "delivery_update_too_late")
