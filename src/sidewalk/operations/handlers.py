"""What the operations service does when the deliveries service tells it something. Each
handler is safe to run twice for one event: the inbox (written with the effect) or the use
case itself makes a redelivery change nothing. An event this service cannot read is kept as a
dead letter (`kernel.dead_letters`), as no redelivery would ever make it readable, to be
replayed once the cause is fixed."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.geo import LatLng
from sidewalk.operations import tasks
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import UNDELIVERABLE_ACTIONS
from sidewalk.operations.models import DEAD_LETTERS
from sidewalk.operations.tasks import INBOX_CONSUMER

log = logging.getLogger(__name__)

Handler = Callable[[OperationsContext, Envelope], None]


def _place(payload: Mapping[str, Any], key: str) -> LatLng:
    place = payload[key]
    lat, lng = float(place["lat"]), float(place["lng"])
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError(f"{key} lies outside the globe")
    return LatLng(lat, lng)


def _when(payload: Mapping[str, Any], key: str) -> datetime | None:
    value = payload.get(key)
    if value is None:
        return None
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError(f"{key} names no time zone")
    return at


def _undeliverable(payload: Mapping[str, Any]) -> str | None:
    action = payload.get("undeliverable_action")
    if action is not None and action not in UNDELIVERABLE_ACTIONS:
        raise ValueError(f"unknown undeliverable action {action!r}")
    return None if action is None else str(action)


def attempt_requested(ctx: OperationsContext, event: Envelope) -> None:
    """A robot attempt becomes a delivery task (courier attempts are not ours)."""
    if event.payload.get("provider") != "robot":
        return
    tasks.create_delivery_task(
        ctx,
        delivery_id=event.subject["delivery_id"],
        attempt_id=event.subject["attempt_id"],
        pickup=_place(event.payload, "pickup"),
        dropoff=_place(event.payload, "dropoff"),
        pickup_at=_when(event.payload, "pickup_at"),
        unlock_pin=event.payload.get("unlock_pin"),
        undeliverable_action=_undeliverable(event.payload),
        event_id=event.id,
    )


def attempt_updated(ctx: OperationsContext, event: Envelope) -> None:
    """A merchant changed its delivery: the task follows its pickup time (while it waits for
    a robot) and what to do if nobody takes the goods."""
    if event.payload.get("provider") != "robot":
        return
    tasks.update_task(
        ctx,
        event.subject["attempt_id"],
        pickup_at=_when(event.payload, "pickup_at"),
        undeliverable_action=_undeliverable(event.payload),
    )


def attempt_cancel_requested(ctx: OperationsContext, event: Envelope) -> None:
    """Stop the attempt's task; with the goods on board its robot brings them back."""
    tasks.cancel_task_for_attempt(
        ctx,
        event.subject["attempt_id"],
        reason=str(event.payload.get("reason") or "cancelled"),
        event_id=event.id,
    )


HANDLERS: Mapping[str, Handler] = {
    "attempt.requested": attempt_requested,
    "attempt.cancel_requested": attempt_cancel_requested,
    "attempt.updated": attempt_updated,
}


def handle(ctx: OperationsContext, event: Envelope) -> None:
    """Run the handler of `event`'s type; unknown types are not this service's business."""
    if event.type in HANDLERS:
        dead_letters(ctx).handle(event)


def dead_letters(ctx: OperationsContext) -> DeadLetters:
    """This service's handling of the other's events, with the ones it could not read."""
    return DeadLetters(ctx.uow, DEAD_LETTERS, INBOX_CONSUMER, lambda e: HANDLERS[e.type](ctx, e))


def replay_dead_letter(ctx: OperationsContext, seq: int) -> DeadLetter | None:
    """Run the handler again on a dead letter, once its cause is fixed."""
    return dead_letters(ctx).replay(seq)
