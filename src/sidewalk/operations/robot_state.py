"""The one place a robot's state changes: through its state machine, with a StateHistory row
for every change. Callers hold the robot's row lock (`robot_for_update`), so two changes to
one robot never interleave."""

from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from sidewalk.kernel.errors import NotFound
from sidewalk.kernel.statemachine import check
from sidewalk.operations.domain import ROBOT_TRANSITIONS, RobotState, next_history_date
from sidewalk.operations.models import Robot, StateHistory
from sidewalk.operations.shapes import RobotStateFields
from sidewalk.operations.uow import OperationsUnitOfWork


def robot_not_found(serial: str) -> NotFound:
    return NotFound(f"No robot {serial!r}", code="robot_not_found")


_HISTORY = cast(Table, StateHistory.__table__)
# Hot paths' statements are built once: a statement object remembers its cache key.
_ROBOT_FOR_UPDATE = (
    select(Robot)
    .where(Robot.serial == bindparam("serial"))
    .with_for_update(key_share=True)
    .execution_options(populate_existing=True)
)


def robot_for_update(session: Session, serial: str) -> Robot:
    """The robot, locked until the end of the transaction and read afresh. The lock is FOR NO
    KEY UPDATE, which does not conflict with the key-share locks that foreign-key checks take:
    inserting a row that refers to the robot (a pilot assignment) never waits on it. (On
    SQLite the transaction already holds the database's only write lock.)"""
    robot = session.scalars(_ROBOT_FOR_UPDATE, {"serial": serial}).one_or_none()
    if robot is None:
        raise robot_not_found(serial)
    return robot


def change_state(
    uow: OperationsUnitOfWork,
    robot: RobotStateFields,
    to: RobotState,
    *,
    reason: str | None = None,
    task_id: str | None = None,
) -> bool:
    """Move the robot to `to` (no-op when it is there already); False when nothing changed.
    The history row is written as the transaction commits (nothing in it reads the history;
    two changes in one transaction get distinct times from `next_history_date`)."""
    current = RobotState(robot.state)
    if current is to:
        return False
    check("robot", ROBOT_TRANSITIONS, current, to)
    date = next_history_date(uow.clock.now(), robot.state_changed_at)
    row = {
        "serial": robot.serial,
        "date": date,
        "state": to,
        "previous_state": current,
        "task_id": task_id,
        "reason": reason,
    }
    uow.inserts.add(_HISTORY, [row])
    robot.state = to
    robot.state_changed_at = date
    robot.updated_at = uow.clock.now()
    uow.record(
        "robot.state_changed",
        robot_serial=robot.serial,
        task_id=task_id,
        data={"from": current.value, "to": to.value, "reason": reason},
    )
    return True
