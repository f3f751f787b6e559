"""A merchant's change to a delivery under way: what may still change does, and the attempt's
provider is told the delivery as it now stands (`attempt.updated`)."""

from datetime import datetime

from sidewalk.deliveries import repository
from sidewalk.deliveries.attempts import attempt_plan
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    TERMINAL_ATTEMPT,
    DeliveryStatus,
    MerchantPrincipal,
    Schedule,
    check_schedule,
    check_update_allowed,
    not_found,
    plan_schedule,
)
from sidewalk.deliveries.eta import Eta
from sidewalk.deliveries.models import Delivery
from sidewalk.deliveries.schemas import DeliveryRead, DeliveryUpdate
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.views import delivery_read
from sidewalk.kernel.contracts import AttemptUpdated
from sidewalk.kernel.geo import LatLng


def update_delivery(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str, cmd: DeliveryUpdate
) -> DeliveryRead:
    """Change what may still change; the timeline notes which fields changed (not their
    values: it is mirrored to the warehouse, which keeps no customer's contact)."""
    fields = cmd.model_fields_set
    # Estimated before the write transaction: the estimate may read the fleet's snapshots,
    # which on SQLite would wait for the write lock this use case is about to hold.
    eta = _eta_now(ctx, merchant, delivery_id) if "pickup_ready_at" in fields else None
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id, for_update=True)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        check_update_allowed(DeliveryStatus(delivery.status), fields)
        if "customer" in fields:
            delivery.customer_name = cmd.customer.name if cmd.customer else None
            delivery.customer_phone = cmd.customer.phone if cmd.customer else None
        if "dropoff_instructions" in fields:
            delivery.dropoff_instructions = cmd.dropoff_instructions
        if "order_value_cents" in fields:
            delivery.quote.order_value_cents = cmd.order_value_cents
        if "undeliverable_action" in fields and cmd.undeliverable_action is not None:
            delivery.undeliverable_action = cmd.undeliverable_action.value
        if eta is not None:
            _reschedule(uow, delivery, cmd.pickup_ready_at, eta)
        _tell_provider(uow, delivery)
        delivery.updated_at = uow.clock.now()
        uow.record(delivery.id, "delivery.updated", fields=sorted(fields))
        uow.commit()
        return delivery_read(delivery, ctx.settings.public_base_url)


def _eta_now(ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str) -> Eta:
    """The times of the delivery's trip by its current provider if it started now."""
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        quote = delivery.quote
        latest = delivery.latest_attempt
        provider = latest.provider if latest is not None else quote.provider
        pickup = LatLng(quote.pickup.lat, quote.pickup.lng)
        dropoff = LatLng(quote.dropoff.lat, quote.dropoff.lng)
        distance, area = quote.distance_m, quote.service_area_id
    return ctx.eta.estimate(provider, pickup, dropoff, distance, at=ctx.clock.now(), area_id=area)


def _reschedule(
    uow: DeliveriesUnitOfWork, delivery: Delivery, ready_at: datetime | None, eta: Eta
) -> None:
    """Plan the delivery anew for a new pickup-ready time, as a quote would be (the provider
    is told by `_tell_provider`)."""
    quote, now = delivery.quote, uow.clock.now()
    schedule = Schedule(ready_at, quote.dropoff_after, quote.dropoff_before)
    check_schedule(schedule, now=now)
    planned = plan_schedule(schedule, pickup_eta=eta.pickup, dropoff_eta=eta.dropoff)
    quote.pickup_ready_at = ready_at
    quote.pickup_eta, quote.dropoff_eta = planned.pickup_at, planned.dropoff_at
    quote.pickup_margin_s, quote.dropoff_margin_s = eta.margins.pickup_s, eta.margins.dropoff_s


def _tell_provider(uow: DeliveriesUnitOfWork, delivery: Delivery) -> None:
    """Tell the latest attempt's provider what it is to carry out now (`attempt.updated`):
    operations takes the pickup time and the undeliverable action; a courier network, what it
    accepts to change."""
    latest = delivery.latest_attempt
    if latest is None or latest.status in TERMINAL_ATTEMPT:
        return
    uow.tell(AttemptUpdated(**attempt_plan(delivery, delivery.quote, latest)))
