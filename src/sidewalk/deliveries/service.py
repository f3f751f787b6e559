"""The merchant's use cases: quote, order, track and cancel deliveries. Each is one
transaction; each status change goes through its state machine."""

from datetime import datetime
from typing import Any

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    DELIVERY_TRANSITIONS,
    TERMINAL_ATTEMPT,
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
    MerchantPrincipal,
    Schedule,
    cancellation_target,
    check_schedule,
    check_update_allowed,
    not_found,
    plan_schedule,
    quote_expiry,
    quote_terms,
    serviceability,
)
from sidewalk.deliveries.eta import Eta
from sidewalk.deliveries.models import (
    Attempt,
    Delivery,
)
from sidewalk.deliveries.moves import attempt_to, delivery_to
from sidewalk.deliveries.quote_store import insert_quotes
from sidewalk.deliveries.schemas import (
    CancelRequest,
    DeliveryEvents,
    DeliveryPage,
    DeliveryRead,
    DeliveryUpdate,
    Fee,
    LocationRead,
    NotServedRead,
    QuoteCreate,
    QuoteRead,
    ServiceabilityCheck,
    ServiceabilityRead,
    WindowRead,
)
from sidewalk.deliveries.shapes import AttemptFields, DeliveryFields, PlaceFields, QuoteFields
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.views import delivery_read, event_read, quote_read
from sidewalk.kernel.contracts import AttemptCancelRequested, AttemptRequested, AttemptUpdated
from sidewalk.kernel.cursor import encode_cursor
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.statemachine import check


def price_quote(ctx: DeliveriesContext, merchant: MerchantPrincipal, cmd: QuoteCreate) -> QuoteRead:
    """Price a delivery and promise times, for a limited time (nothing is stored yet)."""
    pickup, dropoff = (
        LatLng(cmd.pickup.lat, cmd.pickup.lng),
        LatLng(cmd.dropoff.lat, cmd.dropoff.lng),
    )
    terms = quote_terms(
        merchant.terms,
        ctx.areas,
        pickup,
        dropoff,
        detour_factor=ctx.settings.detour_factor,
        courier_max_distance_m=ctx.settings.courier_max_distance_m,
    )
    now = ctx.clock.now()
    window = cmd.dropoff_window
    schedule = Schedule(
        cmd.pickup_ready_at,
        window.start_at if window else None,
        window.end_at if window else None,
    )
    check_schedule(schedule, now=now)
    eta = ctx.eta.estimate(
        terms.provider, pickup, dropoff, terms.distance_m, at=now, area_id=terms.service_area_id
    )
    planned = plan_schedule(schedule, pickup_eta=eta.pickup, dropoff_eta=eta.dropoff)
    return QuoteRead(
        id=new_id("quo"),
        external_reference_id=cmd.external_reference_id,
        merchant_id=merchant.id,
        pickup=LocationRead(id=new_id("loc"), **cmd.pickup.model_dump()),
        dropoff=LocationRead(id=new_id("loc"), **cmd.dropoff.model_dump()),
        provider=terms.provider,
        fee=Fee(amount_cents=terms.fee.amount_cents, currency=terms.fee.currency),
        distance_m=terms.distance_m,
        service_area_id=terms.service_area_id,
        order_value_cents=cmd.order_value_cents,
        pickup_ready_at=cmd.pickup_ready_at,
        dropoff_window=WindowRead(start_at=window.start_at, end_at=window.end_at)
        if window
        else None,
        pickup_eta=planned.pickup_at,
        dropoff_eta=planned.dropoff_at,
        expires_at=quote_expiry(now, merchant.terms.quote_lifetime_s),
        used_by_delivery_id=None,
        created_at=now,
    )


def check_serviceability(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, cmd: ServiceabilityCheck
) -> ServiceabilityRead:
    """Whether a quote for this trip would be given, and to whom, on the merchant's own terms;
    nothing is priced or stored."""
    served = serviceability(
        merchant.terms,
        ctx.areas,
        LatLng(cmd.pickup.lat, cmd.pickup.lng),
        LatLng(cmd.dropoff.lat, cmd.dropoff.lng),
        detour_factor=ctx.settings.detour_factor,
        courier_max_distance_m=ctx.settings.courier_max_distance_m,
    )
    return ServiceabilityRead(
        serviceable=served.provider is not None,
        provider=served.provider,
        distance_m=served.distance_m,
        service_area_id=served.service_area_id,
        not_served=[
            NotServedRead(provider=n.provider, code=n.code, detail=n.detail)
            for n in served.not_served
        ],
    )


def store_quote(ctx: DeliveriesContext, quote: QuoteRead) -> None:
    """Keep a priced quote, on its own; the API batches this through `ctx.quote_writer`."""
    with ctx.uow() as uow:
        insert_quotes(uow.connection, [quote])
        uow.commit()


def get_quote(ctx: DeliveriesContext, merchant: MerchantPrincipal, quote_id: str) -> QuoteRead:
    with ctx.uow() as uow:
        quote = repository.quote(uow.session, merchant.id, quote_id)
        if quote is None:
            raise not_found("quote", quote_id)
        return quote_read(quote)


def request_attempt(
    uow: DeliveriesUnitOfWork,
    delivery: DeliveryFields,
    quote: QuoteFields,
    attempt: AttemptFields,
    *,
    sequence: int,
) -> None:
    """Tell operations (and any provider listening) that the attempt wants carrying out, with
    what a courier network asks for too (whom to hand the goods to, their value, our order)."""
    uow.tell(AttemptRequested(**attempt_plan(delivery, quote, attempt), sequence=sequence))


def attempt_plan(
    delivery: DeliveryFields, quote: QuoteFields, attempt: AttemptFields
) -> dict[str, Any]:
    """What an attempt's provider is to carry out, as it stands (`AttemptPlan`'s fields). A
    scheduled attempt is wanted at the pickup at the planned time (else now); the goods must be
    at the door by the window's end, if there is one."""
    customer = None
    if delivery.customer_name is not None:
        customer = {"name": delivery.customer_name, "phone": delivery.customer_phone}
    scheduled = quote.pickup_ready_at is not None or quote.dropoff_after is not None
    return {
        "delivery_id": delivery.id,
        "attempt_id": attempt.id,
        "provider": AttemptProvider(attempt.provider).value,
        "merchant_id": delivery.merchant_id,
        "pickup": place(quote.pickup),
        "dropoff": place(quote.dropoff),
        "dropoff_instructions": delivery.dropoff_instructions,
        "customer": customer,
        "order_value_cents": quote.order_value_cents,
        "currency": quote.currency,
        "external_reference_id": delivery.external_reference_id,
        "unlock_pin": delivery.unlock_pin,
        "undeliverable_action": delivery.undeliverable_action,
        "pickup_at": quote.pickup_eta if scheduled else None,
        "dropoff_before": quote.dropoff_before,
    }


def place(location: PlaceFields) -> dict[str, Any]:
    return {"lat": location.lat, "lng": location.lng, "full_address": location.full_address}


def get_delivery(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str
) -> DeliveryRead:
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        return delivery_read(delivery, ctx.settings.public_base_url)


def list_deliveries(
    ctx: DeliveriesContext,
    merchant: MerchantPrincipal,
    filt: repository.DeliveryFilter,
    *,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    with ctx.uow() as uow:
        rows, more = repository.deliveries_page(
            uow.session, merchant.id, filt, cursor=cursor, limit=limit
        )
        base = ctx.settings.public_base_url
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
        return DeliveryPage(
            data=[delivery_read(d, base) for d in rows], has_more=more, next_cursor=next_cursor
        )


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


def _tell_provider(uow: DeliveriesUnitOfWork, delivery: Delivery) -> None:
    """Tell the latest attempt's provider what it is to carry out now (`attempt.updated`):
    operations takes the pickup time and the undeliverable action; a courier network, what it
    accepts to change."""
    latest = delivery.latest_attempt
    if latest is None or latest.status in TERMINAL_ATTEMPT:
        return
    uow.tell(AttemptUpdated(**attempt_plan(delivery, delivery.quote, latest)))


def cancel_delivery(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str, cmd: CancelRequest
) -> DeliveryRead:
    """Stop a delivery. A robot's attempt is asked to stop (`attempt.cancel_requested`) and
    the operations service, which alone knows where the goods are, answers through the task's
    own events: cancelled before pickup, the goods brought back after it, or too late (handed
    over); until then the delivery stands as it is, its `cancel_status` `requested`, and
    asking again changes nothing. Otherwise the delivery ends here before pickup, or turns back
    to the merchant (`returning`) with the goods on board. A finished delivery cannot be
    cancelled."""
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id, for_update=True)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        current = DeliveryStatus(delivery.status)
        target = cancellation_target(current)
        check("delivery", DELIVERY_TRANSITIONS, current, target)  # a finished one: 409
        reason = cmd.reason or "cancelled_by_merchant"
        robot = _robot_under_way(delivery)
        if robot is not None:
            if delivery.cancel_reason is None:
                _ask_robot_to_stop(uow, delivery, robot, reason)
            answer = delivery_read(delivery, ctx.settings.public_base_url)
            uow.commit()
            return answer
        delivery_to(uow, delivery, target, reason=reason)
        delivery.cancel_reason = reason
        stop_latest_attempt(
            uow,
            delivery,
            reason=delivery.cancel_reason,
            goods_on_board=target is DeliveryStatus.RETURNING,
        )
        answer = delivery_read(delivery, ctx.settings.public_base_url)
        uow.commit()
        return answer


def _robot_under_way(delivery: Delivery) -> Attempt | None:
    """The delivery's latest attempt if a robot carries it and it has not ended."""
    latest = delivery.latest_attempt
    if latest is None or latest.provider != AttemptProvider.ROBOT:
        return None
    return None if latest.status in TERMINAL_ATTEMPT else latest


def _ask_robot_to_stop(
    uow: DeliveriesUnitOfWork, delivery: Delivery, attempt: Attempt, reason: str
) -> None:
    delivery.cancel_reason = reason
    delivery.updated_at = uow.clock.now()
    uow.record(delivery.id, "delivery.cancel_requested", reason=reason, status=delivery.status)
    uow.tell(
        AttemptCancelRequested(
            delivery_id=delivery.id,
            attempt_id=attempt.id,
            provider=attempt.provider.value,
            reason=reason,
        )
    )


def stop_latest_attempt(
    uow: DeliveriesUnitOfWork, delivery: Delivery, *, reason: str, goods_on_board: bool
) -> None:
    """Ask the provider of the delivery's latest attempt to stop. Without goods on board the
    attempt ends here, cancelled; with them, operations has the robot bring them back (a
    `return` task), which ends the delivery `returned`."""
    latest = delivery.latest_attempt
    if latest is None:
        return
    if not goods_on_board and latest.status not in TERMINAL_ATTEMPT:
        attempt_to(uow, delivery.id, latest, AttemptStatus.CANCELLED)
    uow.tell(
        AttemptCancelRequested(
            delivery_id=delivery.id,
            attempt_id=latest.id,
            provider=latest.provider.value,
            reason=reason,
            goods_on_board=goods_on_board,
        )
    )


def delivery_events(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str
) -> DeliveryEvents:
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        events = repository.delivery_events(uow.session, delivery_id)
        return DeliveryEvents(delivery_id=delivery_id, data=[event_read(e) for e in events])
