"""The Delivery and Attempt state machines: every legal move is taken, every illegal one is
refused with `invalid_transition`, and a terminal status never changes again."""

import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sidewalk.deliveries.domain import (
    ATTEMPT_TRANSITIONS,
    DELIVERY_TRANSITIONS,
    TERMINAL_ATTEMPT,
    TERMINAL_DELIVERY,
    AttemptStatus,
    DeliveryStatus,
    cancellation_target,
    move_attempt,
    move_delivery,
)
from sidewalk.kernel.errors import InvalidTransition

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


@dataclass
class Thing:
    status: str
    status_times: dict[str, str] = field(default_factory=dict)


MACHINES: list[tuple[str, type[StrEnum], Any, Any]] = [
    ("delivery", DeliveryStatus, DELIVERY_TRANSITIONS, move_delivery),
    ("attempt", AttemptStatus, ATTEMPT_TRANSITIONS, move_attempt),
]

PAIRS = [
    pytest.param(move, table, a, b, id=f"{name}:{a}->{b}")
    for name, statuses, table, move in MACHINES
    for a in statuses
    for b in statuses
]


@pytest.mark.parametrize(("move", "table", "current", "to"), PAIRS)
def test_each_move_is_taken_exactly_when_the_table_allows_it(
    move: Any, table: Any, current: StrEnum, to: StrEnum
) -> None:
    thing = Thing(current.value)
    if to in table[current]:
        assert move(thing, to, at=T0) == current
        assert thing.status == to.value
        assert thing.status_times[to.value] == T0.isoformat()
    else:
        with pytest.raises(InvalidTransition) as refused:
            move(thing, to, at=T0)
        assert refused.value.code == "invalid_transition"
        assert refused.value.status == 409
        assert thing.status == current.value
        assert thing.status_times == {}


def test_every_status_is_in_the_tables_and_every_path_starts_at_the_first() -> None:
    for _name, statuses, table, _move in MACHINES:
        assert set(table) == set(statuses)
        reachable, frontier = {next(iter(statuses))}, [next(iter(statuses))]
        while frontier:
            for nxt in table[frontier.pop()]:
                if nxt not in reachable:
                    reachable.add(nxt)
                    frontier.append(nxt)
        assert reachable == set(statuses)


def test_the_terminal_statuses_are_the_ones_of_the_design() -> None:
    assert {s.value for s in TERMINAL_DELIVERY} == {"delivered", "cancelled", "returned", "failed"}
    assert {s.value for s in TERMINAL_ATTEMPT} == {"succeeded", "failed", "cancelled"}


walks = st.lists(st.sampled_from(list(DeliveryStatus)), max_size=30)


@given(walks)
def test_a_random_walk_of_delivery_moves_keeps_the_machine_consistent(
    moves: list[DeliveryStatus],
) -> None:
    thing, at = Thing(DeliveryStatus.PENDING.value), T0
    for to in moves:
        before = DeliveryStatus(thing.status)
        at += timedelta(seconds=1)
        try:
            move_delivery(thing, to, at=at)
        except InvalidTransition:
            assert to not in DELIVERY_TRANSITIONS[before]
            assert thing.status == before.value
            continue
        assert before not in TERMINAL_DELIVERY
        assert thing.status_times[to.value] == at.isoformat()
    if DeliveryStatus(thing.status) in TERMINAL_DELIVERY:
        for to in DeliveryStatus:
            with pytest.raises(InvalidTransition):
                move_delivery(thing, to, at=at)


@given(st.lists(st.sampled_from(list(AttemptStatus)), max_size=20))
def test_a_random_walk_of_attempt_moves_never_leaves_a_terminal_status(
    moves: list[AttemptStatus],
) -> None:
    thing = Thing(AttemptStatus.REQUESTED.value)
    ended_in: str | None = None
    for to in moves:
        with contextlib.suppress(InvalidTransition):
            move_attempt(thing, to, at=T0)
        if ended_in is not None:
            assert thing.status == ended_in
        elif AttemptStatus(thing.status) in TERMINAL_ATTEMPT:
            ended_in = thing.status


@pytest.mark.parametrize("status", list(DeliveryStatus))
def test_cancelling_ends_before_pickup_and_returns_the_goods_after_it(
    status: DeliveryStatus,
) -> None:
    target = cancellation_target(status)
    thing = Thing(status.value)
    if status in {DeliveryStatus.ENROUTE_TO_DROPOFF, DeliveryStatus.AT_DROPOFF}:
        assert target is DeliveryStatus.RETURNING
    else:
        assert target is DeliveryStatus.CANCELLED
    allowed = target in DELIVERY_TRANSITIONS[status]
    assert allowed == (status not in TERMINAL_DELIVERY and status is not DeliveryStatus.RETURNING)
    if not allowed:
        with pytest.raises(InvalidTransition):
            move_delivery(thing, target, at=T0)
