"""A delivery moved along by its robot's progress, told by the operations service: each step
through the attempt's and the delivery's state machines and into the timeline, and what
happened at the door (the handover, or goods nobody took). Each event is applied once (the
inbox is written with the effect); a step the delivery cannot take any more (it was cancelled
meanwhile, or the event is of an older attempt) is left out, as the delivery has moved on. A
courier's progress is `providers/courier_updates`."""

import logging
from typing import Any

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import INBOX_CONSUMER, DeliveriesContext
from sidewalk.deliveries.domain import (
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
    UndeliverableAction,
    progress_targets,
    robot_steps,
)
from sidewalk.deliveries.handover import handover, note_undeliverable
from sidewalk.deliveries.moves import attempt_to, delivery_to
from sidewalk.deliveries.progress_records import DeliveryInProgress
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.contracts import TaskProgress, TaskUndeliverable, TaskUnlocked
from sidewalk.kernel.contracts.operations import TaskEvent
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)


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
        attempt = delivery.attempt
        changed_attempt = None
        ours = attempt is not None and attempt_id is not None and attempt.id == attempt_id
        if ours and event.type == "task.assigned":
            assert attempt is not None
            attempt.provider_id = progress.task_id
            changed_attempt = attempt
        elif not ours and attempt_id is not None:
            attempt_target = delivery_target = None  # an older attempt's news: moved on
        steps = robot_steps(
            DeliveryStatus(delivery.status),
            AttemptStatus(attempt.status) if ours and attempt is not None else None,
            attempt_target,
            delivery_target,
        )
        changed_delivery = None
        for step in steps:
            if step.entity == "attempt":
                assert attempt is not None
                attempt_to(uow, delivery.id, attempt, AttemptStatus(step.to))
                changed_attempt = attempt
                continue
            to = DeliveryStatus(step.to)
            if to is DeliveryStatus.DELIVERED and delivery.handover is None:
                # Completed without the compartment opened here: no proof to show.
                delivery.handover = handover(
                    AttemptProvider.ROBOT, at=now, lat=None, lng=None, proof="none"
                )
            told: dict[str, Any] = {"source_event": event.id}
            if to is DeliveryStatus.DELIVERED and delivery.cancel_reason:
                told["cancel"] = "too_late"  # handed over before the merchant's cancel came
            delivery_to(uow, delivery, to, **told)
            changed_delivery = delivery
        repository.save_progress(uow.connection, changed_delivery, changed_attempt)
        uow.commit()


def _first_news_of_latest(
    uow: DeliveriesUnitOfWork, event: Envelope, told: TaskEvent
) -> DeliveryInProgress | None:
    """The delivery (locked, as a plain record) an event about its latest attempt tells of,
    the first time it comes; None otherwise (an event about an unknown delivery or an older
    attempt is still remembered as handled, in the transaction then committed)."""
    if told.delivery_id is None:
        return None
    if not uow.first_time(INBOX_CONSUMER, event.id):
        return None
    delivery = repository.delivery_in_progress(uow.connection, told.delivery_id)
    if delivery is None or delivery.latest_attempt_id != told.attempt_id:
        uow.commit()
        return None
    return delivery


def robot_unlocked(ctx: DeliveriesContext, event: Envelope, opened: TaskUnlocked) -> None:
    """The robot's compartment opened at the door (`task.unlocked`): the goods are handed
    over there and then; the timeline says how (never the PIN)."""
    with ctx.uow() as uow:
        delivery = _first_news_of_latest(uow, event, opened)
        if delivery is None:
            return
        proof = opened.by
        delivery.handover = handover(
            AttemptProvider.ROBOT, at=event.occurred_at, lat=opened.lat, lng=opened.lng, proof=proof
        )
        delivery.updated_at = uow.clock.now()
        repository.save_progress(uow.connection, delivery, None)
        uow.record(delivery.id, "delivery.unlocked", attempt_id=delivery.latest_attempt_id,
                   proof=proof)  # fmt: skip
        uow.commit()


def robot_undeliverable(ctx: DeliveriesContext, event: Envelope, nobody: TaskUndeliverable) -> None:
    """Nobody took the goods at the door (`task.undeliverable`): note why and what the robot
    does with them; the task's own events then end the delivery `returned`, `delivered` (left
    at the door) or `failed` (disposed of)."""
    with ctx.uow() as uow:
        delivery = _first_news_of_latest(uow, event, nobody)
        if delivery is None:
            return
        action, reason = UndeliverableAction(nobody.action), nobody.reason
        note_undeliverable(delivery, action, reason, at=event.occurred_at)
        if action is UndeliverableAction.LEAVE_AT_DOOR:
            delivery.handover = handover(
                AttemptProvider.ROBOT,
                at=event.occurred_at,
                lat=nobody.lat,
                lng=nobody.lng,
                proof="none",
            )
        delivery.updated_at = uow.clock.now()
        repository.save_progress(uow.connection, delivery, None)
        uow.record(delivery.id, "delivery.undeliverable", action=action.value, reason=reason)
        uow.commit()
