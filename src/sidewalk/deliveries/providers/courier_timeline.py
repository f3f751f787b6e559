"""The timeline of a simulated courier job, drawn once when the job is created: when a
courier accepts it, where that courier starts, the rides at courier speed (the straight line
times the detour factor), a position every so often on the way, and whether the job fails.
Each job's draws come from a generator seeded with the network's seed and the job's external
id, so a job's fate does not depend on what else the network is doing. No I/O here."""

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sidewalk.deliveries.domain import COURIER_CARRYING, TERMINAL_COURIER, CourierStatus
from sidewalk.kernel.geo import LatLng, haversine_m
from sidewalk.kernel.settings import Settings

C = CourierStatus

POSITION_EVERY_S = 30.0  # as often as Uber Direct's courier updates, roughly
MAX_POSITIONS_PER_LEG = 20
PICKUP_DWELL_S = 120.0  # waiting for the order and taking it
DROPOFF_DWELL_S = 60.0  # finding the door and handing it over
COURIER_START_M = (300.0, 1500.0)  # how far from the pickup the accepting courier is
NO_COURIER_GIVE_UP_S = 300.0  # the least a network searches before it gives up


@dataclass(frozen=True, slots=True)
class SimParams:
    """How the simulated network behaves (from the settings)."""

    accept_delay_s: float
    speed_mps: float
    detour_factor: float
    failure_rate: float
    seed: int
    pickup_dwell_s: float = PICKUP_DWELL_S
    dropoff_dwell_s: float = DROPOFF_DWELL_S
    position_every_s: float = POSITION_EVERY_S
    undeliverable_rate: float = 0.0  # nobody at the door to take the goods

    @classmethod
    def from_settings(cls, settings: Settings) -> "SimParams":
        return cls(
            accept_delay_s=settings.courier_accept_delay_s,
            speed_mps=settings.courier_speed_mps,
            detour_factor=settings.detour_factor,
            failure_rate=settings.courier_failure_rate,
            seed=settings.courier_sim_seed,
            pickup_dwell_s=settings.courier_pickup_dwell_s,
            dropoff_dwell_s=settings.courier_dropoff_dwell_s,
            position_every_s=settings.courier_position_every_s,
            undeliverable_rate=settings.courier_undeliverable_rate,
        )


@dataclass(frozen=True, slots=True)
class Step:
    """One update the job will push: a status (repeated for a position on the way)."""

    at: datetime
    status: CourierStatus
    lat: float | None = None
    lng: float | None = None
    reason: str | None = None
    # Nobody took the goods: what the courier did with them (`returned`, `left_at_door`,
    # `disposed`), told with the step that starts it.
    undeliverable: str | None = None

    @classmethod
    def of(
        cls,
        at: datetime,
        status: CourierStatus,
        where: LatLng | None,
        reason: str | None = None,
        undeliverable: str | None = None,
    ) -> "Step":
        """A step with the courier at `where`, when known."""
        if where is None:
            return cls(at, status, reason=reason, undeliverable=undeliverable)
        return cls(at, status, where.lat, where.lng, reason, undeliverable)

    @property
    def position(self) -> LatLng | None:
        return None if self.lat is None or self.lng is None else LatLng(self.lat, self.lng)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "status": self.status.value,
            "lat": self.lat,
            "lng": self.lng,
            "reason": self.reason,
            "undeliverable": self.undeliverable,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Step":
        return cls(
            at=datetime.fromisoformat(data["at"]),
            status=CourierStatus(data["status"]),
            lat=data.get("lat"),
            lng=data.get("lng"),
            reason=data.get("reason"),
            undeliverable=data.get("undeliverable"),
        )


@dataclass(frozen=True, slots=True)
class Timeline:
    steps: list[Step]
    pickup_eta: datetime
    dropoff_eta: datetime


def job_random(seed: int, external_id: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{external_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def travel_s(a: LatLng, b: LatLng, params: SimParams) -> float:
    return haversine_m(a, b) * params.detour_factor / params.speed_mps


def offset(origin: LatLng, distance_m: float, bearing: float) -> LatLng:
    """The point `distance_m` from `origin` towards `bearing` (radians from north); flat-earth
    arithmetic, ample for a few kilometres."""
    lat = origin.lat + distance_m * math.cos(bearing) / 111_320.0
    lng_scale = 111_320.0 * max(math.cos(math.radians(origin.lat)), 1e-6)
    lng = origin.lng + distance_m * math.sin(bearing) / lng_scale
    return LatLng(max(-90.0, min(90.0, lat)), (lng + 180.0) % 360.0 - 180.0)


def between(a: LatLng, b: LatLng, fraction: float) -> LatLng:
    return LatLng(a.lat + (b.lat - a.lat) * fraction, a.lng + (b.lng - a.lng) * fraction)


def ride(
    a: LatLng,
    b: LatLng,
    start: datetime,
    duration_s: float,
    status: CourierStatus,
    upto: float,
    every_s: float = POSITION_EVERY_S,
) -> list[Step]:
    """Positions on the way from `a` to `b` (not at either end), as far as `upto` of it."""
    if duration_s <= 0:
        return []
    every = max(every_s, duration_s / MAX_POSITIONS_PER_LEG)
    steps, elapsed = [], every
    while elapsed < duration_s * upto:
        where = between(a, b, elapsed / duration_s)
        steps.append(Step.of(start + timedelta(seconds=elapsed), status, where))
        elapsed += every
    return steps


def plan_job(
    pickup: LatLng,
    dropoff: LatLng,
    external_id: str,
    at: datetime,
    params: SimParams,
    undeliverable_action: str = "return",
) -> Timeline:
    """Draw a job's whole timeline. The draws are made in one order whatever the outcome, so
    changing the failure rate changes who fails, not where couriers start. When nobody is at
    the door, the courier waits as long as a handover takes, then does as
    `undeliverable_action` says."""
    rng = job_random(params.seed, external_id)
    every = params.position_every_s
    accept_s = params.accept_delay_s * rng.uniform(0.75, 1.25)
    start = offset(pickup, rng.uniform(*COURIER_START_M), rng.uniform(0.0, 2 * math.pi))
    fails = rng.random() < params.failure_rate
    nobody_accepts = rng.random() < 0.5
    gives_up_at = rng.uniform(0.2, 0.8)
    nobody_home = rng.random() < params.undeliverable_rate

    accepted = at + timedelta(seconds=accept_s)
    to_pickup_s, to_dropoff_s = travel_s(start, pickup, params), travel_s(pickup, dropoff, params)
    arrived = accepted + timedelta(seconds=to_pickup_s)
    left = arrived + timedelta(seconds=params.pickup_dwell_s)
    there = left + timedelta(seconds=to_dropoff_s)
    delivered = there + timedelta(seconds=params.dropoff_dwell_s)
    timeline = Timeline([], pickup_eta=arrived, dropoff_eta=delivered)

    if fails and nobody_accepts:
        give_up = at + timedelta(seconds=max(3 * accept_s, NO_COURIER_GIVE_UP_S))
        timeline.steps.append(Step(give_up, C.FAILED, reason="no_courier_available"))
        return timeline
    steps = timeline.steps
    steps += [
        Step.of(accepted, C.CONFIRMED, start),
        Step.of(accepted, C.ENROUTE_TO_PICKUP, start),
    ]
    if fails:
        steps += ride(start, pickup, accepted, to_pickup_s, C.ENROUTE_TO_PICKUP, gives_up_at, every)
        where = between(start, pickup, gives_up_at)
        failed_at = accepted + timedelta(seconds=to_pickup_s * gives_up_at)
        steps.append(Step.of(failed_at, C.FAILED, where, reason="courier_failed"))
        return timeline
    steps += ride(start, pickup, accepted, to_pickup_s, C.ENROUTE_TO_PICKUP, 1.0, every)
    steps += [
        Step.of(arrived, C.ARRIVED_AT_PICKUP, pickup),
        Step.of(left, C.PICKED_UP, pickup),
        Step.of(left, C.ENROUTE_TO_DROPOFF, pickup),
    ]
    steps += ride(pickup, dropoff, left, to_dropoff_s, C.ENROUTE_TO_DROPOFF, 1.0, every)
    steps.append(Step.of(there, C.ARRIVED_AT_DROPOFF, dropoff))
    if not nobody_home:
        steps.append(Step.of(delivered, C.DELIVERED, dropoff))
        return timeline
    why = "customer_unavailable"
    if undeliverable_action == "leave_at_door":
        steps.append(Step.of(delivered, C.DELIVERED, dropoff, why, "left_at_door"))
    elif undeliverable_action == "dispose":
        steps.append(Step.of(delivered, C.FAILED, dropoff, why, "disposed"))
    else:
        back_s = travel_s(dropoff, pickup, params)
        steps.append(Step.of(delivered, C.RETURNING, dropoff, why, "returned"))
        steps += ride(dropoff, pickup, delivered, back_s, C.RETURNING, 1.0, every)
        steps.append(Step.of(delivered + timedelta(seconds=back_s), C.RETURNED, pickup, why))
    return timeline


def state_at(steps: Sequence[Step], at: datetime) -> tuple[CourierStatus, LatLng | None, int]:
    """Where the job stands at `at`: its status, the courier's last known position, and how
    many steps lie at or before `at` (steps are in time order)."""
    status, position, count = C.CREATED, None, 0
    for step in steps:
        if step.at > at:
            break
        status, position, count = step.status, step.position or position, count + 1
    return status, position, count


def replan_cancel(
    steps: Sequence[Step],
    pushed: int,
    pickup: LatLng,
    at: datetime,
    reason: str,
    params: SimParams,
) -> list[Step] | None:
    """The timeline after a cancel at `at`: what happened by then stays; before pickup the job
    ends there, with the goods on board the courier rides back to the pickup. None when the
    job had already ended by `at`."""
    status, position, count = state_at(steps, at)
    kept = list(steps[: max(pushed, count)])
    if status in TERMINAL_COURIER:
        return None
    if status not in COURIER_CARRYING:
        return [*kept, Step.of(at, C.CANCELLED, position, reason=reason)]
    where = position or pickup
    back_s = travel_s(where, pickup, params)
    returned = at + timedelta(seconds=back_s)
    return [
        *kept,
        Step.of(at, C.RETURNING, where, reason=reason),
        *ride(where, pickup, at, back_s, C.RETURNING, 1.0, params.position_every_s),
        Step.of(returned, C.RETURNED, pickup, reason=reason),
    ]
