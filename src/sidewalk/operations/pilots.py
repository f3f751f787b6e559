"""Remote pilots: each supervises at most `pilot_capacity` robots at once. A robot starting a
task gets the least-loaded available pilot; the pilot is released when the task ends; when a
pilot goes offline or on a break their robots move to others; a task that can get no pilot
waits, and past `pilot_wait_limit_s` fails with `no_pilot_available`.

Every change to who supervises what first takes one roster lock (a PostgreSQL advisory lock;
SQLite admits one writer anyway), so two tasks starting at once cannot both take a pilot's
last free place."""

from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

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


def lock_roster(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROSTER_LOCK})


def pilot_loads(session: Session) -> list[PilotLoad]:
    """Every available pilot and how many robots they supervise now."""
    open_count = (
        select(PilotAssignment.pilot_id, func.count().label("active"))
        .where(PilotAssignment.released_at.is_(None))
        .group_by(PilotAssignment.pilot_id)
        .subquery()
    )
    rows = session.execute(
        select(Operator.id, func.coalesce(open_count.c.active, 0))
        .outerjoin(open_count, open_count.c.pilot_id == Operator.id)
        .where(Operator.role == OperatorRole.PILOT, Operator.status == OperatorStatus.AVAILABLE)
    ).all()
    return [PilotLoad(pilot_id, int(active)) for pilot_id, active in rows]


def open_assignment(session: Session, task_id: str) -> PilotAssignment | None:
    return session.scalars(
        select(PilotAssignment).where(
            PilotAssignment.task_id == task_id, PilotAssignment.released_at.is_(None)
        )
    ).one_or_none()


def assign_pilot(uow: OperationsUnitOfWork, task: Task, *, exclude: str | None = None) -> bool:
    """Give the task's robot a pilot; when none has room, the task waits for one."""
    session = uow.session
    lock_roster(session)
    if open_assignment(session, task.id) is not None:
        return True
    loads = [p for p in pilot_loads(session) if p.pilot_id != exclude]
    pilot_id = choose_pilot(loads, uow.settings.pilot_capacity)
    now = uow.clock.now()
    if pilot_id is None or task.robot_serial is None:
        if task.awaiting_pilot_since is None:
            task.awaiting_pilot_since = now
            uow.record("task.awaiting_pilot", task_id=task.id, robot_serial=task.robot_serial)
        return False
    session.add(
        PilotAssignment(
            id=new_id("pas"),
            pilot_id=pilot_id,
            task_id=task.id,
            robot_serial=task.robot_serial,
            assigned_at=now,
        )
    )
    task.awaiting_pilot_since = None
    uow.record(
        "pilot.assigned",
        task_id=task.id,
        robot_serial=task.robot_serial,
        data={"pilot_id": pilot_id},
    )
    session.flush()
    return True


def release_pilot(uow: OperationsUnitOfWork, task: Task, reason: str) -> None:
    """The task ended (or left its robot): its pilot is free of it."""
    lock_roster(uow.session)
    assignment = open_assignment(uow.session, task.id)
    task.awaiting_pilot_since = None
    if assignment is None:
        return
    assignment.released_at = uow.clock.now()
    assignment.release_reason = reason
    uow.record(
        "pilot.released",
        task_id=task.id,
        robot_serial=assignment.robot_serial,
        data={"pilot_id": assignment.pilot_id, "reason": reason},
    )
    uow.session.flush()


def hand_over(uow: OperationsUnitOfWork, pilot_id: str) -> None:
    """The pilot left (offline, break): each robot they supervised goes to another pilot, or
    waits for one."""
    session = uow.session
    lock_roster(session)
    assignments = session.scalars(
        select(PilotAssignment)
        .where(PilotAssignment.pilot_id == pilot_id, PilotAssignment.released_at.is_(None))
        .order_by(PilotAssignment.assigned_at, PilotAssignment.id)
    ).all()
    for assignment in assignments:
        assignment.released_at = uow.clock.now()
        assignment.release_reason = "pilot_left"
        session.flush()
        task = session.get_one(Task, assignment.task_id)
        assign_pilot(uow, task, exclude=pilot_id)


def staff_waiting_tasks(uow: OperationsUnitOfWork) -> int:
    """Give pilots to started tasks waiting for one (oldest first); fail those that waited past
    the limit. Returns how many got a pilot."""
    session = uow.session
    lock_roster(session)
    waiting = session.scalars(
        select(Task)
        .where(Task.awaiting_pilot_since.is_not(None), Task.status == TaskStatus.IN_PROGRESS)
        .order_by(Task.awaiting_pilot_since, Task.id)
    ).all()
    staffed = 0
    for task in waiting:
        if assign_pilot(uow, task):
            staffed += 1
    return staffed


def waited_too_long(uow: OperationsUnitOfWork) -> list[Task]:
    """Started tasks that have waited for a pilot longer than the limit."""
    limit = uow.clock.now() - timedelta(seconds=uow.settings.pilot_wait_limit_s)
    return list(
        uow.session.scalars(
            select(Task)
            .where(
                Task.awaiting_pilot_since.is_not(None),
                Task.awaiting_pilot_since <= limit,
                Task.status == TaskStatus.IN_PROGRESS,
            )
            .order_by(Task.id)
        )
    )
