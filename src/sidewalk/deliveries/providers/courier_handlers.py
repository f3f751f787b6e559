"""How courier attempts reach the courier network: the deliveries service listens to its own
events (`attempt.requested`, `attempt.cancel_requested`, `attempt.updated` of courier
attempts), asks the network to create, cancel or change the job, and notes the job id on the
attempt.

The network is called outside any database transaction. Each handler is safe to run twice:
the network creates one job per attempt id however often it is asked, a cancel of a cancelled
job changes nothing, and the inbox is written only once the work is done. A merchant's cancel
may overtake the job's creation: whichever of the two sees the other finishes the job off."""

import logging
from dataclasses import dataclass

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
from sidewalk.kernel.contracts import (
    AttemptCancelRequested,
    AttemptRequested,
    AttemptUpdated,
    Routes,
    Unreadable,
)
from sidewalk.kernel.contracts.base import on
from sidewalk.kernel.contracts.deliveries import AttemptPlan, Place
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

INBOX_CONSUMER = "couriers"


@dataclass(frozen=True, slots=True)
class CourierSide:
    """What the couriers side works with: the deliveries service and the network."""

    ctx: DeliveriesContext
    provider: CourierProvider


def attempt_requested(side: CourierSide, event: Envelope, asked: AttemptRequested) -> None:
    """Create the courier job of a courier attempt and note its id on the attempt. If the
    attempt ended meanwhile (the merchant cancelled), the job is cancelled at once."""
    if asked.provider != AttemptProvider.COURIER.value:
        return
    ctx, provider, attempt_id = side.ctx, side.provider, asked.attempt_id
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
        job = provider.create(courier_request(asked))
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
    side: CourierSide, event: Envelope, cancel: AttemptCancelRequested
) -> None:
    """Cancel the attempt's job: before pickup it ends; with the goods on board the courier
    brings them back. An attempt with no job yet needs nothing: its creation sees the cancel."""
    if cancel.provider != AttemptProvider.COURIER.value:
        return
    ctx = side.ctx
    with ctx.uow() as uow:
        if _handled(uow.connection, event):
            return
        found = _courier_attempt(uow.connection, cancel.attempt_id)
        job_id = found[1].provider_id if found is not None else None
    if job_id is not None:
        _cancel(side.provider, job_id, cancel.reason or "cancelled_by_merchant")
    _remember(ctx, event)


def courier_request(plan: AttemptPlan) -> CourierRequest:
    """The network's request for an attempt, from what the attempt is to carry out."""
    customer = plan.customer
    return CourierRequest(
        external_id=plan.attempt_id,
        pickup=_place(plan.pickup),
        dropoff=_place(plan.dropoff),
        dropoff_contact_name=customer.name if customer else None,
        dropoff_phone=customer.phone if customer else None,
        dropoff_instructions=plan.dropoff_instructions,
        order_value_cents=plan.order_value_cents,
        currency=plan.currency,
        reference=plan.external_reference_id,
        pickup_at=plan.pickup_at,
        dropoff_before=plan.dropoff_before,
        dropoff_pin=plan.unlock_pin,
        undeliverable_action=plan.undeliverable_action,
    )


def _place(place: Place) -> CourierPlace:
    return CourierPlace(place.lat, place.lng, place.full_address)


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


def attempt_updated(side: CourierSide, event: Envelope, changed: AttemptUpdated) -> None:
    """Pass the merchant's change on to the attempt's job, as far as the network takes it; a
    network that no longer takes changes keeps the job as it was."""
    if changed.provider != AttemptProvider.COURIER.value:
        return
    ctx = side.ctx
    with ctx.uow() as uow:
        if _handled(uow.connection, event):
            return
        found = _courier_attempt(uow.connection, changed.attempt_id)
        job_id = found[1].provider_id if found is not None and is_live(*found) else None
    if job_id is not None:
        try:
            side.provider.update(job_id, courier_request(changed))
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


# What the couriers side reads of the service's own events, by contract.
ROUTES: Routes[CourierSide] = Routes(
    on(AttemptRequested, attempt_requested),
    on(AttemptCancelRequested, attempt_cancel_requested),
    on(AttemptUpdated, attempt_updated),
)


def handle(ctx: DeliveriesContext, provider: CourierProvider, event: Envelope) -> None:
    """Run the handler of `event`'s type (other types are not the couriers' business). A
    courier attempt whose request cannot be read fails (`invalid_request`): no network could
    carry it out; any other event that cannot be read is logged and left."""
    if not ROUTES.reads(event.type):
        return
    try:
        ROUTES(CourierSide(ctx, provider), event)
    except Unreadable as e:
        log.error("%s %s cannot be read: %s", event.type, event.id, e)
        attempt_id = event.subject.get("attempt_id")
        courier = event.payload.get("provider") == AttemptProvider.COURIER.value
        if event.type in AttemptRequested.TYPES and courier and attempt_id is not None:
            _give_up(ctx, event, attempt_id, "invalid_request")
        else:
            _remember(ctx, event)
