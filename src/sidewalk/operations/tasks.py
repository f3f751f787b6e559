"""Tasks and their trips: making them, giving them to robots, moving them along as robots
report, and ending them. Every use case locks rows in one order (robot, then task, then the
pilot roster) so that concurrent ones queue rather than deadlock."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from sidewalk.kernel.db import among
from sidewalk.kernel.errors import Conflict, Forbidden, NotFound, ValidationFailed
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.statemachine import check
from sidewalk.operations import pilots, repository
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import (
    ACTIVE_TASK,
    OPEN_TASK,
    TASK_TRANSITIONS,
    TERMINAL_TASK,
    TERMINAL_TRIP,
    TRIP_EVENT_STATUS,
    TRIPS_OF,
    RobotState,
    TaskStatus,
    TaskType,
    TripEvent,
    TripStatus,
    TripType,
    robot_busy,
)
from sidewalk.operations.models import Hub, Robot, Task, Trip
from sidewalk.operations.moves import task_event, task_to, trip_to
from sidewalk.operations.robot_state import change_state, robot_for_update, robot_not_found
from sidewalk.operations.shapes import (
    EndingTask,
    RobotStateFields,
    TaskFields,
    TripFields,
)
from sidewalk.operations.task_records import NewTask, NewTrip
from sidewalk.operations.uow import OperationsUnitOfWork

# The name this service's event handlers go by in its inbox (and on the bus).
INBOX_CONSUMER = "operations"


def task_not_found(task_id: str) -> NotFound:
    return NotFound(f"No task {task_id!r}", code="task_not_found")


def trip_not_found(trip_id: str) -> NotFound:
    return NotFound(f"No trip {trip_id!r}", code="trip_not_found")


# --- making tasks ---------------------------------------------------------------------------


def plan_task(
    now: datetime,
    type_: TaskType,
    destinations: list[LatLng],
    *,
    area_id: str | None,
    delivery_id: str | None = None,
    attempt_id: str | None = None,
    hub_id: str | None = None,
) -> NewTask:
    """A pending task with one pending trip per destination, in the order of `TRIPS_OF`."""
    legs = TRIPS_OF[type_]
    if len(destinations) != len(legs):
        raise ValueError(f"a {type_.value} task has {len(legs)} trip(s)")
    first, last = destinations[0], destinations[-1]
    return NewTask(
        id=new_id("tsk"),
        type=type_,
        status=TaskStatus.PENDING.value,
        delivery_id=delivery_id,
        attempt_id=attempt_id,
        area_id=area_id,
        hub_id=hub_id,
        start_lat=first.lat,
        start_lng=first.lng,
        end_lat=last.lat,
        end_lng=last.lng,
        status_times={TaskStatus.PENDING.value: now.isoformat()},
        created_at=now,
        updated_at=now,
        trips=[
            NewTrip(
                id=new_id("trp"),
                sequence=i + 1,
                type=leg,
                destination_lat=where.lat,
                destination_lng=where.lng,
                status=TripStatus.PENDING.value,
                status_times={TripStatus.PENDING.value: now.isoformat()},
                created_at=now,
                updated_at=now,
            )
            for i, (leg, where) in enumerate(zip(legs, destinations, strict=True))
        ],
    )


def new_task(uow: OperationsUnitOfWork, planned: NewTask) -> Task:
    """A planned task as ORM rows in the session, for a use case that goes on to change it
    (assign it, say)."""
    task = Task(**planned.row())
    task.trips = [Trip(**trip.row(task.id)) for trip in planned.trips]
    uow.session.add(task)
    task_event(uow, "task.created", task)
    return task


def create_delivery_task(
    ctx: OperationsContext,
    *,
    delivery_id: str,
    attempt_id: str,
    pickup: LatLng,
    dropoff: LatLng,
    pickup_at: datetime | None = None,
    dropoff_by: datetime | None = None,
    unlock_pin: str | None = None,
    undeliverable_action: str | None = None,
    event_id: str | None = None,
) -> str:
    """The task that carries out a robot attempt: to the pickup, then to the dropoff; its id.
    Asking twice for one attempt gives the same task (the events that ask may be
    redelivered); `event_id`, when the request is an event, is recorded in the inbox with the
    task. A scheduled attempt (`pickup_at`) waits for robots until a robot's typical way to a
    pickup before then; the compartment opens at the dropoff with `unlock_pin`. The task and
    its trips are written once, as the transaction commits (`kernel.db.Inserts`)."""
    area = ctx.areas.containing(pickup)
    try:
        with ctx.uow() as uow:
            existing = repository.task_id_of_attempt(uow.connection, attempt_id)
            if existing is not None:
                return existing
            if event_id is not None:
                uow.first_time(INBOX_CONSUMER, event_id)
            task = plan_task(
                uow.clock.now(),
                TaskType.DELIVERY,
                [pickup, dropoff],
                area_id=area.id if area else None,
                delivery_id=delivery_id,
                attempt_id=attempt_id,
            )
            task.not_before = _dispatch_from(ctx, pickup_at)
            task.dropoff_by = dropoff_by
            task.unlock_pin = unlock_pin
            task.undeliverable_action = undeliverable_action
            repository.insert_task(uow.inserts, task)
            task_event(uow, "task.created", task)
            uow.commit()
            return task.id
    except IntegrityError:
        with ctx.uow() as uow:
            existing = repository.task_id_of_attempt(uow.connection, attempt_id)
            if existing is None:
                raise
            return existing


def _dispatch_from(ctx: OperationsContext, pickup_at: datetime | None) -> datetime | None:
    if pickup_at is None:
        return None
    return pickup_at - timedelta(seconds=ctx.settings.robot_pickup_lead_s)


def update_task(
    ctx: OperationsContext,
    attempt_id: str,
    *,
    pickup_at: datetime | None,
    undeliverable_action: str | None,
    dropoff_by: datetime | None = None,
) -> None:
    """Follow a merchant's change: a task still waiting for a robot is offered to robots from
    the new pickup time on (one that has a robot keeps it; the robot waits at the pickup); an
    open task takes the new undeliverable action."""
    with ctx.uow() as uow:
        found = task_of_attempt(uow.session, attempt_id)
        if found is None:
            return
        task = find_task(uow.session, found.id, lock=True)
        if task.status not in OPEN_TASK:
            return
        if task.status == TaskStatus.PENDING:
            task.not_before = _dispatch_from(ctx, pickup_at)
            task.dropoff_by = dropoff_by or task.dropoff_by
        task.undeliverable_action = undeliverable_action or task.undeliverable_action
        task.updated_at = uow.clock.now()
        uow.commit()


def create_robot_task(
    ctx: OperationsContext,
    type_: TaskType,
    robot_serial: str,
    *,
    hub_id: str | None = None,
    destination: LatLng | None = None,
    delivery_id: str | None = None,
) -> Task:
    """A task for one given robot: `charge` or `reposition` to a hub, or `return` of goods to
    a place (the merchant). It is assigned at once."""
    if type_ is TaskType.DELIVERY:
        raise ValidationFailed("Delivery tasks come from delivery attempts", code="invalid_type")
    with ctx.uow() as uow:
        robot = robot_for_update(uow.session, robot_serial)
        target = _destination(uow.session, type_, hub_id, destination)
        planned = plan_task(
            uow.clock.now(),
            type_,
            [target],
            area_id=robot.area_id,
            hub_id=hub_id,
            delivery_id=delivery_id,
        )
        task = new_task(uow, planned)
        assign(uow, task, robot)
        uow.commit()
        return task


def _destination(
    session: Session, type_: TaskType, hub_id: str | None, destination: LatLng | None
) -> LatLng:
    if type_ is TaskType.RETURN:
        if destination is None:
            raise ValidationFailed("A return task needs a destination", code="validation_error")
        return destination
    hub = session.get(Hub, hub_id) if hub_id else None
    if hub is None:
        raise NotFound(f"No hub {hub_id!r}", code="hub_not_found")
    return LatLng(hub.lat, hub.lng)


# --- giving tasks to robots -----------------------------------------------------------------


def assign(uow: OperationsUnitOfWork, task: TaskFields, robot: RobotStateFields) -> None:
    """Give a pending task to an idle robot (locked by the caller). The partial unique index
    on active tasks makes the database refuse a robot's second one, whatever happens here.
    The rows are the ORM's, flushed here, or plain records the caller writes back."""
    if robot.state != RobotState.IDLE:
        raise robot_busy(RobotState(robot.state))
    task.robot_serial = robot.serial
    task_to(uow, task, TaskStatus.ASSIGNED)
    change_state(uow, robot, RobotState.ON_TASK, reason="assigned", task_id=task.id)
    uow.flush()


def reassign_task(ctx: OperationsContext, task_id: str, robot_serial: str | None) -> Task:
    """Take a task that has not started from its robot: back to the dispatcher's queue, or
    straight to `robot_serial`. Robots are locked before the task, in serial order; if the
    dispatcher gives the task a robot meanwhile, the use case starts again."""
    for _attempt in range(3):
        with ctx.uow() as uow:
            session = uow.session
            current = find_task(session, task_id).robot_serial
            serials = sorted(s for s in {current, robot_serial} if s is not None)
            robots = {s: robot_for_update(session, s) for s in serials}
            task = find_task(session, task_id, lock=True)
            if task.robot_serial != current:
                continue
            if task.status == TaskStatus.ASSIGNED and current is not None:
                _unassign(uow, task, robots[current])
            if robot_serial is not None:
                assign(uow, task, robots[robot_serial])
            elif task.status != TaskStatus.PENDING:
                task_to(uow, task, TaskStatus.PENDING, told_as="task.unassigned")
            uow.commit()
            return task
    raise Conflict("The task keeps changing robot; try again", code="concurrent_change")


def _unassign(uow: OperationsUnitOfWork, task: Task, robot: Robot) -> None:
    task.robot_serial = None
    task_to(uow, task, TaskStatus.PENDING, told_as="task.unassigned", robot_serial=robot.serial)
    if robot.state == RobotState.ON_TASK:
        change_state(uow, robot, RobotState.IDLE, reason="unassigned", task_id=task.id)
    uow.session.flush()


# --- moving tasks along ---------------------------------------------------------------------


@dataclass(frozen=True)
class TripReport:
    trip_id: str
    event: TripEvent
    reason: str | None = None


def report_trip(ctx: OperationsContext, report: TripReport, *, by_robot: str | None) -> str:
    """Move a trip by what its robot reports, and its task with it; the task's id. `by_robot`,
    when given, is the robot that reports, which must be the task's. Repeating the last report
    changes nothing (robots retry on a lost answer). The task, its trips and its robot are
    read and written as plain records (`repository`); a report that ends the task ends it as
    every ending does, through `finish`."""
    with ctx.uow() as uow:
        connection = uow.connection
        found = repository.task_and_robot_of_trip(connection, report.trip_id)
        if found is None:
            raise trip_not_found(report.trip_id)
        task_id, serial = found
        if by_robot is not None and serial != by_robot:
            raise Forbidden("This trip is not the reporting robot's", code="forbidden")
        if serial is None:
            raise Conflict("The task has no robot yet", code="task_not_assigned")
        if not repository.lock_robot(connection, serial):
            raise robot_not_found(serial)
        task = repository.task_for_update(connection, task_id)
        if task is None:
            raise task_not_found(task_id)
        if task.robot_serial != serial:
            raise Conflict("The task changed robot meanwhile", code="concurrent_change")
        trip = next(t for t in task.trips if t.id == report.trip_id)
        target = TRIP_EVENT_STATUS[report.event]
        if trip.status == target:
            return task.id
        ending = move_trip(uow, task, trip, target, report.reason)
        if ending is not None:
            robot = repository.robot_state(connection, serial)
            assert robot is not None  # locked above
            end_with_trip(uow, task, robot, ending, report.reason)
            repository.save_robot_state(connection, robot)
        repository.save_task(connection, task)
        uow.commit()
        return task.id


def move_trip(
    uow: OperationsUnitOfWork,
    task: TaskFields,
    trip: TripFields,
    target: TripStatus,
    reason: str | None,
) -> TaskStatus | None:
    """Move the trip, and the task with it when its first trip starts (its robot then gets a
    pilot). Returns how the task ends with this trip, if it does (completed, or failed): the
    caller ends it with `end_with_trip`."""
    earlier = [t for t in task.trips if t.sequence < trip.sequence]
    if target is not TripStatus.FAILED and any(t.status != TripStatus.COMPLETED for t in earlier):
        raise Conflict("An earlier trip of this task is not completed", code="trip_out_of_order")
    if task.status not in ACTIVE_TASK:
        raise Conflict(f"The task is {task.status}", code="task_not_active")
    if _handover_without_proof(task, trip, target):
        raise Conflict(
            "The compartment was not opened at the door: open it with the customer's PIN, or "
            "as a pilot who checked the customer and says why, before the dropoff completes",
            code="compartment_not_opened",
        )
    if target is TripStatus.FAILED:
        trip.failure_reason = reason or "failed"
    trip_to(uow, task, trip, target, reason=reason)
    if target is TripStatus.IN_PROGRESS and task.status == TaskStatus.ASSIGNED:
        task_to(uow, task, TaskStatus.IN_PROGRESS)
        if task.robot_serial is not None and not pilots.assign_pilot(
            uow, task.id, task.robot_serial
        ):
            task_event(uow, "task.awaiting_pilot", task)
    elif target is TripStatus.FAILED:
        return TaskStatus.FAILED
    elif target is TripStatus.COMPLETED and trip.sequence == len(task.trips):
        return TaskStatus.COMPLETED
    return None


def _handover_without_proof(task: TaskFields, trip: TripFields, target: TripStatus) -> bool:
    """A delivery's dropoff completes only once its compartment was opened (`doorstep`): that
    opening is the proof the merchant is shown of the handover."""
    return (
        target is TripStatus.COMPLETED
        and task.type == TaskType.DELIVERY
        and trip.type == TripType.TO_DROPOFF
        and task.unlocked_at is None
    )


def end_with_trip(
    uow: OperationsUnitOfWork,
    task: EndingTask,
    robot: RobotStateFields,
    ending: TaskStatus,
    reason: str | None,
) -> None:
    """End the task as its last trip (completed) or a failed trip left it."""
    if ending is TaskStatus.FAILED:
        finish(uow, task, robot, ending, reason=reason or "trip_failed")
    else:
        finish(uow, task, robot, ending)


def finish(
    uow: OperationsUnitOfWork,
    task: EndingTask,
    robot: RobotStateFields | None,
    status: TaskStatus,
    *,
    reason: str | None = None,
    send_back: bool = True,
) -> None:
    """End a task: its open trips end with it, its pilot is released, its robot is free
    (charging at a hub after a charge task). A delivery cancelled or failed with the goods on
    board of a robot that can still drive sends that robot straight back to the pickup with a
    `return` task (unless the goods are to be disposed of: `send_back` False). The task and
    robot are ORM rows, or plain records the caller writes back; the return task is written
    as the transaction commits, after the ended task (a robot has one active task at most)."""
    carrying = _goods_on_board(task) and robot is not None and robot.state == RobotState.ON_TASK
    check("task", TASK_TRANSITIONS, TaskStatus(task.status), status)  # before its trips end
    task.failure_reason = reason if status is TaskStatus.FAILED else task.failure_reason
    trip_end = TripStatus.FAILED if status is TaskStatus.FAILED else TripStatus.CANCELLED
    for trip in task.trips:
        if trip.status not in TERMINAL_TRIP:
            trip_to(uow, task, trip, trip_end, silently=True)
    pilots.release_pilot(uow, task.id, reason=f"task_{status.value}")
    disposed = carrying and not send_back and status is not TaskStatus.COMPLETED
    told: dict[str, Any] = {"reason": reason}
    if disposed:
        told["goods_disposed"] = True
    if _goods_on_board(task) and status is not TaskStatus.COMPLETED:
        told["goods_on_board"] = True
    task_to(uow, task, status, **told)
    if carrying and send_back and robot is not None and status is not TaskStatus.COMPLETED:
        _send_goods_back(uow, task, robot)
        return
    if robot is not None and robot.state == RobotState.ON_TASK:
        after = (
            RobotState.CHARGING
            if status is TaskStatus.COMPLETED and task.type == TaskType.CHARGE
            else RobotState.IDLE
        )
        change_state(uow, robot, after, reason=f"task_{status.value}", task_id=task.id)


def _goods_on_board(task: EndingTask) -> bool:
    """A delivery whose robot has picked the goods up and not yet handed them over."""
    if task.type != TaskType.DELIVERY or not task.trips:
        return False
    picked_up = task.trips[0].status == TripStatus.COMPLETED
    handed_over = task.trips[-1].status == TripStatus.COMPLETED
    return picked_up and not handed_over


def _send_goods_back(uow: OperationsUnitOfWork, task: EndingTask, robot: RobotStateFields) -> None:
    """The robot keeps going, now to bring the goods back to where it took them: a return
    task, assigned to it at once, written as the transaction commits."""
    pickup = task.trips[0]
    back = plan_task(
        uow.clock.now(),
        TaskType.RETURN,
        [LatLng(pickup.destination_lat, pickup.destination_lng)],
        area_id=task.area_id,
        delivery_id=task.delivery_id,
    )
    task_event(uow, "task.created", back)
    back.return_of_task_id = task.id
    back.robot_serial = robot.serial  # it stays on_task: one task follows the other
    task_to(uow, back, TaskStatus.ASSIGNED, return_of_task_id=task.id)
    repository.insert_task(uow.inserts, back)


def cancel_task(ctx: OperationsContext, task_id: str, *, reason: str = "cancelled") -> Task:
    with ctx.uow() as uow:
        task = _end_by_id(uow, task_id, TaskStatus.CANCELLED, reason)
        uow.commit()
        return task


def cancel_task_for_attempt(
    ctx: OperationsContext,
    attempt_id: str,
    *,
    reason: str = "cancelled",
    event_id: str | None = None,
) -> Task | None:
    """Cancel the task of a delivery attempt, if it has one still open; None when it has none.
    A task already ended is returned as it is (the request may be a redelivery, and an event
    already in the inbox changes nothing), and so is one whose compartment was opened for the
    customer at the door: the goods are handed over, the cancel comes too late, and the robot
    completes the dropoff (the merchant is told `delivered`)."""
    with ctx.uow() as uow:
        task = task_of_attempt(uow.session, attempt_id)
        if task is None:
            return None
        if event_id is not None and not uow.first_time(INBOX_CONSUMER, event_id):
            return task
        task = _end_by_id(
            uow, task.id, TaskStatus.CANCELLED, reason, if_open=True, unless_handed_over=True
        )
        uow.commit()
        return task


def fail_task(uow: OperationsUnitOfWork, task: Task, robot: Robot | None, reason: str) -> None:
    finish(uow, task, robot, TaskStatus.FAILED, reason=reason)


def _end_by_id(
    uow: OperationsUnitOfWork,
    task_id: str,
    status: TaskStatus,
    reason: str,
    *,
    if_open: bool = False,
    unless_handed_over: bool = False,
) -> Task:
    """Lock the task's robot, then the task, and end it; with `if_open`, a task that has
    ended meanwhile is left as it is, and with `unless_handed_over` one whose compartment was
    opened at the door."""
    session = uow.session
    for _attempt in range(3):  # the dispatcher may give the task a robot meanwhile
        serial = find_task(session, task_id).robot_serial
        robot = robot_for_update(session, serial) if serial else None
        task = find_task(session, task_id, lock=True)
        if task.robot_serial == serial:
            break
    else:
        raise Conflict("The task keeps changing robot; try again", code="concurrent_change")
    if if_open and task.status in TERMINAL_TASK:
        return task
    if unless_handed_over and task.unlocked_at is not None:
        return task
    finish(uow, task, robot, status, reason=reason)
    return task


# --- reading --------------------------------------------------------------------------------


# Hot paths' statements are built once: a statement object remembers its cache key.
_TASK = select(Task).where(Task.id == bindparam("task_id"))
_TASK_FOR_UPDATE = _TASK.with_for_update(key_share=True).execution_options(populate_existing=True)


def find_task(session: Session, task_id: str, *, lock: bool = False) -> Task:
    query = _TASK_FOR_UPDATE if lock else _TASK
    task = session.scalars(query, {"task_id": task_id}).one_or_none()
    if task is None:
        raise task_not_found(task_id)
    return task


def task_of_attempt(session: Session, attempt_id: str) -> Task | None:
    return session.scalars(select(Task).where(Task.attempt_id == attempt_id)).one_or_none()


def active_task_of(session: Session, serial: str) -> Task | None:
    """The robot's active task; its trips are read only if asked for."""
    return session.scalars(
        select(Task)
        .options(lazyload(Task.trips))
        .where(Task.robot_serial == serial, among(Task.status, ACTIVE_TASK))
    ).one_or_none()


def get_task(ctx: OperationsContext, task_id: str) -> Task:
    with ctx.uow() as uow:
        return find_task(uow.session, task_id)
