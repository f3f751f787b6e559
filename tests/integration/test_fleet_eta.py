"""What the deliveries service learns of the robots through events: the position of the robot
on a delivery, shown on `GET /v1/deliveries/{id}`, and the fleet's state, from which robot
quotes promise their times."""

import itertools
from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.geo import LatLng
from sidewalk.operations.fleet import tell_fleet
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from tests.factories import MerchantClient
from tests.fleet import MAIN_ST, SUNSET, Fleet
from tests.integration.helpers import Pump
from tests.outboxes import outbox_events

# About 1.5 km from the pickup (SUNSET), on foot.
FAR = LatLng(34.0780, -118.3700)


def _telemetry(fleet: Fleet, token: str, where: LatLng, at: datetime) -> None:
    body = {"lat": where.lat, "lng": where.lng, "battery_pct": 80, "at": at.isoformat()}
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", body)
    assert answer.status_code == 200, answer.text


def _seconds(later: str, earlier: datetime) -> float:
    return (datetime.fromisoformat(later) - earlier).total_seconds()


def _positions(platform: Platform) -> list[dict[str, Any]]:
    return [
        e.payload
        for e in outbox_events(platform.operations_engine, OPERATIONS_OUTBOX)
        if e.type == "robot.position"
    ]


def test_the_merchant_sees_where_the_robot_is(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.delivery()
    pump()
    fleet.dispatch()
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["courier_location"] is None

    clock.advance(timedelta(seconds=30))
    _telemetry(fleet, token, MAIN_ST, clock.now())
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()["courier_location"]
    assert (seen["lat"], seen["lng"]) == (MAIN_ST.lat, MAIN_ST.lng)
    assert datetime.fromisoformat(seen["at"]) == clock.now()

    # A reading taken before the one shown, arriving late, does not move the robot back.
    clock.advance(timedelta(seconds=30))
    _telemetry(fleet, token, SUNSET, clock.now() - timedelta(seconds=45))
    pump()
    seen = merchant.get(f"/v1/deliveries/{delivery['id']}").json()["courier_location"]
    assert (seen["lat"], seen["lng"]) == (MAIN_ST.lat, MAIN_ST.lng)


def test_position_events_are_thinned_to_one_per_interval(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    merchant.delivery()
    pump()
    fleet.dispatch()
    interval = platform.settings.robot_position_event_s
    times = [clock.now()]  # the robot's reading when it reported in
    for _ in range(25):  # readings a fifth of the interval apart
        clock.advance(timedelta(seconds=interval / 5))
        _telemetry(fleet, token, SUNSET, clock.now())
        fleet.ctx.positions.flush()  # as its thread does, many times an interval
        times.append(clock.now())
    slots = [int(t.timestamp() // interval) for t in times]
    new_slots = sum(1 for a, b in itertools.pairwise(slots) if a != b)
    assert 5 <= len(_positions(platform)) == new_slots <= 6


def test_an_idle_robot_reports_no_position_event(
    platform: Platform, client: TestClient, fleet: Fleet, clock: ManualClock
) -> None:
    token = fleet.robot("SW-1")
    clock.advance(timedelta(seconds=60))
    _telemetry(fleet, token, SUNSET, clock.now())
    assert _positions(platform) == []


def test_without_a_fleet_snapshot_quotes_use_the_typical_lead(
    platform: Platform, merchant: MerchantClient, clock: ManualClock
) -> None:
    quote = merchant.quote()
    assert _seconds(quote["pickup_eta"], clock.now()) == platform.settings.robot_pickup_lead_s


def test_a_quote_promises_the_time_of_the_nearest_free_robot(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    fleet.robot("SW-1", where=SUNSET)
    tell_fleet(platform.operations)
    pump()
    near = merchant.quote()
    assert _seconds(near["pickup_eta"], clock.now()) == 0  # the robot stands at the pickup

    fleet.robot("SW-2", where=FAR)
    # One task waits: the nearest robot takes it, the quote gets the next one, from FAR.
    merchant.delivery()
    pump()
    clock.advance(timedelta(seconds=1))
    tell_fleet(platform.operations)
    pump()
    later = merchant.quote()
    lead = _seconds(later["pickup_eta"], clock.now())
    settings = platform.settings
    walk = 1.0 * settings.detour_factor / settings.robot_speed_mps  # seconds per metre
    assert 1_000 * walk < lead < 2_000 * walk

    # A snapshot older than the limit is not trusted: back to the typical lead.
    clock.advance(timedelta(seconds=settings.fleet_snapshot_max_age_s + 1))
    stale = merchant.quote()
    assert _seconds(stale["pickup_eta"], clock.now()) == settings.robot_pickup_lead_s


def test_a_busy_robot_counts_from_where_its_task_ends(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    fleet.robot("SW-1", where=SUNSET)
    merchant.delivery()  # SUNSET → MAIN_ST
    pump()
    fleet.dispatch()
    tell_fleet(platform.operations)
    pump()
    # The robot is free at MAIN_ST after the whole delivery, its waits at both ends included;
    # a quote picking up at MAIN_ST waits for that, one from SUNSET for it and the way back.
    settings = platform.settings
    at_dropoff = merchant.quote(
        pickup={"lat": MAIN_ST.lat, "lng": MAIN_ST.lng, "full_address": "1 Main St"},
        dropoff={"lat": SUNSET.lat, "lng": SUNSET.lng, "full_address": "8500 Sunset Blvd"},
    )
    back_at_pickup = merchant.quote()
    first = _seconds(at_dropoff["pickup_eta"], clock.now())
    second = _seconds(back_at_pickup["pickup_eta"], clock.now())
    trip_s = at_dropoff["distance_m"] / settings.robot_speed_mps
    waits_s = settings.robot_pickup_dwell_s + settings.robot_dropoff_dwell_s
    assert abs(first - (trip_s + waits_s)) < 0.05 * trip_s
    assert abs(second - (2 * trip_s + waits_s)) < 0.05 * second
