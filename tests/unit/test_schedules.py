"""The schedule of a delivery: which times are refused, and how the on-demand times of a trip
are shifted to a pickup-ready time and a dropoff window."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import (
    BEFORE_PICKUP,
    DeliveryStatus,
    Schedule,
    check_schedule,
    plan_schedule,
    window_missed,
)
from sidewalk.kernel.errors import Unprocessable

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
minutes = st.integers(min_value=0, max_value=3 * 24 * 60).map(lambda m: timedelta(minutes=m))
maybe_minutes = st.none() | minutes


@given(lead=minutes, trip=minutes, ready=maybe_minutes, start=maybe_minutes, length=maybe_minutes)
def test_the_plan_keeps_the_trip_and_honours_every_bound_or_is_refused(
    lead: timedelta,
    trip: timedelta,
    ready: timedelta | None,
    start: timedelta | None,
    length: timedelta | None,
) -> None:
    after = NOW + start if start is not None else None
    before = (after or NOW) + length if length is not None else None
    schedule = Schedule(NOW + ready if ready is not None else None, after, before)
    pickup_eta, dropoff_eta = NOW + lead, NOW + lead + trip
    # Refused exactly when the earliest possible handover is after the window.
    earliest = max(pickup_eta, schedule.pickup_ready_at or pickup_eta) + trip
    if before is not None and max(earliest, after or earliest) > before:
        with pytest.raises(Unprocessable) as refused:
            plan_schedule(schedule, pickup_eta=pickup_eta, dropoff_eta=dropoff_eta)
        assert refused.value.code == "dropoff_window_unreachable"
        return
    planned = plan_schedule(schedule, pickup_eta=pickup_eta, dropoff_eta=dropoff_eta)
    assert planned.dropoff_at - planned.pickup_at == trip
    assert planned.pickup_at >= pickup_eta
    if schedule.pickup_ready_at is not None:
        assert planned.pickup_at >= schedule.pickup_ready_at
    if after is not None:
        assert planned.dropoff_at >= after
    if before is not None:
        assert planned.dropoff_at <= before
    # Nothing waits longer than it must: one of the bounds is what holds the pickup back.
    assert planned.pickup_at in {
        pickup_eta,
        schedule.pickup_ready_at,
        (after - trip) if after is not None else None,
    }


@pytest.mark.parametrize(
    ("schedule", "code"),
    [
        (Schedule(pickup_ready_at=NOW - timedelta(minutes=6)), "pickup_ready_in_past"),
        (Schedule(dropoff_before=NOW), "dropoff_window_in_past"),
        (Schedule(pickup_ready_at=NOW + timedelta(days=30, seconds=1)), "schedule_too_far_ahead"),
        (Schedule(dropoff_after=NOW + timedelta(days=31)), "schedule_too_far_ahead"),
        (
            Schedule(dropoff_after=NOW, dropoff_before=NOW + timedelta(minutes=9)),
            "dropoff_window_too_short",
        ),
    ],
)
def test_times_out_of_bounds_are_refused(schedule: Schedule, code: str) -> None:
    with pytest.raises(Unprocessable) as refused:
        check_schedule(schedule, now=NOW)
    assert refused.value.code == code


def test_times_on_the_bounds_are_taken() -> None:
    check_schedule(
        Schedule(
            pickup_ready_at=NOW - timedelta(minutes=5),
            dropoff_after=NOW + timedelta(days=30),
            dropoff_before=NOW + timedelta(days=30, minutes=10),
        ),
        now=NOW,
    )


@given(status=st.sampled_from(DeliveryStatus), late=st.booleans())
def test_a_window_is_missed_only_before_pickup_once_it_ended(
    status: DeliveryStatus, late: bool
) -> None:
    now = NOW + (timedelta(seconds=1) if late else -timedelta(seconds=1))
    assert window_missed(status, NOW, now) == (late and status in BEFORE_PICKUP)
    assert not window_missed(status, None, now)
