"""Read models of the ops API, built from the tables."""

from sidewalk.operations.domain import TaskStatus
from sidewalk.operations.models import Hub, Operator, PilotAssignment, Robot, StateHistory, Task
from sidewalk.operations.positions import RobotView
from sidewalk.operations.schemas import (
    HubRead,
    OperatorRead,
    PilotAssignmentRead,
    PilotRead,
    Point,
    RobotConfigRead,
    RobotRead,
    StateChange,
    TaskRead,
    TripRead,
)


def robot_read(robot: Robot | RobotView) -> RobotRead:
    c = robot.config
    return RobotRead(
        serial=robot.serial,
        display_name=robot.display_name,
        state=robot.state,
        hub_id=robot.hub_id,
        position=(
            Point(lat=robot.lat, lng=robot.lng)
            if robot.lat is not None and robot.lng is not None
            else None
        ),
        battery_pct=robot.battery_pct,
        area_id=robot.area_id,
        config=RobotConfigRead(
            speed_mps=c.speed_mps,
            battery_low_pct=c.battery_low_pct,
            battery_reserve_pct=c.battery_reserve_pct,
            drain_pct_per_km=c.drain_pct_per_km,
        ),
        last_seen_at=robot.last_seen_at,
        reading_at=robot.reading_at,
        state_changed_at=robot.state_changed_at,
        created_at=robot.created_at,
    )


def state_change(row: StateHistory) -> StateChange:
    return StateChange(
        serial=row.serial,
        date=row.date,
        state=row.state,
        previous_state=row.previous_state,
        task_id=row.task_id,
        reason=row.reason,
    )


def task_read(task: Task, pilot: PilotAssignment | None) -> TaskRead:
    return TaskRead(
        id=task.id,
        type=task.type,
        status=task.status,
        robot_serial=task.robot_serial,
        delivery_id=task.delivery_id,
        attempt_id=task.attempt_id,
        area_id=task.area_id,
        hub_id=task.hub_id,
        failure_reason=task.failure_reason,
        return_of_task_id=task.return_of_task_id,
        awaiting_pilot=task.status == TaskStatus.IN_PROGRESS and pilot is None,
        pilot=(
            PilotRead(
                assignment_id=pilot.id, pilot_id=pilot.pilot_id, assigned_at=pilot.assigned_at
            )
            if pilot
            else None
        ),
        trips=[
            TripRead(
                id=t.id,
                sequence=t.sequence,
                type=t.type,
                status=t.status,
                destination=Point(lat=t.destination_lat, lng=t.destination_lng),
                failure_reason=t.failure_reason,
                status_times=t.status_times,
            )
            for t in task.trips
        ],
        status_times=task.status_times,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )


def operator_read(operator: Operator) -> OperatorRead:
    return OperatorRead(
        id=operator.id,
        email=operator.email,
        display_name=operator.display_name,
        role=operator.role,
        status=operator.status,
        created_at=operator.created_at,
    )


def assignment_read(a: PilotAssignment) -> PilotAssignmentRead:
    return PilotAssignmentRead(
        id=a.id,
        pilot_id=a.pilot_id,
        task_id=a.task_id,
        robot_serial=a.robot_serial,
        assigned_at=a.assigned_at,
        released_at=a.released_at,
        release_reason=a.release_reason,
    )


def hub_read(hub: Hub) -> HubRead:
    return HubRead(
        id=hub.id,
        name=hub.name,
        lat=hub.lat,
        lng=hub.lng,
        area_id=hub.area_id,
        created_at=hub.created_at,
    )
