"""The ops API's reads of tasks and pilot assignments. A pilot sees only the tasks and robots
they supervise now; supervisors and admins see everything."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import joinedload

from sidewalk.kernel.cursor import decode_cursor, encode_cursor, storable
from sidewalk.kernel.db import among
from sidewalk.kernel.errors import Forbidden
from sidewalk.operations import pilots, tasks
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    OperatorPrincipal,
    TaskStatus,
    TaskType,
    sees_everything,
)
from sidewalk.operations.models import PilotAssignment, Task
from sidewalk.operations.robots import supervised_serials
from sidewalk.operations.schemas import PilotAssignmentRead, TaskPage, TaskRead
from sidewalk.operations.views import assignment_read, task_read


@dataclass(frozen=True)
class TaskFilter:
    status: TaskStatus | None = None
    type: TaskType | None = None
    robot_serial: str | None = None
    delivery_id: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def _supervised_tasks(ctx: OperationsContext, pilot_id: str) -> set[str]:
    with ctx.read() as uow:
        return set(
            uow.session.scalars(
                select(PilotAssignment.task_id).where(
                    PilotAssignment.pilot_id == pilot_id, PilotAssignment.released_at.is_(None)
                )
            )
        )


def list_tasks(
    ctx: OperationsContext,
    caller: OperatorPrincipal,
    filt: TaskFilter,
    *,
    cursor: str | None,
    limit: int,
) -> TaskPage:
    """Newest first, a page at a time."""
    query = select(Task)
    if not sees_everything(caller.role):
        query = query.where(Task.id.in_(sorted(_supervised_tasks(ctx, caller.id))))
    with ctx.read() as uow:
        if filt.status is not None:
            query = query.where(Task.status == filt.status)
        if filt.type is not None:
            query = query.where(Task.type == filt.type)
        for column, value in (
            (Task.robot_serial, filt.robot_serial),
            (Task.delivery_id, filt.delivery_id),
        ):
            if value is not None:
                if not storable(value):
                    return TaskPage(data=[], next_cursor=None)
                query = query.where(column == value)
        if filt.created_after is not None:
            query = query.where(Task.created_at >= filt.created_after)
        if filt.created_before is not None:
            query = query.where(Task.created_at < filt.created_before)
        if cursor is not None:
            at, ident = decode_cursor(cursor)
            query = query.where(
                or_(Task.created_at < at, and_(Task.created_at == at, Task.id < ident))
            )
        rows = list(
            uow.session.scalars(
                query.order_by(Task.created_at.desc(), Task.id.desc()).limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        assigned = pilots.open_assignments(uow.session, [t.id for t in rows])
        return TaskPage(
            data=[task_read(t, assigned.get(t.id)) for t in rows],
            next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if more else None,
        )


def task_view(ctx: OperationsContext, caller: OperatorPrincipal | None, task_id: str) -> TaskRead:
    """One task with its trips and pilot; `caller` None is a robot, checked by the route."""
    if not storable(task_id):
        raise tasks.task_not_found(task_id)
    hidden = caller is not None and not sees_everything(caller.role)
    if hidden and caller is not None and task_id not in _supervised_tasks(ctx, caller.id):
        raise Forbidden("A pilot sees only the tasks they supervise", code="forbidden")
    with ctx.read() as uow:
        task = uow.session.get(Task, task_id, options=[joinedload(Task.trips)])
        if task is None:
            raise tasks.task_not_found(task_id)
        return task_read(task, pilots.open_assignment(uow.session, task.id))


# Built once: each robot asks it whenever its task changes.
_ROBOT_TASK_WITH_TRIPS = (
    select(Task)
    .options(joinedload(Task.trips))  # in the same statement
    .where(Task.robot_serial == bindparam("serial"), among(Task.status, ACTIVE_TASK))
)


def robot_task(ctx: OperationsContext, serial: str) -> TaskRead | None:
    """The robot's active task, if it has one."""
    with ctx.read() as uow:
        found = uow.session.scalars(_ROBOT_TASK_WITH_TRIPS, {"serial": serial})
        task = found.unique().one_or_none()
        if task is None:
            return None
        return task_read(task, pilots.open_assignment(uow.session, task.id))


def list_assignments(
    ctx: OperationsContext, caller: OperatorPrincipal, *, active: bool, pilot_id: str | None
) -> list[PilotAssignmentRead]:
    if not sees_everything(caller.role):
        if pilot_id is not None and pilot_id != caller.id:
            raise Forbidden("A pilot sees only their own assignments", code="forbidden")
        pilot_id = caller.id
    with ctx.read() as uow:
        query = select(PilotAssignment)
        if active:
            query = query.where(PilotAssignment.released_at.is_(None))
        if pilot_id is not None:
            query = query.where(PilotAssignment.pilot_id == pilot_id)
        query = query.order_by(PilotAssignment.assigned_at.desc(), PilotAssignment.id).limit(500)
        return [assignment_read(a) for a in uow.session.scalars(query)]


def visible_robots(ctx: OperationsContext, caller: OperatorPrincipal) -> set[str] | None:
    """The robots a caller may see: None for all."""
    if sees_everything(caller.role):
        return None
    with ctx.read() as uow:
        return supervised_serials(uow.session, caller.id)
