"""How courier attempts reach the courier network: the deliveries service listens to its own
events (`attempt.requested`, `attempt.cancel_requested`, `attempt.updated` of courier
attempts), asks the network to create, cancel or change the job, and notes the job id on the
attempt.

The network is called outside any database transaction. Each handler is safe to run twice:
the network creates one job per attempt id however often it is asked, a cancel of a cancelled
job changes nothing, and the inbox is written only once the work is done. A merchant's cancel
may overtake the job's creation: whichever of the two sees the other finishes the job off."""

import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import AttemptProvider, AttemptStatus, CourierStatus
from sidewalk.deliveries.models import INBOX
from sidewalk.deliveries.progress_records import AttemptInProgress, DeliveryInProgress
from sidewalk.deliveries.providers.courier import (
    CourierPlace,
    CourierProvider,
    CourierRejected,
    CourierRequest,
)
from sidewalk.deliveries.providers.courier_updates import follow, is_live
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

INBOX_CONSUMER = "couriers"

Handler = Callable[[DeliveriesContext, CourierProvider, Envelope], None]


def attempt_requested(ctx: DeliveriesContext, provider: CourierProvider, event: Envelope) -> None:
    """Create the courier job of a courier attempt and note its id on the attempt. If the
    attempt ended meanwhile (the merchant cancelled), the job is cancelled at once."""
    if event.payload.get("provider") != AttemptProvider.COURIER.value:
        return
    attempt_id = event.subject["attempt_id"]
    with ctx.uow() as uow:
        if _handled(uow.connection, event):
            return
        found = _courier_attempt(uow.connection, attempt_id)
        live = found is not None and is_live(*found)
        job_id = found[1].provider_id if found is not None else None
        reason = found[0].cancel_reason if found is not None else None
        abandoned = found is None or _abandoned(*found)
    if not live:
        if job_id is not None and abandoned:  # made by an earlier try, then overtaken
            _cancel(provider, job_id, reason)
        _remember(ctx, event)
        return
    try:
        request = courier_request(attempt_id, event.payload, ctx.settings.default_currency)
    except (KeyError, TypeError, ValueError) as e:
        log.error("attempt.requested %s cannot be read: %r", event.id, e)
        _give_up(ctx, event, attempt_id, "invalid_request")
        return
    try:
        job = provider.create(request)
    except CourierRejected as e:
        log.warning("the courier network refused attempt %s: %s", attempt_id, e)
        _give_up(ctx, event, attempt_id, e.code)
        return
    with ctx.uow() as uow:
        found = _courier_attempt(uow.connection, attempt_id)
        if found is not None and found[1].provider_id is None:
            found[1].provider_id = job.id
            found[1].updated_at = uow.clock.now()
            repository.save_progress(uow.connection, None, found[1])
        if found is not None and not _abandoned(*found):
            uow.first_time(INBOX_CONSUMER, event.id)
            uow.commit()
            return
        reason = found[0].cancel_reason if found is not None else None
        uow.commit()  # the job id, so a redelivery cancels the same job
    _cancel(provider, job.id, reason)
    _remember(ctx, event)


def attempt_cancel_requested(
    ctx: DeliveriesContext, provider: CourierProvider, event: Envelope
) -> None:
    """Cancel the attempt's job: before pickup it ends; with the goods on board the courier
    brings them back. An attempt with no job yet needs nothing: its creation sees the cancel."""
    if event.payload.get("provider") != AttemptProvider.COURIER.value:
        return
    with ctx.uow() as uow:
        if _handled(uow.connection, event):
            return
        found = _courier_attempt(uow.connection, event.subject["attempt_id"])
        job_id = found[1].provider_id if found is not None else None
    if job_id is not None:
        _cancel(provider, job_id, str(event.payload.get("reason") or "cancelled_by_merchant"))
    _remember(ctx, event)


def courier_request(attempt_id: str, payload: Mapping[str, Any], currency: str) -> CourierRequest:
    """The network's request for an attempt, from its `attempt.requested` payload."""
    customer = payload.get("customer") or {}
    value = payload.get("order_value_cents")
    return CourierRequest(
        external_id=attempt_id,
        pickup=_place(payload["pickup"]),
        dropoff=_place(payload["dropoff"]),
        dropoff_contact_name=customer.get("name"),
        dropoff_phone=customer.get("phone"),
        dropoff_instructions=payload.get("dropoff_instructions"),
        order_value_cents=None if value is None else int(value),
        currency=str(payload.get("currency") or currency),
        reference=payload.get("external_reference_id"),
        pickup_at=_when(payload.get("pickup_at")),
        dropoff_before=_when(payload.get("dropoff_before")),
        dropoff_pin=payload.get("unlock_pin"),
        undeliverable_action=str(payload.get("undeliverable_action") or "return"),
    )


def _when(value: Any) -> datetime | None:
    if value is None:
        return None
    at = datetime.fromisoformat(str(value))
    if at.tzinfo is None:
        raise ValueError("a time with no time zone")
    return at


def _place(place: Mapping[str, Any]) -> CourierPlace:
    return CourierPlace(float(place["lat"]), float(place["lng"]), str(place["full_address"]))


def _courier_attempt(
    connection: Connection, attempt_id: str
) -> tuple[DeliveryInProgress, AttemptInProgress] | None:
    """The delivery of a courier attempt (locked) and the attempt, as plain records, if the
    attempt exists."""
    delivery = repository.courier_attempt_in_progress(connection, attempt_id)
    if delivery is None or delivery.attempt is None:
        return None
    return delivery, delivery.attempt


def _abandoned(delivery: DeliveryInProgress, attempt: AttemptInProgress) -> bool:
    """Whether the attempt was given up on our side (cancelled, or another took over): its
    job must not go on. An attempt the job's own updates ended needs no cancel."""
    return (
        attempt.id != delivery.latest_attempt_id
        or AttemptStatus(attempt.status) is AttemptStatus.CANCELLED
    )


def _cancel(provider: CourierProvider, job_id: str, reason: str | None) -> None:
    try:
        provider.cancel(job_id, reason=reason)
    except CourierRejected as e:  # e.g. a job the network no longer knows: nothing to stop
        log.warning("the courier network refused to cancel job %s: %s", job_id, e)


def attempt_updated(ctx: DeliveriesContext, provider: CourierProvider, event: Envelope) -> None:
    """Pass the merchant's change on to the attempt's job, as far as the network takes it; a
    network that no longer takes changes keeps the job as it was."""
    if event.payload.get("provider") != AttemptProvider.COURIER.value:
        return
    attempt_id = event.subject["attempt_id"]
    with ctx.uow() as uow:
        if _handled(uow.connection, event):
            return
        found = _courier_attempt(uow.connection, attempt_id)
        job_id = found[1].provider_id if found is not None and is_live(*found) else None
    if job_id is not None:
        try:
            request = courier_request(attempt_id, event.payload, ctx.settings.default_currency)
            provider.update(job_id, request)
        except (KeyError, TypeError, ValueError) as e:
            log.error("attempt.updated %s cannot be read: %r", event.id, e)
        except CourierRejected as e:
            log.warning("the courier network kept job %s as it was: %s", job_id, e)
    _remember(ctx, event)


def _handled(connection: Connection, event: Envelope) -> bool:
    return connection.execute(_SEEN, {"event_id": event.id}).first() is not None


_SEEN = select(INBOX.c.event_id).where(
    INBOX.c.consumer == INBOX_CONSUMER, INBOX.c.event_id == bindparam("event_id")
)


def _remember(ctx: DeliveriesContext, event: Envelope) -> None:
    with ctx.uow() as uow:
        if uow.first_time(INBOX_CONSUMER, event.id):
            uow.commit()


def _give_up(ctx: DeliveriesContext, event: Envelope, attempt_id: str, reason: str) -> None:
    """No courier will carry this attempt: it fails, and the delivery with it (the courier is
    the last way)."""
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        found = _courier_attempt(uow.connection, attempt_id)
        if found is not None and is_live(*found):
            delivery, attempt = found
            follow(
                uow,
                delivery,
                attempt,
                CourierStatus.FAILED,
                reason,
                source=event.id,
                at=uow.clock.now(),
            )
            repository.save_progress(uow.connection, delivery, attempt)
        uow.commit()


HANDLERS: Mapping[str, Handler] = {
    "attempt.requested": attempt_requested,
    "attempt.cancel_requested": attempt_cancel_requested,
    "attempt.updated": attempt_updated,
}


def handle(ctx: DeliveriesContext, provider: CourierProvider, event: Envelope) -> None:
    """Run the handler of `event`'s type; other types are not the couriers' business."""
    handler = HANDLERS.get(event.type)
    if handler is not None:
        handler(ctx, provider, event)
