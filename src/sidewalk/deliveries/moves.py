"""The one way a delivery or an attempt changes status. `delivery_to` and `attempt_to` take it
through its state machine, stamp the time, and tell: the timeline entry they record is what
the events API shows and what queues the merchant's webhooks. A status set any other way
would be a change nobody hears of (a delivery once went back to `pending` that way), so a
test keeps every other module from calling the domain's `move_delivery` and `move_attempt`."""

from datetime import datetime
from typing import Any

from sidewalk.deliveries.domain import AttemptStatus, DeliveryStatus, move_attempt, move_delivery
from sidewalk.deliveries.promise_store import record_outcome
from sidewalk.deliveries.shapes import Moving
from sidewalk.deliveries.uow import DeliveriesUnitOfWork


def delivery_to(
    uow: DeliveriesUnitOfWork,
    delivery: Moving,
    to: DeliveryStatus,
    *,
    at: datetime | None = None,
    **told: Any,
) -> DeliveryStatus:
    """Move the delivery to `to` (raising `invalid_transition` if it may not go there), as of
    `at` (by default now), and record `delivery.<to>` with the status it left and `told`; a
    delivery delivered keeps how its promise fared. The status it left is returned."""
    now = uow.clock.now()
    previous = move_delivery(delivery, to, at=at or now)
    delivery.updated_at = now
    uow.record(delivery.id, f"delivery.{to.value}", previous=previous.value, **told)
    if to is DeliveryStatus.DELIVERED:
        record_outcome(uow.connection, delivery.id, delivery.status_times, at or now)
    return previous


def attempt_to(
    uow: DeliveriesUnitOfWork,
    delivery_id: str,
    attempt: Moving,
    to: AttemptStatus,
    *,
    at: datetime | None = None,
    **told: Any,
) -> AttemptStatus:
    """Move the attempt to `to` as `delivery_to` moves a delivery, and record `attempt.<to>`
    on its delivery's timeline."""
    now = uow.clock.now()
    previous = move_attempt(attempt, to, at=at or now)
    attempt.updated_at = now
    uow.record(
        delivery_id, f"attempt.{to.value}", attempt_id=attempt.id, previous=previous.value, **told
    )
    return previous
