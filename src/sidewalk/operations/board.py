"""The fleet board the ops dashboard shows and refreshes: robots, open tasks, pilots and their
load, standing alerts with who acknowledged them, and the day's figures. Read in one unit of
work, so every part of it is of the same moment.

A pilot's board holds the robots and tasks they supervise and the alerts about them, as the
rest of the ops API narrows a pilot's reads; supervisors and admins see the whole fleet."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from sidewalk.kernel.errors import NotFound
from sidewalk.operations import pilots
from sidewalk.operations.alert_rules import Alert, RobotFacts, TaskFacts, fleet_alerts
from sidewalk.operations.board_schemas import AlertRead, Board, DayFigures, PilotOnBoard
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    OPEN_TASK,
    OperatorPrincipal,
    OperatorRole,
    OperatorStatus,
    RobotState,
    TaskStatus,
    TaskType,
    sees_everything,
)
from sidewalk.operations.models import AlertAck, Hub, Operator, PilotAssignment, Task
from sidewalk.operations.positions import RobotView, stored_views
from sidewalk.operations.views import hub_read, operator_read, robot_read, task_read

_OUT_OF_SERVICE = frozenset({RobotState.OFFLINE, RobotState.MAINTENANCE})


@dataclass(frozen=True)
class _Fleet:
    """What the board is made of, before it is narrowed to a caller."""

    robots: list[RobotView]
    tasks: list[Task]
    pilots: dict[str, PilotAssignment]  # task id → its open pilot assignment
    alerts: list[Alert]
    acks: dict[str, AlertAck]


def fleet_board(ctx: OperationsContext, caller: OperatorPrincipal) -> Board:
    now = ctx.clock.now()
    with ctx.read() as uow:
        s = uow.session
        me = s.get(Operator, caller.id)
        if me is None:  # removed since their token was cached
            raise NotFound("No such operator", code="operator_not_found")
        fleet = _fleet(s, now, ctx.settings.alert_task_wait_s)
        robots, tasks, alerts = _narrowed(fleet, caller)
        everyone = sees_everything(caller.role)
        return Board(
            at=now,
            operator=operator_read(me),
            robots=[robot_read(r) for r in robots],
            tasks=[task_read(t, fleet.pilots.get(t.id)) for t in tasks],
            pilots=_pilots(s, ctx.settings.pilot_capacity, None if everyone else caller.id),
            alerts=[_alert_read(a, fleet.acks.get(a.id)) for a in alerts],
            figures=_figures(s, now, fleet, alerts),
            hubs=[hub_read(h) for h in s.scalars(select(Hub).order_by(Hub.name))],
        )


def acknowledge(ctx: OperationsContext, caller: OperatorPrincipal, alert_id: str) -> AlertRead:
    """The caller has seen the alert `alert_id`, which must stand now and be theirs to see. The
    first acknowledgement is kept: acknowledging again changes nothing."""
    try:
        return _acknowledge(ctx, caller, alert_id)
    except IntegrityError:  # acknowledged by someone else at the same moment: theirs stands
        return _acknowledge(ctx, caller, alert_id)


def _acknowledge(ctx: OperationsContext, caller: OperatorPrincipal, alert_id: str) -> AlertRead:
    with ctx.uow() as uow:
        now = uow.clock.now()
        fleet = _fleet(uow.session, now, ctx.settings.alert_task_wait_s)
        _, _, alerts = _narrowed(fleet, caller)
        found = next((a for a in alerts if a.id == alert_id), None)
        if found is None:
            raise NotFound("No such alert stands now", code="alert_not_found")
        ack = fleet.acks.get(alert_id)
        if ack is None:
            ack = AlertAck(alert_id=alert_id, operator_id=caller.id, acknowledged_at=now)
            uow.session.add(ack)
            uow.session.flush()
            uow.record(
                "alert.acknowledged",
                data={"alert_id": alert_id, "kind": found.kind, "operator_id": caller.id},
            )
            uow.commit()
        return _alert_read(found, ack)


def _fleet(s: Session, now: datetime, wait_limit_s: float) -> _Fleet:
    robots = stored_views(s)
    tasks = list(
        s.scalars(
            select(Task)
            .where(Task.status.in_(sorted(OPEN_TASK)))
            .options(selectinload(Task.trips))
            .order_by(Task.created_at, Task.id)
        )
    )
    supervised = pilots.open_assignments(s, [t.id for t in tasks])
    alerts = fleet_alerts(
        (
            RobotFacts(
                r.serial,
                RobotState(r.state),
                r.battery_pct,
                r.battery_low_pct,
                r.state_changed_at,
            )
            for r in robots
        ),
        (
            TaskFacts(
                t.id,
                TaskStatus(t.status),
                t.robot_serial,
                t.created_at,
                t.status == TaskStatus.IN_PROGRESS and t.id not in supervised,
                t.status_times,
            )
            for t in tasks
        ),
        now,
        wait_limit_s,
    )
    acks = {}
    if alerts:
        acks = {
            a.alert_id: a
            for a in s.scalars(
                select(AlertAck).where(AlertAck.alert_id.in_([a.id for a in alerts]))
            )
        }
    return _Fleet(robots, tasks, supervised, alerts, acks)


def _narrowed(
    fleet: _Fleet, caller: OperatorPrincipal
) -> tuple[list[RobotView], list[Task], list[Alert]]:
    if sees_everything(caller.role):
        return fleet.robots, fleet.tasks, fleet.alerts
    mine = {task_id for task_id, a in fleet.pilots.items() if a.pilot_id == caller.id}
    serials = {a.robot_serial for a in fleet.pilots.values() if a.pilot_id == caller.id}
    return (
        [r for r in fleet.robots if r.serial in serials],
        [t for t in fleet.tasks if t.id in mine],
        [a for a in fleet.alerts if a.robot_serial in serials or a.task_id in mine],
    )


def _pilots(s: Session, capacity: int, only: str | None) -> list[PilotOnBoard]:
    load = pilots.supervising_counts()
    query = (
        select(Operator, func.coalesce(load.c.robots, 0))
        .outerjoin(load, load.c.pilot_id == Operator.id)
        .where(Operator.role == OperatorRole.PILOT)
        # Those on duty first.
        .order_by(Operator.status != OperatorStatus.AVAILABLE, Operator.email)
    )
    if only is not None:
        query = query.where(Operator.id == only)
    return [
        PilotOnBoard(
            id=o.id,
            display_name=o.display_name,
            email=o.email,
            status=o.status,
            robots=int(robots),
            capacity=capacity,
        )
        for o, robots in s.execute(query)
    ]


def _figures(s: Session, now: datetime, fleet: _Fleet, alerts: list[Alert]) -> DayFigures:
    """Counted over the whole fleet: figures of the day are no one robot's business."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    ended = dict.fromkeys((TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED), 0)
    for status, n in s.execute(
        select(Task.status, func.count())
        .where(Task.updated_at >= day, Task.status.in_(sorted(ended)))
        .group_by(Task.status)
    ):
        ended[TaskStatus(status)] = int(n)
    took = [
        (done - began).total_seconds()
        for began, done in s.execute(
            select(Task.created_at, Task.updated_at).where(
                Task.updated_at >= day,
                Task.status == TaskStatus.COMPLETED,
                Task.type == TaskType.DELIVERY,
            )
        )
    ]
    return DayFigures(
        day=day.date(),
        tasks_completed=ended[TaskStatus.COMPLETED],
        tasks_failed=ended[TaskStatus.FAILED],
        tasks_cancelled=ended[TaskStatus.CANCELLED],
        deliveries_completed=len(took),
        mean_delivery_minutes=sum(took) / len(took) / 60 if took else None,
        robots_in_service=sum(1 for r in fleet.robots if r.state not in _OUT_OF_SERVICE),
        robots_on_task=sum(1 for r in fleet.robots if r.state == RobotState.ON_TASK),
        tasks_waiting=sum(1 for t in fleet.tasks if t.status == TaskStatus.PENDING),
        open_alerts=sum(1 for a in alerts if a.id not in fleet.acks),
    )


def _alert_read(alert: Alert, ack: AlertAck | None) -> AlertRead:
    return AlertRead(
        id=alert.id,
        kind=alert.kind,
        severity=alert.severity,
        robot_serial=alert.robot_serial,
        task_id=alert.task_id,
        since=alert.since,
        message=alert.message,
        acknowledged_by=ack.operator_id if ack else None,
        acknowledged_at=ack.acknowledged_at if ack else None,
    )
