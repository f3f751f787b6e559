"""A task and its trips as a robot's trip report moves them: plain records of the fields the
move reads and writes (`shapes`), read locked in two statements and written back one row at a
time, only the rows that changed (`repository`)."""

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sidewalk.operations.domain import RobotState, TaskType, TripType


@dataclass(slots=True)
class TripRecord:
    id: str
    sequence: int
    type: TripType
    status: str
    status_times: dict[str, Any]
    failure_reason: str | None
    updated_at: datetime
    destination_lat: float
    destination_lng: float
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
    failure_reason: str | None
    area_id: str | None
    unlocked_at: datetime | None
    trips: list[TripRecord]
    stored_status: str = field(init=False)

    def __post_init__(self) -> None:
        self.stored_status = self.status


@dataclass(slots=True)
class RobotStateRecord:
    """A robot as a change of its state reads and writes it (`robot_state.change_state`)."""

    serial: str
    state: RobotState
    state_changed_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class TaskAtTheDoor:
    """A delivery task as the robot's unlock at the door reads and writes it: what names it
    in events, its door fields, and the status of its last trip (the dropoff)."""

    id: str
    type: TaskType
    robot_serial: str | None
    delivery_id: str | None
    attempt_id: str | None
    unlock_pin: str | None
    unlock_failures: int
    unlocked_at: datetime | None
    unlocked_by: str | None
    updated_at: datetime
    dropoff_status: str | None


@dataclass(slots=True)
class NewTrip:
    id: str
    sequence: int
    type: TripType
    destination_lat: float
    destination_lng: float
    status: str
    status_times: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    failure_reason: str | None = None

    def row(self, task_id: str) -> dict[str, Any]:
        """The trip's columns: its fields, and its task."""
        return {**_columns(self), "task_id": task_id}


@dataclass(slots=True)
class NewTask:
    """A task as it is made: pending, with its trips, every column of its row."""

    id: str
    type: TaskType
    status: str
    delivery_id: str | None
    attempt_id: str | None
    area_id: str | None
    hub_id: str | None
    start_lat: float
    start_lng: float
    end_lat: float
    end_lng: float
    status_times: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    trips: list[NewTrip]
    robot_serial: str | None = None
    return_of_task_id: str | None = None
    not_before: datetime | None = None
    dropoff_by: datetime | None = None
    unlock_pin: str | None = None
    undeliverable_action: str | None = None

    def row(self) -> dict[str, Any]:
        """The task's columns: its fields but its trips."""
        return _columns(self, leave_out="trips")


def _columns(record: Any, leave_out: str = "") -> dict[str, Any]:
    """A record's fields by name, as the columns of the same names take them."""
    return {f.name: getattr(record, f.name) for f in fields(record) if f.name != leave_out}
