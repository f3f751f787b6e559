"""A robot's news reaches the deliveries service in whatever order the bus and the handlers'
threads give it: whatever the order, each step is one its state machine allows, and once all
the news is in, the attempt and the delivery stand where the robot is."""

from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import (
    ATTEMPT_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    AttemptStatus,
    DeliveryStatus,
    progress_targets,
    robot_steps,
)

# Every event of a delivery task carried out to the end, as operations tells it.
DELIVERED = [
    ("task.assigned", ""),
    ("trip.in_progress", "to_pickup"),
    ("trip.arrived", "to_pickup"),
    ("trip.completed", "to_pickup"),
    ("trip.in_progress", "to_dropoff"),
    ("trip.arrived", "to_dropoff"),
    ("trip.completed", "to_dropoff"),
    ("task.completed", ""),
]


def _hear(
    news: list[tuple[str, str]], delivery: DeliveryStatus, attempt: AttemptStatus
) -> tuple[DeliveryStatus, AttemptStatus]:
    for event_type, trip_type in news:
        attempt_target, delivery_target = progress_targets(event_type, "delivery", trip_type)
        for step in robot_steps(delivery, attempt, attempt_target, delivery_target):
            if step.entity == "attempt":
                assert AttemptStatus(step.to) in ATTEMPT_TRANSITIONS[attempt]
                attempt = AttemptStatus(step.to)
            else:
                assert DeliveryStatus(step.to) in DELIVERY_TRANSITIONS[delivery]
                delivery = DeliveryStatus(step.to)
    return delivery, attempt


@given(st.permutations(DELIVERED))
def test_all_the_news_in_any_order_ends_delivered_and_succeeded(
    news: list[tuple[str, str]],
) -> None:
    assert _hear(news, DeliveryStatus.PENDING, AttemptStatus.REQUESTED) == (
        DeliveryStatus.DELIVERED,
        AttemptStatus.SUCCEEDED,
    )


@given(st.permutations(DELIVERED[:4]))
def test_the_news_up_to_pickup_in_any_order_ends_on_the_way_to_the_door(
    news: list[tuple[str, str]],
) -> None:
    assert _hear(news, DeliveryStatus.PENDING, AttemptStatus.REQUESTED) == (
        DeliveryStatus.ENROUTE_TO_DROPOFF,
        AttemptStatus.IN_PROGRESS,
    )


def test_late_news_of_a_step_passed_changes_nothing() -> None:
    late = [("trip.in_progress", "to_pickup"), ("task.assigned", "")]
    assert _hear(late, DeliveryStatus.AT_DROPOFF, AttemptStatus.IN_PROGRESS) == (
        DeliveryStatus.AT_DROPOFF,
        AttemptStatus.IN_PROGRESS,
    )
    assert _hear(late, DeliveryStatus.CANCELLED, AttemptStatus.CANCELLED) == (
        DeliveryStatus.CANCELLED,
        AttemptStatus.CANCELLED,
    )
