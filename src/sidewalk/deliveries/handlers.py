"""What the deliveries service does when the operations service tells it something: a robot's
progress moves the attempt and the delivery along, each step through their state machines and
into the timeline. Each event is applied once (the inbox is written with the effect); a step
the delivery cannot take any more (it was cancelled meanwhile, or the event is of an older
attempt) is left out, as the delivery has moved on."""

import logging
from collections.abc import Callable
from typing import Any

from sidewalk.deliveries import fleet, repository
from sidewalk.deliveries.attempt_policy import CANCELLED_BY_OPERATIONS
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    ATTEMPT_TRANSITIONS,
    BEFORE_PICKUP,
    DELIVERY_TRANSITIONS,
    TERMINAL_ATTEMPT,
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
    progress_targets,
)
from sidewalk.deliveries.handover import handover, robot_undeliverable, robot_unlocked
from sidewalk.deliveries.models import DEAD_LETTERS
from sidewalk.deliveries.moves import attempt_to, delivery_to
from sidewalk.deliveries.retries import next_after_failure, open_attempt
from sidewalk.kernel.contracts import (
    FleetSnapshot,
    RobotPosition,
    Routes,
    TaskEnded,
    TaskProgress,
    TaskUndeliverable,
    TaskUnlocked,
)
from sidewalk.kernel.contracts.base import on
from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

INBOX_CONSUMER = "deliveries"

Handler = Callable[[DeliveriesContext, Envelope], None]


def robot_progress(ctx: DeliveriesContext, event: Envelope, progress: TaskProgress) -> None:
    delivery_id = progress.delivery_id
    if delivery_id is None:
        return  # a charge or reposition task: no delivery to tell
    attempt_target, delivery_target = progress_targets(
        event.type, progress.task_type, progress.trip_type or ""
    )
    if attempt_target is None and delivery_target is None:
        return
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        delivery = repository.delivery_in_progress(uow.connection, delivery_id)
        if delivery is None:
            log.error("event %s names an unknown delivery %s", event.id, delivery_id)
            uow.commit()  # remembered as handled: it will never become readable
            return
        now = uow.clock.now()
        attempt_id = progress.attempt_id
        attempt = delivery.attempt if attempt_id is not None else None
        changed_attempt = None
        if attempt is not None and attempt.id == attempt_id:
            if event.type == "task.assigned":
                attempt.provider_id = progress.task_id
                changed_attempt = attempt
            current = AttemptStatus(attempt.status)
            if attempt_target is not None and attempt_target in ATTEMPT_TRANSITIONS[current]:
                attempt_to(uow, delivery.id, attempt, attempt_target)
                changed_attempt = attempt
        elif attempt_id is not None:
            delivery_target = None  # an older attempt's news: the delivery has moved on
        changed_delivery = None
        status = DeliveryStatus(delivery.status)
        if delivery_target is not None and delivery_target in DELIVERY_TRANSITIONS[status]:
            if delivery_target is DeliveryStatus.DELIVERED and delivery.handover is None:
                # Completed without the compartment opened here: no proof to show.
                delivery.handover = handover(
                    AttemptProvider.ROBOT, at=now, lat=None, lng=None, proof="none"
                )
            told: dict[str, Any] = {"source_event": event.id}
            if delivery_target is DeliveryStatus.DELIVERED and delivery.cancel_reason:
                told["cancel"] = "too_late"  # handed over before the merchant's cancel came
            delivery_to(uow, delivery, delivery_target, **told)
            changed_delivery = delivery
        repository.save_progress(uow.connection, changed_delivery, changed_attempt)
        uow.commit()


# Failures after which the robot cannot bring the goods back: the delivery fails with them.
ROBOT_LOST = frozenset({"robot_fault", "robot_offline"})


def robot_attempt_ended(ctx: DeliveriesContext, event: Envelope, ended_task: TaskEnded) -> None:
    """The robot's task failed, or operations cancelled it: the attempt failed. Before pickup
    the merchant's attempt policy says who takes over (another robot, a courier; each told to
    operations as `attempt.requested`) or the delivery fails; with the goods on board it waits
    for their return (its return task), unless the robot itself is lost."""
    delivery_id, attempt_id = ended_task.delivery_id, ended_task.attempt_id
    if ended_task.task_type != "delivery" or delivery_id is None or attempt_id is None:
        return
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        delivery = repository.delivery_for_update(uow.session, delivery_id)
        if delivery is None or delivery.latest_attempt_id != attempt_id:
            uow.commit()
            return
        attempt = delivery.latest_attempt
        assert attempt is not None  # its id was just matched
        # A task that never got a robot is named here first.
        attempt.provider_id = attempt.provider_id or ended_task.task_id
        if AttemptStatus(attempt.status) in TERMINAL_ATTEMPT:
            uow.commit()  # the merchant cancelled it: nothing more to do
            return
        reason = ended_task.reason or event.type.removeprefix("task.")
        ended = AttemptStatus.CANCELLED if event.type == "task.cancelled" else AttemptStatus.FAILED
        attempt.failure_reason = reason
        attempt_to(uow, delivery.id, attempt, ended, reason=reason)
        status = DeliveryStatus(delivery.status)
        cancelled = delivery.cancel_reason is not None  # operations' answer to the merchant
        lost = reason in ROBOT_LOST or bool(ended_task.goods_disposed)
        if status in BEFORE_PICKUP and cancelled:
            delivery_to(uow, delivery, DeliveryStatus.CANCELLED, reason=delivery.cancel_reason)
        elif status in BEFORE_PICKUP:
            cancelled_there = ended is AttemptStatus.CANCELLED
            why = CANCELLED_BY_OPERATIONS if cancelled_there else reason
            after = next_after_failure(ctx, uow, delivery.id, AttemptProvider.ROBOT, why)
            if after is not None:
                open_attempt(ctx, uow, delivery, after)
            else:
                delivery.failure_reason = reason
                delivery_to(uow, delivery, DeliveryStatus.FAILED, reason=reason)
        elif lost:
            delivery.failure_reason = reason
            delivery_to(uow, delivery, DeliveryStatus.FAILED, reason=reason)
        # Otherwise the goods are on their way back: the return task's events tell it.
        uow.commit()


# What this service reads of the other's events, by contract.
ROUTES: Routes[DeliveriesContext] = Routes(
    on(TaskProgress, robot_progress),
    on(TaskEnded, robot_attempt_ended),
    on(TaskUnlocked, lambda ctx, event, opened: robot_unlocked(ctx, event, opened, INBOX_CONSUMER)),
    on(
        TaskUndeliverable,
        lambda ctx, event, nobody: robot_undeliverable(ctx, event, nobody, INBOX_CONSUMER),
    ),
    on(RobotPosition, lambda ctx, _, position: fleet.store_position(ctx, position)),
    on(FleetSnapshot, lambda ctx, _, snapshot: fleet.store_snapshot(ctx, snapshot)),
)


def handle(ctx: DeliveriesContext, event: Envelope) -> None:
    """Run the handler of `event`'s type (other types are not this service's business); an
    event it cannot read is kept as a dead letter."""
    if ROUTES.reads(event.type):
        dead_letters(ctx).handle(event)


def dead_letters(ctx: DeliveriesContext) -> DeadLetters:
    """This service's handling of the other's events, with the ones it could not read."""
    return DeadLetters(ctx.uow, DEAD_LETTERS, INBOX_CONSUMER, lambda e: ROUTES(ctx, e))


def replay_dead_letter(ctx: DeliveriesContext, seq: int) -> DeadLetter | None:
    """Run the handler again on a dead letter, once its cause is fixed."""
    return dead_letters(ctx).replay(seq)
