"""Promises calibrated on the promises kept: each order delivered by its first attempt keeps
how late it was against the estimate behind its promise, and later quotes add the margin
that the stated share of those needed. Scheduled orders keep nothing: their times are the
merchant's."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.deliveries.models import PromiseOutcome, Quote
from sidewalk.deliveries.promise_store import recent_errors
from sidewalk.deliveries.promises import Margins, PromisePolicy, calibrate
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from sidewalk.operations.fleet import tell_fleet
from tests.factories import MerchantClient
from tests.fleet import SUNSET, Fleet
from tests.integration.helpers import Pump, at


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Two deliveries are enough to calibrate on, in a test."""
    return settings.model_copy(update={"eta_calibration_min_legs": 2})


def _deliver(
    pump: Pump, fleet: Fleet, token: str, clock: ManualClock, delivery: dict[str, Any], late_s: int
) -> None:
    """SW-1 carries `delivery`: at the pickup and at the door `late_s` after the promise,
    then back at the pickup place, waiting for the next."""
    pump()
    fleet.dispatch()
    pump()
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    to_pickup, to_dropoff = task["trips"]
    steps = [
        (to_pickup, "started", None),
        (to_pickup, "arrived", at(delivery["pickup_eta"]) + timedelta(seconds=late_s)),
        (to_pickup, "completed", None),
        (to_dropoff, "started", None),
        (to_dropoff, "arrived", None),
        (to_dropoff, "completed", at(delivery["dropoff_eta"]) + timedelta(seconds=late_s)),
    ]
    for trip, event, when in steps:
        if when is not None:
            clock.set(when)
            fleet.robot_report("SW-1", SUNSET)  # a robot this silent would be taken as offline
        if (trip, event) == (to_dropoff, "completed"):  # the customer types the PIN
            opened = fleet.post(
                token, "/ops/v1/robots/SW-1/unlock", {"pin": delivery["unlock_pin"]}
            )
            assert opened.status_code == 200, opened.text
        answer = fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
        assert answer.status_code == 200, answer.text
        pump()
    fleet.robot_report("SW-1", SUNSET)


def _outcomes(platform: Platform) -> list[tuple[float | None, float]]:
    """How late each kept outcome was, at the pickup and at the door, oldest first."""
    with platform.deliveries.uow() as uow:
        rows = uow.connection.execute(
            select(PromiseOutcome.pickup_error_s, PromiseOutcome.dropoff_error_s).order_by(
                PromiseOutcome.delivered_at
            )
        )
        return [(p, d) for p, d in rows]


def _margins(platform: Platform, quote_id: str) -> tuple[AttemptProvider, Margins]:
    with platform.deliveries.uow() as uow:
        row = uow.connection.execute(
            select(Quote.provider, Quote.pickup_margin_s, Quote.dropoff_margin_s).where(
                Quote.id == quote_id
            )
        ).one()
        return AttemptProvider(row[0]), Margins(row[1], row[2])


def test_orders_delivered_late_widen_the_promises_that_follow(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    for n, late_s in enumerate((240, 480)):
        delivery = merchant.delivery(key=f"order-{n}")
        _deliver(pump, fleet, token, clock, delivery, late_s)
        assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "delivered"
    # Nothing was added to the first two promises: the lateness is against the estimate.
    assert _outcomes(platform) == [(240, 240), (480, 480)]

    tell_fleet(platform.operations)  # margins are read again with the fleet's next state
    pump()
    quote = merchant.quote()
    provider, margins = _margins(platform, quote["id"])
    # The stated share (95 %) of two deliveries is both: the later one's 480 s.
    assert margins == Margins(480, 480)
    with platform.deliveries_engine.connect() as connection:
        recent = recent_errors(connection, platform.settings.eta_calibration_legs)
    assert calibrate(recent, PromisePolicy(0.95, 2, 0))[provider] == margins
    # The promise is the estimate plus the margin: an order of it is measured against the
    # estimate, so a delivery right on its promise is 480 s late, and one 480 s early on time.
    ordered = merchant.delivery(quote_id=quote["id"], key="order-2")
    assert ordered["pickup_eta"] == quote["pickup_eta"]
    _deliver(pump, fleet, token, clock, ordered, -480)
    assert _outcomes(platform)[-1] == (0, 0)


def test_a_scheduled_order_keeps_no_outcome(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    ready = (clock.now() + timedelta(hours=2)).isoformat()
    quote = merchant.quote(pickup_ready_at=ready)
    delivery = merchant.delivery(quote_id=quote["id"], key="later")
    clock.set(at(quote["pickup_eta"]) - timedelta(minutes=5))  # robots are sent 10 min ahead
    fleet.robot_report("SW-1", SUNSET)
    _deliver(pump, fleet, token, clock, delivery, 0)
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "delivered"
    assert _outcomes(platform) == []
