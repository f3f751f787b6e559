"""What the deliveries service does when the operations service tells it something: a robot's
progress moves the attempt and the delivery along, each step through their state machines and
into the timeline. Each event is applied once (the inbox is written with the effect); a step
the delivery cannot take any more (it was cancelled meanwhile, or the event is of an older
attempt) is left out, as the delivery has moved on."""

import logging
from collections.abc import Callable, Mapping
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
from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

INBOX_CONSUMER = "deliveries"

Handler = Callable[[DeliveriesContext, Envelope], None]


def robot_progress(ctx: DeliveriesContext, event: Envelope) -> None:
    delivery_id = event.subject.get("delivery_id")
    if delivery_id is None:
        return  # a charge or reposition task: no delivery to tell
    attempt_target, delivery_target = progress_targets(
        event.type,
        str(event.payload.get("task_type", "")),
        str(event.payload.get("trip_type", "")),
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
        attempt_id = event.subject.get("attempt_id")
        attempt = delivery.attempt if attempt_id is not None else None
        changed_attempt = None
        if attempt is not None and attempt.id == attempt_id:
            if event.type == "task.assigned" and "task_id" in event.subject:
                attempt.provider_id = event.subject["task_id"]
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


def robot_attempt_ended(ctx: DeliveriesContext, event: Envelope) -> None:
    """The robot's task failed, or operations cancelled it: the attempt failed. Before pickup
    the merchant's attempt policy says who takes over (another robot, a courier; each told to
    operations as `attempt.requested`) or the delivery fails; with the goods on board it waits
    for their return (its return task), unless the robot itself is lost."""
    if event.payload.get("task_type") != "delivery" or "attempt_id" not in event.subject:
        return
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        delivery = repository.delivery_for_update(uow.session, event.subject["delivery_id"])
        if delivery is None or delivery.latest_attempt_id != event.subject["attempt_id"]:
            uow.commit()
            return
        attempt = delivery.latest_attempt
        assert attempt is not None  # its id was just matched
        # A task that never got a robot is named here first.
        attempt.provider_id = attempt.provider_id or event.subject.get("task_id")
        if AttemptStatus(attempt.status) in TERMINAL_ATTEMPT:
            uow.commit()  # the merchant cancelled it: nothing more to do
            return
        reason = str(event.payload.get("reason") or event.type.removeprefix("task."))
        ended = AttemptStatus.CANCELLED if event.type == "task.cancelled" else AttemptStatus.FAILED
        attempt.failure_reason = reason
        attempt_to(uow, delivery.id, attempt, ended, reason=reason)
        status = DeliveryStatus(delivery.status)
        cancelled = delivery.cancel_reason is not None  # operations' answer to the merchant
        lost = reason in ROBOT_LOST or bool(event.payload.get("goods_disposed"))
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


def robot_position(ctx: DeliveriesContext, event: Envelope) -> None:
    fleet.store_position(ctx, event)


def fleet_snapshot(ctx: DeliveriesContext, event: Envelope) -> None:
    fleet.store_snapshot(ctx, event)


HANDLERS: Mapping[str, Handler] = {
    "robot.position": robot_position,
    "fleet.snapshot": fleet_snapshot,
    "task.failed": robot_attempt_ended,
    "task.cancelled": robot_attempt_ended,
    "task.assigned": robot_progress,
    "trip.in_progress": robot_progress,
    "trip.arrived": robot_progress,
    "trip.completed": robot_progress,
    "task.completed": robot_progress,
    "task.unlocked": lambda ctx, event: robot_unlocked(ctx, event, INBOX_CONSUMER),
    "task.undeliverable": lambda ctx, event: robot_undeliverable(ctx, event, INBOX_CONSUMER),
}


def handle(ctx: DeliveriesContext, event: Envelope) -> None:
    """Run the handler of `event`'s type (other types are not this service's business); an
    event it cannot read is kept as a dead letter."""
    if event.type in HANDLERS:
        dead_letters(ctx).handle(event)


def dead_letters(ctx: DeliveriesContext) -> DeadLetters:
    """This service's handling of the other's events, with the ones it could not read."""
    return DeadLetters(ctx.uow, DEAD_LETTERS, INBOX_CONSUMER, lambda e: HANDLERS[e.type](ctx, e))


def replay_dead_letter(ctx: DeliveriesContext, seq: int) -> DeadLetter | None:
    """Run the handler again on a dead letter, once its cause is fixed."""
    return dead_letters(ctx).replay(seq)
