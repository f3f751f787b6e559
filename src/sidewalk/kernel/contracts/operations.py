"""What the operations service tells that the deliveries service reads: a task's progress
and end, what happened at the door, where a robot carrying goods is, and the fleet's state
for quotes. Operations tells more (a robot's state, pilots, tasks created); those events are
its own, for its dashboards and the warehouse, and are no contract."""

from typing import Annotated, ClassVar, Literal

from pydantic import AwareDatetime, Field

from sidewalk.kernel.contracts.base import Contract
from sidewalk.kernel.contracts.deliveries import UndeliverableAction

TaskType = Literal["delivery", "return", "charge", "reposition"]
TripType = Literal["to_pickup", "to_dropoff", "to_merchant", "to_hub"]


class TaskEvent(Contract):
    """An event about one task; a delivery's (or its return's) names the delivery and, for a
    delivery task, the attempt it carries out."""

    SOURCE: ClassVar = "operations"
    SUBJECT: ClassVar = ("task_id", "robot_serial", "delivery_id", "attempt_id")

    task_id: str = Field(min_length=1, description="the task")
    robot_serial: str | None = Field(None, description="its robot, once it has one")
    delivery_id: str | None = Field(None, description="the delivery it carries out or returns")
    attempt_id: str | None = Field(None, description="the attempt a delivery task carries out")
    task_type: TaskType = Field(description="the task's kind")


class TaskProgress(TaskEvent):
    TYPES: ClassVar = (
        "task.assigned",
        "trip.in_progress",
        "trip.arrived",
        "trip.completed",
        "task.completed",
    )
    WHEN: ClassVar = (
        "a task gets its robot, and its robot drives each trip (`trip.*`, with the trip) and "
        "finishes: the attempt and the delivery follow (a return task: `returning`, "
        "`returned`)"
    )

    trip_id: str | None = Field(None, description="`trip.*`: the trip")
    trip_type: TripType | None = Field(None, description="`trip.*`: the trip's leg")
    reason: str | None = Field(None, description="what the robot said, if anything")
    return_of_task_id: str | None = Field(
        None, description="a return task's `task.assigned`: the task whose goods it brings back"
    )


class TaskEnded(TaskEvent):
    TYPES: ClassVar = ("task.failed", "task.cancelled")
    WHEN: ClassVar = (
        "a task ends without finishing: the attempt ends, and the delivery follows the "
        "merchant's attempt policy before pickup"
    )

    reason: str | None = Field(
        None,
        description="`robot_fault`, `robot_offline`, `no_robot_available`, "
        "`no_pilot_available`, the robot's own words, or the cancel's reason",
    )
    goods_disposed: bool | None = Field(
        None, description="true when the goods on board are to be disposed of"
    )
    goods_on_board: bool | None = Field(
        None,
        description="true when the robot had picked the goods up: a return task brings them "
        "back (unless disposed of), and no other attempt may take over",
    )


class TaskUnlocked(TaskEvent):
    TYPES: ClassVar = ("task.unlocked",)
    WHEN: ClassVar = "the robot's compartment opened at the door: the goods are handed over"

    by: Literal["pin", "pilot"] = Field(
        description="the customer's PIN, or a pilot who checked the customer another way"
    )
    operator_id: str | None = Field(None, description="`pilot`: who opened it")
    reason: str | None = Field(None, description="`pilot`: why")
    lat: float | None = Field(None, ge=-90, le=90, description="where the robot stood")
    lng: float | None = Field(None, ge=-180, le=180)


class TaskUndeliverable(TaskEvent):
    TYPES: ClassVar = ("task.undeliverable",)
    WHEN: ClassVar = "nobody takes the goods at the door: what the robot does with them"

    action: UndeliverableAction = Field(description="what the robot does with the goods")
    reason: str = Field("customer_unavailable", description="why nobody took them")
    operator_id: str | None = Field(None, description="the pilot who said so, if one did")
    lat: float | None = Field(None, ge=-90, le=90, description="where the robot stood")
    lng: float | None = Field(None, ge=-180, le=180)


class RobotPosition(TaskEvent):
    TYPES: ClassVar = ("robot.position",)
    WHEN: ClassVar = (
        "a robot on a delivery (or bringing its goods back) moved, at most every "
        "`robot_position_event_s`"
    )

    lat: float = Field(ge=-90, le=90, description="where the robot is")
    lng: float = Field(ge=-180, le=180)
    battery_pct: float | None = Field(None, ge=0, le=100, description="its battery")
    taken_at: AwareDatetime = Field(description="when the robot read its position")


FleetRobot = Annotated[list[float], Field(min_length=4, max_length=4)]


class FleetSnapshot(Contract):
    TYPES: ClassVar = ("fleet.snapshot",)
    SOURCE: ClassVar = "operations"
    WHEN: ClassVar = (
        "every `fleet_snapshot_interval_s`, one per area: what robot quotes promise their "
        "times from"
    )

    area_id: str = Field(description='the service area (`""`: robots outside every area)')
    taken_at: AwareDatetime = Field(description="when the state was read")
    robots: list[FleetRobot] = Field(
        description="`[lat, lng, free_in_s, speed_mps]` of each robot that can take work: "
        "free now (0) or after its delivery or return task, where that task ends"
    )
    pending: int = Field(ge=0, description="the tasks waiting for a robot in the area")
