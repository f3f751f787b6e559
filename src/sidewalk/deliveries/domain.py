"""The rules of the deliveries service, free of any framework: statuses and their state
machines, pricing, the choice of provider for a quote, and what cancelling means."""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from sidewalk.kernel.errors import Conflict, Gone, NotFound, Unprocessable
from sidewalk.kernel.geo import LatLng, ServiceAreas, haversine_m
from sidewalk.kernel.money import Money
from sidewalk.kernel.statemachine import Stateful, transition

S = TypeVar("S", bound=StrEnum)


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


class UndeliverableAction(StrEnum):
    """What becomes of goods nobody takes at the door (Uber Direct's `undeliverable_action`,
    DoorDash's `action_if_undeliverable`): brought back to the merchant (the default), left at
    the door, or disposed of."""

    RETURN = "return"
    LEAVE_AT_DOOR = "leave_at_door"
    DISPOSE = "dispose"


# What was done, in the words of the record (`returned`, `left_at_door`, `disposed`).
UNDELIVERABLE_TAKEN: dict[UndeliverableAction, str] = {
    UndeliverableAction.RETURN: "returned",
    UndeliverableAction.LEAVE_AT_DOOR: "left_at_door",
    UndeliverableAction.DISPOSE: "disposed",
}


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
    # A handover the cancel came too late for: the customer has the goods after all.
    D.RETURNING: frozenset({D.RETURNED, D.DELIVERED, D.FAILED}),
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
# They are reached through the steps not heard of yet (`robot_steps`); a status the machine
# cannot take any more (a delivery cancelled meanwhile, a step already passed) is left alone.
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


# What a merchant may still change after ordering, and while: the order's value until the goods
# are picked up (it is what the goods are worth on the way); when they are ready until the robot
# or courier is at the pickup; who receives them, how, and what if nobody does until the robot
# or courier is at the door.
UPDATABLE_WHILE: dict[str, frozenset[DeliveryStatus]] = {
    "order_value_cents": BEFORE_PICKUP,
    "pickup_ready_at": frozenset({D.PENDING, D.ASSIGNED, D.ENROUTE_TO_PICKUP}),
    "customer": BEFORE_PICKUP | {D.ENROUTE_TO_DROPOFF},
    "dropoff_instructions": BEFORE_PICKUP | {D.ENROUTE_TO_DROPOFF},
    "undeliverable_action": BEFORE_PICKUP | {D.ENROUTE_TO_DROPOFF},
}


def check_update_allowed(status: DeliveryStatus, fields: Iterable[str]) -> None:
    """Refuse the whole update when any field can no longer change in `status`."""
    late = sorted(f for f in fields if status not in UPDATABLE_WHILE[f])
    if late:
        raise Conflict(
            f"A delivery that is {status.value} can no longer change {', '.join(late)}",
            code="delivery_update_too_late",
        )


class CancelStatus(StrEnum):
    """Where a merchant's cancel stands. A robot's attempt is stopped by the operations
    service, which alone knows whether the goods are still at the pickup, on board or handed
    over: until it answers the cancel is `requested`; then `accepted` (the delivery is
    cancelled, or the goods come back, or it failed first) or `too_late` (the robot had
    handed the goods over)."""

    REQUESTED = "requested"
    ACCEPTED = "accepted"
    TOO_LATE = "too_late"


def cancel_status(status: DeliveryStatus, cancel_reason: str | None) -> CancelStatus | None:
    """What a delivery's cancel has come to, from its status: None when none was asked."""
    if cancel_reason is None:
        return None
    if status is D.DELIVERED:
        return CancelStatus.TOO_LATE
    if status in TERMINAL_DELIVERY or status is D.RETURNING:
        return CancelStatus.ACCEPTED
    return CancelStatus.REQUESTED


def cancellation_target(status: DeliveryStatus) -> DeliveryStatus:
    """Before pickup a cancel ends the delivery; with the goods on board they go back to the
    merchant first. Anything else is refused by the state machine."""
    return D.RETURNING if status in CARRYING_GOODS else D.CANCELLED


class CourierStatus(StrEnum):
    """A courier network's job, after DoorDash Drive's delivery statuses (Uber Direct's fewer
    ones map onto them): a courier accepts it (`confirmed`), rides to the pickup, takes the
    goods, rides to the dropoff and hands them over; or the job ends early (`cancelled` by
    either side, `failed`: no courier, or the courier gave up), or the goods go back to the
    pickup (`returning` → `returned`)."""

    CREATED = "created"
    CONFIRMED = "confirmed"
    ENROUTE_TO_PICKUP = "enroute_to_pickup"
    ARRIVED_AT_PICKUP = "arrived_at_pickup"
    PICKED_UP = "picked_up"
    ENROUTE_TO_DROPOFF = "enroute_to_dropoff"
    ARRIVED_AT_DROPOFF = "arrived_at_dropoff"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    RETURNING = "returning"
    RETURNED = "returned"
    FAILED = "failed"


C = CourierStatus

# What a courier job's progress means for the attempt and the delivery, as ROBOT_PROGRESS does
# for robots. Networks skip steps and deliver updates out of order: a status is reached through
# the skipped ones (`follow_courier`), and one the delivery has passed is left alone.
COURIER_PROGRESS: dict[CourierStatus, tuple[AttemptStatus | None, DeliveryStatus | None]] = {
    C.CREATED: (None, None),
    C.CONFIRMED: (A.ASSIGNED, D.ASSIGNED),
    C.ENROUTE_TO_PICKUP: (A.IN_PROGRESS, D.ENROUTE_TO_PICKUP),
    C.ARRIVED_AT_PICKUP: (A.IN_PROGRESS, D.AT_PICKUP),
    C.PICKED_UP: (A.IN_PROGRESS, D.ENROUTE_TO_DROPOFF),
    C.ENROUTE_TO_DROPOFF: (A.IN_PROGRESS, D.ENROUTE_TO_DROPOFF),
    C.ARRIVED_AT_DROPOFF: (A.IN_PROGRESS, D.AT_DROPOFF),
    C.DELIVERED: (A.SUCCEEDED, D.DELIVERED),
}
# The goods go back to the merchant: the attempt is over, the delivery ends `returned`.
COURIER_RETURN: dict[CourierStatus, DeliveryStatus] = {
    C.RETURNING: D.RETURNING,
    C.RETURNED: D.RETURNED,
}
# The job ended without delivering: the courier is the last way, so the delivery fails too.
COURIER_GAVE_UP = frozenset({C.CANCELLED, C.FAILED})
COURIER_CARRYING = frozenset({C.PICKED_UP, C.ENROUTE_TO_DROPOFF, C.ARRIVED_AT_DROPOFF})
TERMINAL_COURIER = frozenset({C.DELIVERED, C.CANCELLED, C.RETURNED, C.FAILED})
COURIER_REASONS: dict[CourierStatus, str] = {
    C.FAILED: "courier_failed",
    C.CANCELLED: "courier_cancelled",
    C.RETURNING: "undeliverable",
    C.RETURNED: "undeliverable",
}

# Where a delivery may pass on its way to a status a courier update skipped to (never back to
# `pending`, which means another provider takes over).
_DELIVERY_WAYPOINTS = frozenset(
    {D.ASSIGNED, D.ENROUTE_TO_PICKUP, D.AT_PICKUP, D.ENROUTE_TO_DROPOFF, D.AT_DROPOFF, D.RETURNING}
)
_ATTEMPT_WAYPOINTS = frozenset({A.ASSIGNED, A.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class CourierTargets:
    """The statuses one courier update moves the attempt and the delivery to, and why the
    attempt or the delivery ended, if it did."""

    attempt: AttemptStatus | None
    delivery: DeliveryStatus | None
    reason: str | None


def courier_targets(
    status: CourierStatus,
    delivery: DeliveryStatus,
    *,
    merchant_cancelled: bool,
    reason: str | None = None,
    retried: bool = False,
) -> CourierTargets:
    """Progress moves both forward; a return ends the attempt (cancelled when the merchant
    asked for it, else failed) and brings the delivery back; a job given up fails both, except
    what a merchant's cancel has already ended, or sends the delivery back to `pending` when
    another attempt takes over (`retried`). A handover the merchant's cancel came too late
    for stands: the customer has the goods, and the delivery is delivered after all."""
    if status in COURIER_PROGRESS:
        return CourierTargets(*COURIER_PROGRESS[status], None)
    ended = A.CANCELLED if merchant_cancelled else A.FAILED
    why = reason or COURIER_REASONS[status]
    if status in COURIER_RETURN:
        return CourierTargets(ended, COURIER_RETURN[status], why)
    return CourierTargets(ended, D.PENDING if retried else D.FAILED, why)


def route(table: Mapping[S, frozenset[S]], current: S, target: S, *, via: frozenset[S]) -> list[S]:
    """The shortest way from `current` to `target` in a transition table, stopping on the way
    only at `via`: the statuses to take, in order; empty when there is none (or no need)."""
    if current == target:
        return []
    came_from: dict[S, S] = {}
    frontier, seen = [current], {current}
    while frontier:
        reached: list[S] = []
        for status in frontier:
            for step in sorted(table[status]):
                if step in seen:
                    continue
                seen.add(step)
                came_from[step] = status
                if step == target:
                    path = [step]
                    while path[-1] in came_from and came_from[path[-1]] != current:
                        path.append(came_from[path[-1]])
                    return path[::-1]
                if step in via:
                    reached.append(step)
        frontier = reached
    return []


@dataclass(frozen=True, slots=True)
class Step:
    """One transition to take: of `entity` ("attempt" or "delivery"), to `to`."""

    entity: str
    to: str


def courier_steps(
    delivery: DeliveryStatus,
    attempt: AttemptStatus,
    status: CourierStatus,
    *,
    merchant_cancelled: bool,
    reason: str | None = None,
    retried: bool = False,
) -> tuple[list[Step], str | None]:
    """Where a courier update says the job is, as the transitions that take a courier attempt
    and its delivery there through the steps the network skipped (the attempt's first), each
    allowed by its state machine; a status they are past (or a terminal one) stays. The steps,
    and why the job ended if it did."""
    targets = courier_targets(
        status, delivery, merchant_cancelled=merchant_cancelled, reason=reason, retried=retried
    )
    steps: list[Step] = []
    ends_as = attempt
    if targets.attempt is not None:
        for a in route(ATTEMPT_TRANSITIONS, attempt, targets.attempt, via=_ATTEMPT_WAYPOINTS):
            steps.append(Step("attempt", a.value))
            ends_as = a
    if targets.delivery is DeliveryStatus.DELIVERED and ends_as is not AttemptStatus.SUCCEEDED:
        # A hand-over the network reports after it had ended the attempt otherwise (a return):
        # the attempt stays as it ended, and the delivery cannot be called delivered.
        targets = CourierTargets(None, DeliveryStatus.FAILED, "delivered_after_attempt_ended")
    if targets.delivery is not None:
        for d in route(DELIVERY_TRANSITIONS, delivery, targets.delivery, via=_DELIVERY_WAYPOINTS):
            steps.append(Step("delivery", d.value))
    return steps, targets.reason


def robot_steps(
    delivery: DeliveryStatus,
    attempt: AttemptStatus | None,
    attempt_target: AttemptStatus | None,
    delivery_target: DeliveryStatus | None,
) -> list[Step]:
    """Where a robot's progress says the attempt and the delivery are, as the transitions that
    take them there through the steps whose news has not come yet (the attempt's first), each
    allowed by its state machine. Events between the services may be handled out of order (a
    redelivery after a consumer died, handlers on several threads): news of a step already
    passed finds no way back and changes nothing, and news of a later step is not lost."""
    steps: list[Step] = []
    if attempt is not None and attempt_target is not None:
        for a in route(ATTEMPT_TRANSITIONS, attempt, attempt_target, via=_ATTEMPT_WAYPOINTS):
            steps.append(Step("attempt", a.value))
    if delivery_target is not None:
        for d in route(DELIVERY_TRANSITIONS, delivery, delivery_target, via=_DELIVERY_WAYPOINTS):
            steps.append(Step("delivery", d.value))
    return steps


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


@dataclass(frozen=True, slots=True)
class NotServed:
    """Why one provider cannot take a trip: a stable code and a sentence for people."""

    provider: AttemptProvider
    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Serviceability:
    """Whether a trip can be served and by whom (None: by nobody); why not by the others."""

    distance_m: int
    provider: AttemptProvider | None
    service_area_id: str | None
    not_served: tuple[NotServed, ...]


def serviceability(
    terms: MerchantTerms,
    areas: ServiceAreas,
    pickup: LatLng,
    dropoff: LatLng,
    *,
    detour_factor: float,
    courier_max_distance_m: int,
) -> Serviceability:
    """A robot when both places lie in one service area within the merchant's robot range;
    otherwise a courier if the merchant allows it and the trip is not too long."""
    if haversine_m(pickup, dropoff) < 1.0:
        raise Unprocessable("Pickup and dropoff are the same place", code="same_location")
    distance = route_distance_m(pickup, dropoff, detour_factor)
    area = areas.containing(pickup)
    robot = AttemptProvider.ROBOT
    if area is None:
        why = NotServed(
            robot, "pickup_outside_service_area", "The pickup is outside every service area"
        )
    elif not area.contains(dropoff):
        why = NotServed(
            robot,
            "dropoff_outside_service_area",
            f"The dropoff is outside {area.name}, the pickup's service area",
        )
    elif distance > terms.max_robot_distance_m:
        why = NotServed(
            robot, "beyond_robot_range",
            f"The trip is {distance} m; robots go {terms.max_robot_distance_m} m at most",
        )  # fmt: skip
    else:
        return Serviceability(distance, robot, area.id, ())
    courier = AttemptProvider.COURIER
    if not terms.courier_fallback:
        cannot = NotServed(
            courier, "courier_not_enabled", "Courier delivery is not enabled for this merchant"
        )
    elif distance > courier_max_distance_m:
        cannot = NotServed(
            courier, "beyond_courier_range",
            f"The trip is {distance} m; the longest delivery offered is {courier_max_distance_m} m",
        )  # fmt: skip
    else:
        return Serviceability(distance, courier, None, (why,))
    return Serviceability(distance, None, None, (why, cannot))


def quote_terms(
    terms: MerchantTerms,
    areas: ServiceAreas,
    pickup: LatLng,
    dropoff: LatLng,
    *,
    detour_factor: float,
    courier_max_distance_m: int,
) -> QuoteTerms:
    """The provider `serviceability` finds and its fee; refused when there is none."""
    served = serviceability(
        terms, areas, pickup, dropoff,
        detour_factor=detour_factor, courier_max_distance_m=courier_max_distance_m,
    )  # fmt: skip
    distance = served.distance_m
    if served.provider is AttemptProvider.ROBOT:
        fee = price(terms.base_fee_cents, terms.fee_per_km_cents, distance, terms.currency)
        return QuoteTerms(AttemptProvider.ROBOT, distance, fee, served.service_area_id)
    if served.provider is AttemptProvider.COURIER:
        fee = price(
            terms.courier_base_fee_cents, terms.courier_fee_per_km_cents, distance, terms.currency
        )
        return QuoteTerms(AttemptProvider.COURIER, distance, fee, None)
    robot, courier = served.not_served
    if courier.code == "beyond_courier_range":
        raise Unprocessable(courier.detail, code="distance_too_long")
    reason = (
        f"farther than the robot range of {terms.max_robot_distance_m} m"
        if robot.code == "beyond_robot_range"
        else "outside every service area"
    )
    raise Unprocessable(
        f"No robot can take this delivery ({reason}) and courier delivery is not enabled "
        "for this merchant",
        code="outside_service_area",
    )


# How far ahead a delivery may be booked, how short a dropoff window may be, and how late a
# "ready at" may be sent and still be taken as "ready now" (clocks differ).
SCHEDULE_HORIZON = timedelta(days=30)
MIN_DROPOFF_WINDOW = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When the goods can be picked up and the window the customer wants them in (None: as
    soon as possible)."""

    pickup_ready_at: datetime | None = None
    dropoff_after: datetime | None = None
    dropoff_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class Planned:
    """The times promised for a scheduled trip: when the provider is at the pickup (and so when
    it must be sent for) and when the goods are handed over."""

    pickup_at: datetime
    dropoff_at: datetime


def check_schedule(schedule: Schedule, *, now: datetime) -> None:
    """Refuse times in the past, beyond the horizon, or a window too short to aim for."""
    ready, after, before = schedule.pickup_ready_at, schedule.dropoff_after, schedule.dropoff_before
    horizon = now + SCHEDULE_HORIZON
    if ready is not None and ready < now - CLOCK_SKEW:
        raise Unprocessable(
            f"pickup_ready_at {ready.isoformat()} is in the past", code="pickup_ready_in_past"
        )
    if before is not None and before <= now:
        raise Unprocessable(
            f"The dropoff window ended at {before.isoformat()}, in the past",
            code="dropoff_window_in_past",
        )
    for at in (ready, after):
        if at is not None and at > horizon:
            raise Unprocessable(
                f"{at.isoformat()} is more than {SCHEDULE_HORIZON.days} days ahead",
                code="schedule_too_far_ahead",
            )
    if after is not None and before is not None and before - after < MIN_DROPOFF_WINDOW:
        raise Unprocessable(
            f"A dropoff window must last {MIN_DROPOFF_WINDOW.seconds // 60} minutes at least",
            code="dropoff_window_too_short",
        )


def plan_schedule(schedule: Schedule, *, pickup_eta: datetime, dropoff_eta: datetime) -> Planned:
    """Shift the times of an on-demand trip (`pickup_eta`, `dropoff_eta`) to the schedule: not
    at the pickup before the goods are ready, nor at the door before the window opens (the
    provider is sent later instead of waiting there); refused when the window cannot be met."""
    trip = dropoff_eta - pickup_eta
    pickup_at = max(pickup_eta, schedule.pickup_ready_at or pickup_eta)
    if schedule.dropoff_after is not None:
        pickup_at = max(pickup_at, schedule.dropoff_after - trip)
    dropoff_at = pickup_at + trip
    before = schedule.dropoff_before
    if before is not None and dropoff_at > before:
        raise Unprocessable(
            f"The goods can reach the dropoff at {dropoff_at.isoformat()} at the earliest, "
            f"after the window ends at {before.isoformat()}",
            code="dropoff_window_unreachable",
        )
    return Planned(pickup_at, dropoff_at)


def window_missed(status: DeliveryStatus, dropoff_before: datetime | None, now: datetime) -> bool:
    """The goods are not even picked up when the window ends: the delivery fails
    (`dropoff_window_missed`) rather than arrive when the customer no longer expects it. Goods
    already on the way are still handed over, late."""
    return dropoff_before is not None and now >= dropoff_before and status in BEFORE_PICKUP


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
