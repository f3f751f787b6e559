"""The robot at the door. Its compartment opens for the customer's PIN (typed on the robot,
checked here), or for a pilot who has checked the customer some other way; when nobody takes
the goods, the delivery's undeliverable action is carried out. A wrong PIN opens
nothing and is counted; after `MAX_WRONG_PINS` only a pilot can open it, so a four-digit PIN
cannot be guessed at the door. The opening is told to the deliveries service as the handover,
with the time and the robot's place."""

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, cast

from sidewalk.kernel.errors import Conflict, Forbidden
from sidewalk.operations import repository
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import TaskStatus, TaskType, TripStatus
from sidewalk.operations.models import Robot, Task
from sidewalk.operations.moves import task_event
from sidewalk.operations.robot_state import robot_for_update, robot_not_found
from sidewalk.operations.tasks import end_with_trip, find_task, finish, move_trip
from sidewalk.operations.uow import OperationsUnitOfWork

MAX_WRONG_PINS = 5


def _delivery_on_board(uow: OperationsUnitOfWork, serial: str) -> tuple[Robot, Task]:
    """The robot and the delivery task it carries out, both locked (robot first)."""
    robot = robot_for_update(uow.session, serial)
    found = repository.active_task_of_robot(uow.connection, serial)
    if found is None or found[1] != TaskType.DELIVERY:
        raise _no_delivery_on_board(serial)
    return robot, find_task(uow.session, found[0], lock=True)


def _no_delivery_on_board(serial: str) -> Conflict:
    return Conflict(f"Robot {serial} carries no delivery now", code="no_delivery_on_board")


@dataclass(frozen=True, slots=True)
class Opened:
    task_id: str
    delivery_id: str | None
    opened_at: datetime
    by: Literal["pin", "pilot"]


def unlock(
    ctx: OperationsContext,
    serial: str,
    *,
    pin: str | None,
    operator_id: str | None = None,
    reason: str | None = None,
) -> Opened:
    """Open the compartment of `serial` at the door of its delivery: with the customer's `pin`,
    or, without one, for the operator `operator_id`. Opening it again answers as the first
    time did."""
    with ctx.uow() as uow:
        now = uow.clock.now()
        connection = uow.connection
        place = repository.robot_place_for_update(connection, serial)
        if place is None:
            raise robot_not_found(serial)
        found = repository.active_task_of_robot(connection, serial)
        task = None if found is None else repository.task_at_the_door(connection, found[0])
        if task is None or task.type != TaskType.DELIVERY:
            raise _no_delivery_on_board(serial)
        if task.unlocked_at is not None:
            by_before = cast(Literal["pin", "pilot"], task.unlocked_by or "pin")
            return Opened(task.id, task.delivery_id, task.unlocked_at, by_before)
        if task.dropoff_status != TripStatus.ARRIVED:
            raise Conflict(
                f"Robot {serial} is not at the dropoff yet: the compartment stays shut",
                code="not_at_dropoff",
            )
        by: Literal["pin", "pilot"]
        if pin is None:
            if operator_id is None:
                raise Forbidden("Give the customer's PIN", code="wrong_pin")
            by = "pilot"
        else:
            if task.unlock_failures >= MAX_WRONG_PINS:
                raise Forbidden(
                    f"{MAX_WRONG_PINS} wrong PINs: only a pilot can open this compartment now",
                    code="unlock_locked",
                )
            expected = task.unlock_pin or ""
            if not expected or not hmac.compare_digest(pin.encode(), expected.encode()):
                task.unlock_failures += 1
                task.updated_at = now
                repository.save_door(connection, task)
                left = MAX_WRONG_PINS - task.unlock_failures
                task_event(uow, "task.unlock_refused", task, tries_left=left)
                uow.commit()  # the wrong try counts even though the call is refused
                raise Forbidden(
                    f"Wrong PIN; {left} tries left" if left else "Wrong PIN; a pilot can open it",
                    code="wrong_pin",
                    extra={"tries_left": left},
                )
            by = "pin"
        task.unlocked_at, task.unlocked_by = now, by
        task.updated_at = now
        repository.save_door(connection, task)
        lat, lng = place
        task_event(
            uow,
            "task.unlocked",
            task,
            by=by,
            operator_id=operator_id,
            reason=reason,
            lat=lat,
            lng=lng,
        )
        uow.commit()
        return Opened(task.id, task.delivery_id, now, by)


@dataclass(frozen=True, slots=True)
class Undelivered:
    task_id: str
    delivery_id: str | None
    action_taken: Literal["return", "leave_at_door", "dispose"]


def undeliverable(
    ctx: OperationsContext, serial: str, *, reason: str, operator_id: str | None = None
) -> Undelivered:
    """Nobody takes the goods at the door: carry out the delivery's undeliverable action. The
    robot brings them back to the pickup (`return`, a return task), leaves them where it
    stands (`leave_at_door`: the compartment opens and the task completes), or keeps them for
    disposal at its next hub (`dispose`: the task fails and the robot is free). The action
    taken, with the task."""
    with ctx.uow() as uow:
        now = uow.clock.now()
        robot, task = _delivery_on_board(uow, serial)
        dropoff = task.trips[-1]
        if dropoff.status != TripStatus.ARRIVED:
            raise Conflict(f"Robot {serial} is not at the dropoff", code="not_at_dropoff")
        if task.unlocked_at is not None:
            raise Conflict(
                "The compartment was opened for the customer: the goods were handed over",
                code="already_handed_over",
            )
        action = cast(
            Literal["return", "leave_at_door", "dispose"], task.undeliverable_action or "return"
        )
        task_event(
            uow,
            "task.undeliverable",
            task,
            action=action,
            reason=reason,
            operator_id=operator_id,
            lat=robot.lat,
            lng=robot.lng,
        )
        if action == "leave_at_door":
            task.unlocked_at, task.unlocked_by = now, "left_at_door"
            ending = move_trip(uow, task, dropoff, TripStatus.COMPLETED, None)
            if ending is not None:
                end_with_trip(uow, task, robot, ending, None)
        else:
            finish(
                uow,
                task,
                robot,
                TaskStatus.FAILED,
                reason="undeliverable",
                send_back=action != "dispose",
            )
        uow.commit()
        return Undelivered(task.id, task.delivery_id, action)
