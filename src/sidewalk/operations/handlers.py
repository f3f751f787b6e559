"""What the operations service does when the deliveries service tells it something. Each
handler is safe to run twice for one event: the inbox (written with the effect) or the use
case itself makes a redelivery change nothing. An event this service cannot read is kept as a
dead letter (`kernel.dead_letters`), as no redelivery would ever make it readable, to be
replayed once the cause is fixed."""

import logging

from sidewalk.kernel.contracts import (
    AttemptCancelRequested,
    AttemptRequested,
    AttemptUpdated,
    Routes,
)
from sidewalk.kernel.contracts.base import on
from sidewalk.kernel.contracts.deliveries import Place
from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.geo import LatLng
from sidewalk.operations import tasks
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.models import DEAD_LETTERS
from sidewalk.operations.tasks import INBOX_CONSUMER

log = logging.getLogger(__name__)


def _place(place: Place) -> LatLng:
    return LatLng(place.lat, place.lng)


def attempt_requested(ctx: OperationsContext, event: Envelope, asked: AttemptRequested) -> None:
    """A robot attempt becomes a delivery task (courier attempts are not ours)."""
    if asked.provider != "robot":
        return
    tasks.create_delivery_task(
        ctx,
        delivery_id=asked.delivery_id,
        attempt_id=asked.attempt_id,
        pickup=_place(asked.pickup),
        dropoff=_place(asked.dropoff),
        pickup_at=asked.pickup_at,
        dropoff_by=asked.dropoff_by,
        unlock_pin=asked.unlock_pin,
        undeliverable_action=asked.undeliverable_action,
        event_id=event.id,
    )


def attempt_updated(ctx: OperationsContext, event: Envelope, changed: AttemptUpdated) -> None:
    """A merchant changed its delivery: the task follows its pickup time (while it waits for
    a robot) and what to do if nobody takes the goods."""
    if changed.provider != "robot":
        return
    tasks.update_task(
        ctx,
        changed.attempt_id,
        pickup_at=changed.pickup_at,
        dropoff_by=changed.dropoff_by,
        undeliverable_action=changed.undeliverable_action,
    )


def attempt_cancel_requested(
    ctx: OperationsContext, event: Envelope, cancel: AttemptCancelRequested
) -> None:
    """Stop the attempt's task; with the goods on board its robot brings them back."""
    tasks.cancel_task_for_attempt(
        ctx, cancel.attempt_id, reason=cancel.reason or "cancelled", event_id=event.id
    )


# What this service reads of the other's events, by contract.
ROUTES: Routes[OperationsContext] = Routes(
    on(AttemptRequested, attempt_requested),
    on(AttemptCancelRequested, attempt_cancel_requested),
    on(AttemptUpdated, attempt_updated),
)


def handle(ctx: OperationsContext, event: Envelope) -> None:
    """Run the handler of `event`'s type; unknown types are not this service's business."""
    if ROUTES.reads(event.type):
        dead_letters(ctx).handle(event)


def dead_letters(ctx: OperationsContext) -> DeadLetters:
    """This service's handling of the other's events, with the ones it could not read."""
    return DeadLetters(ctx.uow, DEAD_LETTERS, INBOX_CONSUMER, lambda e: ROUTES(ctx, e))


def replay_dead_letter(ctx: OperationsContext, seq: int) -> DeadLetter | None:
    """Run the handler again on a dead letter, once its cause is fixed."""
    return dead_letters(ctx).replay(seq)
