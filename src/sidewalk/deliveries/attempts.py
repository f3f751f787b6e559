"""What an attempt's provider is asked to carry out (`AttemptPlan`), and the asking
(`attempt.requested`), with what a courier network needs too."""

from typing import Any

from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.deliveries.shapes import AttemptFields, DeliveryFields, PlaceFields, QuoteFields
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.contracts import AttemptRequested


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
        "dropoff_by": quote.dropoff_eta,
    }


def place(location: PlaceFields) -> dict[str, Any]:
    return {"lat": location.lat, "lng": location.lng, "full_address": location.full_address}
