"""The customer's tracking link: the delivery as they follow it from order to doorstep, with
nothing in it about anyone else, and a link that stops working some time after the end."""

import json
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import Pump, cancelled

CUSTOMER = {"name": "Ada Lovelace", "phone": "+13105550142"}


def _token(delivery: dict[str, Any]) -> str:
    url: str = delivery["tracking_url"]
    assert "/track/" in url
    return url.rsplit("/", 1)[1]


def _tracking(client: TestClient, token: str) -> dict[str, Any]:
    answer = client.get(f"/track/{token}/status")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_the_customer_follows_the_delivery_to_the_door(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    fleet.operator(OperatorRole.PILOT)
    robot_token = fleet.robot("SW-1")
    delivery = merchant.delivery(customer=CUSTOMER, dropoff_instructions="Gate code 4411")
    token = _token(delivery)

    page = client.get(f"/track/{token}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/static/track.js" in page.text
    assert client.get("/static/track.js").status_code == 200

    ordered = _tracking(client, token)
    assert ordered["status"] == "pending"
    assert ordered["status_label"] == "Order received"
    assert ordered["merchant_name"] == "Sunset Bakery"
    assert ordered["vehicle"] is None
    assert ordered["eta"] is not None
    assert not ordered["ended"]
    text = json.dumps(ordered)
    for private in (
        delivery["id"], merchant.merchant_id, CUSTOMER["name"], CUSTOMER["phone"],
        "Gate code", delivery["pickup"]["full_address"], delivery["dropoff"]["full_address"],
    ):  # fmt: skip
        assert private not in text

    pump()
    fleet.dispatch()
    pump()
    (task,) = fleet.get(robot_token, "/ops/v1/robots/SW-1/task").json()["trips"][:1]
    to_pickup = task["id"]
    to_dropoff = fleet.get(robot_token, "/ops/v1/robots/SW-1/task").json()["trips"][1]["id"]
    for trip, event in ((to_pickup, "started"), (to_pickup, "arrived"), (to_pickup, "completed")):
        fleet.report(trip, event)
    fleet.report(to_dropoff, "started")
    clock.advance(timedelta(seconds=30))
    fleet.post(
        robot_token,
        "/ops/v1/robots/SW-1/telemetry",
        {"lat": 34.0870, "lng": -118.3700, "battery_pct": 80, "at": clock.now().isoformat()},
    )
    pump()

    on_the_way = _tracking(client, token)
    assert on_the_way["status"] == "enroute_to_dropoff"
    vehicle = on_the_way["vehicle"]
    assert (vehicle["kind"], vehicle["lat"], vehicle["lng"]) == ("robot", 34.0870, -118.3700)
    # About 570 m left at 1.6 m/s: some six minutes after the reading.
    left = datetime.fromisoformat(on_the_way["eta"]) - clock.now()
    assert timedelta(minutes=4) < left < timedelta(minutes=8)

    fleet.report(to_dropoff, "arrived")
    fleet.open_door("SW-1")
    fleet.report(to_dropoff, "completed")
    pump()
    done = _tracking(client, token)
    assert done["status"] == "delivered"
    assert done["ended"]
    assert done["eta"] is None
    assert done["vehicle"] is None
    ttl = timedelta(seconds=platform.settings.tracking_link_ttl_s)
    delivered_at = datetime.fromisoformat(done["status_times"]["delivered"])
    assert datetime.fromisoformat(done["link_expires_at"]) == delivered_at + ttl

    clock.advance(ttl)
    expired = client.get(f"/track/{token}/status")
    assert expired.status_code == 410
    assert expired.json()["code"] == "tracking_expired"
    gone = client.get(f"/track/{token}")
    assert gone.status_code == 410
    assert "expired" in gone.text


def test_a_link_shows_its_own_delivery_only_and_unknown_links_nothing(
    client: TestClient, merchant: MerchantClient, rival: MerchantClient
) -> None:
    mine = merchant.delivery()
    theirs = rival.delivery(customer=CUSTOMER)
    assert _tracking(client, _token(mine))["merchant_name"] == "Sunset Bakery"
    assert _tracking(client, _token(theirs))["merchant_name"] == "Rival Deli"

    unknown = client.get("/track/" + "x" * 32 + "/status")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "tracking_not_found"
    assert client.get("/track/" + "x" * 32).status_code == 404
    assert client.get("/track/short/status").status_code == 422
    assert client.get("/track/" + "%00" * 20 + "/status").status_code == 422


def test_the_live_link_sends_changes_and_ends_with_the_delivery(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    platform.settings.tracking_refresh_s = 0.01
    delivery = merchant.delivery()
    token = _token(delivery)
    with client.stream("GET", f"/track/{token}/live") as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        first = _next_data(lines)
        assert first["status"] == "pending"
        assert cancelled(platform, merchant, delivery["id"])["status"] == "cancelled"
        last = _next_data(lines)
        assert last["status"] == "cancelled"
        assert last["ended"]
        assert [line for line in lines if line] == []  # the stream ended with the delivery
    assert client.get(f"/track/{token}/live").status_code == 200


def _next_data(lines: Any) -> dict[str, Any]:
    for line in lines:
        if line.startswith("data: "):
            body: dict[str, Any] = json.loads(line.removeprefix("data: "))
            return body
    raise AssertionError("the stream ended")
