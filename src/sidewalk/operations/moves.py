"""The one way a task or a trip changes status. `task_to` and `trip_to` take it through its
state machine, stamp the time, and tell (`task_event`: the outbox event the deliveries
service and the dashboards follow). A robot's state has its own (`robot_state.change_state`).
A test keeps every other module from calling the state machine's `transition`."""

from sidewalk.kernel.statemachine import transition
from sidewalk.operations.domain import TASK_TRANSITIONS, TRIP_TRANSITIONS, TaskStatus, TripStatus
from sidewalk.operations.shapes import MovingTask, TaskSubject, TripFields
from sidewalk.operations.uow import OperationsUnitOfWork


def task_event(uow: OperationsUnitOfWork, type_: str, task: TaskSubject, **data: object) -> None:
    """Tell of something that happened to a task, in the outbox of the use case."""
    uow.record(
        type_,
        task_id=task.id,
        robot_serial=task.robot_serial,
        delivery_id=task.delivery_id,
        attempt_id=task.attempt_id,
        data={"task_type": task.type, **data},
    )


def task_to(
    uow: OperationsUnitOfWork,
    task: MovingTask,
    to: TaskStatus,
    *,
    told_as: str | None = None,
    **told: object,
) -> TaskStatus:
    """Move the task to `to` (raising `invalid_transition` if it may not go there), stamp
    it, and tell `task.<to>` (or `told_as`) with `told`; the status it left."""
    now = uow.clock.now()
    previous = transition("task", TASK_TRANSITIONS, task, to, at=now)
    task.updated_at = now
    task_event(uow, told_as or f"task.{to.value}", task, **told)
    return previous


def trip_to(
    uow: OperationsUnitOfWork,
    task: TaskSubject,
    trip: TripFields,
    to: TripStatus,
    *,
    silently: bool = False,
    **told: object,
) -> TripStatus:
    """Move one of the task's trips to `to`, stamp it and tell `trip.<to>`; `silently` when
    the task's own end, told next, says it (a trip that ends with its task)."""
    now = uow.clock.now()
    previous = transition("trip", TRIP_TRANSITIONS, trip, to, at=now)
    trip.updated_at = now
    if not silently:
        task_event(uow, f"trip.{to.value}", task, trip_id=trip.id, trip_type=trip.type, **told)
    return previous
