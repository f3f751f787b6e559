"""Pilots: the least-loaded available pilot takes a robot when it starts moving, never more
than their capacity; robots move to other pilots when theirs leaves; a task with no pilot
waits, then fails with no_pilot_available."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.geo import LatLng
from sidewalk.operations import operators
from sidewalk.operations.domain import OperatorPrincipal, OperatorRole, OperatorStatus
from sidewalk.operations.models import Operator, PilotAssignment, Task
from sidewalk.operations.pilots import waiting_for_pilot
from tests.fleet import Fleet


def _start(fleet: Fleet, task: Task) -> Task:
    return fleet.report(fleet.task(task.id).trips[0].id, "started")


def _spread(n: int) -> LatLng:
    return LatLng(34.0880 + 0.0005 * (n % 10), -118.3700 + 0.0005 * (n // 10))


def _open_loads(fleet: Fleet) -> dict[str, int]:
    with fleet.ctx.uow() as uow:
        rows = uow.session.execute(
            select(PilotAssignment.pilot_id, func.count())
            .where(PilotAssignment.released_at.is_(None))
            .group_by(PilotAssignment.pilot_id)
        ).all()
    return {pilot: int(n) for pilot, n in rows}


def _go(fleet: Fleet, pilot_id: str, status: OperatorStatus) -> None:
    me = OperatorPrincipal(pilot_id, OperatorRole.PILOT)
    operators.set_status(fleet.ctx, me, pilot_id, status)


def test_started_robots_go_to_the_least_loaded_pilot_up_to_capacity(fleet: Fleet) -> None:
    capacity = fleet.platform.settings.pilot_capacity
    a = fleet.operator(OperatorRole.PILOT)
    b = fleet.operator(OperatorRole.PILOT)
    fleet.operator(OperatorRole.PILOT, OperatorStatus.BREAK)  # not available: never chosen
    started = []
    for n in range(2 * capacity + 1):
        fleet.robot(f"SW-{n}", where=_spread(n))
        started.append(fleet.delivery_task(n, pickup=_spread(n)))
    fleet.dispatch()
    for task in started:
        _start(fleet, task)
    assert _open_loads(fleet) == {a.id: capacity, b.id: capacity}
    with fleet.ctx.uow() as uow:
        waiting = waiting_for_pilot(uow.connection)
    assert len(waiting) == 1


def test_a_pilot_leaving_hands_their_robots_to_others(fleet: Fleet) -> None:
    a = fleet.operator(OperatorRole.PILOT)
    for n in range(3):
        fleet.robot(f"SW-{n}", where=_spread(n))
        fleet.delivery_task(n, pickup=_spread(n))
    fleet.dispatch()
    for n in range(3):
        with fleet.ctx.uow() as uow:
            task_id = uow.session.scalar(select(Task.id).where(Task.attempt_id == f"att_test{n}"))
        assert task_id is not None
        fleet.report(fleet.task(task_id).trips[0].id, "started")
    assert _open_loads(fleet) == {a.id: 3}
    b = fleet.operator(OperatorRole.PILOT)
    _go(fleet, a.id, OperatorStatus.BREAK)
    assert _open_loads(fleet) == {b.id: 3}
    answer = fleet.get(b.token, "/ops/v1/pilot-assignments/active").json()["data"]
    assert len(answer) == 3


def test_a_task_without_a_pilot_waits_then_fails(fleet: Fleet, clock: ManualClock) -> None:
    fleet.platform.settings.robot_offline_after_s = 3600  # the robot stays online meanwhile
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    _start(fleet, task)
    assert fleet.get(
        fleet.operator(OperatorRole.SUPERVISOR).token, f"/ops/v1/tasks/{task.id}"
    ).json()["awaiting_pilot"]
    clock.advance(timedelta(seconds=fleet.platform.settings.pilot_wait_limit_s - 1))
    assert fleet.dispatch().no_pilot_available == 0
    clock.advance(timedelta(seconds=1))
    assert fleet.dispatch().no_pilot_available == 1
    ended = fleet.task(task.id)
    assert (ended.status, ended.failure_reason) == ("failed", "no_pilot_available")
    assert fleet.robot_state("SW-1") == "idle"


def test_a_pilot_coming_online_takes_a_waiting_robot(fleet: Fleet) -> None:
    late = fleet.operator(OperatorRole.PILOT, OperatorStatus.OFFLINE)
    fleet.robot("SW-1")
    task = fleet.delivery_task()
    fleet.dispatch()
    _start(fleet, task)
    answer = fleet.patch(late.token, f"/ops/v1/operators/{late.id}", {"status": "available"})
    assert answer.status_code == 200, answer.text
    assert _open_loads(fleet) == {late.id: 1}
    with fleet.ctx.uow() as uow:
        assert waiting_for_pilot(uow.connection) == []


# Random runs of starts, task ends and pilots coming and going: no pilot ever holds more
# than their capacity, no unavailable pilot holds a robot, and a started task is either
# supervised or waiting, never both.
actions = st.lists(
    st.one_of(
        st.tuples(st.just("start"), st.integers(0, 9)),
        st.tuples(st.just("finish"), st.integers(0, 9)),
        st.tuples(st.just("pilot"), st.integers(0, 2), st.sampled_from(list(OperatorStatus))),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(actions)
def test_pilot_capacity_is_never_exceeded(fleet: Fleet, steps: list[tuple[object, ...]]) -> None:
    capacity = 2
    fleet.platform.settings.pilot_capacity = capacity
    with fleet.ctx.uow() as uow:  # hypothesis reuses the fixture: start from an empty fleet
        for table in (
            "pilot_assignments",
            "trips",
            "tasks",
            "state_history",
            "robots",
            "operators",
        ):
            uow.session.execute(text(f"DELETE FROM {table}"))
        uow.commit()
    pilots = [fleet.operator(OperatorRole.PILOT) for _ in range(3)]
    task_ids = []
    for n in range(10):
        fleet.robot(f"R{n}", where=_spread(n))
        task_ids.append(fleet.delivery_task(n, pickup=_spread(n)).id)
    fleet.dispatch()
    for step in steps:
        if step[0] == "pilot":
            _go(fleet, pilots[int(str(step[1]))].id, OperatorStatus(str(step[2])))
            continue
        task = fleet.task(task_ids[int(str(step[1]))])
        trip = task.trips[0]
        if step[0] == "start" and task.status == "assigned":
            fleet.report(trip.id, "started")
        elif step[0] == "finish" and task.status == "in_progress":
            fleet.report(trip.id, "failed", "blocked_path")
        loads = _open_loads(fleet)
        available = {p.id for p in pilots if _status(fleet, p.id) == "available"}
        assert all(n <= capacity for n in loads.values())
        assert set(loads) <= available
        with fleet.ctx.uow() as uow:
            waiting = {w.task_id for w in waiting_for_pilot(uow.connection)}
        supervised = _supervised(fleet)
        for task_id in task_ids:
            t = fleet.task(task_id)
            if t.status == "in_progress":
                assert (t.id in supervised) != (t.id in waiting)
            else:
                assert t.id not in supervised


def _status(fleet: Fleet, operator_id: str) -> str:
    with fleet.ctx.uow() as uow:
        return str(uow.session.get_one(Operator, operator_id).status)


def _supervised(fleet: Fleet) -> set[str]:
    with fleet.ctx.uow() as uow:
        return set(
            uow.session.scalars(
                select(PilotAssignment.task_id).where(PilotAssignment.released_at.is_(None))
            )
        )
