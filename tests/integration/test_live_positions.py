"""A robot's readings that change no state are held in memory and written in batches: the
robot and every reader in the process see them at once, the database at the next flush; an
older reading never replaces a newer one; anything that changes a state is written at once."""

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from sidewalk.kernel.clock import ManualClock
from sidewalk.operations import robots
from sidewalk.operations.domain import OperatorRole, RobotState
from sidewalk.operations.models import Robot, StateHistory
from tests.fleet import MAIN_ST, MELROSE, SUNSET, Fleet


def _stored(fleet: Fleet, serial: str) -> Any:
    with fleet.platform.operations_engine.connect() as connection:
        return connection.execute(
            select(Robot.lat, Robot.lng, Robot.state, Robot.reading_at, Robot.last_seen_at).where(
                Robot.serial == serial
            )
        ).one()


def _reading(where: Any, **extra: Any) -> dict[str, Any]:
    return {"lat": where.lat, "lng": where.lng, "battery_pct": 80, **extra}


def test_a_moving_robot_is_seen_at_once_and_written_at_the_next_flush(fleet: Fleet) -> None:
    token = fleet.robot("SW-1", SUNSET)
    boss = fleet.operator(OperatorRole.SUPERVISOR)
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST)).json()
    assert answer["position"] == {"lat": MAIN_ST.lat, "lng": MAIN_ST.lng}
    assert fleet.get(boss.token, "/ops/v1/robots/SW-1").json()["position"] == answer["position"]
    listed = fleet.get(boss.token, "/ops/v1/robots").json()["data"]
    assert listed[0]["position"] == answer["position"]
    assert _stored(fleet, "SW-1").lng == SUNSET.lng  # not yet written

    assert fleet.ctx.positions.flush() == 1
    stored = _stored(fleet, "SW-1")
    assert (stored.lat, stored.lng) == (MAIN_ST.lat, MAIN_ST.lng)
    assert stored.last_seen_at is not None
    assert fleet.ctx.positions.flush() == 0  # nothing new


def test_an_older_reading_replaces_neither_the_one_held_nor_the_one_written(
    fleet: Fleet, clock: ManualClock
) -> None:
    token = fleet.robot("SW-1", SUNSET)
    now = clock.now()
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST, at=now.isoformat()))
    late = _reading(MELROSE, at=(now - timedelta(seconds=3)).isoformat())
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", late).json()
    assert answer["position"] == {"lat": MAIN_ST.lat, "lng": MAIN_ST.lng}
    fleet.ctx.positions.flush()
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", late)
    fleet.ctx.positions.flush()
    assert _stored(fleet, "SW-1").lng == MAIN_ST.lng


def test_a_fault_is_written_at_once_with_its_history_row(fleet: Fleet) -> None:
    token = fleet.robot("SW-1", SUNSET)
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST))
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MELROSE, state="fault"))
    assert answer.json()["state"] == "fault"
    stored = _stored(fleet, "SW-1")  # no flush: the change went through its own transaction
    assert (stored.state, stored.lng) == (RobotState.FAULT, MELROSE.lng)
    with fleet.platform.operations_engine.connect() as connection:
        last = connection.scalars(
            select(StateHistory.state)
            .where(StateHistory.serial == "SW-1")
            .order_by(StateHistory.date.desc())
        ).first()
    assert last == RobotState.FAULT


def test_a_change_made_in_the_process_is_what_the_next_reading_answers(fleet: Fleet) -> None:
    token = fleet.robot("SW-1", SUNSET)
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST))
    robots.set_maintenance(fleet.ctx, "SW-1", True)
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MELROSE)).json()
    assert answer["state"] == "maintenance"
    assert answer["position"] == {"lat": MELROSE.lat, "lng": MELROSE.lng}


def test_a_change_made_by_another_process_is_seen_after_the_next_flush(fleet: Fleet) -> None:
    token = fleet.robot("SW-1", SUNSET)
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST))
    with fleet.platform.operations_engine.begin() as connection:  # as another process would
        connection.execute(
            update(Robot).where(Robot.serial == "SW-1").values(state=RobotState.MAINTENANCE)
        )
    fleet.ctx.positions.flush()  # writes the reading and reads the state back
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MELROSE)).json()
    assert answer["state"] == "maintenance"


def test_a_robot_back_from_offline_goes_through_the_full_use_case(
    fleet: Fleet, clock: ManualClock
) -> None:
    token = fleet.robot("SW-1", SUNSET)
    fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MAIN_ST))
    clock.advance(timedelta(seconds=fleet.platform.settings.robot_offline_after_s + 1))
    assert fleet.dispatch().went_offline == 1
    answer = fleet.post(token, "/ops/v1/robots/SW-1/telemetry", _reading(MELROSE)).json()
    assert answer["state"] == "idle"
    assert _stored(fleet, "SW-1").state == RobotState.IDLE
