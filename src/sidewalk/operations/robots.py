"""The robot registry: registration with a token shown once, telemetry, maintenance and the
state history."""

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sidewalk.kernel.db import among
from sidewalk.kernel.errors import Conflict, NotFound, ValidationFailed
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.metrics import TELEMETRY_READINGS
from sidewalk.kernel.secrets import digest, new_secret
from sidewalk.operations import tasks
from sidewalk.operations.access import ROBOT_TOKEN_PREFIX
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    ENDS_TASK,
    REPORTABLE,
    SERIAL_PATTERN,
    FailureReason,
    RobotState,
    crosses_interval,
    reported_change,
)
from sidewalk.operations.models import Hub, PilotAssignment, Robot, StateHistory
from sidewalk.operations.positions import Reading, RobotView, tell_position
from sidewalk.operations.robot_state import change_state, robot_for_update, robot_not_found
from sidewalk.operations.uow import OperationsUnitOfWork

SERIAL = re.compile(SERIAL_PATTERN)
_IN_MEMORY = TELEMETRY_READINGS.labels("memory")
_READ_AFRESH = TELEMETRY_READINGS.labels("afresh")
_BY_USE_CASE = TELEMETRY_READINGS.labels("use_case")


@dataclass(frozen=True)
class RegisteredRobot:
    robot: Robot
    token: str


@dataclass(frozen=True)
class RobotSpec:
    serial: str
    display_name: str
    hub_id: str | None = None
    speed_mps: float | None = None
    battery_low_pct: float | None = None
    battery_reserve_pct: float | None = None
    drain_pct_per_km: float | None = None


def register_robot(ctx: OperationsContext, spec: RobotSpec) -> RegisteredRobot:
    """A new robot, offline until it reports, placed at its hub; its token is returned here
    once and kept only as a digest."""
    s = ctx.settings
    if not SERIAL.fullmatch(spec.serial):
        raise ValidationFailed(
            "A serial is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            code="validation_error",
        )
    name = spec.display_name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A display name has 1 to 200 characters", code="validation_error")
    token = new_secret(ROBOT_TOKEN_PREFIX)
    try:
        with ctx.uow() as uow:
            hub = _hub(uow.session, spec.hub_id) if spec.hub_id else None
            now = uow.clock.now()
            robot = Robot(
                serial=spec.serial,
                display_name=name,
                hub_id=hub.id if hub else None,
                state=RobotState.OFFLINE,
                lat=hub.lat if hub else None,
                lng=hub.lng if hub else None,
                area_id=hub.area_id if hub else None,
                speed_mps=spec.speed_mps or s.robot_speed_mps,
                battery_low_pct=_or(spec.battery_low_pct, s.robot_battery_low_pct),
                battery_reserve_pct=_or(spec.battery_reserve_pct, s.robot_battery_reserve_pct),
                drain_pct_per_km=_or(spec.drain_pct_per_km, s.robot_drain_pct_per_km),
                token_digest=digest(token),
                state_changed_at=now,
                created_at=now,
                updated_at=now,
            )
            uow.session.add(robot)
            uow.session.add(
                StateHistory(
                    serial=spec.serial, date=now, state=RobotState.OFFLINE, reason="registered"
                )
            )
            uow.record("robot.registered", robot_serial=spec.serial)
            uow.commit()
            return RegisteredRobot(robot, token)
    except IntegrityError as e:
        raise Conflict(f"A robot {spec.serial!r} exists already", code="robot_exists") from e


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def _hub(session: Session, hub_id: str) -> Hub:
    hub = session.get(Hub, hub_id)
    if hub is None:
        raise NotFound(f"No hub {hub_id!r}", code="hub_not_found")
    return hub


@dataclass(frozen=True)
class Telemetry:
    lat: float
    lng: float
    battery_pct: float
    state: RobotState | None = None
    at: datetime | None = None


def report_telemetry(ctx: OperationsContext, serial: str, reading: Telemetry) -> Robot | RobotView:
    """Where the robot is and how charged: kept in memory when it changes no state (written
    with the others' at the next flush, `positions.py`), else taken by the full use case."""
    return take_reading(ctx, serial, reading) or look_and_take(ctx, serial, reading)


def look_and_take(ctx: OperationsContext, serial: str, reading: Telemetry) -> Robot | RobotView:
    """For a robot this process does not know (or no longer trusts its view of): read it
    afresh, then keep the reading in memory if it changes no state, else take it through the
    full use case."""
    _READ_AFRESH.inc()
    if ctx.positions.look(serial) is None:
        raise robot_not_found(serial)
    return take_reading(ctx, serial, reading) or record_telemetry(ctx, serial, reading)


async def report_telemetry_async(
    ctx: OperationsContext, serial: str, reading: Telemetry
) -> Robot | RobotView:
    """`report_telemetry` for the event loop: a reading that changes no state is taken there,
    in memory; a robot whose view this process lacks is read on a thread of its own first,
    and a reading that changes its state goes through the full use case on a thread."""
    taken = take_reading(ctx, serial, reading)
    if taken is None:
        _READ_AFRESH.inc()
        if await ctx.positions.look_async(serial) is None:
            raise robot_not_found(serial)
        taken = take_reading(ctx, serial, reading)
    if taken is not None:
        return taken
    return await asyncio.to_thread(record_telemetry, ctx, serial, reading)


def take_reading(ctx: OperationsContext, serial: str, reading: Telemetry) -> RobotView | None:
    """The reading kept in memory, or None when it must go through `record_telemetry` (cheap
    enough for the event loop: no I/O)."""
    _check_reportable(reading)
    now = ctx.clock.now()
    taken = Reading(reading.lat, reading.lng, reading.battery_pct, min(reading.at or now, now))
    charged = ctx.settings.robot_charged_pct

    def changes_state(view: RobotView, r: Reading, fresh: bool) -> bool:
        to = reported_change(view.state, reading.state, fresh, r.battery_pct, charged)
        return to is not None

    view = ctx.positions.take(serial, taken, changes_state, says_state=reading.state is not None)
    if view is not None:
        _IN_MEMORY.inc()
    return view


def record_telemetry(ctx: OperationsContext, serial: str, reading: Telemetry) -> Robot:
    """The full use case for a reading. The robot is alive whenever it is heard from (by the
    service's clock: a robot's own clock may be off); its position and battery are replaced
    only by a reading taken after the one kept (reports may arrive out of order), while a
    fault or going offline always counts. A robot heard from again after being taken as
    offline is idle unless it says otherwise; a charging robot whose battery is full is idle
    again."""
    _check_reportable(reading)
    _BY_USE_CASE.inc()
    with ctx.uow() as uow:
        robot = robot_for_update(uow.session, serial)
        pending, through = ctx.positions.pending(serial)
        _take_pending(robot, pending)
        now = uow.clock.now()
        taken = min(reading.at or now, now)
        previous = robot.reading_at
        fresh = previous is None or taken >= previous
        robot.last_seen_at = now
        robot.updated_at = now
        if fresh:
            robot.lat, robot.lng = reading.lat, reading.lng
            robot.battery_pct = reading.battery_pct
            robot.reading_at = taken
            area = ctx.areas.containing(LatLng(reading.lat, reading.lng))
            robot.area_id = area.id if area else None
        current = RobotState(robot.state)
        to = reported_change(
            current, reading.state, fresh, reading.battery_pct, ctx.settings.robot_charged_pct
        )
        if to is not None:
            _change_reported_state(uow, robot, current, to)
        interval = ctx.settings.robot_position_event_s
        if (
            fresh
            and robot.state == RobotState.ON_TASK
            and crosses_interval(previous, taken, interval)
        ):
            _tell_position(uow, robot, taken)
        uow.commit()
    ctx.positions.know(robot, through=through)
    return robot


def _check_reportable(reading: Telemetry) -> None:
    if reading.state is not None and reading.state not in REPORTABLE:
        raise ValidationFailed(
            f"A robot cannot report itself {reading.state.value!r}",
            code="state_not_reportable",
        )


def _take_pending(robot: Robot, pending: RobotView | None) -> None:
    """A newer reading held in memory and not yet written is where the use case starts from."""
    if pending is None or pending.reading_at is None:
        return
    if robot.reading_at is None or pending.reading_at >= robot.reading_at:
        robot.lat, robot.lng = pending.lat, pending.lng
        robot.battery_pct, robot.area_id = pending.battery_pct, pending.area_id
        robot.reading_at = pending.reading_at


def _tell_position(uow: OperationsUnitOfWork, robot: Robot, taken: datetime) -> None:
    """Where a robot carrying out a delivery (or bringing its goods back) is, for the merchant
    and their customer: at most one event per robot every `robot_position_event_s`."""
    task = tasks.active_task_of(uow.session, robot.serial)
    if task is not None and task.delivery_id is not None:
        tell_position(uow, task, robot, taken)


def _change_reported_state(
    uow: OperationsUnitOfWork, robot: Robot, current: RobotState, to: RobotState
) -> None:
    change_state(uow, robot, to, reason="reported")
    reason = ENDS_TASK.get(to)
    if current is RobotState.ON_TASK and reason is not None:
        task = tasks.active_task_of(uow.session, robot.serial)
        if task is not None:
            tasks.fail_task(uow, task, robot, reason.value)


def issue_token(ctx: OperationsContext, serial: str) -> str:
    """A new token for the robot, returned once; the old one stops working (at once in this
    process, within `api_key_cache_s` in others)."""
    token = new_secret(ROBOT_TOKEN_PREFIX)
    with ctx.uow() as uow:
        robot = robot_for_update(uow.session, serial)
        old = robot.token_digest
        robot.token_digest = digest(token)
        robot.updated_at = uow.clock.now()
        uow.record("robot.token_replaced", robot_serial=serial)
        uow.commit()
    ctx.principals.forget(old)
    return token


def set_maintenance(ctx: OperationsContext, serial: str, on: bool) -> Robot:
    """Take a robot out of service or back; a robot on a task must be freed of it first."""
    with ctx.uow() as uow:
        robot = robot_for_update(uow.session, serial)
        if on:
            change_state(uow, robot, RobotState.MAINTENANCE, reason="maintenance_on")
        elif robot.state == RobotState.MAINTENANCE:
            change_state(uow, robot, RobotState.IDLE, reason="maintenance_off")
        uow.commit()
        return robot


# Built once: every dispatch round asks it.
_SILENT = (
    select(Robot)
    .where(
        among(Robot.state, [RobotState.IDLE, RobotState.ON_TASK, RobotState.CHARGING]),
        Robot.last_seen_at < bindparam("limit", type_=Robot.last_seen_at.type),
    )
    .order_by(Robot.serial)
    .with_for_update(skip_locked=True, key_share=True)
)


def mark_silent_robots_offline(uow: OperationsUnitOfWork) -> int:
    """Robots not heard from for `robot_offline_after_s` are offline; a task they held fails."""
    limit = uow.clock.now() - timedelta(seconds=uow.settings.robot_offline_after_s)
    silent = uow.session.scalars(_SILENT, {"limit": limit}).all()
    for robot in silent:
        change_state(uow, robot, RobotState.OFFLINE, reason="silent")
        task = tasks.active_task_of(uow.session, robot.serial)
        if task is not None:
            tasks.fail_task(uow, task, robot, FailureReason.ROBOT_OFFLINE.value)
    return len(silent)


# --- reading --------------------------------------------------------------------------------


def supervised_serials(session: Session, pilot_id: str) -> set[str]:
    """The robots a pilot supervises now."""
    return set(
        session.scalars(
            select(PilotAssignment.robot_serial).where(
                PilotAssignment.pilot_id == pilot_id, PilotAssignment.released_at.is_(None)
            )
        )
    )


def list_robots(
    ctx: OperationsContext,
    *,
    state: RobotState | None = None,
    area_id: str | None = None,
    only: set[str] | None = None,
) -> list[Robot | RobotView]:
    """The robots, each with the newest reading this process holds."""
    with ctx.read() as uow:
        query = select(Robot).order_by(Robot.serial)
        if state is not None:
            query = query.where(Robot.state == state)
        if area_id is not None:
            query = query.where(Robot.area_id == area_id)
        if only is not None:
            query = query.where(Robot.serial.in_(sorted(only)))
        found = list(uow.session.scalars(query))
    return ctx.positions.overlay(found)


def get_robot(ctx: OperationsContext, serial: str) -> Robot | RobotView:
    """The robot, with the newest reading this process holds."""
    with ctx.read() as uow:
        robot = uow.session.get(Robot, serial)
        if robot is None:
            raise robot_not_found(serial)
    return ctx.positions.overlay([robot])[0]


def state_history(
    ctx: OperationsContext,
    serial: str,
    *,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[StateHistory]:
    """The robot's state changes in [since, until), oldest first."""
    with ctx.uow() as uow:
        if uow.session.get(Robot, serial) is None:
            raise robot_not_found(serial)
        query = select(StateHistory).where(StateHistory.serial == serial)
        if since is not None:
            query = query.where(StateHistory.date >= since)
        if until is not None:
            query = query.where(StateHistory.date < until)
        return list(uow.session.scalars(query.order_by(StateHistory.date).limit(limit)))
