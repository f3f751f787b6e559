"""Pricing, the choice of provider, service areas and quote expiry."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import (
    AttemptProvider,
    MerchantTerms,
    check_quote_usable,
    price,
    quote_expiry,
    quote_terms,
    route_distance_m,
    serviceability,
)
from sidewalk.kernel.errors import Conflict, Gone, Unprocessable
from sidewalk.kernel.geo import DEFAULT_SERVICE_AREAS_FILE, LatLng, ServiceAreas, haversine_m
from sidewalk.kernel.money import Money

AREAS = ServiceAreas.from_file(DEFAULT_SERVICE_AREAS_FILE)
SUNSET = LatLng(34.0901, -118.3617)
MAIN_ST = LatLng(34.0857, -118.3760)
DOWNTOWN = LatLng(34.0522, -118.2437)
T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def terms(**overrides: object) -> MerchantTerms:
    values: dict[str, object] = {
        "currency": "USD",
        "base_fee_cents": 299,
        "fee_per_km_cents": 100,
        "courier_base_fee_cents": 599,
        "courier_fee_per_km_cents": 150,
        "max_robot_distance_m": 3000,
        "courier_fallback": True,
        "quote_lifetime_s": 300,
    }
    values.update(overrides)
    return MerchantTerms(**values)  # type: ignore[arg-type]


def test_the_price_is_base_plus_per_km_rounded_half_up_to_the_cent() -> None:
    assert price(299, 100, 1827, "USD") == Money(482, "USD")
    assert price(299, 100, 1825, "USD") == Money(482, "USD")  # 182.5 → 183
    assert price(299, 100, 1824, "USD") == Money(481, "USD")
    assert price(0, 0, 5000, "EUR") == Money(0, "EUR")


@given(
    st.integers(0, 10_000), st.integers(0, 1_000), st.integers(0, 50_000), st.integers(0, 50_000)
)
def test_a_longer_trip_never_costs_less(base: int, per_km: int, d1: int, d2: int) -> None:
    short, long = sorted((d1, d2))
    assert (
        price(base, per_km, short, "USD").amount_cents
        <= price(base, per_km, long, "USD").amount_cents
    )
    assert price(base, per_km, short, "USD").amount_cents >= base


def test_money_refuses_what_is_not_a_currency_and_mixing_currencies() -> None:
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(1, "usd")
    with pytest.raises(ValueError, match="cannot add"):
        Money(1, "USD") + Money(1, "EUR")


def test_the_walking_distance_is_the_straight_line_times_the_detour() -> None:
    straight = haversine_m(SUNSET, MAIN_ST)
    assert 1390 < straight < 1420
    assert route_distance_m(SUNSET, MAIN_ST, 1.3) == pytest.approx(straight * 1.3, abs=1)


def test_the_demo_city_contains_sunset_boulevard_and_not_downtown() -> None:
    area = AREAS.containing(SUNSET)
    assert area is not None
    assert area.id == "weho"
    assert area.contains(MAIN_ST)
    assert AREAS.containing(DOWNTOWN) is None
    assert AREAS.to_geojson()["features"][0]["properties"]["name"] == "West Hollywood"


@given(
    lat=st.floats(34.06, 34.11, allow_nan=False),
    lng=st.floats(-118.40, -118.33, allow_nan=False),
)
def test_the_remembered_cells_answer_exactly_as_the_polygons_do(lat: float, lng: float) -> None:
    where = LatLng(lat, lng)
    direct = next((a for a in AREAS if a.contains(where)), None)
    assert AREAS.containing(where) == direct
    assert AREAS.containing(where) == direct  # asked again, from the cell remembered


def test_a_service_area_file_must_hold_valid_polygons() -> None:
    line = {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}
    with pytest.raises(ValueError, match="Polygon"):
        ServiceAreas.from_geojson({"features": [{"geometry": line, "properties": {}}]})


def test_a_trip_inside_the_area_and_range_goes_by_robot() -> None:
    quoted = quote_terms(
        terms(), AREAS, SUNSET, MAIN_ST, detour_factor=1.3, courier_max_distance_m=15_000
    )
    assert quoted.provider is AttemptProvider.ROBOT
    assert quoted.service_area_id == "weho"
    assert quoted.fee == price(299, 100, quoted.distance_m, "USD")


def test_a_trip_out_of_range_goes_by_courier_when_allowed() -> None:
    quoted = quote_terms(
        terms(max_robot_distance_m=1000),
        AREAS,
        SUNSET,
        MAIN_ST,
        detour_factor=1.3,
        courier_max_distance_m=15_000,
    )
    assert quoted.provider is AttemptProvider.COURIER
    assert quoted.fee == price(599, 150, quoted.distance_m, "USD")


def test_a_trip_outside_every_area_without_couriers_is_refused() -> None:
    with pytest.raises(Unprocessable) as refused:
        quote_terms(
            terms(courier_fallback=False),
            AREAS,
            SUNSET,
            DOWNTOWN,
            detour_factor=1.3,
            courier_max_distance_m=15_000,
        )
    assert refused.value.code == "outside_service_area"


def test_a_trip_too_long_even_for_a_courier_is_refused() -> None:
    with pytest.raises(Unprocessable) as refused:
        quote_terms(
            terms(), AREAS, SUNSET, DOWNTOWN, detour_factor=1.3, courier_max_distance_m=5_000
        )
    assert refused.value.code == "distance_too_long"


def test_a_quote_is_usable_until_the_instant_it_expires_and_only_once() -> None:
    expires = quote_expiry(T0, 300)
    assert expires == T0 + timedelta(minutes=5)
    check_quote_usable(
        quote_id="q", expires_at=expires, used_by=None, now=expires - timedelta(microseconds=1)
    )
    with pytest.raises(Gone) as expired:
        check_quote_usable(quote_id="q", expires_at=expires, used_by=None, now=expires)
    assert expired.value.code == "quote_expired"
    with pytest.raises(Conflict) as used:
        check_quote_usable(quote_id="q", expires_at=expires, used_by="dlv_1", now=T0)
    assert used.value.code == "quote_already_used"


@given(
    lat=st.floats(33.95, 34.20),
    lng=st.floats(-118.55, -118.10),
    robot_range=st.integers(200, 6000),
    fallback=st.booleans(),
)
def test_a_quote_is_refused_exactly_when_serviceability_finds_nobody(
    lat: float, lng: float, robot_range: int, fallback: bool
) -> None:
    """The serviceability answer and the quote decide alike, for any dropoff and terms."""
    merchant = terms(max_robot_distance_m=robot_range, courier_fallback=fallback)
    dropoff = LatLng(lat, lng)
    if haversine_m(SUNSET, dropoff) < 1.0:
        return
    found = serviceability(
        merchant, AREAS, SUNSET, dropoff, detour_factor=1.3, courier_max_distance_m=15_000
    )
    assert found.provider is not None or len(found.not_served) == 2
    assert {n.provider for n in found.not_served}.isdisjoint({found.provider})
    try:
        quoted = quote_terms(
            merchant, AREAS, SUNSET, dropoff, detour_factor=1.3, courier_max_distance_m=15_000
        )
    except Unprocessable:
        assert found.provider is None
    else:
        assert quoted.provider == found.provider
        assert quoted.distance_m == found.distance_m
        assert quoted.service_area_id == found.service_area_id
