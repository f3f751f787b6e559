"""The attempt policy as a pure rule: who tries next after a failure before pickup."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.attempt_policy import (
    NOT_FOR_ANOTHER_ROBOT,
    AttemptPolicy,
    network_of,
    next_provider,
    robot_in_time,
)
from sidewalk.deliveries.domain import AttemptProvider

ROBOT, COURIER = AttemptProvider.ROBOT, AttemptProvider.COURIER
NOON = datetime(2026, 12, 7, 12, tzinfo=UTC)
REASONS = st.sampled_from(
    ["robot_fault", "robot_offline", "blocked_path", "courier_failed", *NOT_FOR_ANOTHER_ROBOT]
)


@given(
    most=st.integers(1, 10),
    made=st.integers(1, 12),
    fallback=st.booleans(),
    ended=st.sampled_from([ROBOT, COURIER]),
    reason=REASONS,
    in_time=st.booleans(),
)
def test_the_next_provider_follows_the_rules(
    most: int, made: int, fallback: bool, ended: AttemptProvider, reason: str, in_time: bool
) -> None:
    chosen = next_provider(
        AttemptPolicy(most, fallback),
        attempts=made,
        ended=ended,
        reason=reason,
        robot_can_make_it=in_time,
    )
    if made >= most:
        assert chosen is None  # the cap holds whatever else is true
    elif chosen is ROBOT:
        # Only after a robot's own failure, and only when one makes it in time.
        assert ended is ROBOT
        assert in_time
        assert reason not in NOT_FOR_ANOTHER_ROBOT
    elif chosen is COURIER:
        assert fallback
        assert not (ended is ROBOT and in_time and reason not in NOT_FOR_ANOTHER_ROBOT)
    else:
        assert not fallback
        assert not (ended is ROBOT and in_time and reason not in NOT_FOR_ANOTHER_ROBOT)


def test_a_fleet_short_of_robots_or_pilots_goes_to_a_courier_even_in_time() -> None:
    policy = AttemptPolicy(3, courier_fallback=True)
    for reason in ("no_robot_available", "no_pilot_available", "cancelled_by_operations"):
        chosen = next_provider(
            policy, attempts=1, ended=ROBOT, reason=reason, robot_can_make_it=True
        )
        assert chosen is COURIER


def test_a_robot_is_in_time_by_the_window_else_by_the_promise_and_the_grace() -> None:
    promised = NOON
    late = NOON + timedelta(minutes=11)
    assert robot_in_time(late, dropoff_before=None, promised_dropoff=promised, grace_s=600) is False
    assert robot_in_time(late, dropoff_before=None, promised_dropoff=promised, grace_s=700) is True
    window_end = NOON + timedelta(minutes=30)
    assert robot_in_time(late, dropoff_before=window_end, promised_dropoff=promised, grace_s=0)
    assert not robot_in_time(None, dropoff_before=window_end, promised_dropoff=promised, grace_s=0)


def test_each_provider_has_its_network() -> None:
    assert network_of(ROBOT, "doordash") == "sidewalk"
    assert network_of(COURIER, "doordash") == "doordash"
