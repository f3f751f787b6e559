"""The fields moving a trip reads and writes, as protocols: the ORM rows have them, and so do
the plain records a robot's trip report reads (`task_records`), which go through the same
rules (`tasks.move_trip`) without the cost of building ORM objects."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sidewalk.operations.domain import RobotState, TaskType, TripType


class TripFields(Protocol):
    id: str
    sequence: int
    type: TripType
    status: str
    status_times: dict[str, Any]
    failure_reason: str | None
    updated_at: datetime


class TaskSubject(Protocol):
    """What names a task in its events."""

    id: str
    type: TaskType
    robot_serial: str | None
    delivery_id: str | None
    attempt_id: str | None


class MovingTask(TaskSubject, Protocol):
    """What a change of a task's status reads and writes (`moves.task_to`)."""

    status: str
    status_times: dict[str, Any]
    updated_at: datetime


class TaskFields(MovingTask, Protocol):
    # When the compartment was opened at the door (a delivery's proof of handover), if it was.
    unlocked_at: datetime | None

    @property
    def trips(self) -> Sequence[TripFields]: ...


class EndingTrip(TripFields, Protocol):
    destination_lat: float
    destination_lng: float


class EndingTask(TaskFields, Protocol):
    """What ending a task reads and writes (`tasks.finish`): a return task for goods on
    board starts where the first trip went."""

    failure_reason: str | None
    area_id: str | None

    @property
    def trips(self) -> Sequence[EndingTrip]: ...


class RobotStateFields(Protocol):
    """What a change of a robot's state reads and writes (the ORM row, or
    `task_records.RobotStateRecord`)."""

    serial: str
    state: RobotState
    state_changed_at: datetime
    updated_at: datetime
