"""Remote pilots: each supervises at most `pilot_capacity` robots at once. A robot starting a
task gets the least-loaded available pilot; the pilot is released when the task ends; when a
pilot goes offline or on a break their robots move to others; a started task with no pilot
waits, and past `pilot_wait_limit_s` fails with `no_pilot_available`.

Every change to who supervises what first takes one roster lock (a PostgreSQL advisory lock;
SQLite admits one writer anyway), so two tasks starting at once cannot both take a pilot's
last free place. These functions write only pilot assignments, never task or robot rows: the
use cases that end tasks lock robot, then task, then the roster, and a pilot change that
waited on a task row while holding the roster would deadlock with them. Whether a task waits
for a pilot is therefore derived: started, and no open assignment."""

from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Connection, Subquery, Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from sidewalk.kernel.db import OneOrMany
from sidewalk.kernel.ids import new_id
from sidewalk.operations.domain import (
    OperatorRole,
    OperatorStatus,
    PilotLoad,
    TaskStatus,
    choose_pilot,
)
from sidewalk.operations.models import Operator, PilotAssignment, Task
from sidewalk.operations.uow import OperationsUnitOfWork

_ROSTER_LOCK = 7_210_001  # an arbitrary application-wide advisory lock key


def lock_roster(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROSTER_LOCK})


def supervising_counts() -> Subquery:
    """Per pilot with any, `pilot_id` and `robots`: how many robots they supervise now."""
    return (
        select(PilotAssignment.pilot_id, func.count().label("robots"))
        .where(PilotAssignment.released_at.is_(None))
        .group_by(PilotAssignment.pilot_id)
        .subquery()
    )


def pilot_loads(connection: Connection) -> list[PilotLoad]:
    """Every available pilot and how many robots they supervise now."""
    rows = connection.execute(_PILOT_LOADS).all()
    return [PilotLoad(pilot_id, int(active)) for pilot_id, active in rows]


def open_assignment(session: Session, task_id: str) -> PilotAssignment | None:
    return open_assignments(session, [task_id]).get(task_id)


def open_assignments(session: Session, task_ids: list[str]) -> dict[str, PilotAssignment]:
    """The open pilot assignment of each task that has one."""
    if not task_ids:
        return {}
    rows = session.scalars(*_OPEN_ASSIGNMENTS.pick(task_ids))
    return {a.task_id: a for a in rows}


# Built once: every dispatch round and every robot setting off asks them.
_OPEN_COUNT = supervising_counts()
_PILOT_LOADS = (
    select(Operator.id, func.coalesce(_OPEN_COUNT.c.robots, 0))
    .outerjoin(_OPEN_COUNT, _OPEN_COUNT.c.pilot_id == Operator.id)
    .where(Operator.role == OperatorRole.PILOT, Operator.status == OperatorStatus.AVAILABLE)
)
_OPEN_ASSIGNMENTS = OneOrMany(
    select(PilotAssignment).where(PilotAssignment.released_at.is_(None)).where,
    PilotAssignment.task_id,
    "task_ids",
)


_ASSIGNMENTS = cast(Table, PilotAssignment.__table__)
_OPEN_OF_TASK = select(
    _ASSIGNMENTS.c.id, _ASSIGNMENTS.c.pilot_id, _ASSIGNMENTS.c.robot_serial
).where(_ASSIGNMENTS.c.task_id == bindparam("task_id"), _ASSIGNMENTS.c.released_at.is_(None))
_ASSIGN = insert(_ASSIGNMENTS)
_RELEASE = (
    update(_ASSIGNMENTS)
    .where(_ASSIGNMENTS.c.id == bindparam("assignment_id"))
    .values(released_at=bindparam("at"), release_reason=bindparam("reason"))
)


def assign_pilot(
    uow: OperationsUnitOfWork, task_id: str, robot_serial: str, *, exclude: str | None = None
) -> bool:
    """Give the task's robot a pilot; False when none has room (the task then waits). Plain
    statements, written at once: a later choice in the same transaction counts this one."""
    uow.flush()  # what the use case changed so far, as a query of the ORM would see it
    connection = uow.connection
    lock_roster(connection)
    if connection.execute(_OPEN_OF_TASK, {"task_id": task_id}).first() is not None:
        return True
    loads = [p for p in pilot_loads(connection) if p.pilot_id != exclude]
    pilot_id = choose_pilot(loads, uow.settings.pilot_capacity)
    if pilot_id is None:
        return False
    assignment = {
        "id": new_id("pas"),
        "pilot_id": pilot_id,
        "task_id": task_id,
        "robot_serial": robot_serial,
        "assigned_at": uow.clock.now(),
    }
    connection.execute(_ASSIGN, assignment)
    uow.record(
        "pilot.assigned", task_id=task_id, robot_serial=robot_serial, data={"pilot_id": pilot_id}
    )
    return True


def release_pilot(uow: OperationsUnitOfWork, task_id: str, reason: str) -> None:
    """The task ended (or left its robot): its pilot is free of it."""
    uow.flush()
    connection = uow.connection
    lock_roster(connection)
    assignment = connection.execute(_OPEN_OF_TASK, {"task_id": task_id}).first()
    if assignment is None:
        return
    assignment_id, pilot_id, serial = assignment
    release = {"assignment_id": assignment_id, "at": uow.clock.now(), "reason": reason}
    connection.execute(_RELEASE, release)
    uow.record(
        "pilot.released",
        task_id=task_id,
        robot_serial=serial,
        data={"pilot_id": pilot_id, "reason": reason},
    )


def hand_over(uow: OperationsUnitOfWork, pilot_id: str) -> None:
    """The pilot left (offline, break): each robot they supervised goes to another pilot, or
    waits for one."""
    session = uow.session
    lock_roster(uow.connection)
    assignments = session.scalars(
        select(PilotAssignment)
        .where(PilotAssignment.pilot_id == pilot_id, PilotAssignment.released_at.is_(None))
        .order_by(PilotAssignment.assigned_at, PilotAssignment.id)
    ).all()
    for assignment in assignments:
        assignment.released_at = uow.clock.now()
        assignment.release_reason = "pilot_left"
        session.flush()
        if not assign_pilot(uow, assignment.task_id, assignment.robot_serial, exclude=pilot_id):
            uow.record(
                "task.awaiting_pilot",
                task_id=assignment.task_id,
                robot_serial=assignment.robot_serial,
            )


@dataclass(frozen=True)
class Waiting:
    task_id: str
    robot_serial: str
    since: datetime


# Built once: every dispatch round asks them.
_STARTED_WITHOUT_PILOT = select(Task.id, Task.robot_serial, Task.status_times).where(
    Task.status == TaskStatus.IN_PROGRESS,
    Task.id.not_in(select(PilotAssignment.task_id).where(PilotAssignment.released_at.is_(None))),
)
_LAST_RELEASED = (
    select(PilotAssignment.task_id, func.max(PilotAssignment.released_at))
    .where(PilotAssignment.task_id.in_(bindparam("task_ids", expanding=True)))
    .group_by(PilotAssignment.task_id)
)


def waiting_for_pilot(connection: Connection) -> list[Waiting]:
    """Started tasks without a pilot, longest waiting first; a task waits since it started or
    since it lost its last pilot, whichever is later."""
    started = connection.execute(_STARTED_WITHOUT_PILOT).all()
    if not started:
        return []
    lost: dict[str, datetime | None] = dict(
        connection.execute(_LAST_RELEASED, {"task_ids": [row.id for row in started]}).all()
    )
    waiting = []
    for row in started:
        since = datetime.fromisoformat(row.status_times[TaskStatus.IN_PROGRESS.value])
        released = lost.get(row.id)
        if released is not None:
            since = max(since, released)
        waiting.append(Waiting(row.id, str(row.robot_serial), since))
    return sorted(waiting, key=lambda w: (w.since, w.task_id))


@dataclass(frozen=True)
class Staffing:
    """What staffing the waiting tasks did: how many got a pilot, and those still waiting,
    longest waiting first."""

    staffed: int
    waiting: list[Waiting]

    def waited_since(self, limit: datetime) -> list[Waiting]:
        """The tasks still waiting that have waited since `limit` or longer."""
        return [w for w in self.waiting if w.since <= limit]


def staff_waiting_tasks(uow: OperationsUnitOfWork) -> Staffing:
    """Give pilots to started tasks waiting for one, longest waiting first."""
    lock_roster(uow.connection)
    waiting = waiting_for_pilot(uow.connection)
    for staffed, task in enumerate(waiting):
        if not assign_pilot(uow, task.task_id, task.robot_serial):
            return Staffing(staffed, waiting[staffed:])  # no pilot has room: the rest wait too
    return Staffing(len(waiting), [])
