"""Tasks and trips: a robot carries a delivery task leg by leg; failures, cancels and
reassignments free the robot; the database refuses a robot a second active task."""

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.errors import InvalidTransition
from sidewalk.operations import tasks
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.models import Task
from sidewalk.operations.uow import OpsEvent
from tests.fleet import MELROSE, Fleet


def test_a_robot_carries_a_delivery_from_pickup_to_dropoff(fleet: Fleet) -> None:
    fleet.operator(OperatorRole.PILOT)
    token = fleet.robot("SW-1")
    events: list[OpsEvent] = []
    fleet.platform.operations_observers.append(events.extend)
    task = fleet.delivery_task()
    assert fleet.dispatch().assigned == 1

    mine = fleet.get(token, "/ops/v1/robots/SW-1/task")
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["status"] == "assigned"
    assert [t["type"] for t in body["trips"]] == ["to_pickup", "to_dropoff"]
    to_pickup, to_dropoff = (t["id"] for t in body["trips"])

    for trip, event, task_status in [
        (to_pickup, "started", "in_progress"),
        (to_pickup, "arrived", "in_progress"),
        (to_pickup, "completed", "in_progress"),
        (to_dropoff, "started", "in_progress"),
        (to_dropoff, "arrived", "in_progress"),
        (to_dropoff, "completed", "completed"),
    ]:
        if (trip, event) == (to_dropoff, "completed"):
            # No handover without proof: the compartment must have been opened first.
            shut = fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": event})
            assert shut.status_code == 409, shut.text
            assert shut.json()["code"] == "compartment_not_opened"
            assert fleet.task(task.id).trips[1].status == "arrived"
            fleet.open_door("SW-1")
        answer = fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": event})
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == task_status
        if event == "started" and trip == to_pickup:
            assert answer.json()["pilot"] is not None  # a pilot once it moves

    done = fleet.task(task.id)
    assert [t.status for t in done.trips] == ["completed", "completed"]
    assert fleet.robot_state("SW-1") == "idle"
    assert fleet.get(token, "/ops/v1/robots/SW-1/task").status_code == 204
    kinds = [e.type for e in events if not e.type.startswith("robot.")]
    assert kinds[:2] == ["task.created", "task.assigned"]
    assert kinds[-1] == "task.completed"
    assert "pilot.assigned" in kinds
    assert "pilot.released" in kinds
    assert all(e.attempt_id == "att_test1" for e in events if e.type.startswith("task."))


def test_repeating_the_last_report_changes_nothing(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    trip = task.trips[0].id
    first = fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": "started"})
    again = fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": "started"})
    assert again.status_code == 200
    assert again.json()["status_times"] == first.json()["status_times"]


def test_trips_are_driven_in_order(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    ahead = fleet.post(token, f"/ops/v1/trips/{task.trips[1].id}/events", {"event": "started"})
    assert ahead.status_code == 409
    assert ahead.json()["code"] == "trip_out_of_order"
    skip = fleet.post(token, f"/ops/v1/trips/{task.trips[0].id}/events", {"event": "completed"})
    assert skip.status_code == 409
    assert skip.json()["code"] == "invalid_transition"


def test_a_failed_trip_fails_the_task_and_frees_the_robot(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    trip = task.trips[0].id
    fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": "started"})
    failed = fleet.post(
        token, f"/ops/v1/trips/{trip}/events", {"event": "failed", "reason": "blocked_path"}
    )
    assert failed.json()["status"] == "failed"
    assert failed.json()["failure_reason"] == "blocked_path"
    assert [t["status"] for t in failed.json()["trips"]] == ["failed", "failed"]
    assert fleet.robot_state("SW-1") == "idle"
    late = fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": "arrived"})
    assert late.status_code == 409


def test_a_robot_fault_mid_trip_fails_its_task(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    fleet.post(token, f"/ops/v1/trips/{task.trips[0].id}/events", {"event": "started"})
    reading = {"lat": MELROSE.lat, "lng": MELROSE.lng, "battery_pct": 70, "state": "fault"}
    assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", reading).json()["state"] == "fault"
    ended = fleet.task(task.id)
    assert (ended.status, ended.failure_reason) == ("failed", "robot_fault")


def test_another_robot_cannot_report_on_the_trip(fleet: Fleet) -> None:
    fleet.robot("SW-1")
    other = fleet.robot("SW-2", where=MELROSE)
    task = fleet.delivery_task()
    fleet.dispatch()
    holder = fleet.task(task.id).robot_serial
    intruder = other if holder == "SW-1" else fleet.robot("SW-3")
    answer = fleet.post(intruder, f"/ops/v1/trips/{task.trips[0].id}/events", {"event": "started"})
    assert answer.status_code == 403


def test_a_report_on_an_unknown_trip_or_a_task_without_robot_is_refused(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    unknown = fleet.post(boss.token, "/ops/v1/trips/trp_unknown/events", {"event": "started"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "trip_not_found")
    task = fleet.delivery_task()  # no robot registered: it stays pending
    waiting = fleet.post(
        boss.token, f"/ops/v1/trips/{task.trips[0].id}/events", {"event": "started"}
    )
    assert (waiting.status_code, waiting.json()["code"]) == (409, "task_not_assigned")
    assert fleet.task(task.id).trips[0].status == "pending"


def test_cancelling_frees_the_robot_and_cancels_the_open_trips(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    cancelled = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/cancel", {"reason": "customer"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert [t["status"] for t in cancelled.json()["trips"]] == ["cancelled", "cancelled"]
    assert fleet.robot_state("SW-1") == "idle"
    again = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/cancel")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


def test_cancelling_by_attempt_is_safe_to_repeat(fleet: Fleet) -> None:
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    first = tasks.cancel_task_for_attempt(fleet.ctx, "att_test1")
    second = tasks.cancel_task_for_attempt(fleet.ctx, "att_test1")
    assert first is not None
    assert second is not None
    assert first.id == second.id == task.id
    assert second.status == "cancelled"
    assert tasks.cancel_task_for_attempt(fleet.ctx, "att_unknown") is None


def test_asking_twice_for_one_attempt_gives_one_task(fleet: Fleet) -> None:
    assert fleet.delivery_task().id == fleet.delivery_task().id


def test_reassign_back_to_the_queue_or_to_a_given_robot(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    fleet.robot("SW-2", where=MELROSE)
    task = fleet.delivery_task()
    fleet.dispatch()
    first = fleet.task(task.id).robot_serial
    other = "SW-2" if first == "SW-1" else "SW-1"

    back = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/reassign", {})
    assert back.json()["status"] == "pending"
    assert back.json()["robot_serial"] is None
    assert fleet.robot_state(first) == "idle"

    given = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/reassign", {"robot_serial": other})
    assert given.status_code == 200, given.text
    assert given.json()["robot_serial"] == other
    assert fleet.robot_state(other) == "on_task"

    fleet.report(task.trips[0].id, "started")
    started = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/reassign", {"robot_serial": first})
    assert started.status_code == 409  # under way: cancel it instead


def test_a_busy_robot_is_not_given_a_second_task(fleet: Fleet) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    fleet.robot("SW-1")
    fleet.delivery_task(1)
    fleet.dispatch()
    second = fleet.delivery_task(2)
    refused = fleet.post(
        boss.token, f"/ops/v1/tasks/{second.id}/reassign", {"robot_serial": "SW-1"}
    )
    assert refused.status_code == 409
    assert refused.json()["code"] == "robot_unavailable"


def test_the_database_refuses_a_second_active_task_for_one_robot(fleet: Fleet) -> None:
    fleet.robot("SW-1")
    fleet.delivery_task(1)
    fleet.dispatch()
    second = fleet.delivery_task(2)
    with fleet.ctx.uow() as uow:  # go around every check of the code
        row = uow.session.get(Task, second.id)
        assert row is not None
        row.status, row.robot_serial = "assigned", "SW-1"
        with pytest.raises(IntegrityError):
            uow.session.flush()


def test_a_task_nobody_can_take_fails_after_the_limit(fleet: Fleet, clock: ManualClock) -> None:
    task = fleet.delivery_task()
    assert fleet.dispatch().no_robot_available == 0
    clock.advance(timedelta(seconds=fleet.platform.settings.task_assign_limit_s))
    assert fleet.dispatch().no_robot_available == 1
    ended = fleet.task(task.id)
    assert (ended.status, ended.failure_reason) == ("failed", "no_robot_available")


def test_ending_a_task_twice_is_refused_by_its_state_machine(fleet: Fleet) -> None:
    task = fleet.delivery_task()
    tasks.cancel_task(fleet.ctx, task.id)
    with pytest.raises(InvalidTransition):
        tasks.cancel_task(fleet.ctx, task.id)


@pytest.mark.parametrize("how", ["cancel", "blocked"])
def test_goods_on_board_go_back_to_the_pickup_when_the_delivery_stops(
    fleet: Fleet, how: str
) -> None:
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    to_pickup, to_dropoff = (t.id for t in task.trips)
    for event in ("started", "arrived", "completed"):
        fleet.report(to_pickup, event)
    fleet.report(to_dropoff, "started")
    if how == "cancel":
        ended = fleet.post(boss.token, f"/ops/v1/tasks/{task.id}/cancel").json()
        assert ended["status"] == "cancelled"
    else:
        fleet.report(to_dropoff, "failed", "blocked_path")
        assert fleet.task(task.id).status == "failed"

    back = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    assert back["status"] == "assigned"
    assert back["return_of_task_id"] == task.id
    assert back["delivery_id"] == task.delivery_id
    assert [t["type"] for t in back["trips"]] == ["to_merchant"]
    assert back["trips"][0]["destination"] == {
        "lat": task.trips[0].destination_lat,
        "lng": task.trips[0].destination_lng,
    }
    assert fleet.robot_state("SW-1") == "on_task"  # it never became free with the goods
    for event in ("started", "arrived", "completed"):
        fleet.report(back["trips"][0]["id"], event)
    assert fleet.robot_state("SW-1") == "idle"


def test_a_delivery_stopped_before_pickup_needs_no_return(fleet: Fleet) -> None:
    token = fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    fleet.report(task.trips[0].id, "started")
    tasks.cancel_task(fleet.ctx, task.id)
    assert fleet.get(token, "/ops/v1/robots/SW-1/task").status_code == 204
    assert fleet.robot_state("SW-1") == "idle"
