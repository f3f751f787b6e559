"""The operations service's fast paths, as SQLAlchemy Core statements built once: where
loading and flushing ORM objects costs several times the statements themselves. A robot's trip
report, the most frequent change of a task, reads its task and trips as plain records
(`task_records`) and writes back only the rows it moved."""

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select

from sidewalk.kernel.db import Inserts, OneOrMany, RowUpdates, among
from sidewalk.operations.domain import ACTIVE_TASK, TaskType
from sidewalk.operations.models import Robot, Task, Trip
from sidewalk.operations.task_records import (
    NewTask,
    RobotStateRecord,
    TaskAtTheDoor,
    TaskRecord,
    TripRecord,
)

_ROBOTS = cast(Table, Robot.__table__)
_TASKS = cast(Table, Task.__table__)
_TRIPS = cast(Table, Trip.__table__)

_ACTIVE_TASK_OF_ROBOT = select(_TASKS.c.id, _TASKS.c.type).where(
    _TASKS.c.robot_serial == bindparam("serial"), among(_TASKS.c.status, ACTIVE_TASK)
)
_TASK_OF_ATTEMPT = select(_TASKS.c.id).where(_TASKS.c.attempt_id == bindparam("attempt_id"))
_TASK_AND_ROBOT_OF_TRIP = (
    select(_TRIPS.c.task_id, _TASKS.c.robot_serial)
    .join_from(_TRIPS, _TASKS, _TASKS.c.id == _TRIPS.c.task_id)
    .where(_TRIPS.c.id == bindparam("trip_id"))
)
# FOR NO KEY UPDATE, as `robot_state.robot_for_update` locks it.
_LOCK_ROBOT = (
    select(_ROBOTS.c.serial)
    .where(_ROBOTS.c.serial == bindparam("serial"))
    .with_for_update(key_share=True)
)
_TASK_FIELDS = select(
    _TASKS.c.id,
    _TASKS.c.type,
    _TASKS.c.status,
    _TASKS.c.status_times,
    _TASKS.c.robot_serial,
    _TASKS.c.delivery_id,
    _TASKS.c.attempt_id,
    _TASKS.c.updated_at,
    _TASKS.c.failure_reason,
    _TASKS.c.area_id,
    _TASKS.c.unlocked_at,
)
_TASK_FOR_UPDATE = _TASK_FIELDS.where(_TASKS.c.id == bindparam("task_id")).with_for_update(
    key_share=True
)
# A dispatch round's choice: the tasks (locked already by the round's read of them) and the
# robots it assigns.
_TASKS_TO_ASSIGN = OneOrMany(_TASK_FIELDS.where, _TASKS.c.id, "task_ids")
_ROBOT_STATES = OneOrMany(
    select(
        _ROBOTS.c.serial, _ROBOTS.c.state, _ROBOTS.c.state_changed_at, _ROBOTS.c.updated_at
    ).where,
    _ROBOTS.c.serial,
    "serials",
)
_SAVE_ASSIGNED = RowUpdates(_TASKS, ("status", "status_times", "robot_serial", "updated_at"))
_SAVE_ROBOT_STATE = RowUpdates(_ROBOTS, ("state", "state_changed_at", "updated_at"), key="serial")
_TRIPS_OF_TASK = (
    select(
        _TRIPS.c.id,
        _TRIPS.c.sequence,
        _TRIPS.c.type,
        _TRIPS.c.status,
        _TRIPS.c.status_times,
        _TRIPS.c.failure_reason,
        _TRIPS.c.updated_at,
        _TRIPS.c.destination_lat,
        _TRIPS.c.destination_lng,
    )
    .where(_TRIPS.c.task_id == bindparam("task_id"))
    .order_by(_TRIPS.c.sequence)
)
_SAVE_TASK = RowUpdates(_TASKS, ("status", "status_times", "failure_reason", "updated_at"))
_ROBOT_PLACE_FOR_UPDATE = (
    select(_ROBOTS.c.lat, _ROBOTS.c.lng)
    .where(_ROBOTS.c.serial == bindparam("serial"))
    .with_for_update(key_share=True)
)
_LAST_TRIP_STATUS = (
    select(_TRIPS.c.status)
    .where(_TRIPS.c.task_id == _TASKS.c.id)
    .order_by(_TRIPS.c.sequence.desc())
    .limit(1)
    .scalar_subquery()
)
_AT_THE_DOOR = (
    select(
        _TASKS.c.id,
        _TASKS.c.type,
        _TASKS.c.robot_serial,
        _TASKS.c.delivery_id,
        _TASKS.c.attempt_id,
        _TASKS.c.unlock_pin,
        _TASKS.c.unlock_failures,
        _TASKS.c.unlocked_at,
        _TASKS.c.unlocked_by,
        _TASKS.c.updated_at,
        _LAST_TRIP_STATUS,
    )
    .where(_TASKS.c.id == bindparam("task_id"))
    .with_for_update(of=_TASKS, key_share=True)
)
_SAVE_DOOR = RowUpdates(_TASKS, ("unlock_failures", "unlocked_at", "unlocked_by", "updated_at"))
_SAVE_TRIP = RowUpdates(_TRIPS, ("status", "status_times", "failure_reason", "updated_at"))


def task_and_robot_of_trip(connection: Connection, trip_id: str) -> tuple[str, str | None] | None:
    """The trip's task and that task's robot, if the trip exists (not locked)."""
    row = connection.execute(_TASK_AND_ROBOT_OF_TRIP, {"trip_id": trip_id}).first()
    return None if row is None else (row[0], row[1])


def lock_robot(connection: Connection, serial: str) -> bool:
    """Lock the robot's row until the transaction ends; False when there is no such robot."""
    found = connection.execute(_LOCK_ROBOT, {"serial": serial}).first()
    return found is not None


def task_for_update(connection: Connection, task_id: str) -> TaskRecord | None:
    """The task, locked, with its trips in order."""
    row = connection.execute(_TASK_FOR_UPDATE, {"task_id": task_id}).first()
    if row is None:
        return None
    trips = [TripRecord(*trip) for trip in connection.execute(_TRIPS_OF_TASK, {"task_id": task_id})]
    return _task_record(row, trips)


def _task_record(row: Any, trips: list[TripRecord]) -> TaskRecord:
    """A task's record from a row of `_TASK_FIELDS`."""
    (task_id, type_, status, times, serial, delivery_id, attempt_id, updated_at,
     failure_reason, area_id, unlocked_at) = row  # fmt: skip
    return TaskRecord(
        task_id, type_, status, times, serial, delivery_id, attempt_id, updated_at,
        failure_reason, area_id, unlocked_at, trips,
    )  # fmt: skip


def save_task(connection: Connection, task: TaskRecord) -> None:
    """Write back the task and those of its trips whose status moved since they were read."""
    _SAVE_TRIP.write(connection, [t for t in task.trips if t.status != t.stored_status])
    _SAVE_TASK.write(connection, [task] if task.status != task.stored_status else [])


def task_id_of_attempt(connection: Connection, attempt_id: str) -> str | None:
    """The id of the task made for a delivery attempt, if there is one."""
    found = connection.execute(_TASK_OF_ATTEMPT, {"attempt_id": attempt_id}).first()
    return None if found is None else str(found[0])


def insert_task(inserts: Inserts, task: NewTask) -> None:
    """A new task and its trips, written as the transaction commits (nothing in it changes
    them: a task made to be assigned at once is made as ORM rows, `tasks.new_task`)."""
    inserts.add(_TASKS, [task.row()])
    inserts.add(_TRIPS, [trip.row(task.id) for trip in task.trips])


def active_task_of_robot(connection: Connection, serial: str) -> tuple[str, TaskType] | None:
    """The id and type of the robot's active task, if it has one (not locked)."""
    found = connection.execute(_ACTIVE_TASK_OF_ROBOT, {"serial": serial}).first()
    return None if found is None else (found[0], found[1])


def robot_place_for_update(connection: Connection, serial: str) -> tuple[Any, Any] | None:
    """The robot's last known place (lat, lng: None before its first reading), locked as
    `robot_state.robot_for_update` locks it; None when there is no such robot."""
    found = connection.execute(_ROBOT_PLACE_FOR_UPDATE, {"serial": serial}).first()
    return None if found is None else (found[0], found[1])


def task_at_the_door(connection: Connection, task_id: str) -> TaskAtTheDoor | None:
    """The task's door fields and its dropoff's status, locked."""
    row = connection.execute(_AT_THE_DOOR, {"task_id": task_id}).first()
    return None if row is None else TaskAtTheDoor(*row)


def save_door(connection: Connection, task: TaskAtTheDoor) -> None:
    _SAVE_DOOR.write(connection, [task])


def tasks_to_assign(connection: Connection, task_ids: list[str]) -> dict[str, TaskRecord]:
    """Pending tasks a dispatch round gives robots, by id, without their trips (an assignment
    does not look at them)."""
    rows = connection.execute(*_TASKS_TO_ASSIGN.pick(task_ids))
    return {row[0]: _task_record(row, []) for row in rows}


def robot_states(connection: Connection, serials: list[str]) -> dict[str, RobotStateRecord]:
    """The robots' states, by serial, as a change of state reads them."""
    return {
        row[0]: RobotStateRecord(*row) for row in connection.execute(*_ROBOT_STATES.pick(serials))
    }


def save_assignments(
    connection: Connection, tasks: Sequence[TaskRecord], robots: Sequence[RobotStateRecord]
) -> None:
    """Write back the tasks given robots, and those robots' states."""
    _SAVE_ASSIGNED.write(connection, tasks)
    _SAVE_ROBOT_STATE.write(connection, robots)


def robot_state(connection: Connection, serial: str) -> RobotStateRecord | None:
    """The robot's state, as a change of state reads it (lock it first: `lock_robot`)."""
    return robot_states(connection, [serial]).get(serial)


def save_robot_state(connection: Connection, robot: RobotStateRecord) -> None:
    _SAVE_ROBOT_STATE.write(connection, [robot])
