"""`POST /v1/serviceability`: whether a trip can be served and by whom, with each refusing
provider's reason, on the merchant's own terms, deciding as a quote would and storing
nothing."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Quote
from tests.factories import DOWNTOWN, MAIN_ST, SUNSET, MerchantClient, make_merchant

# Outside the service area: within a courier's range, and beyond it.
SILVER_LAKE = {"lat": 34.0869, "lng": -118.2702, "full_address": "2800 Sunset Blvd"}
PASADENA = {"lat": 34.1478, "lng": -118.1445, "full_address": "100 N Garfield Ave"}


def check(merchant: MerchantClient, pickup: dict[str, Any], dropoff: dict[str, Any]) -> Any:
    answer = merchant.post("/v1/serviceability", {"pickup": pickup, "dropoff": dropoff})
    assert answer.status_code == 200, answer.text
    return answer.json()


def reasons(found: dict[str, Any]) -> list[tuple[str, str]]:
    return [(n["provider"], n["code"]) for n in found["not_served"]]


def test_a_trip_inside_one_area_goes_to_a_robot(
    platform: Platform, merchant: MerchantClient
) -> None:
    found = check(merchant, SUNSET, MAIN_ST)
    assert found["serviceable"] is True
    assert found["provider"] == "robot"
    assert found["service_area_id"]
    assert found["distance_m"] > 1000
    assert found["not_served"] == []
    with platform.deliveries.uow() as uow:  # nothing priced, nothing kept
        assert uow.session.scalar(select(func.count()).select_from(Quote)) == 0


def test_beyond_the_area_a_courier_takes_it_and_the_robot_says_why_not(
    merchant: MerchantClient,
) -> None:
    found = check(merchant, SUNSET, SILVER_LAKE)
    assert (found["serviceable"], found["provider"]) == (True, "courier")
    assert found["service_area_id"] is None
    assert reasons(found) == [("robot", "dropoff_outside_service_area")]
    back = check(merchant, SILVER_LAKE, SUNSET)
    assert reasons(back) == [("robot", "pickup_outside_service_area")]


def test_without_couriers_nobody_serves_it_and_both_say_why(
    platform: Platform, client: TestClient
) -> None:
    robots_only = make_merchant(platform, client, "Robots Only", courier_fallback=False)
    found = check(robots_only, SUNSET, DOWNTOWN)
    assert (found["serviceable"], found["provider"]) == (False, None)
    assert reasons(found) == [
        ("robot", "dropoff_outside_service_area"),
        ("courier", "courier_not_enabled"),
    ]
    assert all(n["detail"] for n in found["not_served"])
    quoted = robots_only.post(
        "/v1/quotes", {"pickup": SUNSET, "dropoff": DOWNTOWN, "order_value_cents": 100}
    )
    assert quoted.status_code == 422  # the quote decides alike
    assert quoted.json()["code"] == "outside_service_area"


def test_the_merchants_robot_range_and_the_courier_range_count(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    short = make_merchant(platform, client, "Short Range", max_robot_distance_m=500)
    found = check(short, SUNSET, MAIN_ST)
    assert found["provider"] == "courier"
    assert reasons(found) == [("robot", "beyond_robot_range")]
    far = check(merchant, SUNSET, PASADENA)
    assert (far["serviceable"], far["provider"]) == (False, None)
    assert reasons(far) == [
        ("robot", "dropoff_outside_service_area"),
        ("courier", "beyond_courier_range"),
    ]


def test_bad_trips_are_refused_with_a_code(merchant: MerchantClient, client: TestClient) -> None:
    same = merchant.post("/v1/serviceability", {"pickup": SUNSET, "dropoff": SUNSET})
    assert (same.status_code, same.json()["code"]) == (422, "same_location")
    missing = merchant.post("/v1/serviceability", {"pickup": SUNSET})
    assert (missing.status_code, missing.json()["code"]) == (422, "validation_error")
    anonymous = client.post("/v1/serviceability", json={"pickup": SUNSET, "dropoff": MAIN_ST})
    assert anonymous.status_code == 401
