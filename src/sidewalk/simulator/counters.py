"""The demo's live counters: the simulated clock, deliveries by status, the fleet by state
and the pilots on duty, read from the services' tables."""

from datetime import timedelta

from rich.table import Table
from sqlalchemy import func, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.domain import TERMINAL_DELIVERY, DeliveryStatus
from sidewalk.deliveries.models import Delivery
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.models import Operator, Robot


def counts(platform: Platform) -> dict[str, dict[str, int]]:
    with platform.deliveries.uow() as uow:
        deliveries = dict(
            uow.session.execute(
                select(Delivery.status, func.count()).group_by(Delivery.status)
            ).all()
        )
    with platform.operations.uow() as uow:
        robots = dict(
            uow.session.execute(select(Robot.state, func.count()).group_by(Robot.state)).all()
        )
        pilots = dict(
            uow.session.execute(
                select(Operator.status, func.count())
                .where(Operator.role == OperatorRole.PILOT)
                .group_by(Operator.status)
            ).all()
        )
    return {
        "deliveries": {str(k): int(v) for k, v in deliveries.items()},
        "robots": {str(k): int(v) for k, v in robots.items()},
        "pilots": {str(k): int(v) for k, v in pilots.items()},
    }


IN_FLIGHT = tuple(s.value for s in DeliveryStatus if s not in TERMINAL_DELIVERY)


def summary(platform: Platform, utc_offset_h: float) -> tuple[str, dict[str, dict[str, int]]]:
    local = platform.clock.now() + timedelta(hours=utc_offset_h)
    return local.strftime("%H:%M"), counts(platform)


def line(platform: Platform, utc_offset_h: float) -> str:
    """One line for a log or a pipe."""
    clock, c = summary(platform, utc_offset_h)
    d, r = c["deliveries"], c["robots"]
    return (
        f"{clock} deliveries: {sum(d.values())} ordered, {d.get('delivered', 0)} delivered, "
        f"{sum(d.get(s, 0) for s in IN_FLIGHT)} in flight | robots: "
        f"{r.get('on_task', 0)} on a task, {r.get('idle', 0)} idle, {r.get('charging', 0)} charging"
    )


def table(platform: Platform, utc_offset_h: float, title: str) -> Table:
    clock, c = summary(platform, utc_offset_h)
    t = Table(title=f"{title}, {clock} local time", expand=False)
    t.add_column("deliveries")
    t.add_column("", justify="right")
    t.add_column("robots")
    t.add_column("", justify="right")
    t.add_column("pilots")
    t.add_column("", justify="right")
    d = c["deliveries"]
    left = [("ordered", sum(d.values())), ("in flight", sum(d.get(s, 0) for s in IN_FLIGHT))]
    left += [(s, d.get(s, 0)) for s in ("delivered", "cancelled", "returned", "failed")]
    middle = sorted(c["robots"].items())
    right = sorted(c["pilots"].items())
    for i in range(max(len(left), len(middle), len(right))):
        row: list[str] = []
        for column in (left, middle, right):
            name, value = column[i] if i < len(column) else ("", "")
            row += [str(name), str(value)]
        t.add_row(*row)
    return t
