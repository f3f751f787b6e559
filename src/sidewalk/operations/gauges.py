"""What the operations service's `/metrics` reads from its database at each scrape."""

from prometheus_client.core import Metric
from sqlalchemy import func, select

from sidewalk.kernel.dead_letters import count_waiting, waiting_gauge
from sidewalk.kernel.metrics import gauge
from sidewalk.kernel.outbox_lag import outbox_lag
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import OPEN_TASK, RobotState
from sidewalk.operations.models import DEAD_LETTERS, OUTBOX, PilotAssignment, Robot, Task


def snapshot(ctx: OperationsContext) -> list[Metric]:
    with ctx.read() as uow:
        s = uow.session
        robots = dict.fromkeys((str(st) for st in RobotState), 0)
        for state, n in s.execute(select(Robot.state, func.count()).group_by(Robot.state)):
            robots[str(state)] = int(n)
        open_tasks = dict.fromkeys(sorted(str(st) for st in OPEN_TASK), 0)
        for status, n in s.execute(
            select(Task.status, func.count())
            .where(Task.status.in_(sorted(OPEN_TASK)))
            .group_by(Task.status)
        ):
            open_tasks[str(status)] = int(n)
        supervised = s.scalar(
            select(func.count())
            .select_from(PilotAssignment)
            .where(PilotAssignment.released_at.is_(None))
        )
        unpublished, lag_s = outbox_lag(s, OUTBOX, ctx.clock.now())
        dead = count_waiting(s.connection(), DEAD_LETTERS)
    return [
        waiting_gauge("operations", dead),
        gauge(
            "sidewalk_robots", "Robots by state.", {(k,): v for k, v in robots.items()}, ("state",)
        ),
        gauge(
            "sidewalk_tasks_open",
            "Tasks not yet ended, by status.",
            {(k,): v for k, v in open_tasks.items()},
            ("status",),
        ),
        gauge(
            "sidewalk_robots_supervised",
            "Robots a pilot supervises now.",
            {(): float(supervised or 0)},
        ),
        gauge(
            "sidewalk_outbox_unpublished",
            "Events written but not yet published on the bus.",
            {("operations",): unpublished},
            ("service",),
        ),
        gauge(
            "sidewalk_outbox_lag_seconds",
            "Age of the oldest event not yet published on the bus.",
            {("operations",): lag_s},
            ("service",),
        ),
    ]
