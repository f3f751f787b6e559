"""When the fleet needs a person's eyes, free of any framework: a robot in fault, a robot low on
battery away from a charger, a task no robot has taken for too long, a robot on a task with
no pilot watching it.

An alert's id names its kind, its subject and the moment its condition began, so it stays the
same while the condition lasts (an acknowledgement keeps holding) and a condition that ends
and comes back is a new alert."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sidewalk.operations.domain import RobotState, TaskStatus


class AlertKind(StrEnum):
    FAULT = "fault"
    LOW_BATTERY = "low_battery"
    TASK_WAITING = "task_waiting"
    NO_PILOT = "no_pilot"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


SEVERITY: Mapping[AlertKind, Severity] = {
    AlertKind.FAULT: Severity.CRITICAL,
    AlertKind.NO_PILOT: Severity.CRITICAL,
    AlertKind.LOW_BATTERY: Severity.WARNING,
    AlertKind.TASK_WAITING: Severity.WARNING,
}

# A robot in these states is not expected to hold its charge: nobody is alerted.
_BATTERY_NOT_WATCHED = frozenset({RobotState.CHARGING, RobotState.OFFLINE, RobotState.MAINTENANCE})


@dataclass(frozen=True, slots=True)
class RobotFacts:
    serial: str
    state: RobotState
    battery_pct: float | None
    battery_low_pct: float
    state_changed_at: datetime


@dataclass(frozen=True, slots=True)
class TaskFacts:
    id: str
    status: TaskStatus
    robot_serial: str | None
    created_at: datetime
    awaiting_pilot: bool
    status_times: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Alert:
    id: str
    kind: AlertKind
    severity: Severity
    robot_serial: str | None
    task_id: str | None
    since: datetime
    message: str


def alert_id(kind: AlertKind, subject: str, since: datetime) -> str:
    return f"{kind.value}:{subject}:{int(since.timestamp())}"


def _alert(
    kind: AlertKind,
    since: datetime,
    message: str,
    *,
    robot: str | None = None,
    task: str | None = None,
) -> Alert:
    subject = robot if kind in (AlertKind.FAULT, AlertKind.LOW_BATTERY) else task
    assert subject is not None
    return Alert(alert_id(kind, subject, since), kind, SEVERITY[kind], robot, task, since, message)


def robot_alerts(robot: RobotFacts) -> list[Alert]:
    found = []
    if robot.state is RobotState.FAULT:
        found.append(
            _alert(
                AlertKind.FAULT,
                robot.state_changed_at,
                f"{robot.serial} is in fault",
                robot=robot.serial,
            )
        )
    if (
        robot.battery_pct is not None
        and robot.battery_pct < robot.battery_low_pct
        and robot.state not in _BATTERY_NOT_WATCHED
    ):
        found.append(
            _alert(
                AlertKind.LOW_BATTERY,
                robot.state_changed_at,
                f"{robot.serial} is at {robot.battery_pct:.0f} % battery",
                robot=robot.serial,
            )
        )
    return found


def task_alerts(task: TaskFacts, now: datetime, wait_limit_s: float) -> list[Alert]:
    if task.status is TaskStatus.PENDING:
        waited = (now - task.created_at).total_seconds()
        if waited >= wait_limit_s:
            return [
                _alert(
                    AlertKind.TASK_WAITING,
                    task.created_at,
                    f"task {task.id} has waited {waited / 60:.0f} min for a robot",
                    task=task.id,
                )
            ]
        return []
    if task.awaiting_pilot:
        since = _time(task.status_times.get(TaskStatus.IN_PROGRESS.value)) or task.created_at
        return [
            _alert(
                AlertKind.NO_PILOT,
                since,
                f"{task.robot_serial or 'a robot'} is on task {task.id} with no pilot",
                robot=task.robot_serial,
                task=task.id,
            )
        ]
    return []


def fleet_alerts(
    robots: Iterable[RobotFacts], tasks: Iterable[TaskFacts], now: datetime, wait_limit_s: float
) -> list[Alert]:
    """Every alert standing now, the critical first, then the oldest first."""
    found = [a for r in robots for a in robot_alerts(r)]
    found += [a for t in tasks for a in task_alerts(t, now, wait_limit_s)]
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1}
    return sorted(found, key=lambda a: (order[a.severity], a.since, a.id))


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
