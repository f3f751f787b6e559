"""The fleet's state as the deliveries service needs it to promise times: for each service
area, where each robot that can take work is and how soon it is free, and how many tasks wait
before a new one. Told as a `fleet.snapshot` event every `fleet_snapshot_interval_s`, so the
deliveries service can price ETAs without reading this service's tables."""

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from sidewalk.kernel.db import among
from sidewalk.kernel.geo import LatLng
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    RobotConfig,
    RobotState,
    TaskStatus,
    TaskType,
    TripStatus,
    TripType,
    needs_charge,
    remaining_travel_s,
    stop_wait_s,
)
from sidewalk.operations.models import Robot, Task, Trip

# Legs still ahead of a robot: the ones not yet driven to the end.
_AHEAD = frozenset({TripStatus.PENDING, TripStatus.IN_PROGRESS, TripStatus.ARRIVED})


def snapshot(ctx: OperationsContext) -> dict[str, dict[str, Any]]:
    """Per area (`""` for robots outside every area): `robots`, a list of `[lat, lng,
    free_in_s, speed_mps]` for the robots that are free now (0) or will be after their current
    delivery or return task (where that task ends: the way there and the waits at its stops),
    and `pending`, the tasks waiting for a robot. Robots charging, low on battery, faulty,
    offline or in maintenance are left out. Read as plain rows in three statements: the whole
    fleet is read every time."""
    detour = ctx.settings.detour_factor
    waits = {"pickup_s": ctx.settings.robot_pickup_dwell_s,
             "dropoff_s": ctx.settings.robot_dropoff_dwell_s}  # fmt: skip
    areas: dict[str, dict[str, Any]] = defaultdict(lambda: {"robots": [], "pending": 0})
    with ctx.uow() as uow:
        connection = uow.connection
        robots = connection.execute(_WORKING_ROBOTS).all()
        ahead: dict[str | None, list[LatLng]] = defaultdict(list)
        waiting: dict[str | None, float] = defaultdict(float)
        carrying: dict[str | None, TaskType] = {}
        rows = connection.execute(_ACTIVE_TRIPS)
        for robot, kind, trip_type, trip_status, stop_lat, stop_lng in rows:
            carrying[robot] = kind
            if trip_status in _AHEAD:
                ahead[robot].append(LatLng(stop_lat, stop_lng))
                waiting[robot] += stop_wait_s(TripType(trip_type), **waits)
        pending = connection.execute(_PENDING_BY_AREA).all()
    for serial, state, lat, lng, battery_pct, area_id, *settings in robots:
        assert lat is not None  # the query leaves robots without a reading out
        assert lng is not None
        assert battery_pct is not None
        where, config = LatLng(lat, lng), RobotConfig(*settings)
        task_type = carrying.get(serial)
        if task_type is None:
            if state != RobotState.IDLE or needs_charge(battery_pct, config):
                continue
            free_in, free_at = 0.0, where
        elif task_type in (TaskType.DELIVERY, TaskType.RETURN):
            stops = ahead[serial]
            free_in = remaining_travel_s(where, stops, config.speed_mps, detour) + waiting[serial]
            free_at = stops[-1] if stops else where
        else:
            continue  # charging or repositioning: not counted on
        areas[area_id or ""]["robots"].append(
            [round(free_at.lat, 6), round(free_at.lng, 6), round(free_in, 1), config.speed_mps]
        )
    for area_id, count in pending:
        areas[area_id or ""]["pending"] = count
    for area in ctx.areas:
        areas[area.id]  # every served area is told, if only that it has no robot
    return dict(areas)


_WORKING_ROBOTS = select(
    Robot.serial,
    Robot.state,
    Robot.lat,
    Robot.lng,
    Robot.battery_pct,
    Robot.area_id,
    Robot.speed_mps,  # then the rest of the robot's `RobotConfig`, in its order
    Robot.battery_low_pct,
    Robot.battery_reserve_pct,
    Robot.drain_pct_per_km,
).where(
    among(Robot.state, [RobotState.IDLE, RobotState.ON_TASK]),
    Robot.lat.is_not(None),
    Robot.battery_pct.is_not(None),
)
# The active tasks' robots, each with its task's type and trips in order.
_ACTIVE_TRIPS = (
    select(
        Task.robot_serial,
        Task.type,
        Trip.type,
        Trip.status,
        Trip.destination_lat,
        Trip.destination_lng,
    )
    .join(Trip, Trip.task_id == Task.id)
    .where(among(Task.status, ACTIVE_TASK), Task.robot_serial.is_not(None))
    .order_by(Task.robot_serial, Trip.sequence)
)
_PENDING_BY_AREA = (
    select(Task.area_id, func.count())
    .where(Task.status == TaskStatus.PENDING)
    .group_by(Task.area_id)
    .order_by(Task.area_id)
)


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
