"""Two dispatcher processes on one PostgreSQL database, 500 tasks and 100 robots: robots are
freed as fast as they are given tasks, and no robot is ever on two active tasks, neither in
any snapshot taken during the run nor in the timeline of each robot's tasks afterwards."""

import itertools
import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.settings import Settings
from sidewalk.operations import doorstep, robots, tasks
from sidewalk.operations.domain import ACTIVE_TASK, RobotState, TaskStatus
from sidewalk.operations.models import StateHistory, Task
from tests.cli import sidewalk_env
from tests.databases import fresh_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROBOTS, TASKS = 100, 500  # five tasks a robot: each robot is freed and given work again
PATIENT = {  # nothing times out during the run: every task waits for its robot
    "SIDEWALK_ROBOT_OFFLINE_AFTER_S": "86400",
    "SIDEWALK_TASK_ASSIGN_LIMIT_S": "86400",
    "SIDEWALK_DISPATCH_MAX_PICKUP_S": "86400",
}


def _place(i: int, of: int) -> LatLng:
    """Spread over West Hollywood."""
    return LatLng(34.0800 + 0.015 * ((i * 7919) % of) / of, -118.3900 + 0.04 * (i % 97) / 97)


def _populate(platform: Platform) -> None:
    ctx = platform.operations
    for i in range(ROBOTS):
        serial = f"SW-{i:04d}"
        robots.register_robot(ctx, robots.RobotSpec(serial, serial))
        where = _place(i, ROBOTS)
        robots.report_telemetry(ctx, serial, robots.Telemetry(where.lat, where.lng, 95.0))
    for i in range(TASKS):
        tasks.create_delivery_task(
            ctx,
            delivery_id=f"dlv_{i}",
            attempt_id=f"att_{i}",
            pickup=_place(i, TASKS),
            dropoff=_place(i + 1, TASKS),
        )


def _robots_on_two_tasks(platform: Platform) -> int:
    with platform.operations.uow() as uow:
        doubled = (
            select(Task.robot_serial)
            .where(Task.status.in_(ACTIVE_TASK))
            .group_by(Task.robot_serial)
            .having(func.count() > 1)
        )
        return len(uow.session.scalars(doubled).all())


def _free_the_assigned(platform: Platform) -> int:
    """End every assigned task: most are cancelled, every tenth is driven to completion."""
    ctx = platform.operations
    with ctx.uow() as uow:
        assigned = uow.session.scalars(
            select(Task).where(Task.status == TaskStatus.ASSIGNED).order_by(Task.id)
        ).all()
    for task in assigned:
        if int(task.attempt_id.split("_")[1]) % 10 == 0:  # type: ignore[union-attr]
            for trip in task.trips:
                for event in ("started", "arrived", "completed"):
                    if (trip.type, event) == ("to_dropoff", "completed"):
                        serial = task.robot_serial or ""
                        doorstep.unlock(ctx, serial, pin=None, operator_id="op_1", reason="test")
                    tasks.report_trip(
                        ctx, tasks.TripReport(trip.id, tasks.TripEvent(event)), by_robot=None
                    )
        else:
            tasks.cancel_task(ctx, task.id)
    return len(assigned)


def test_two_dispatchers_never_put_a_robot_on_two_tasks(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        env = sidewalk_env(tmp_path, url, **PATIENT)
        settings = Settings(
            var_dir=tmp_path,
            deliveries_database_url=url,
            operations_database_url=url,
            robot_offline_after_s=86400,
            task_assign_limit_s=86400,
            dispatch_max_pickup_s=86400,
            pilot_wait_limit_s=86400,
        )
        platform = bootstrap(settings)
        try:
            _populate(platform)
            command = [sys.executable, "-m", "sidewalk", "dispatch", "run"]
            command += ["--rounds", "0", "--interval", "0.01", "--json"]
            dispatchers = [
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(2)
            ]
            ended, snapshots, deadline = 0, 0, time.monotonic() + 240
            try:
                while ended < TASKS:
                    assert time.monotonic() < deadline, f"only {ended} tasks ended in time"
                    assert all(d.poll() is None for d in dispatchers), "a dispatcher died"
                    assert _robots_on_two_tasks(platform) == 0
                    snapshots += 1
                    ended += _free_the_assigned(platform)
            finally:
                outputs = []
                for d in dispatchers:
                    d.send_signal(signal.SIGTERM)
                    outputs.append(d.communicate(timeout=60))
            for d, (out, err) in zip(dispatchers, outputs, strict=True):
                assert d.returncode == 0, err
                assert out.strip(), err
            totals = [json.loads(out) for out, _err in outputs]
            _check_timelines(platform)
        finally:
            platform.close()
    assert snapshots > 10
    # Each task was assigned exactly once, and both processes took part.
    assert sum(t["assigned"] for t in totals) == TASKS, totals
    assert all(t["assigned"] > 0 for t in totals), totals


def _check_timelines(platform: Platform) -> None:
    """Per robot, the time each task held it never overlaps the next; and its state history
    never enters `on_task` twice without leaving it in between."""
    with platform.operations.uow() as uow:
        rows = uow.session.scalars(select(Task)).all()
        history = uow.session.scalars(
            select(StateHistory).order_by(StateHistory.serial, StateHistory.date)
        ).all()
    held: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for task in rows:
        assert task.status in {TaskStatus.CANCELLED, TaskStatus.COMPLETED}, task.status
        times = task.status_times
        end = times.get("cancelled") or times["completed"]
        held[str(task.robot_serial)].append(
            (datetime.fromisoformat(times["assigned"]), datetime.fromisoformat(end))
        )
    for spans in held.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end
    last: dict[str, str] = {}
    for row in history:
        if row.state == RobotState.ON_TASK:
            assert last.get(row.serial) != RobotState.ON_TASK
        last[row.serial] = row.state
