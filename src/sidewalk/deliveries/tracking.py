"""What a delivery's tracking link shows its customer: where the order is, when it should
arrive, and the robot (or courier) on the way. The token in the link is the only credential,
so the page shows this one delivery and nothing that would harm anyone if the link were
passed on: no names, no phone number, no addresses in words, no ids. It does show the PIN
that opens the robot at the door, while a robot carries the order: the link is how the
customer gets it, and whoever the customer passes the link to may collect the order.

A link stops working `tracking_link_ttl_s` after its delivery ended; an unknown token and an
expired one answer differently (404, 410), which tells nothing to someone guessing tokens,
since an expired one had to be known already."""

from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import TERMINAL_DELIVERY, AttemptProvider, DeliveryStatus
from sidewalk.deliveries.models import Delivery, DeliveryAttempt, Merchant, Quote
from sidewalk.kernel.errors import NotFound, SidewalkError
from sidewalk.kernel.geo import LatLng, haversine_m

# Tokens are made by `new_token()`; anything far from that shape is not looked up.
TOKEN_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"

# The customer's words for each status.
STATUS_LABELS = {
    DeliveryStatus.PENDING: "Order received",
    DeliveryStatus.ASSIGNED: "Preparing for pickup",
    DeliveryStatus.ENROUTE_TO_PICKUP: "On the way to the store",
    DeliveryStatus.AT_PICKUP: "Picking up your order",
    DeliveryStatus.ENROUTE_TO_DROPOFF: "On the way to you",
    DeliveryStatus.AT_DROPOFF: "Arrived",
    DeliveryStatus.DELIVERED: "Delivered",
    DeliveryStatus.CANCELLED: "Cancelled",
    DeliveryStatus.RETURNING: "Going back to the store",
    DeliveryStatus.RETURNED: "Returned to the store",
    DeliveryStatus.FAILED: "Could not be delivered",
}


class TrackingExpired(SidewalkError):
    status, code, title = 410, "tracking_expired", "Tracking link expired"


class Spot(BaseModel):
    lat: float
    lng: float


class Vehicle(BaseModel):
    kind: AttemptProvider = Field(description="A robot, or a courier where no robot could go.")
    lat: float
    lng: float
    seen_at: datetime


class TrackingRead(BaseModel):
    status: DeliveryStatus
    status_label: str
    merchant_name: str
    pickup: Spot
    dropoff: Spot
    vehicle: Vehicle | None = Field(description="Where the robot or courier was last seen.")
    eta: datetime | None = Field(description="When it should arrive; none once it has ended.")
    unlock_pin: str | None = Field(
        description="The code that opens the robot at the door, while a robot carries the order."
    )
    status_times: dict[str, datetime]
    ended: bool
    link_expires_at: datetime | None


def tracking_view(ctx: DeliveriesContext, token: str) -> TrackingRead:
    with ctx.uow() as uow:
        row = (
            uow.session.execute(
                select(Delivery, Merchant.name)
                .join(Merchant, Merchant.id == Delivery.merchant_id)
                .where(Delivery.tracking_token == token)
                .options(
                    joinedload(Delivery.quote).joinedload(Quote.pickup),
                    joinedload(Delivery.quote).joinedload(Quote.dropoff),
                    joinedload(Delivery.attempt_links).joinedload(DeliveryAttempt.attempt),
                )
            )
            .unique()
            .one_or_none()
        )
        if row is None:
            raise NotFound("No delivery has this tracking link", code="tracking_not_found")
        delivery, merchant_name = row
        now = ctx.clock.now()
        status = DeliveryStatus(delivery.status)
        ended = status in TERMINAL_DELIVERY
        expires = None
        if ended:
            expires = _ended_at(delivery) + timedelta(seconds=ctx.settings.tracking_link_ttl_s)
            if now >= expires:
                raise TrackingExpired("This tracking link has expired", code="tracking_expired")
        latest = delivery.latest_attempt
        vehicle = None
        if not ended and delivery.courier_lat is not None and delivery.courier_lng is not None:
            assert delivery.courier_seen_at is not None
            vehicle = Vehicle(
                kind=latest.provider if latest else AttemptProvider.ROBOT,
                lat=delivery.courier_lat,
                lng=delivery.courier_lng,
                seen_at=delivery.courier_seen_at,
            )
        quote = delivery.quote
        return TrackingRead(
            status=status,
            status_label=STATUS_LABELS[status],
            merchant_name=merchant_name,
            pickup=Spot(lat=quote.pickup.lat, lng=quote.pickup.lng),
            dropoff=Spot(lat=quote.dropoff.lat, lng=quote.dropoff.lng),
            vehicle=vehicle,
            eta=None if ended else _eta(ctx, status, quote.dropoff_eta, vehicle, quote, now),
            unlock_pin=delivery.unlock_pin
            if not ended and latest is not None and latest.provider == AttemptProvider.ROBOT
            else None,
            status_times={k: datetime.fromisoformat(v) for k, v in delivery.status_times.items()},
            ended=ended,
            link_expires_at=expires,
        )


def _ended_at(delivery: Delivery) -> datetime:
    """When the delivery reached its final status (its last change, if that was not kept)."""
    at = delivery.status_times.get(delivery.status)
    return datetime.fromisoformat(at) if isinstance(at, str) else delivery.updated_at


def _eta(
    ctx: DeliveriesContext,
    status: DeliveryStatus,
    promised: datetime,
    vehicle: Vehicle | None,
    quote: Quote,
    now: datetime,
) -> datetime:
    """On the way to the customer with a known position: from there at the provider's speed;
    before that, the time promised at the quote, or now once that has passed."""
    if status is DeliveryStatus.ENROUTE_TO_DROPOFF and vehicle is not None:
        speed = (
            ctx.settings.robot_speed_mps
            if vehicle.kind is AttemptProvider.ROBOT
            else ctx.settings.courier_speed_mps
        )
        left_m = haversine_m(
            LatLng(vehicle.lat, vehicle.lng), LatLng(quote.dropoff.lat, quote.dropoff.lng)
        )
        return max(now, vehicle.seen_at + timedelta(seconds=left_m / speed))
    return max(now, promised)
