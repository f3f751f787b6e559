"""Use cases racing on one PostgreSQL database: robots drive tasks (pilots given as they
start), pilots come and go, robots report telemetry and dispatch rounds run, all at once, in
threads. Nothing may deadlock or fail, and the pilot capacity and the one-active-task rule
hold throughout."""

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sidewalk.bootstrap import bootstrap
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.settings import Settings
from sidewalk.operations import dispatcher, doorstep, operators, robots, tasks
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    OperatorPrincipal,
    OperatorRole,
    OperatorStatus,
    TaskStatus,
    TripEvent,
)
from sidewalk.operations.models import PilotAssignment, Task
from tests.databases import fresh_postgres_database, migrated_postgres_template

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROBOTS, PILOTS, SECONDS = 8, 3, 6.0


def _place(i: int) -> LatLng:
    return LatLng(34.0860 + 0.001 * (i % 5), -118.3750 + 0.001 * (i // 5))


def test_racing_use_cases_neither_deadlock_nor_break_the_rules(tmp_path: Path) -> None:
    with migrated_postgres_template() as template, fresh_postgres_database(template) as url:
        settings = Settings(
            var_dir=tmp_path,
            deliveries_database_url=url,
            operations_database_url=url,
            pilot_capacity=2,
            robot_offline_after_s=86400,
            task_assign_limit_s=86400,
            pilot_wait_limit_s=86400,
        )
        platform = bootstrap(settings)
        try:
            _race(platform.operations)
        finally:
            platform.close()


def _race(ctx: OperationsContext) -> None:
    for i in range(ROBOTS):
        robots.register_robot(ctx, robots.RobotSpec(f"R{i}", f"R{i}"))
        where = _place(i)
        robots.report_telemetry(ctx, f"R{i}", robots.Telemetry(where.lat, where.lng, 95.0))
    pilots = [
        operators.create_operator(ctx, f"p{i}@example.com", OperatorRole.PILOT)
        for i in range(PILOTS)
    ]
    made = [0]
    errors: list[BaseException] = []
    stop = threading.Event()

    def new_task() -> None:
        made[0] += 1
        n = made[0]
        tasks.create_delivery_task(
            ctx, delivery_id=f"d{n}", attempt_id=f"a{n}", pickup=_place(n), dropoff=_place(n + 3)
        )

    def drive(rng: random.Random, cancel_share: float = 0.1) -> None:
        with ctx.uow() as uow:
            active = uow.session.scalars(
                select(Task).where(Task.status.in_([TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS]))
            ).all()
        for task in active:
            trip = next((t for t in task.trips if t.status not in {"completed"}), None)
            if trip is None:
                continue
            event = {"pending": "started", "in_progress": "arrived", "arrived": "completed"}.get(
                trip.status
            )
            if event is None:
                continue
            if rng.random() < cancel_share:
                tasks.cancel_task(ctx, task.id)
                continue
            if event == "completed" and trip.type == "to_dropoff" and task.robot_serial:
                # A dropoff completes once the compartment was opened: here by a pilot.
                doorstep.unlock(
                    ctx, task.robot_serial, pin=None, operator_id="op_race", reason="checked ID"
                )
            tasks.report_trip(ctx, tasks.TripReport(trip.id, TripEvent(event)), by_robot=None)

    def toggle_pilots(rng: random.Random) -> None:
        p = rng.choice(pilots).operator
        status = rng.choice([OperatorStatus.AVAILABLE, OperatorStatus.BREAK])
        operators.set_status(ctx, OperatorPrincipal(p.id, OperatorRole.PILOT), p.id, status)

    def telemetry(rng: random.Random) -> None:
        i = rng.randrange(ROBOTS)
        where = _place(i)
        robots.report_telemetry(ctx, f"R{i}", robots.Telemetry(where.lat, where.lng, 90.0))

    def dispatch(_rng: random.Random) -> None:
        new_task()
        dispatcher.run_round(ctx)

    def worker(step: Callable[[random.Random], None], seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                step(rng)
            except SidewalkError:
                pass  # a refused move (the state changed meanwhile) is an answer, not a failure
            except BaseException as e:
                errors.append(e)
                return

    for _ in range(ROBOTS):
        new_task()
    threads = [
        threading.Thread(target=worker, args=(step, seed))
        for seed, step in enumerate([drive, drive, toggle_pilots, telemetry, dispatch])
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + SECONDS
    checks = 0
    while time.monotonic() < deadline and not errors:
        _check_rules(ctx)
        checks += 1
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    _check_rules(ctx)
    assert checks > 5
    # Nothing was left wedged: with every pilot back, the tasks the race left drive to the
    # end. (How many end during the race itself depends on how the threads were scheduled.)
    for p in pilots:
        me = OperatorPrincipal(p.operator.id, OperatorRole.PILOT)
        operators.set_status(ctx, me, p.operator.id, OperatorStatus.AVAILABLE)
    rng = random.Random(0)
    for _ in range(30):
        if _completed(ctx):
            break
        dispatcher.run_round(ctx)
        drive(rng, cancel_share=0)
    assert _completed(ctx) > 0
    _check_rules(ctx)


def _completed(ctx: OperationsContext) -> int:
    with ctx.uow() as uow:
        done = uow.session.scalar(
            select(func.count()).select_from(Task).where(Task.status == TaskStatus.COMPLETED)
        )
    return done or 0


def _check_rules(ctx: OperationsContext) -> None:
    with ctx.uow() as uow:
        loads = uow.session.execute(
            select(PilotAssignment.pilot_id, func.count())
            .where(PilotAssignment.released_at.is_(None))
            .group_by(PilotAssignment.pilot_id)
        ).all()
        doubled = uow.session.execute(
            select(Task.robot_serial)
            .where(Task.status.in_([TaskStatus.ASSIGNED, TaskStatus.IN_PROGRESS]))
            .group_by(Task.robot_serial)
            .having(func.count() > 1)
        ).all()
    assert all(n <= 2 for _pilot, n in loads), loads
    assert not doubled
