"""The operations database: its tables, mapped with SQLAlchemy 2. Only this service reads
them; `Task.delivery_id` and `Task.attempt_id` name things of the deliveries service as plain
strings, with no foreign key across services."""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sidewalk.kernel.audit import audit_table
from sidewalk.kernel.db import UTCDateTime, new_metadata, text_enum
from sidewalk.kernel.dead_letters import dead_letter_table
from sidewalk.kernel.outbox import inbox_table, outbox_table
from sidewalk.operations.domain import (
    OperatorRole,
    OperatorStatus,
    RobotConfig,
    RobotState,
    TaskStatus,
    TaskType,
    TripStatus,
    TripType,
)


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


# The events this service tells the other, written in the transaction of their change, and the
# ids of the events it has handled (see `kernel.outbox`).
OUTBOX = outbox_table(Base.metadata, "operations")
INBOX = inbox_table(Base.metadata, "operations")
DEAD_LETTERS = dead_letter_table(Base.metadata, "operations")
# Who called the ops API, what for and when (see `kernel.audit`).
API_REQUESTS = audit_table(Base.metadata, "operations")


ACTIVE_TASK_SQL = text("status IN ('assigned', 'in_progress')")
OPEN_ASSIGNMENT_SQL = text("released_at IS NULL")


class Hub(Base):
    """A place where robots charge and wait."""

    __tablename__ = "hubs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    area_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Robot(Base):
    __tablename__ = "robots"

    serial: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("hubs.id"))
    state: Mapped[RobotState] = mapped_column(text_enum(RobotState, "robot_state"))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    battery_pct: Mapped[float | None] = mapped_column(Float)
    area_id: Mapped[str | None] = mapped_column(String(64))
    speed_mps: Mapped[float] = mapped_column(Float)
    battery_low_pct: Mapped[float] = mapped_column(Float)
    battery_reserve_pct: Mapped[float] = mapped_column(Float)
    drain_pct_per_km: Mapped[float] = mapped_column(Float)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    last_seen_at: Mapped[datetime | None]  # when the service last heard from it
    reading_at: Mapped[datetime | None]  # when the position and battery kept were read
    state_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("battery_pct IS NULL OR battery_pct BETWEEN 0 AND 100", name="battery"),
        CheckConstraint("speed_mps > 0 AND drain_pct_per_km >= 0", name="config"),
        Index("ix_robots_area_state", "area_id", "state"),
    )

    @property
    def config(self) -> RobotConfig:
        return RobotConfig(
            speed_mps=self.speed_mps,
            battery_low_pct=self.battery_low_pct,
            battery_reserve_pct=self.battery_reserve_pct,
            drain_pct_per_km=self.drain_pct_per_km,
        )


class StateHistory(Base):
    """One row per change of a robot's state; (serial, date) is the key, as in the diagram."""

    __tablename__ = "state_history"

    serial: Mapped[str] = mapped_column(ForeignKey("robots.serial"), primary_key=True)
    date: Mapped[datetime] = mapped_column(primary_key=True)
    state: Mapped[RobotState] = mapped_column(text_enum(RobotState, "robot_state"))
    previous_state: Mapped[RobotState | None] = mapped_column(
        text_enum(RobotState, "previous_robot_state")
    )
    task_id: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(200))

    # The `_changed` indexes serve the warehouse's incremental reads.
    __table_args__ = (Index("ix_state_history_changed", "date"),)


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[TaskType] = mapped_column(text_enum(TaskType, "task_type"))
    status: Mapped[str] = mapped_column(text_enum(TaskStatus, "task_status"))
    robot_serial: Mapped[str | None] = mapped_column(ForeignKey("robots.serial"))
    delivery_id: Mapped[str | None] = mapped_column(String(40))
    attempt_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    area_id: Mapped[str | None] = mapped_column(String(64))
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("hubs.id"))
    # Where the robot goes first and where the task ends, for the dispatcher's batch query.
    start_lat: Mapped[float] = mapped_column(Float)
    start_lng: Mapped[float] = mapped_column(Float)
    end_lat: Mapped[float] = mapped_column(Float)
    end_lng: Mapped[float] = mapped_column(Float)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    # A return task brings back the goods of the delivery task it names.
    return_of_task_id: Mapped[str | None] = mapped_column(ForeignKey("tasks.id"))
    status_times: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # A scheduled delivery's task waits for robots until then.
    not_before: Mapped[datetime | None]
    # The time promised at the door, which the dispatcher weighs (none: a task of ours).
    dropoff_by: Mapped[datetime | None]
    # The customer's PIN opens the compartment at the dropoff; wrong tries are counted.
    unlock_pin: Mapped[str | None] = mapped_column(String(8))
    unlock_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unlocked_at: Mapped[datetime | None]
    unlocked_by: Mapped[str | None] = mapped_column(String(16))  # "pin" or "pilot"
    # A delivery's goods nobody takes at the door: `return`, `leave_at_door` or `dispose`.
    undeliverable_action: Mapped[str | None] = mapped_column(String(16))

    trips: Mapped[list["Trip"]] = relationship(
        order_by="Trip.sequence", back_populates="task", lazy="selectin"
    )

    __table_args__ = (
        # The database itself refuses a second active task for one robot.
        Index(
            "uq_tasks_one_active_per_robot",
            "robot_serial",
            unique=True,
            sqlite_where=ACTIVE_TASK_SQL,
            postgresql_where=ACTIVE_TASK_SQL,
        ),
        Index("ix_tasks_status_area", "status", "area_id", "created_at"),
        Index("ix_tasks_robot_status", "robot_serial", "status"),
        Index("ix_tasks_created", "created_at", "id"),
        Index("ix_tasks_changed", "updated_at", "id"),
    )


class Trip(Base):
    """One leg of a task, driven to one destination."""

    __tablename__ = "trips"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    sequence: Mapped[int] = mapped_column(Integer)
    type: Mapped[TripType] = mapped_column(text_enum(TripType, "trip_type"))
    status: Mapped[str] = mapped_column(text_enum(TripStatus, "trip_status"))
    destination_lat: Mapped[float] = mapped_column(Float)
    destination_lng: Mapped[float] = mapped_column(Float)
    failure_reason: Mapped[str | None] = mapped_column(String(200))
    status_times: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    task: Mapped[Task] = relationship(back_populates="trips")

    __table_args__ = (
        UniqueConstraint("task_id", "sequence"),
        Index("ix_trips_changed", "updated_at", "id"),
    )


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[OperatorRole] = mapped_column(text_enum(OperatorRole, "operator_role"))
    status: Mapped[OperatorStatus] = mapped_column(text_enum(OperatorStatus, "operator_status"))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PilotAssignment(Base):
    """A pilot supervising the robot of a task, from `assigned_at` until `released_at`."""

    __tablename__ = "pilot_assignments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pilot_id: Mapped[str] = mapped_column(ForeignKey("operators.id"))
    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"))
    robot_serial: Mapped[str] = mapped_column(ForeignKey("robots.serial"))
    assigned_at: Mapped[datetime]
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index(
            "uq_pilot_assignments_one_open_per_task",
            "task_id",
            unique=True,
            sqlite_where=OPEN_ASSIGNMENT_SQL,
            postgresql_where=OPEN_ASSIGNMENT_SQL,
        ),
        Index("ix_pilot_assignments_pilot_open", "pilot_id", "released_at"),
        Index("ix_pilot_assignments_task", "task_id", "released_at"),
    )


class AlertAck(Base):
    """An operator has seen an alert of the dashboard (alerts themselves are worked out from
    the fleet's state each time; only who saw them is kept)."""

    __tablename__ = "alert_acks"

    alert_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    operator_id: Mapped[str] = mapped_column(ForeignKey("operators.id"))
    acknowledged_at: Mapped[datetime]

    __table_args__ = (Index("ix_alert_acks_changed", "acknowledged_at"),)
