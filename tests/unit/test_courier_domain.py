"""What a courier network's updates mean for a courier attempt and its delivery (the pure
mapping), and the simulated network's timelines: any sequence of updates keeps both state
machines legal, and a job that ends leaves nothing hanging."""

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import (
    ATTEMPT_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    TERMINAL_ATTEMPT,
    TERMINAL_COURIER,
    TERMINAL_DELIVERY,
    AttemptStatus,
    CourierStatus,
    DeliveryStatus,
    Step,
    cancellation_target,
    courier_steps,
    move_attempt,
    move_delivery,
    route,
)
from sidewalk.deliveries.providers.courier_timeline import (
    SimParams,
    plan_job,
    replan_cancel,
    state_at,
)
from sidewalk.kernel.geo import LatLng, haversine_m

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)
C, D, A = CourierStatus, DeliveryStatus, AttemptStatus

PICKUP = LatLng(34.0522, -118.2437)
DROPOFF = LatLng(34.0407, -118.2468)


@dataclass
class Thing:
    status: str
    status_times: dict[str, str] = field(default_factory=dict)


def fresh() -> tuple[Thing, Thing]:
    return Thing(D.PENDING.value), Thing(A.REQUESTED.value)


def follow_courier(
    delivery: Thing,
    attempt: Thing,
    status: CourierStatus,
    *,
    merchant_cancelled: bool,
    reason: str | None = None,
) -> tuple[list[tuple[Step, str]], str | None]:
    """Take the steps an update plans, as the service does: each (step, status it left)."""
    steps, why = courier_steps(
        D(delivery.status), A(attempt.status), status,
        merchant_cancelled=merchant_cancelled, reason=reason,
    )  # fmt: skip
    taken = []
    for step in steps:
        if step.entity == "attempt":
            taken.append((step, move_attempt(attempt, A(step.to), at=T0).value))
        else:
            taken.append((step, move_delivery(delivery, D(step.to), at=T0).value))
    return taken, why


def follow(delivery: Thing, attempt: Thing, status: CourierStatus, **kw: object) -> list[str]:
    taken, _ = follow_courier(
        delivery, attempt, status, merchant_cancelled=bool(kw.get("cancelled"))
    )
    return [f"{step.entity}:{step.to}" for step, _ in taken]


@pytest.mark.parametrize(
    ("status", "delivery", "attempt"),
    [
        (C.CREATED, D.PENDING, A.REQUESTED),
        (C.CONFIRMED, D.ASSIGNED, A.ASSIGNED),
        (C.ENROUTE_TO_PICKUP, D.ENROUTE_TO_PICKUP, A.IN_PROGRESS),
        (C.ARRIVED_AT_PICKUP, D.AT_PICKUP, A.IN_PROGRESS),
        (C.PICKED_UP, D.ENROUTE_TO_DROPOFF, A.IN_PROGRESS),
        (C.ARRIVED_AT_DROPOFF, D.AT_DROPOFF, A.IN_PROGRESS),
        (C.DELIVERED, D.DELIVERED, A.SUCCEEDED),
        (C.FAILED, D.FAILED, A.FAILED),
        (C.CANCELLED, D.FAILED, A.FAILED),
        (C.RETURNED, D.RETURNED, A.FAILED),
    ],
)
def test_a_status_takes_a_new_courier_delivery_where_the_job_stands(
    status: CourierStatus, delivery: DeliveryStatus, attempt: AttemptStatus
) -> None:
    d, a = fresh()
    follow(d, a, status)
    assert (d.status, a.status) == (delivery.value, attempt.value)


def test_a_job_reported_delivered_at_once_passes_through_the_skipped_steps() -> None:
    d, a = fresh()
    moves = follow(d, a, C.DELIVERED)
    assert moves == [
        "attempt:in_progress",
        "attempt:succeeded",
        "delivery:assigned",
        "delivery:enroute_to_dropoff",
        "delivery:delivered",
    ]


def test_news_the_delivery_is_past_changes_nothing() -> None:
    d, a = fresh()
    follow(d, a, C.ARRIVED_AT_DROPOFF)
    assert follow(d, a, C.CONFIRMED) == []
    assert follow(d, a, C.PICKED_UP) == []
    assert (d.status, a.status) == ("at_dropoff", "in_progress")


def test_a_job_given_up_before_pickup_fails_the_delivery_with_the_networks_reason() -> None:
    d, a = fresh()
    follow(d, a, C.ENROUTE_TO_PICKUP)
    _, reason = follow_courier(
        d, a, C.FAILED, merchant_cancelled=False, reason="no_courier_available"
    )
    assert reason == "no_courier_available"
    assert (d.status, a.status) == ("failed", "failed")
    _, default = follow_courier(*fresh(), C.FAILED, merchant_cancelled=False)
    assert default == "courier_failed"


def test_a_return_the_merchant_asked_for_cancels_the_attempt_and_ends_returned() -> None:
    d, a = fresh()
    follow(d, a, C.PICKED_UP)
    move_delivery(d, cancellation_target(D(d.status)), at=T0)
    assert d.status == "returning"
    follow(d, a, C.RETURNING, cancelled=True)
    assert (d.status, a.status) == ("returning", "cancelled")
    follow(d, a, C.RETURNED, cancelled=True)
    assert (d.status, a.status) == ("returned", "cancelled")


def test_a_return_the_network_decided_fails_the_attempt() -> None:
    d, a = fresh()
    follow(d, a, C.ARRIVED_AT_DROPOFF)
    _, reason = follow_courier(d, a, C.RETURNING, merchant_cancelled=False)
    assert (d.status, a.status, reason) == ("returning", "failed", "undeliverable")


def test_a_cancel_the_merchant_made_before_pickup_is_not_undone_by_the_networks_echo() -> None:
    d, a = fresh()
    follow(d, a, C.CONFIRMED)
    move_delivery(d, D.CANCELLED, at=T0)
    move_attempt(a, A.CANCELLED, at=T0)
    assert follow(d, a, C.CANCELLED, cancelled=True) == []
    assert (d.status, a.status) == ("cancelled", "cancelled")


def test_a_handover_a_cancel_came_too_late_for_stands_as_delivered() -> None:
    d, a = fresh()
    follow(d, a, C.ARRIVED_AT_DROPOFF)
    move_delivery(d, D.RETURNING, at=T0)
    _, reason = follow_courier(d, a, C.DELIVERED, merchant_cancelled=True)
    assert (d.status, a.status, reason) == ("delivered", "succeeded", None)


def test_a_route_takes_only_allowed_steps_and_never_goes_back_to_pending() -> None:
    via = frozenset({D.ASSIGNED, D.AT_PICKUP, D.ENROUTE_TO_DROPOFF, D.RETURNING})
    path = route(DELIVERY_TRANSITIONS, D.PENDING, D.RETURNED, via=via)
    steps = [D.PENDING, *path]
    assert path[-1] is D.RETURNED
    assert all(b in DELIVERY_TRANSITIONS[a] for a, b in itertools.pairwise(steps))
    assert route(DELIVERY_TRANSITIONS, D.AT_DROPOFF, D.AT_PICKUP, via=via) == []
    assert route(ATTEMPT_TRANSITIONS, A.SUCCEEDED, A.FAILED, via=frozenset()) == []


LEGAL = {
    (entity, current.value, to.value)
    for entity, table in (("delivery", DELIVERY_TRANSITIONS), ("attempt", ATTEMPT_TRANSITIONS))
    for current, allowed in table.items()
    for to in allowed
}
MERCHANT_CANCEL = "merchant_cancel"
actions = st.lists(st.sampled_from([*CourierStatus, MERCHANT_CANCEL]), max_size=25)


@given(actions)
def test_no_sequence_of_updates_breaks_the_state_machines(sequence: list[str]) -> None:
    d, a = fresh()
    cancelled = False
    for action in sequence:
        before = (D(d.status), A(a.status))
        if action == MERCHANT_CANCEL:
            target = cancellation_target(before[0])
            if target not in DELIVERY_TRANSITIONS[before[0]]:
                continue  # the merchant is told `invalid_transition`
            move_delivery(d, target, at=T0)
            if target is D.CANCELLED and before[1] not in TERMINAL_ATTEMPT:
                move_attempt(a, A.CANCELLED, at=T0)
            cancelled = True
            continue
        status = CourierStatus(action)
        taken, _ = follow_courier(d, a, status, merchant_cancelled=cancelled)
        walked = {"delivery": before[0].value, "attempt": before[1].value}
        for step, previous in taken:
            assert previous == walked[step.entity]
            assert (step.entity, previous, step.to) in LEGAL
            walked[step.entity] = step.to
        if before[0] in TERMINAL_DELIVERY:
            assert d.status == before[0].value
        if before[1] in TERMINAL_ATTEMPT:
            assert a.status == before[1].value
        if status in TERMINAL_COURIER:  # a job that ended leaves nothing hanging
            assert D(d.status) in TERMINAL_DELIVERY
            assert A(a.status) in TERMINAL_ATTEMPT
        if d.status == "delivered":
            assert a.status == "succeeded"
        if a.status == "succeeded":  # delivered, or a return the handover came before
            assert d.status in {"delivered", "failed"}


PARAMS = SimParams(accept_delay_s=120, speed_mps=4.5, detour_factor=1.3, failure_rate=0.0, seed=7)


def test_a_job_is_drawn_from_its_own_seed_whatever_else_the_network_does() -> None:
    first = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS)
    plan_job(PICKUP, DROPOFF, "att_2", T0, PARAMS)
    again = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS)
    other_seed = plan_job(PICKUP, DROPOFF, "att_1", T0, SimParams(120, 4.5, 1.3, 0.0, seed=8))
    assert first == again
    assert first.steps != other_seed.steps


def test_a_courier_rides_to_the_pickup_then_the_dropoff_at_courier_speed() -> None:
    timeline = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS)
    steps = timeline.steps
    statuses = [s.status for s in steps]
    assert statuses[0] is C.CONFIRMED
    assert statuses[-1] is C.DELIVERED
    milestones = [
        s for s in statuses if s is not C.ENROUTE_TO_PICKUP and s is not C.ENROUTE_TO_DROPOFF
    ]
    assert milestones == [
        C.CONFIRMED,
        C.ARRIVED_AT_PICKUP,
        C.PICKED_UP,
        C.ARRIVED_AT_DROPOFF,
        C.DELIVERED,
    ]
    assert [s.at for s in steps] == sorted(s.at for s in steps)
    assert statuses.count(C.ENROUTE_TO_DROPOFF) > 2  # positions on the way
    assert 90 <= (steps[0].at - T0).total_seconds() <= 150  # the acceptance delay ± 25 %
    picked = next(s for s in steps if s.status is C.PICKED_UP)
    there = next(s for s in steps if s.status is C.ARRIVED_AT_DROPOFF)
    ride = haversine_m(PICKUP, DROPOFF) * 1.3 / 4.5
    assert (there.at - picked.at).total_seconds() == pytest.approx(ride)
    assert there.position == DROPOFF


def test_with_a_failure_rate_of_one_every_job_fails_before_pickup() -> None:
    certain = SimParams(120, 4.5, 1.3, failure_rate=1.0, seed=0)
    reasons = set()
    for n in range(20):
        steps = plan_job(PICKUP, DROPOFF, f"att_{n}", T0, certain).steps
        assert steps[-1].status is C.FAILED
        assert C.PICKED_UP not in [s.status for s in steps]
        reasons.add(steps[-1].reason)
    assert reasons == {"no_courier_available", "courier_failed"}


def test_a_cancel_before_pickup_ends_the_job_there_and_then() -> None:
    steps = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS).steps
    at = steps[0].at + timedelta(seconds=10)
    after = replan_cancel(steps, 2, PICKUP, at, "cancelled_by_merchant", PARAMS)
    assert after is not None
    assert after[-1].status is C.CANCELLED
    assert after[-1].at == at
    assert after[:-1] == [s for s in steps if s.at <= at]


def test_a_cancel_with_the_goods_on_board_brings_them_back_to_the_pickup() -> None:
    steps = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS).steps
    picked = next(s for s in steps if s.status is C.PICKED_UP)
    at = picked.at + timedelta(seconds=120)
    after = replan_cancel(steps, 0, PICKUP, at, "cancelled_by_merchant", PARAMS)
    assert after is not None
    kept = [s for s in steps if s.at <= at]
    assert after[: len(kept)] == kept
    ending = [s.status for s in after[len(kept) :]]
    assert ending[0] is C.RETURNING
    assert ending[-1] is C.RETURNED
    assert set(ending[1:-1]) <= {C.RETURNING}
    assert after[-1].position == PICKUP
    assert state_at(after, at)[0] is C.RETURNING


def test_a_finished_job_cannot_be_cancelled() -> None:
    steps = plan_job(PICKUP, DROPOFF, "att_1", T0, PARAMS).steps
    late = steps[-1].at + timedelta(seconds=1)
    assert replan_cancel(steps, len(steps), PICKUP, late, "too late", PARAMS) is None
