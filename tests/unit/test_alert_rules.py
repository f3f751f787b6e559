"""When the fleet raises alerts, and how they are named and ordered."""

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sidewalk.operations.alert_rules import (
    AlertKind,
    RobotFacts,
    Severity,
    TaskFacts,
    fleet_alerts,
    robot_alerts,
    task_alerts,
)
from sidewalk.operations.domain import RobotState, TaskStatus

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def robot(serial: str = "SW-1", state: RobotState = RobotState.IDLE, battery: float = 80,
          since: datetime = T0) -> RobotFacts:  # fmt: skip
    return RobotFacts(serial, state, battery, 20.0, since)


def task(task_id: str = "tsk_1", status: TaskStatus = TaskStatus.PENDING,
         created: datetime = T0, awaiting_pilot: bool = False,
         times: dict[str, str] | None = None) -> TaskFacts:  # fmt: skip
    return TaskFacts(task_id, status, "SW-1", created, awaiting_pilot, times or {})


def test_a_fault_is_critical_and_keeps_its_id_while_it_lasts() -> None:
    (first,) = robot_alerts(robot(state=RobotState.FAULT))
    (again,) = robot_alerts(robot(state=RobotState.FAULT))
    assert first.kind is AlertKind.FAULT
    assert first.severity is Severity.CRITICAL
    assert first.id == again.id
    (later,) = robot_alerts(robot(state=RobotState.FAULT, since=T0 + timedelta(minutes=3)))
    assert later.id != first.id  # it came back: a new alert


def test_a_low_battery_counts_only_away_from_a_charger_and_in_service() -> None:
    assert [a.kind for a in robot_alerts(robot(battery=19.9))] == [AlertKind.LOW_BATTERY]
    assert robot_alerts(robot(battery=20)) == []
    assert robot_alerts(robot(battery=None)) == []  # type: ignore[arg-type]
    for resting in (RobotState.CHARGING, RobotState.OFFLINE, RobotState.MAINTENANCE):
        assert robot_alerts(robot(state=resting, battery=3)) == []
    both = robot_alerts(robot(state=RobotState.FAULT, battery=5))
    assert {a.kind for a in both} == {AlertKind.FAULT, AlertKind.LOW_BATTERY}


def test_a_pending_task_alerts_once_it_has_waited_the_limit() -> None:
    waiting = task(created=T0)
    assert task_alerts(waiting, T0 + timedelta(seconds=299), 300) == []
    (alert,) = task_alerts(waiting, T0 + timedelta(seconds=300), 300)
    assert alert.kind is AlertKind.TASK_WAITING
    assert alert.task_id == "tsk_1"
    assert alert.robot_serial is None


def test_a_started_task_without_a_pilot_alerts_from_when_it_started() -> None:
    started = T0 + timedelta(minutes=2)
    unwatched = task(
        status=TaskStatus.IN_PROGRESS,
        awaiting_pilot=True,
        times={"in_progress": started.isoformat()},
    )
    (alert,) = task_alerts(unwatched, T0 + timedelta(hours=1), 300)
    assert alert.kind is AlertKind.NO_PILOT
    assert alert.since == started
    assert (alert.robot_serial, alert.task_id) == ("SW-1", "tsk_1")
    watched = task(status=TaskStatus.IN_PROGRESS)
    assert task_alerts(watched, T0 + timedelta(hours=1), 300) == []


def test_the_critical_come_first_then_the_oldest() -> None:
    low = robot("SW-2", battery=5, since=T0)
    broken = robot("SW-3", RobotState.FAULT, since=T0 + timedelta(days=1))
    old = task("tsk_old", created=T0 - timedelta(hours=1))
    alerts = fleet_alerts([low, broken], [old], T0 + timedelta(days=2), 300)
    assert [a.kind for a in alerts] == [
        AlertKind.FAULT,
        AlertKind.TASK_WAITING,
        AlertKind.LOW_BATTERY,
    ]


robots = st.builds(
    RobotFacts,
    serial=st.sampled_from([f"SW-{n}" for n in range(6)]),
    state=st.sampled_from(list(RobotState)),
    battery_pct=st.one_of(st.none(), st.floats(0, 100)),
    battery_low_pct=st.floats(0, 100),
    state_changed_at=st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s)),
)
tasks = st.builds(
    TaskFacts,
    id=st.sampled_from([f"tsk_{n}" for n in range(6)]),
    status=st.sampled_from(list(TaskStatus)),
    robot_serial=st.one_of(st.none(), st.just("SW-1")),
    created_at=st.integers(0, 10_000).map(lambda s: T0 + timedelta(seconds=s)),
    awaiting_pilot=st.booleans(),
    status_times=st.just({}),
)


@given(
    st.lists(robots, unique_by=lambda r: r.serial),
    st.lists(tasks, unique_by=lambda t: t.id),
    st.integers(0, 20_000),
)
def test_alerts_are_named_uniquely_and_are_about_what_was_given(
    fleet: list[RobotFacts], open_tasks: list[TaskFacts], after_s: int
) -> None:
    now = T0 + timedelta(seconds=after_s)
    alerts = fleet_alerts(fleet, open_tasks, now, 300)
    assert len({a.id for a in alerts}) == len(alerts)
    serials, task_ids = {r.serial for r in fleet}, {t.id for t in open_tasks}
    for a in alerts:
        if a.kind in (AlertKind.FAULT, AlertKind.LOW_BATTERY):
            assert a.robot_serial in serials
        else:
            assert a.task_id in task_ids
    ranks = [(a.severity is not Severity.CRITICAL, a.since) for a in alerts]
    assert ranks == sorted(ranks)
