"""The fleet's state as the deliveries service needs it to promise times: for each service
area, where each robot that can take work is and how soon it is free, and how many tasks wait
before a new one. Told as a `fleet.snapshot` event every `fleet_snapshot_interval_s`, so the
deliveries service can price ETAs without reading this service's tables."""

import time
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import select

from sidewalk.kernel.geo import LatLng
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    RobotState,
    TaskStatus,
    TaskType,
    TripStatus,
    needs_charge,
    remaining_travel_s,
)
from sidewalk.operations.models import Robot, Task

# Legs still ahead of a robot: the ones not yet driven to the end.
_AHEAD = frozenset({TripStatus.PENDING, TripStatus.IN_PROGRESS, TripStatus.ARRIVED})


def snapshot(ctx: OperationsContext) -> dict[str, dict[str, Any]]:
    """Per area (`""` for robots outside every area): `robots`, a list of `[lat, lng,
    free_in_s, speed_mps]` for the robots that are free now (0) or will be after their current
    delivery or return task (where that task ends), and `pending`, the tasks waiting for a
    robot. Robots charging, low on battery, faulty, offline or in maintenance are left out."""
    detour = ctx.settings.detour_factor
    areas: dict[str, dict[str, Any]] = defaultdict(lambda: {"robots": [], "pending": 0})
    with ctx.uow() as uow:
        session = uow.session
        robots = session.scalars(
            select(Robot).where(
                Robot.state.in_([RobotState.IDLE, RobotState.ON_TASK]),
                Robot.lat.is_not(None),
                Robot.battery_pct.is_not(None),
            )
        ).all()
        active = {
            t.robot_serial: t
            for t in session.scalars(select(Task).where(Task.status.in_(ACTIVE_TASK)))
            if t.robot_serial is not None
        }
        pending = Counter(
            session.scalars(select(Task.area_id).where(Task.status == TaskStatus.PENDING))
        )
    for robot in robots:
        assert robot.lat is not None
        assert robot.lng is not None
        assert robot.battery_pct is not None
        where = LatLng(robot.lat, robot.lng)
        task = active.get(robot.serial)
        if task is None:
            if robot.state != RobotState.IDLE or needs_charge(robot.battery_pct, robot.config):
                continue
            free_in, free_at = 0.0, where
        elif task.type in (TaskType.DELIVERY, TaskType.RETURN):
            stops = [
                LatLng(trip.destination_lat, trip.destination_lng)
                for trip in task.trips
                if trip.status in _AHEAD
            ]
            free_in = remaining_travel_s(where, stops, robot.speed_mps, detour)
            free_at = stops[-1] if stops else where
        else:
            continue  # charging or repositioning: not counted on
        areas[robot.area_id or ""]["robots"].append(
            [round(free_at.lat, 6), round(free_at.lng, 6), round(free_in, 1), robot.speed_mps]
        )
    for area_id, count in pending.items():
        areas[area_id or ""]["pending"] = count
    for area in ctx.areas:
        areas[area.id]  # every served area is told, if only that it has no robot
    return dict(areas)


def tell_fleet(ctx: OperationsContext) -> int:
    """Record one `fleet.snapshot` event per area; returns how many."""
    areas = snapshot(ctx)
    with ctx.uow() as uow:
        taken_at = uow.clock.now().isoformat()
        for area_id, state in sorted(areas.items()):
            uow.record("fleet.snapshot", data={"area_id": area_id, "taken_at": taken_at, **state})
        uow.commit()
    return len(areas)


class FleetTeller:
    """Tells the fleet's state at most every `fleet_snapshot_interval_s` of real time; called
    after each dispatch round."""

    def __init__(self, ctx: OperationsContext) -> None:
        self._ctx = ctx
        self._last: float | None = None

    def maybe_tell(self) -> None:
        now = time.monotonic()
        if (
            self._last is not None
            and now - self._last < self._ctx.settings.fleet_snapshot_interval_s
        ):
            return
        self._last = now
        tell_fleet(self._ctx)
