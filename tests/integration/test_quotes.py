"""Quotes: the price and the promised times of a delivery, and who would carry it."""

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from shapely.geometry import Point, shape
from sqlalchemy import select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Quote
from sidewalk.kernel.clock import ManualClock
from tests.factories import DOWNTOWN, MAIN_ST, SUNSET, MerchantClient, make_merchant, quote_body
from tests.integration.helpers import (
    BEVERLY_HILLS,
    EAST_WEHO,
    SOUTH_PARK,
    UNKNOWN_QUOTE_ID,
    WEST_WEHO,
    at,
    fee_cents,
    problem,
    walking_distance_m,
)


def weho_covers(merchant: MerchantClient, where: dict[str, Any]) -> bool:
    areas = merchant.get("/v1/service-areas").json()
    weho = next(f for f in areas["features"] if f["properties"]["id"] == "weho")
    return bool(shape(weho["geometry"]).covers(Point(where["lng"], where["lat"])))


def test_a_trip_inside_the_service_area_is_quoted_for_a_robot_at_the_merchants_terms(
    merchant: MerchantClient, platform: Platform
) -> None:
    quote = merchant.quote()

    distance = walking_distance_m(SUNSET, MAIN_ST)
    assert quote["provider"] == "robot"
    assert quote["service_area_id"] == "weho"
    assert quote["distance_m"] == distance
    assert quote["fee"] == {"amount_cents": fee_cents(299, 100, distance), "currency": "USD"}
    assert quote["merchant_id"] == merchant.merchant_id
    assert quote["external_reference_id"] == "order-1042"
    assert quote["order_value_cents"] == 2350
    assert quote["used_by_delivery_id"] is None
    assert quote["id"].startswith("quo_")
    for end, sent in (("pickup", SUNSET), ("dropoff", MAIN_ST)):
        assert {k: quote[end][k] for k in sent} == sent
        assert quote[end]["id"].startswith("loc_")
    assert at(quote["created_at"]) == platform.clock.now()


def test_a_quote_promises_pickup_before_dropoff_and_expires_after_five_minutes(
    merchant: MerchantClient,
) -> None:
    quote = merchant.quote()

    created = at(quote["created_at"])
    assert created < at(quote["pickup_eta"]) < at(quote["dropoff_eta"])
    assert at(quote["expires_at"]) == created + timedelta(seconds=300)


def test_a_quote_reads_back_exactly_as_it_was_given(merchant: MerchantClient) -> None:
    quote = merchant.quote()

    response = merchant.get(f"/v1/quotes/{quote['id']}")

    assert response.status_code == 200
    assert response.json() == quote


def test_an_unknown_quote_is_not_found(merchant: MerchantClient) -> None:
    problem(merchant.get(f"/v1/quotes/{UNKNOWN_QUOTE_ID}"), 404, "quote_not_found")


def test_a_trip_outside_the_service_area_goes_to_a_courier(merchant: MerchantClient) -> None:
    assert not weho_covers(merchant, DOWNTOWN)
    assert not weho_covers(merchant, SOUTH_PARK)

    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)

    distance = walking_distance_m(DOWNTOWN, SOUTH_PARK)
    assert quote["provider"] == "courier"
    assert quote["service_area_id"] is None
    assert quote["distance_m"] == distance
    assert quote["fee"] == {"amount_cents": fee_cents(599, 150, distance), "currency": "USD"}
    assert at(quote["pickup_eta"]) < at(quote["dropoff_eta"])


def test_a_trip_leaving_the_service_area_goes_to_a_courier(merchant: MerchantClient) -> None:
    assert weho_covers(merchant, SUNSET)
    assert not weho_covers(merchant, BEVERLY_HILLS)

    quote = merchant.quote(dropoff=BEVERLY_HILLS)

    assert quote["provider"] == "courier"
    assert quote["service_area_id"] is None


def test_a_merchant_without_couriers_is_refused_outside_the_service_area(
    platform: Platform, client: TestClient
) -> None:
    robots_only = make_merchant(platform, client, "Robots Only", courier_fallback=False)

    response = robots_only.post("/v1/quotes", quote_body(pickup=DOWNTOWN, dropoff=SOUTH_PARK))

    problem(response, 422, "outside_service_area")


def test_a_merchant_without_couriers_still_gets_robots_inside_the_area(
    platform: Platform, client: TestClient
) -> None:
    robots_only = make_merchant(platform, client, "Robots Only", courier_fallback=False)

    assert robots_only.quote()["provider"] == "robot"


def test_a_trip_inside_the_area_beyond_the_robot_range_goes_to_a_courier(
    merchant: MerchantClient,
) -> None:
    assert weho_covers(merchant, WEST_WEHO)
    assert weho_covers(merchant, EAST_WEHO)
    assert walking_distance_m(WEST_WEHO, EAST_WEHO) > 3_000

    quote = merchant.quote(pickup=WEST_WEHO, dropoff=EAST_WEHO)

    assert quote["provider"] == "courier"
    assert quote["service_area_id"] is None


def test_the_robot_range_is_the_merchants_own(platform: Platform, client: TestClient) -> None:
    short_range = make_merchant(platform, client, "Short Range", max_robot_distance_m=1_000)
    assert walking_distance_m(SUNSET, MAIN_ST) > 1_000

    assert short_range.quote()["provider"] == "courier"


def test_a_merchant_without_couriers_is_refused_beyond_the_robot_range(
    platform: Platform, client: TestClient
) -> None:
    robots_only = make_merchant(platform, client, "Robots Only", courier_fallback=False)

    response = robots_only.post("/v1/quotes", quote_body(pickup=WEST_WEHO, dropoff=EAST_WEHO))

    problem(response, 422, "outside_service_area")


def test_a_trip_longer_than_any_courier_goes_is_refused(merchant: MerchantClient) -> None:
    assert walking_distance_m(DOWNTOWN, SUNSET) > 15_000

    response = merchant.post("/v1/quotes", quote_body(pickup=DOWNTOWN, dropoff=SUNSET))

    problem(response, 422, "distance_too_long")


def test_the_fee_and_the_quote_life_follow_the_merchants_own_terms(
    platform: Platform, client: TestClient
) -> None:
    premium = make_merchant(
        platform,
        client,
        "Premium",
        currency="EUR",
        base_fee_cents=500,
        fee_per_km_cents=250,
        quote_lifetime_s=60,
    )

    quote = premium.quote()

    distance = walking_distance_m(SUNSET, MAIN_ST)
    assert quote["fee"] == {"amount_cents": fee_cents(500, 250, distance), "currency": "EUR"}
    assert at(quote["expires_at"]) == at(quote["created_at"]) + timedelta(seconds=60)


def test_pickup_and_dropoff_at_the_same_place_are_refused(merchant: MerchantClient) -> None:
    same = merchant.post("/v1/quotes", quote_body(dropoff=dict(SUNSET)))
    # The same point on the antimeridian, written two ways: a trip of 0 m.
    east = {"lat": 0.0, "lng": 180.0, "full_address": "Date line, east"}
    west = {"lat": 0.0, "lng": -180.0, "full_address": "Date line, west"}
    spelled_twice = merchant.post("/v1/quotes", quote_body(pickup=east, dropoff=west))

    problem(same, 422, "same_location")
    problem(spelled_twice, 422, "same_location")


def test_the_service_areas_are_a_geojson_feature_collection(merchant: MerchantClient) -> None:
    response = merchant.get("/v1/service-areas")

    assert response.status_code == 200
    areas = response.json()
    assert areas["type"] == "FeatureCollection"
    (weho,) = [f for f in areas["features"] if f["properties"]["id"] == "weho"]
    assert weho["type"] == "Feature"
    assert weho["properties"]["name"] == "West Hollywood"
    assert weho["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    assert weho_covers(merchant, SUNSET)
    assert weho_covers(merchant, MAIN_ST)


def test_a_quote_made_on_a_whole_second_compares_in_sql_as_its_own_time(
    merchant: MerchantClient, platform: Platform, clock: ManualClock
) -> None:
    """Batched quotes are written past the ORM; their times must be stored as the ORM binds
    them, or a query for a time would miss (or pass) a quote made at that very time."""
    assert clock.now().microsecond == 0
    made = merchant.quote()

    with platform.deliveries_engine.connect() as connection:
        at_creation = connection.execute(
            select(Quote.id).where(Quote.created_at == clock.now())
        ).scalars()
        not_after = connection.execute(
            select(Quote.id).where(Quote.created_at <= clock.now())
        ).scalars()
        assert list(at_creation) == [made["id"]]
        assert list(not_after) == [made["id"]]
