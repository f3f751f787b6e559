"""What the ops API accepts and answers (Pydantic, at the edge only)."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sidewalk.kernel.schemas import NO_NUL, Latitude, Longitude, Request, UtcDatetime
from sidewalk.operations.domain import (
    OperatorRole,
    OperatorStatus,
    RobotState,
    TaskStatus,
    TaskType,
    TripEvent,
    TripStatus,
    TripType,
)

Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Serial = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", examples=["SW-0042"])]


class Point(BaseModel):
    lat: float
    lng: float


# --- robots -----------------------------------------------------------------------------------


class RobotCreate(Request):
    serial: Serial
    display_name: Name
    hub_id: str | None = Field(None, max_length=40, pattern=NO_NUL)
    speed_mps: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = None
    battery_low_pct: Percent | None = None
    battery_reserve_pct: Percent | None = None
    drain_pct_per_km: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"serial": "SW-0042", "display_name": "Bolt", "hub_id": "hub_…"}]
        }
    )


class RobotConfigRead(BaseModel):
    speed_mps: float
    battery_low_pct: float
    battery_reserve_pct: float
    drain_pct_per_km: float


class RobotRead(BaseModel):
    serial: str
    display_name: str
    state: RobotState
    hub_id: str | None
    position: Point | None
    battery_pct: float | None
    area_id: str | None
    config: RobotConfigRead
    last_seen_at: datetime | None = Field(description="When the service last heard from it.")
    reading_at: datetime | None = Field(description="When its position and battery were read.")
    state_changed_at: datetime
    created_at: datetime


class RobotCreated(RobotRead):
    token: str = Field(description="The robot's bearer token; shown once, never again.")


class RobotList(BaseModel):
    data: list[RobotRead]


class TelemetryIn(Request):
    lat: Latitude
    lng: Longitude
    battery_pct: Percent
    state: RobotState | None = Field(
        None,
        strict=False,
        description="What the robot reports of itself: idle, charging, fault or offline.",
    )
    at: UtcDatetime | None = Field(
        None, strict=False, description="When the reading was taken (ISO 8601 with a zone)."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"lat": 34.0901, "lng": -118.3617, "battery_pct": 81.5, "state": "idle"}]
        },
    )


class TokenIssued(BaseModel):
    token: str = Field(description="The new bearer token; shown once. The old one stops working.")


class MaintenanceIn(Request):
    on: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{"on": True}]})


class StateChange(BaseModel):
    serial: str
    date: datetime
    state: RobotState
    previous_state: RobotState | None
    task_id: str | None
    reason: str | None


class StateHistoryPage(BaseModel):
    data: list[StateChange]


# --- tasks and trips ---------------------------------------------------------------------------


class TripRead(BaseModel):
    id: str
    sequence: int
    type: TripType
    status: TripStatus
    destination: Point
    failure_reason: str | None
    status_times: dict[str, Any]


class PilotRead(BaseModel):
    assignment_id: str
    pilot_id: str
    assigned_at: datetime


class TaskRead(BaseModel):
    id: str
    type: TaskType
    status: TaskStatus
    robot_serial: str | None
    delivery_id: str | None
    attempt_id: str | None
    area_id: str | None
    hub_id: str | None
    failure_reason: str | None
    return_of_task_id: str | None = Field(
        description="For a return task: the delivery task whose goods it brings back."
    )
    awaiting_pilot: bool
    pilot: PilotRead | None
    trips: list[TripRead]
    status_times: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TaskPage(BaseModel):
    data: list[TaskRead]
    next_cursor: str | None


class TaskCreate(Request):
    """A task a supervisor gives a robot directly: to a hub to charge or wait."""

    type: Literal["charge", "reposition"]
    robot_serial: Serial
    hub_id: str = Field(max_length=40, pattern=NO_NUL)

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"type": "charge", "robot_serial": "SW-0042", "hub_id": "hub_…"}]
        }
    )


class ReassignIn(Request):
    robot_serial: Serial | None = Field(
        None, description="Give the task to this robot; leave out to let the dispatcher choose."
    )

    model_config = ConfigDict(json_schema_extra={"examples": [{"robot_serial": "SW-0043"}]})


class CancelTaskIn(Request):
    reason: str = Field("cancelled", min_length=1, max_length=200, pattern=NO_NUL)

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "customer_cancelled"}]})


class UnlockIn(Request):
    """The customer's PIN as typed on the robot; an operator may leave it out and say why."""

    pin: str | None = Field(None, pattern=r"^[0-9]{4,8}$", examples=["4821"])
    reason: str | None = Field(None, min_length=1, max_length=200, pattern=NO_NUL)

    model_config = ConfigDict(json_schema_extra={"examples": [{"pin": "4821"}]})


class UnlockRead(BaseModel):
    task_id: str
    delivery_id: str | None
    opened_at: datetime
    by: Literal["pin", "pilot"]


class UndeliverableIn(Request):
    reason: str = Field("customer_unavailable", min_length=1, max_length=200, pattern=NO_NUL)

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "no_answer_at_door"}]})


class UndeliverableRead(BaseModel):
    task_id: str
    delivery_id: str | None
    action_taken: Literal["return", "leave_at_door", "dispose"]


class TripEventIn(Request):
    event: TripEvent = Field(strict=False)
    reason: str | None = Field(None, min_length=1, max_length=200, pattern=NO_NUL)

    model_config = ConfigDict(json_schema_extra={"examples": [{"event": "arrived"}]})


# --- operators, pilots, hubs -------------------------------------------------------------------


class OperatorCreate(Request):
    email: str = Field(min_length=3, max_length=254, pattern=NO_NUL, examples=["ana@example.com"])
    role: OperatorRole = Field(strict=False)
    display_name: Name | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ana@example.com", "role": "pilot", "display_name": "Ana"}]
        }
    )


class OperatorRead(BaseModel):
    id: str
    email: str
    display_name: str | None
    role: OperatorRole
    status: OperatorStatus
    created_at: datetime


class OperatorCreated(OperatorRead):
    token: str = Field(description="The operator's bearer token; shown once, never again.")


class OperatorList(BaseModel):
    data: list[OperatorRead]


class OperatorStatusIn(Request):
    status: OperatorStatus = Field(strict=False)

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "available"}]})


class PilotAssignmentRead(BaseModel):
    id: str
    pilot_id: str
    task_id: str
    robot_serial: str
    assigned_at: datetime
    released_at: datetime | None
    release_reason: str | None


class PilotAssignmentList(BaseModel):
    data: list[PilotAssignmentRead]


class HubCreate(Request):
    name: Name
    lat: Latitude
    lng: Longitude

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "Santa Monica Blvd hub", "lat": 34.088, "lng": -118.37}]
        }
    )


class HubRead(BaseModel):
    id: str
    name: str
    lat: float
    lng: float
    area_id: str | None
    created_at: datetime


class HubList(BaseModel):
    data: list[HubRead]


class DispatchReport(BaseModel):
    assigned: int
    no_robot_available: int
    sent_to_charge: int
    went_offline: int
    got_pilot: int
    no_pilot_available: int
