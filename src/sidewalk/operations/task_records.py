"""A task and its trips as a robot's trip report moves them: plain records of the fields the
move reads and writes (`shapes`), read locked in two statements and written back one row at a
time, only the rows that changed (`repository`)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sidewalk.operations.domain import TaskType, TripType


@dataclass(slots=True)
class TripRecord:
    id: str
    sequence: int
    type: TripType
    status: str
    status_times: dict[str, Any]
    failure_reason: str | None
    updated_at: datetime
    stored_status: str = field(init=False)  # as read: the trip is written back if it moved

    def __post_init__(self) -> None:
        self.stored_status = self.status


@dataclass(slots=True)
class TaskRecord:
    id: str
    type: TaskType
    status: str
    status_times: dict[str, Any]
    robot_serial: str | None
    delivery_id: str | None
    attempt_id: str | None
    updated_at: datetime
    trips: list[TripRecord]
    stored_status: str = field(init=False)

    def __post_init__(self) -> None:
        self.stored_status = self.status
