"""The dispatch round, run every `dispatch_interval_s`: robots gone silent are taken offline,
waiting tasks get pilots, robots low on battery are sent to charge, and in each service area
the pending tasks go to free robots in one optimal batch (`dispatch.plan_dispatch`).

Only one dispatcher acts on an area at a time, however many processes run one: each area's
round holds a PostgreSQL advisory lock for its transaction and skips the area when another
holds it (SQLite admits one writer at a time anyway). Rows another use case holds are
skipped for this round rather than waited for, so a round never deadlocks with the API."""

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from sidewalk.kernel.db import OneOrMany, among
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.metrics import DISPATCH_BATCH, DISPATCH_ROUND, DISPATCH_SOLVE
from sidewalk.kernel.settings import Settings
from sidewalk.operations import pilots, repository, robots, tasks
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.dispatch import FreeRobot, OpenTask, plan_dispatch, urgency_weight_s
from sidewalk.operations.domain import (
    OPEN_TASK,
    FailureReason,
    RobotState,
    TaskStatus,
    TaskType,
    delivery_time_s,
    nearest,
    needs_charge,
)
from sidewalk.operations.fleet import FleetTeller
from sidewalk.operations.models import Hub, Robot, Task
from sidewalk.operations.robot_state import robot_for_update
from sidewalk.operations.uow import OperationsUnitOfWork

log = logging.getLogger(__name__)

_DISPATCH_LOCK = 7_210_002  # advisory lock class; the area is the second key
SLOW_ROUND_S = 1.0  # a round longer than this is logged: robots wait on it


@dataclass
class RoundReport:
    assigned: int = 0
    no_robot_available: int = 0
    sent_to_charge: int = 0
    went_offline: int = 0
    got_pilot: int = 0
    no_pilot_available: int = 0
    areas_done: list[str | None] = field(default_factory=list)
    areas_skipped: list[str | None] = field(default_factory=list)


def run_round(ctx: OperationsContext) -> RoundReport:
    report = RoundReport()
    ctx.positions.flush()  # the readings this process holds, so the round sees them
    with ctx.uow() as uow:
        report.went_offline = robots.mark_silent_robots_offline(uow)
        uow.commit()
    _staff_pilots(ctx, report)
    for area_id in _areas_with_work(ctx):
        with ctx.uow() as uow:
            if not _lead(uow.session, area_id):
                report.areas_skipped.append(area_id)
                continue
            hubs = _hubs(uow.session)
            _send_to_charge(uow, area_id, hubs, report)
            _dispatch_area(uow, area_id, hubs, report)
            uow.commit()
            report.areas_done.append(area_id)
    return report


def _lead(session: Session, area_id: str | None) -> bool:
    """Take the area's dispatch lock for this transaction, without waiting."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:lock, hashtext(:area))"),
        {"lock": _DISPATCH_LOCK, "area": area_id or ""},
    )
    return bool(taken)


def _due(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """Pending tasks robots may take now: not scheduled, or their time to go has come."""
    return and_(
        Task.status == TaskStatus.PENDING,
        or_(Task.not_before.is_(None), Task.not_before <= now),
    )


def _areas_with_work(ctx: OperationsContext) -> list[str | None]:
    """Areas with tasks due or idle robots low on battery."""
    with ctx.uow() as uow:
        connection = uow.connection
        pending = connection.execute(_AREAS_WITH_TASKS_DUE, {"now": uow.clock.now()}).scalars()
        low = connection.execute(_AREAS_WITH_ROBOTS_LOW).scalars()
        return sorted({*pending, *low}, key=lambda a: a or "")


_AREAS_WITH_TASKS_DUE = (
    select(Task.area_id).where(_due(bindparam("now", type_=Task.not_before.type))).distinct()
)
_AREAS_WITH_ROBOTS_LOW = (
    select(Robot.area_id)
    .where(Robot.state == RobotState.IDLE, Robot.battery_pct < Robot.battery_low_pct)
    .distinct()
)


def _staff_pilots(ctx: OperationsContext, report: RoundReport) -> None:
    with ctx.uow() as uow:
        staffing = pilots.staff_waiting_tasks(uow)
        uow.commit()
    report.got_pilot = staffing.staffed
    limit = ctx.clock.now() - timedelta(seconds=ctx.settings.pilot_wait_limit_s)
    for waiting in staffing.waited_since(limit):
        with ctx.uow() as uow:
            robot = robot_for_update(uow.session, waiting.robot_serial)
            task = uow.session.get_one(
                Task,
                waiting.task_id,
                with_for_update={"key_share": True},
                populate_existing=True,
            )
            still = task.status == TaskStatus.IN_PROGRESS and task.robot_serial == robot.serial
            if not still or pilots.open_assignment(uow.session, task.id) is not None:
                continue
            tasks.fail_task(uow, task, robot, FailureReason.NO_PILOT_AVAILABLE.value)
            uow.commit()
            report.no_pilot_available += 1


def _hubs(session: Session) -> list[Hub]:
    return list(session.scalars(_HUBS))


_HUBS = select(Hub).order_by(Hub.id)


def _free(in_area: ColumnElement[bool]) -> ColumnElement[bool]:
    """Idle robots of an area with a known position and battery and no open task."""
    has_task = select(Task.id).where(
        Task.robot_serial == Robot.serial, among(Task.status, OPEN_TASK)
    )
    return and_(
        Robot.state == RobotState.IDLE,
        in_area,
        Robot.lat.is_not(None),
        Robot.battery_pct.is_not(None),
        ~has_task.exists(),
    )


def _in_area(column: InstrumentedAttribute[str | None]) -> dict[bool, ColumnElement[bool]]:
    """A row of the area named by the `area_id` parameter (True), or of no area (False): two
    conditions, each served by the indexes on areas, where PostgreSQL would not serve one
    spelled `IS NOT DISTINCT FROM`."""
    return {True: column == bindparam("area_id"), False: column.is_(None)}


# Built once, for an area and for robots outside every area: each round asks them per area.
_LOW_ROBOTS = {
    inside: select(Robot)
    .where(_free(area), Robot.battery_pct < Robot.battery_low_pct)
    .order_by(Robot.serial)
    .with_for_update(skip_locked=True, key_share=True)
    for inside, area in _in_area(Robot.area_id).items()
}
_FREE_FLEET = {
    inside: select(
        Robot.serial,
        Robot.lat,
        Robot.lng,
        Robot.speed_mps,
        Robot.battery_pct,
        Robot.drain_pct_per_km,
        Robot.battery_reserve_pct,
    )
    .where(_free(area))
    .order_by(Robot.serial)
    .with_for_update(skip_locked=True, key_share=True)
    for inside, area in _in_area(Robot.area_id).items()
}


def _low_robots(session: Session, area_id: str | None) -> list[Robot]:
    """The area's free robots below their battery threshold, locked (those another
    transaction holds wait for the next round)."""
    query = _LOW_ROBOTS[area_id is not None]
    return list(session.scalars(query, {"area_id": area_id}))


def _free_fleet(connection: Connection, area_id: str | None) -> list[FreeRobot]:
    """What the plan needs of the area's free robots, locked as `_low_robots` locks them,
    read as plain rows: a round reads the whole idle fleet, and only assigns a few of it."""
    rows = connection.execute(_FREE_FLEET[area_id is not None], {"area_id": area_id})
    return [
        FreeRobot(serial, lat or 0.0, lng or 0.0, speed, battery or 0.0, drain, reserve)
        for serial, lat, lng, speed, battery, drain, reserve in rows
    ]


def _send_to_charge(
    uow: OperationsUnitOfWork, area_id: str | None, hubs: list[Hub], report: RoundReport
) -> None:
    places = [LatLng(h.lat, h.lng) for h in hubs]
    for robot in _low_robots(uow.session, area_id):
        if robot.battery_pct is None or robot.lat is None or robot.lng is None:
            continue
        if not needs_charge(robot.battery_pct, robot.config):
            continue
        i = nearest(LatLng(robot.lat, robot.lng), places)
        if i is None:
            continue
        planned = tasks.plan_task(
            uow.clock.now(), TaskType.CHARGE, [places[i]], area_id=robot.area_id, hub_id=hubs[i].id
        )
        task = tasks.new_task(uow, planned)
        tasks.assign(uow, task, robot)
        report.sent_to_charge += 1


def _open_task(waiting: Row[Any], now: datetime, settings: Settings) -> OpenTask:
    """A waiting task as a round plans it, weighed by how far it is behind the latest moment
    a robot could leave its pickup and still hand over by the time promised (a task with no
    promise: its typical pickup lead after it began to wait)."""
    start, end = (
        LatLng(waiting.start_lat, waiting.start_lng),
        LatLng(waiting.end_lat, waiting.end_lng),
    )
    if waiting.dropoff_by is not None:
        there_s = delivery_time_s(
            start,
            end,
            speed_mps=settings.robot_speed_mps,
            detour_factor=settings.detour_factor,
            pickup_s=settings.robot_pickup_dwell_s,
            dropoff_s=settings.robot_dropoff_dwell_s,
        )
        latest = waiting.dropoff_by - timedelta(seconds=there_s)
    else:
        latest = _pending_since(waiting) + timedelta(seconds=settings.robot_pickup_lead_s)
    behind_s = (now - latest).total_seconds()
    return OpenTask(
        waiting.id, start.lat, start.lng, end.lat, end.lng, weight_s=urgency_weight_s(behind_s)
    )


def _pending_since(waiting: Row[Any]) -> datetime:
    """When a task began to wait for a robot: made pending, or due, whichever is later."""
    stamp = waiting.status_times.get(TaskStatus.PENDING.value)
    since = datetime.fromisoformat(stamp) if stamp else waiting.created_at
    return max(since, waiting.not_before) if waiting.not_before is not None else since


def _pending(area_filter: ColumnElement[bool]) -> Select[Any]:
    """The tasks due in an area, oldest first, locked (those another transaction holds wait
    for the next round), as plain rows: a round reads every waiting task and takes few."""
    return (
        select(
            Task.id,
            Task.start_lat,
            Task.start_lng,
            Task.end_lat,
            Task.end_lng,
            Task.status_times,
            Task.created_at,
            Task.not_before,
            Task.dropoff_by,
        )
        .where(_due(bindparam("now", type_=Task.not_before.type)), area_filter)
        .order_by(Task.created_at, Task.id)
        .with_for_update(skip_locked=True, key_share=True)
    )


_TASKS_GIVEN_UP = OneOrMany(select(Task).where, Task.id, "task_ids")
_PENDING = {inside: _pending(area) for inside, area in _in_area(Task.area_id).items()}


def _dispatch_area(
    uow: OperationsUnitOfWork, area_id: str | None, hubs: list[Hub], report: RoundReport
) -> None:
    settings, now = uow.settings, uow.clock.now()
    connection = uow.connection
    query = _PENDING[area_id is not None]
    pending = connection.execute(query, {"now": now, "area_id": area_id}).all()
    if not pending:
        return
    free = _free_fleet(connection, area_id)
    began = time.perf_counter()
    plan = plan_dispatch(
        [_open_task(t, now, settings) for t in pending],
        free,
        [LatLng(h.lat, h.lng) for h in hubs],
        detour_factor=settings.detour_factor,
        max_pickup_s=settings.dispatch_max_pickup_s,
    )
    DISPATCH_SOLVE.observe(time.perf_counter() - began)
    DISPATCH_BATCH.observe(len(pending))
    too_old = now - timedelta(seconds=settings.task_assign_limit_s)
    waiting = {t.id: t for t in pending}
    given_up = [i for i in plan.unassigned if _pending_since(waiting[i]) <= too_old]
    if not plan.assignments and not given_up:
        return
    if plan.assignments:  # as plain records, written back together
        robots = repository.robot_states(connection, [a.serial for a in plan.assignments])
        chosen = repository.tasks_to_assign(connection, [a.task_id for a in plan.assignments])
        for a in plan.assignments:
            tasks.assign(uow, chosen[a.task_id], robots[a.serial])
        repository.save_assignments(connection, list(chosen.values()), list(robots.values()))
        report.assigned += len(plan.assignments)
    if given_up:  # ended as every ending is, on the rows as stored
        ended = {t.id: t for t in uow.session.scalars(*_TASKS_GIVEN_UP.pick(given_up))}
        for task_id in given_up:
            tasks.fail_task(uow, ended[task_id], None, FailureReason.NO_ROBOT_AVAILABLE.value)
            report.no_robot_available += 1


def pending_count(ctx: OperationsContext) -> int:
    with ctx.uow() as uow:
        return int(
            uow.session.scalar(
                select(func.count()).select_from(Task).where(Task.status == TaskStatus.PENDING)
            )
            or 0
        )


class DispatchLoop:
    """Runs rounds every `dispatch_interval_s` on a thread of its own until stopped, telling the
    fleet's state after them now and then; a round that fails is logged and the next one runs
    as usual."""

    def __init__(self, ctx: OperationsContext) -> None:
        self._ctx = ctx
        self._fleet = FleetTeller(ctx)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dispatcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._ctx.settings.dispatch_interval_s):
            began = time.perf_counter()
            try:
                run_round(self._ctx)
            except Exception:
                log.exception("dispatch round failed")
            took = time.perf_counter() - began
            DISPATCH_ROUND.observe(took)
            if took > SLOW_ROUND_S:
                log.warning("dispatch round took %.2f s", took)
            try:
                self._fleet.maybe_tell()
            except Exception:
                log.exception("telling the fleet's state failed")
