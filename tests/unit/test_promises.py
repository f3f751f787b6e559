"""Promises as pure rules: margins calibrated on recent deliveries, the times they give, and
the fleet model they are added to (which robot a quote counts on)."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.deliveries.eta import FleetState, fleet_pickup_lead_s
from sidewalk.deliveries.promises import (
    Errors,
    Margins,
    PromisePolicy,
    calibrate,
    margin,
    outcome,
    promised,
)
from sidewalk.kernel.geo import LatLng

NOON = datetime(2026, 12, 7, 12, tzinfo=UTC)
POLICY = PromisePolicy(percentile=0.95, min_legs=20, prior_s=240)
ERRORS = st.lists(st.floats(-3600, 3600, allow_nan=False), min_size=20, max_size=400)


@given(errors=ERRORS, percentile=st.floats(0.5, 0.99))
def test_the_margin_covers_the_stated_share_of_recent_deliveries(
    errors: list[float], percentile: float
) -> None:
    policy = PromisePolicy(percentile, min_legs=20, prior_s=0)
    kept = sum(e <= margin(errors, policy) for e in errors)
    assert kept >= percentile * len(errors)
    # and no more than needed: a second less would keep fewer than the stated share
    fewer = sum(e <= margin(errors, policy) - 1 for e in errors)
    assert fewer < percentile * len(errors)


def test_too_few_deliveries_give_the_prior() -> None:
    assert margin([5000.0] * 19, POLICY) == POLICY.prior_s
    assert margin([5000.0] * 20, POLICY) == 5000


def test_a_pessimistic_estimate_gets_a_negative_margin() -> None:
    assert margin([-600.0] * 50, POLICY) == -600


def test_each_provider_is_calibrated_on_its_own_deliveries() -> None:
    robots = Errors(pickup_s=[10.0] * 30, dropoff_s=[100.0] * 30)
    margins = calibrate({AttemptProvider.ROBOT: robots}, POLICY)
    assert margins[AttemptProvider.ROBOT] == Margins(10, 100)
    assert margins[AttemptProvider.COURIER] == Margins(POLICY.prior_s, POLICY.prior_s)


@given(
    lead_s=st.integers(0, 3600),
    trip_s=st.integers(0, 3600),
    pickup_margin=st.integers(-3600, 3600),
    dropoff_margin=st.integers(-3600, 3600),
)
def test_promised_times_are_never_before_now_nor_shorter_than_the_trip(
    lead_s: int, trip_s: int, pickup_margin: int, dropoff_margin: int
) -> None:
    pickup = NOON + timedelta(seconds=lead_s)
    dropoff = pickup + timedelta(seconds=trip_s)
    pickup_at, dropoff_at, added = promised(
        NOON, pickup, dropoff, Margins(pickup_margin, dropoff_margin)
    )
    assert pickup_at >= NOON
    assert dropoff_at - pickup_at >= dropoff - pickup
    assert pickup_at == pickup + timedelta(seconds=added.pickup_s)
    assert dropoff_at == dropoff + timedelta(seconds=added.dropoff_s)
    if pickup + timedelta(seconds=pickup_margin) >= NOON:
        assert added.pickup_s == pickup_margin


def test_an_outcome_is_measured_against_the_estimate_behind_the_promise() -> None:
    kept = outcome(
        AttemptProvider.ROBOT,
        NOON + timedelta(seconds=700),  # promised: the estimate plus 100 s
        NOON + timedelta(seconds=2000),  # promised: the estimate plus 200 s
        Margins(100, 200),
        reached_pickup=NOON + timedelta(seconds=650),
        delivered=NOON + timedelta(seconds=2100),
    )
    assert kept.pickup_error_s == 50.0
    assert kept.dropoff_error_s == 300.0
    unseen = outcome(
        AttemptProvider.COURIER, NOON, NOON, Margins(), reached_pickup=None, delivered=NOON
    )
    assert unseen.pickup_error_s is None


# --- the fleet model: which robot a quote counts on ------------------------------------------

PICKUP = LatLng(34.0901, -118.3617)
SPEED = 1.6


def _robot(metres_north: float, free_in_s: float = 0.0) -> list[float]:
    return [PICKUP.lat + metres_north / 111_195.0, PICKUP.lng, free_in_s, SPEED]


def _lead(robots: list[list[float]], pending: int = 0, **kw: object) -> float | None:
    state = FleetState(NOON, np.array(robots, dtype=np.float64).reshape(-1, 4), pending)
    return fleet_pickup_lead_s(state, PICKUP, detour_factor=1.0, cycle_s=600.0, **kw)  # type: ignore[arg-type]


def test_a_free_robot_is_counted_on_rather_than_a_busy_one_that_would_be_sooner() -> None:
    # The dispatcher sends the free robot now; it does not wait for the busy one.
    lead = _lead([_robot(800.0), _robot(0.0, free_in_s=120.0)])
    assert lead == pytest.approx(800.0 / SPEED, abs=1.0)


def test_busy_robots_count_when_the_free_ones_are_all_spoken_for() -> None:
    # One task waits: it takes the soonest robot (busy, 120 s); the quote the next soonest,
    # busy too (200 s, then 100 m), before the free one 800 m away (500 s).
    robots = [_robot(800.0), _robot(0.0, free_in_s=120.0), _robot(100.0, free_in_s=200.0)]
    lead = _lead(robots, pending=1)
    assert lead == pytest.approx(200.0 + 100.0 / SPEED, abs=1.0)


def test_an_order_since_the_snapshot_takes_the_robot_soonest_at_its_pickup() -> None:
    robots = [_robot(100.0), _robot(900.0)]
    assert _lead(robots) == pytest.approx(100.0 / SPEED, abs=1.0)
    assert _lead(robots, taken=[PICKUP]) == pytest.approx(900.0 / SPEED, abs=1.0)
    # more orders than robots: the next waits for a robot's next round
    waiting = _lead(robots, taken=[PICKUP, PICKUP])
    assert waiting is not None
    assert waiting > 600.0
