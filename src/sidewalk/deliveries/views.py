"""How the service's records look to a merchant: ORM rows (or an order's plain records, of
the same shapes) into API read models."""

from datetime import datetime

from sidewalk.deliveries.domain import DeliveryStatus, cancel_status
from sidewalk.deliveries.models import DeliveryEvent, Quote
from sidewalk.deliveries.schemas import (
    AttemptRead,
    Customer,
    DeliveryEventRead,
    DeliveryRead,
    Fee,
    HandoverRead,
    LocationRead,
    Position,
    QuoteRead,
    UndeliverableRead,
    WindowRead,
)
from sidewalk.deliveries.shapes import DeliveryFields, PlaceFields, QuoteFields


def _times(status_times: dict[str, str]) -> dict[str, datetime]:
    return {status: datetime.fromisoformat(at) for status, at in status_times.items()}


def location_read(location: PlaceFields) -> LocationRead:
    return LocationRead(
        id=location.id, lat=location.lat, lng=location.lng, full_address=location.full_address
    )


def window_read(quote: QuoteFields) -> WindowRead | None:
    if quote.dropoff_after is None and quote.dropoff_before is None:
        return None
    return WindowRead(start_at=quote.dropoff_after, end_at=quote.dropoff_before)


def quote_read(quote: Quote) -> QuoteRead:
    return QuoteRead(
        id=quote.id,
        external_reference_id=quote.external_reference_id,
        merchant_id=quote.merchant_id,
        pickup=location_read(quote.pickup),
        dropoff=location_read(quote.dropoff),
        provider=quote.provider,
        fee=Fee(amount_cents=quote.fee_cents, currency=quote.currency),
        distance_m=quote.distance_m,
        service_area_id=quote.service_area_id,
        order_value_cents=quote.order_value_cents,
        pickup_ready_at=quote.pickup_ready_at,
        dropoff_window=window_read(quote),
        pickup_eta=quote.pickup_eta,
        dropoff_eta=quote.dropoff_eta,
        expires_at=quote.expires_at,
        used_by_delivery_id=quote.used_by_delivery_id,
        created_at=quote.created_at,
    )


def delivery_read(delivery: DeliveryFields, public_base_url: str) -> DeliveryRead:
    quote = delivery.quote
    attempts = [
        AttemptRead(
            id=link.attempt.id,
            sequence=link.sequence,
            provider=link.attempt.provider,
            network=link.attempt.network,
            status=link.attempt.status,
            provider_id=link.attempt.provider_id,
            failure_reason=link.attempt.failure_reason,
            status_times=_times(link.attempt.status_times),
            created_at=link.attempt.created_at,
        )
        for link in delivery.attempt_links
    ]
    latest = next((a for a in attempts if a.id == delivery.latest_attempt_id), None)
    position = None
    if delivery.courier_lat is not None and delivery.courier_lng is not None:
        assert delivery.courier_seen_at is not None
        position = Position(
            lat=delivery.courier_lat, lng=delivery.courier_lng, at=delivery.courier_seen_at
        )
    customer = None
    if delivery.customer_name is not None and delivery.customer_phone is not None:
        customer = Customer(name=delivery.customer_name, phone=delivery.customer_phone)
    return DeliveryRead(
        id=delivery.id,
        quote_id=delivery.quote_id,
        merchant_id=delivery.merchant_id,
        external_reference_id=delivery.external_reference_id,
        status=delivery.status,
        partner_id=delivery.partner_id,
        latest_attempt_id=delivery.latest_attempt_id,
        provider=latest.provider if latest else None,
        attempts=attempts,
        courier_location=position,
        status_times=_times(delivery.status_times),
        pickup=location_read(quote.pickup),
        dropoff=location_read(quote.dropoff),
        fee=Fee(amount_cents=quote.fee_cents, currency=quote.currency),
        order_value_cents=quote.order_value_cents,
        pickup_ready_at=quote.pickup_ready_at,
        dropoff_window=window_read(quote),
        pickup_eta=quote.pickup_eta,
        dropoff_eta=quote.dropoff_eta,
        customer=customer,
        dropoff_instructions=delivery.dropoff_instructions,
        unlock_pin=delivery.unlock_pin,
        handover=HandoverRead.model_validate(delivery.handover) if delivery.handover else None,
        undeliverable_action=delivery.undeliverable_action,
        undeliverable=UndeliverableRead.model_validate(delivery.undeliverable)
        if delivery.undeliverable
        else None,
        cancel_reason=delivery.cancel_reason,
        cancel_status=cancel_status(DeliveryStatus(delivery.status), delivery.cancel_reason),
        failure_reason=delivery.failure_reason,
        tracking_url=f"{public_base_url.rstrip('/')}/track/{delivery.tracking_token}",
        created_at=delivery.created_at,
        updated_at=delivery.updated_at,
    )


def event_read(event: DeliveryEvent) -> DeliveryEventRead:
    return DeliveryEventRead(
        id=event.id, type=event.type, occurred_at=event.occurred_at, data=event.data
    )
