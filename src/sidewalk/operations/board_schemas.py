"""What the ops dashboard is sent: the fleet board, its alerts and the day's figures."""

from datetime import date, datetime

from pydantic import BaseModel, Field

from sidewalk.operations.alert_rules import AlertKind, Severity
from sidewalk.operations.domain import OperatorStatus
from sidewalk.operations.schemas import HubRead, OperatorRead, RobotRead, TaskRead


class AlertRead(BaseModel):
    id: str = Field(description="Stays the same while the condition lasts.")
    kind: AlertKind
    severity: Severity
    robot_serial: str | None
    task_id: str | None
    since: datetime
    message: str
    acknowledged_by: str | None = Field(description="The operator who acknowledged it.")
    acknowledged_at: datetime | None


class PilotOnBoard(BaseModel):
    id: str
    display_name: str | None
    email: str
    status: OperatorStatus
    robots: int = Field(description="Robots they supervise now.")
    capacity: int


class DayFigures(BaseModel):
    day: date = Field(description="The UTC day the figures count.")
    tasks_completed: int
    tasks_failed: int
    tasks_cancelled: int
    deliveries_completed: int
    mean_delivery_minutes: float | None = Field(
        description="From a delivery task's creation to its completion, over today's."
    )
    robots_in_service: int = Field(description="Neither offline nor in maintenance.")
    robots_on_task: int
    tasks_waiting: int = Field(description="Pending tasks no robot has taken yet.")
    open_alerts: int = Field(description="Alerts nobody has acknowledged.")


class Board(BaseModel):
    """The fleet as the caller may see it: a pilot, the robots and tasks they supervise."""

    at: datetime
    operator: OperatorRead
    robots: list[RobotRead]
    tasks: list[TaskRead] = Field(description="Open tasks (pending, assigned, in progress).")
    pilots: list[PilotOnBoard]
    alerts: list[AlertRead]
    figures: DayFigures
    hubs: list[HubRead]
