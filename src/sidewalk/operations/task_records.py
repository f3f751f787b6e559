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
        return {
            "id": self.id,
            "task_id": task_id,
            "sequence": self.sequence,
            "type": self.type,
            "status": self.status,
            "destination_lat": self.destination_lat,
            "destination_lng": self.destination_lng,
            "failure_reason": self.failure_reason,
            "status_times": self.status_times,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


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
    not_before: datetime | None = None
    unlock_pin: str | None = None
    undeliverable_action: str | None = None

    def row(self) -> dict[str, Any]:
        """The task's columns (its trips apart)."""
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "robot_serial": self.robot_serial,
            "delivery_id": self.delivery_id,
            "attempt_id": self.attempt_id,
            "area_id": self.area_id,
            "hub_id": self.hub_id,
            "start_lat": self.start_lat,
            "start_lng": self.start_lng,
            "end_lat": self.end_lat,
            "end_lng": self.end_lng,
            "status_times": self.status_times,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "not_before": self.not_before,
            "unlock_pin": self.unlock_pin,
            "undeliverable_action": self.undeliverable_action,
        }
