"""What a courier network's updates do to a courier attempt and its delivery: each moves them
through their state machines (through the steps the network skipped), into the timeline, and
the courier's position onto the delivery. An update is applied once (an inbox keyed by the
network's own event id, written with the effect), and an update about an attempt that is no
longer the delivery's latest changes nothing: the delivery has moved on."""

import hashlib
import logging
from datetime import datetime

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    BEFORE_PICKUP,
    COURIER_GAVE_UP,
    COURIER_REASONS,
    TERMINAL_ATTEMPT,
    TERMINAL_DELIVERY,
    UNDELIVERABLE_TAKEN,
    AttemptProvider,
    AttemptStatus,
    CourierStatus,
    DeliveryStatus,
    courier_steps,
)
from sidewalk.deliveries.endings import next_after_failure, open_attempt
from sidewalk.deliveries.handover import handover, note_undeliverable
from sidewalk.deliveries.location_webhooks import tell_location
from sidewalk.deliveries.moves import attempt_to, delivery_to
from sidewalk.deliveries.progress_records import AttemptInProgress, DeliveryInProgress
from sidewalk.deliveries.providers.courier import CourierUpdate
from sidewalk.deliveries.shapes import MovingAttempt, MovingDelivery
from sidewalk.deliveries.uow import DeliveriesUnitOfWork

log = logging.getLogger(__name__)

_INBOX_ID_LENGTH = 40


def inbox_consumer(provider: str) -> str:
    return f"courier:{provider}"


def inbox_key(event_id: str) -> str:
    """The inbox keeps ids of up to 40 characters; a network's longer ids by their digest."""
    if len(event_id) <= _INBOX_ID_LENGTH:
        return event_id
    return "sha_" + hashlib.sha256(event_id.encode()).hexdigest()[: _INBOX_ID_LENGTH - 4]


def is_live(delivery: DeliveryInProgress, attempt: AttemptInProgress) -> bool:
    """Whether the attempt is still the way this delivery is being carried out."""
    return (
        attempt.id == delivery.latest_attempt_id
        and attempt.provider == AttemptProvider.COURIER
        and AttemptStatus(attempt.status) not in TERMINAL_ATTEMPT
    )


def apply_courier_update(ctx: DeliveriesContext, update: CourierUpdate) -> None:
    """Apply one update pushed by a courier network (its sink). The delivery and the attempt
    are read and written back as plain records (`repository.courier_attempt_in_progress`)."""
    with ctx.uow() as uow:
        now = uow.clock.now()
        consumer, key = inbox_consumer(update.provider), inbox_key(update.event_id)
        if not uow.first_time(consumer, key):
            return
        delivery = repository.courier_attempt_in_progress(uow.connection, update.external_id)
        attempt = delivery.attempt if delivery is not None else None
        if delivery is None or attempt is None:
            log.warning("courier update %s names no attempt of ours", update.event_id)
            uow.commit()  # remembered as handled: it will never name one
            return
        if attempt.id != delivery.latest_attempt_id or attempt.provider != AttemptProvider.COURIER:
            uow.commit()  # an older attempt's news: the delivery has moved on
            return
        if attempt.provider_id is None:
            attempt.provider_id = update.job_id
        elif attempt.provider_id != update.job_id:
            log.warning(
                "courier update %s is of job %s, not of the attempt's job %s",
                update.event_id,
                update.job_id,
                attempt.provider_id,
            )
            uow.commit()
            return
        was_over = DeliveryStatus(delivery.status) in TERMINAL_DELIVERY
        after = _next_attempt(ctx, uow, delivery, update)
        follow(
            uow,
            delivery,
            attempt,
            update.status,
            # Goods disposed of end the delivery as undeliverable; the reason why is noted apart.
            "undeliverable" if update.undeliverable == "disposed" else update.reason,
            source=update.event_id,
            at=min(update.occurred_at, now),
            retried=after is not None,
        )
        if update.undeliverable is not None and delivery.undeliverable is None:
            taken = {v: k for k, v in UNDELIVERABLE_TAKEN.items()}.get(update.undeliverable)
            if taken is not None:
                why = update.reason or "customer_unavailable"
                note_undeliverable(delivery, taken, why, at=min(update.occurred_at, now))
                uow.record(delivery.id, "delivery.undeliverable", action=taken.value, reason=why)
        if delivery.status == DeliveryStatus.DELIVERED and delivery.handover is None:
            delivery.handover = handover(
                AttemptProvider.COURIER,
                at=min(update.occurred_at, now),
                lat=update.lat,
                lng=update.lng,
                proof=update.proof or "none",
                url=update.proof_url,
            )
        seen = delivery.courier_seen_at
        moved = (
            update.lat is not None
            and update.lng is not None
            and not was_over
            and after is None
            and (seen is None or seen < update.occurred_at)
        )
        if moved:
            delivery.courier_lat, delivery.courier_lng = update.lat, update.lng
            delivery.courier_seen_at = update.occurred_at
        repository.save_progress(uow.connection, delivery, attempt)
        if moved:
            interval = ctx.settings.webhook_location_interval_s
            tell_location(uow, delivery.id, update.occurred_at, interval_s=interval)
        if after is not None:
            waiting = repository.delivery_for_update(uow.session, delivery.id)
            assert waiting is not None  # locked above
            open_attempt(ctx, uow, waiting, after)
        uow.commit()


def _next_attempt(
    ctx: DeliveriesContext,
    uow: DeliveriesUnitOfWork,
    delivery: DeliveryInProgress,
    update: CourierUpdate,
) -> AttemptProvider | None:
    """Who takes over from a courier whose job the network gave up before pickup, by the
    merchant's attempt policy (None: nobody, or the job did not end so)."""
    if (
        update.status not in COURIER_GAVE_UP
        or DeliveryStatus(delivery.status) not in BEFORE_PICKUP
        or delivery.cancel_reason is not None
    ):
        return None
    why = update.reason or COURIER_REASONS[update.status]
    return next_after_failure(ctx, uow, delivery.id, AttemptProvider.COURIER, why)


def follow(
    uow: DeliveriesUnitOfWork,
    delivery: MovingDelivery,
    attempt: MovingAttempt,
    status: CourierStatus,
    reason: str | None,
    *,
    source: str,
    at: datetime,
    retried: bool = False,
) -> None:
    """Move the attempt and the delivery to where the job stands, recording each step; a step
    that ends the attempt says why (the merchant's reason for a cancel, the network's for a
    failure), as does a failed delivery. A job given up that another attempt takes over from
    (`retried`) sends the delivery back to `pending` instead of failing it."""
    steps, why = courier_steps(
        DeliveryStatus(delivery.status),
        AttemptStatus(attempt.status),
        status,
        merchant_cancelled=delivery.cancel_reason is not None,
        reason=reason,
        retried=retried,
    )
    for step in steps:
        if step.entity == "attempt":
            to = AttemptStatus(step.to)
            told: dict[str, str | None] = {"provider_id": attempt.provider_id}
            if to in {AttemptStatus.FAILED, AttemptStatus.CANCELLED}:
                cancelled = to is AttemptStatus.CANCELLED
                attempt.failure_reason = delivery.cancel_reason if cancelled else why
                told["reason"] = attempt.failure_reason
            attempt_to(uow, delivery.id, attempt, to, at=at, **told)
            continue
        to_d = DeliveryStatus(step.to)
        failed = to_d is DeliveryStatus.FAILED
        if failed:
            delivery.failure_reason = why
        delivery_to(
            uow, delivery, to_d, at=at, source_event=source, **({"reason": why} if failed else {})
        )
