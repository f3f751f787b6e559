"""The operations rules: the Task, Trip and robot state machines (every legal move taken, every
illegal one refused, terminal states final), the choice of a pilot, and state-history dates."""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.kernel.errors import InvalidTransition
from sidewalk.kernel.statemachine import check, transition
from sidewalk.operations.domain import (
    ENDS_TASK,
    PERMISSIONS,
    REPORTABLE,
    ROBOT_TRANSITIONS,
    TASK_TRANSITIONS,
    TERMINAL_TASK,
    TERMINAL_TRIP,
    TRIP_TRANSITIONS,
    TRIPS_OF,
    Action,
    OperatorRole,
    PilotLoad,
    RobotState,
    TaskStatus,
    TaskType,
    TripStatus,
    TripType,
    choose_pilot,
    next_history_date,
    reported_change,
)

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


@dataclass
class Thing:
    status: str
    status_times: dict[str, str] = field(default_factory=dict)


MACHINES: list[tuple[str, type[StrEnum], Any]] = [
    ("task", TaskStatus, TASK_TRANSITIONS),
    ("trip", TripStatus, TRIP_TRANSITIONS),
    ("robot", RobotState, ROBOT_TRANSITIONS),
]

PAIRS = [
    pytest.param(name, table, a, b, id=f"{name}:{a}->{b}")
    for name, statuses, table in MACHINES
    for a in statuses
    for b in statuses
]


@pytest.mark.parametrize(("name", "table", "current", "to"), PAIRS)
def test_each_move_is_taken_exactly_when_the_table_allows_it(
    name: str, table: Any, current: StrEnum, to: StrEnum
) -> None:
    thing = Thing(current.value)
    if to in table[current]:
        assert transition(name, table, thing, to, at=T0) == current
        assert thing.status == to.value
        assert thing.status_times == {to.value: T0.isoformat()}
    else:
        with pytest.raises(InvalidTransition) as refused:
            transition(name, table, thing, to, at=T0)
        assert refused.value.code == "invalid_transition"
        assert refused.value.status == 409
        assert refused.value.extra["current_status"] == current.value
        assert thing.status == current.value
        assert thing.status_times == {}


def test_every_status_is_reachable_from_the_first() -> None:
    for _name, statuses, table in MACHINES:
        assert set(table) == set(statuses)
        start = next(iter(statuses))
        reachable, frontier = {start}, [start]
        while frontier:
            for nxt in table[frontier.pop()]:
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
        assert reachable == set(statuses)


def test_terminal_states_are_those_of_the_design_and_robots_have_none() -> None:
    assert {s.value for s in TERMINAL_TASK} == {"completed", "failed", "cancelled"}
    assert {s.value for s in TERMINAL_TRIP} == {"completed", "failed", "cancelled"}
    assert all(ROBOT_TRANSITIONS[s] for s in RobotState)


def test_a_robot_on_a_task_cannot_go_into_maintenance_directly() -> None:
    with pytest.raises(InvalidTransition):
        check("robot", ROBOT_TRANSITIONS, RobotState.ON_TASK, RobotState.MAINTENANCE)


def test_each_task_type_has_its_legs() -> None:
    assert TRIPS_OF[TaskType.DELIVERY] == (TripType.TO_PICKUP, TripType.TO_DROPOFF)
    assert TRIPS_OF[TaskType.RETURN] == (TripType.TO_MERCHANT,)
    assert TRIPS_OF[TaskType.CHARGE] == TRIPS_OF[TaskType.REPOSITION] == (TripType.TO_HUB,)


@given(
    st.sampled_from([(n, s, t) for n, s, t in MACHINES if n != "robot"]),
    st.lists(st.integers(min_value=0, max_value=5), max_size=25),
)
def test_a_random_walk_never_leaves_a_terminal_status(
    machine: tuple[str, type[StrEnum], Any], picks: list[int]
) -> None:
    name, statuses, table = machine
    members = list(statuses)
    thing, at = Thing(members[0].value), T0
    ended_in: str | None = None
    for pick in picks:
        to = members[pick % len(members)]
        before = statuses(thing.status)
        at += timedelta(seconds=1)
        try:
            transition(name, table, thing, to, at=at)
        except InvalidTransition:
            assert to not in table[before]
            assert thing.status == before.value
        else:
            assert to in table[before]
            assert thing.status_times[to.value] == at.isoformat()
        if ended_in is not None:
            assert thing.status == ended_in
        elif not table[statuses(thing.status)]:
            ended_in = thing.status


@given(st.lists(st.sampled_from(list(RobotState)), max_size=30))
def test_a_random_walk_of_robot_states_only_takes_allowed_moves(moves: list[RobotState]) -> None:
    state = RobotState.OFFLINE
    for to in moves:
        try:
            check("robot", ROBOT_TRANSITIONS, state, to)
        except InvalidTransition:
            assert to not in ROBOT_TRANSITIONS[state]
            continue
        state = to
    assert state in ROBOT_TRANSITIONS


loads = st.lists(
    st.builds(PilotLoad, st.text("abcdef", min_size=1, max_size=3), st.integers(0, 6)),
    max_size=8,
    unique_by=lambda p: p.pilot_id,
)


@given(loads, st.integers(1, 5))
def test_the_chosen_pilot_is_a_least_loaded_one_with_room(
    pilots: list[PilotLoad], capacity: int
) -> None:
    chosen = choose_pilot(pilots, capacity)
    with_room = [p for p in pilots if p.active < capacity]
    if not with_room:
        assert chosen is None
        return
    by_id = {p.pilot_id: p for p in pilots}
    assert chosen is not None
    assert by_id[chosen].active < capacity
    assert by_id[chosen].active == min(p.active for p in with_room)


@given(st.lists(st.integers(-3, 3), min_size=1, max_size=40))
def test_history_dates_strictly_increase_whatever_the_clock_does(steps: list[int]) -> None:
    now, last = T0, None
    for step in steps:
        now += timedelta(microseconds=step)  # the clock may stand still or step back
        date = next_history_date(now, last)
        if last is not None:
            assert date > last
        assert date >= now
        last = date


def test_the_role_table_gives_admins_everything_and_pilots_no_management() -> None:
    for action, roles in PERMISSIONS.items():
        assert OperatorRole.ADMIN in roles
        if action.value.endswith(".manage") or action is Action.DISPATCH_RUN:
            assert OperatorRole.PILOT not in roles
    assert PERMISSIONS[Action.OPERATORS_MANAGE] == {OperatorRole.ADMIN}


@given(
    current=st.sampled_from(RobotState),
    reported=st.none() | st.sampled_from(sorted(REPORTABLE)),
    fresh=st.booleans(),
    battery=st.floats(0, 100),
)
def test_a_reading_moves_a_robot_only_along_its_state_machine(
    current: RobotState, reported: RobotState | None, fresh: bool, battery: float
) -> None:
    to = reported_change(current, reported, fresh, battery, charged_pct=95)
    assert to is not current
    if to is not None and to not in ROBOT_TRANSITIONS[current]:
        # The one report the machine refuses (409): a faulty robot cannot start charging.
        assert (current, to) == (RobotState.FAULT, RobotState.CHARGING)
    if current is RobotState.MAINTENANCE:
        assert to is None  # a robot in maintenance does not take itself out
    if not fresh and reported not in ENDS_TASK and current is not RobotState.OFFLINE:
        assert to is None  # an old reading says nothing about now, but a fault or going offline
    if to is not None and current is RobotState.ON_TASK:
        assert to in ENDS_TASK  # only a fault or going offline ends a task


def test_a_charging_robot_is_idle_again_once_it_reports_a_full_battery() -> None:
    assert reported_change(RobotState.CHARGING, None, True, 95.0, 95) is RobotState.IDLE
    assert reported_change(RobotState.CHARGING, None, True, 94.9, 95) is None
    assert reported_change(RobotState.OFFLINE, None, False, 10.0, 95) is RobotState.IDLE
