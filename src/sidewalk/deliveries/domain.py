"""The rules of the deliveries service, free of any framework: statuses and their state
machines, pricing, the choice of provider for a quote, and what cancelling means."""

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sidewalk.kernel.errors import Conflict, Gone, NotFound, Unprocessable
from sidewalk.kernel.geo import LatLng, ServiceAreas, haversine_m
from sidewalk.kernel.money import Money
from sidewalk.kernel.statemachine import Stateful, transition


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    ENROUTE_TO_PICKUP = "enroute_to_pickup"
    AT_PICKUP = "at_pickup"
    ENROUTE_TO_DROPOFF = "enroute_to_dropoff"
    AT_DROPOFF = "at_dropoff"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNING = "returning"
    RETURNED = "returned"
    FAILED = "failed"


class AttemptProvider(StrEnum):
    ROBOT = "robot"
    COURIER = "courier"


class AttemptStatus(StrEnum):
    REQUESTED = "requested"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


D = DeliveryStatus
A = AttemptStatus

# A delivery may skip forward along the happy path (a courier network may not report every
# step) and falls back to `pending` when an attempt fails before the goods are handed over
# and another provider takes over. Terminal states have no way out.
DELIVERY_TRANSITIONS: dict[DeliveryStatus, frozenset[DeliveryStatus]] = {
    D.PENDING: frozenset({D.ASSIGNED, D.ENROUTE_TO_PICKUP, D.AT_PICKUP, D.CANCELLED, D.FAILED}),
    D.ASSIGNED: frozenset(
        {D.ENROUTE_TO_PICKUP, D.AT_PICKUP, D.ENROUTE_TO_DROPOFF, D.PENDING, D.CANCELLED, D.FAILED}
    ),
    D.ENROUTE_TO_PICKUP: frozenset(
        {D.AT_PICKUP, D.ENROUTE_TO_DROPOFF, D.PENDING, D.CANCELLED, D.FAILED}
    ),
    D.AT_PICKUP: frozenset({D.ENROUTE_TO_DROPOFF, D.PENDING, D.CANCELLED, D.FAILED}),
    D.ENROUTE_TO_DROPOFF: frozenset({D.AT_DROPOFF, D.DELIVERED, D.PENDING, D.RETURNING, D.FAILED}),
    D.AT_DROPOFF: frozenset({D.DELIVERED, D.RETURNING, D.FAILED}),
    D.RETURNING: frozenset({D.RETURNED, D.FAILED}),
    D.DELIVERED: frozenset(),
    D.CANCELLED: frozenset(),
    D.RETURNED: frozenset(),
    D.FAILED: frozenset(),
}

ATTEMPT_TRANSITIONS: dict[AttemptStatus, frozenset[AttemptStatus]] = {
    A.REQUESTED: frozenset({A.ASSIGNED, A.IN_PROGRESS, A.FAILED, A.CANCELLED}),
    A.ASSIGNED: frozenset({A.IN_PROGRESS, A.FAILED, A.CANCELLED}),
    A.IN_PROGRESS: frozenset({A.SUCCEEDED, A.FAILED, A.CANCELLED}),
    A.SUCCEEDED: frozenset(),
    A.FAILED: frozenset(),
    A.CANCELLED: frozenset(),
}

BEFORE_PICKUP = frozenset({D.PENDING, D.ASSIGNED, D.ENROUTE_TO_PICKUP, D.AT_PICKUP})
CARRYING_GOODS = frozenset({D.ENROUTE_TO_DROPOFF, D.AT_DROPOFF})
TERMINAL_DELIVERY = frozenset(s for s, out in DELIVERY_TRANSITIONS.items() if not out)
TERMINAL_ATTEMPT = frozenset(s for s, out in ATTEMPT_TRANSITIONS.items() if not out)


def move_delivery(delivery: Stateful, to: DeliveryStatus, *, at: datetime) -> DeliveryStatus:
    return transition("delivery", DELIVERY_TRANSITIONS, delivery, to, at=at)


def move_attempt(attempt: Stateful, to: AttemptStatus, *, at: datetime) -> AttemptStatus:
    return transition("attempt", ATTEMPT_TRANSITIONS, attempt, to, at=at)


# What a robot's progress, told by the operations service, means for the attempt and the
# delivery: (event type, trip type or "" for task events) -> (attempt status, delivery status).
# A status the machine cannot take any more (a delivery cancelled meanwhile) is left alone.
ROBOT_PROGRESS: dict[tuple[str, str], tuple[AttemptStatus | None, DeliveryStatus | None]] = {
    ("task.assigned", ""): (AttemptStatus.ASSIGNED, DeliveryStatus.ASSIGNED),
    ("trip.in_progress", "to_pickup"): (
        AttemptStatus.IN_PROGRESS,
        DeliveryStatus.ENROUTE_TO_PICKUP,
    ),
    ("trip.arrived", "to_pickup"): (None, DeliveryStatus.AT_PICKUP),
    ("trip.completed", "to_pickup"): (None, DeliveryStatus.ENROUTE_TO_DROPOFF),
    ("trip.in_progress", "to_dropoff"): (None, DeliveryStatus.ENROUTE_TO_DROPOFF),
    ("trip.arrived", "to_dropoff"): (None, DeliveryStatus.AT_DROPOFF),
    ("task.completed", ""): (AttemptStatus.SUCCEEDED, DeliveryStatus.DELIVERED),
}

# A return task brings the goods of a stopped delivery back to the merchant.
RETURN_PROGRESS: dict[str, DeliveryStatus] = {
    "task.assigned": DeliveryStatus.RETURNING,
    "task.completed": DeliveryStatus.RETURNED,
}


def progress_targets(
    event_type: str, task_type: str, trip_type: str
) -> tuple[AttemptStatus | None, DeliveryStatus | None]:
    """The statuses an operations event moves the attempt and the delivery to, if any."""
    if task_type == "return":
        return None, RETURN_PROGRESS.get(event_type)
    if task_type != "delivery":
        return None, None
    key = (event_type, trip_type if event_type.startswith("trip.") else "")
    return ROBOT_PROGRESS.get(key, (None, None))


def cancellation_target(status: DeliveryStatus) -> DeliveryStatus:
    """Before pickup a cancel ends the delivery; with the goods on board they go back to the
    merchant first. Anything else is refused by the state machine."""
    return D.RETURNING if status in CARRYING_GOODS else D.CANCELLED


@dataclass(frozen=True, slots=True)
class MerchantTerms:
    """What a merchant has agreed to pay and accept."""

    currency: str
    base_fee_cents: int
    fee_per_km_cents: int
    courier_base_fee_cents: int
    courier_fee_per_km_cents: int
    max_robot_distance_m: int
    courier_fallback: bool
    quote_lifetime_s: int


@dataclass(frozen=True, slots=True)
class MerchantPrincipal:
    """The merchant a request acts for."""

    id: str
    partner_id: str | None
    terms: MerchantTerms


@dataclass(frozen=True, slots=True)
class QuoteTerms:
    provider: AttemptProvider
    distance_m: int
    fee: Money
    service_area_id: str | None


def route_distance_m(pickup: LatLng, dropoff: LatLng, detour_factor: float) -> int:
    """The way on foot: the straight line times the detour factor, in whole metres."""
    return math.ceil(haversine_m(pickup, dropoff) * detour_factor)


def price(base_cents: int, per_km_cents: int, distance_m: int, currency: str) -> Money:
    """Base plus a per-kilometre rate, rounded half up to the cent."""
    return Money(base_cents + (per_km_cents * distance_m + 500) // 1000, currency)


def quote_terms(
    terms: MerchantTerms,
    areas: ServiceAreas,
    pickup: LatLng,
    dropoff: LatLng,
    *,
    detour_factor: float,
    courier_max_distance_m: int,
) -> QuoteTerms:
    """A robot when both places lie in one service area within the merchant's robot range;
    otherwise a courier if the merchant allows it; otherwise refused."""
    if haversine_m(pickup, dropoff) < 1.0:
        raise Unprocessable("Pickup and dropoff are the same place", code="same_location")
    distance = route_distance_m(pickup, dropoff, detour_factor)
    area = areas.containing(pickup)
    if area is not None and area.contains(dropoff) and distance <= terms.max_robot_distance_m:
        fee = price(terms.base_fee_cents, terms.fee_per_km_cents, distance, terms.currency)
        return QuoteTerms(AttemptProvider.ROBOT, distance, fee, area.id)
    if not terms.courier_fallback:
        reason = (
            "outside every service area"
            if area is None or not area.contains(dropoff)
            else (f"farther than the robot range of {terms.max_robot_distance_m} m")
        )
        raise Unprocessable(
            f"No robot can take this delivery ({reason}) and courier delivery is not enabled "
            "for this merchant",
            code="outside_service_area",
        )
    if distance > courier_max_distance_m:
        raise Unprocessable(
            f"The trip is {distance} m; the longest delivery offered is {courier_max_distance_m} m",
            code="distance_too_long",
        )
    fee = price(
        terms.courier_base_fee_cents, terms.courier_fee_per_km_cents, distance, terms.currency
    )
    return QuoteTerms(AttemptProvider.COURIER, distance, fee, None)


def quote_expiry(created_at: datetime, lifetime_s: int) -> datetime:
    return created_at + timedelta(seconds=lifetime_s)


def check_quote_usable(
    *, quote_id: str, expires_at: datetime, used_by: str | None, now: datetime
) -> None:
    """A quote buys one delivery, before it expires."""
    if used_by is not None:
        raise Conflict(
            f"Quote {quote_id} was already used by delivery {used_by}",
            code="quote_already_used",
            extra={"delivery_id": used_by},
        )
    if now >= expires_at:
        raise Gone(
            f"Quote {quote_id} expired at {expires_at.isoformat()}; ask for a new quote",
            code="quote_expired",
        )


def not_found(kind: str, ident: str) -> NotFound:
    """One answer for ids that do not exist and ids of someone else's."""
    return NotFound(f"No {kind} with id {ident!r}", code=f"{kind}_not_found")
