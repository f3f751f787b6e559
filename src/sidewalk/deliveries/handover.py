"""The record of a handover: when and where the goods changed hands, by whom, and with what
proof. A robot's compartment opened with the customer's PIN (`pin`) or by a pilot who checked
the customer another way (`pilot`); a courier's proof as its network reports it (`pin`,
`photo` or `signature`, with the image's URL); `none` when the provider gave no proof."""

import logging
from datetime import datetime
from typing import Any

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import UNDELIVERABLE_TAKEN, AttemptProvider, UndeliverableAction
from sidewalk.deliveries.progress_records import DeliveryInProgress
from sidewalk.deliveries.shapes import MovingDelivery
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.contracts import TaskUndeliverable, TaskUnlocked
from sidewalk.kernel.contracts.operations import TaskEvent
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

PROOFS = frozenset({"pin", "pilot", "photo", "signature", "none"})


def handover(
    by: AttemptProvider,
    *,
    at: datetime,
    lat: float | None,
    lng: float | None,
    proof: str,
    url: str | None = None,
) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "lat": lat,
        "lng": lng,
        "by": by.value,
        "proof": proof if proof in PROOFS else "none",
        "proof_url": url,
    }


def _first_news_of_latest(
    uow: DeliveriesUnitOfWork, event: Envelope, told: TaskEvent, consumer: str
) -> DeliveryInProgress | None:
    """The delivery (locked, as a plain record) an event about its latest attempt tells of,
    the first time it comes; None otherwise (an event about an unknown delivery or an older
    attempt is still remembered as handled, in the transaction then committed)."""
    if told.delivery_id is None:
        return None
    if not uow.first_time(consumer, event.id):
        return None
    delivery = repository.delivery_in_progress(uow.connection, told.delivery_id)
    if delivery is None or delivery.latest_attempt_id != told.attempt_id:
        uow.commit()
        return None
    return delivery


def robot_unlocked(
    ctx: DeliveriesContext, event: Envelope, opened: TaskUnlocked, consumer: str
) -> None:
    """The robot's compartment opened at the door (`task.unlocked`): the goods are handed
    over there and then; the timeline says how (never the PIN)."""
    with ctx.uow() as uow:
        delivery = _first_news_of_latest(uow, event, opened, consumer)
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


def robot_undeliverable(
    ctx: DeliveriesContext, event: Envelope, nobody: TaskUndeliverable, consumer: str
) -> None:
    """Nobody took the goods at the door (`task.undeliverable`): note why and what the robot
    does with them; the task's own events then end the delivery `returned`, `delivered` (left
    at the door) or `failed` (disposed of)."""
    with ctx.uow() as uow:
        delivery = _first_news_of_latest(uow, event, nobody, consumer)
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


def note_undeliverable(
    delivery: MovingDelivery, action: UndeliverableAction, reason: str, *, at: datetime
) -> None:
    """Keep on the delivery what was done with goods nobody took, and why."""
    delivery.undeliverable = {
        "action_taken": UNDELIVERABLE_TAKEN[action],
        "reason": reason,
        "at": at.isoformat(),
    }
