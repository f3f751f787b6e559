"""When will the goods be picked up and dropped off? From the fleet's real state where it is
known (the operations service tells it as `fleet.snapshot` events, kept in `fleet_snapshots`),
else from distance alone."""

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.kernel.geo import EARTH_RADIUS_M, LatLng


@dataclass(frozen=True, slots=True)
class Eta:
    pickup: datetime
    dropoff: datetime


class EtaEstimator(Protocol):
    def estimate(
        self,
        provider: AttemptProvider,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str | None = None,
    ) -> Eta: ...

    def robot_from_fleet(
        self,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str,
        unavailable: int = 0,
    ) -> Eta | None:
        """A robot's times from the fleet's known state alone, with `unavailable` of the robots
        it lists out: None when the area's state is not known (or too old) or it has no robot
        that can take work."""

    def forget(self) -> None:
        """Drop what was read of the fleet: a newer snapshot has just been stored."""


@dataclass(frozen=True)
class DistanceEta:
    """A typical lead time to reach the pickup, then the route at the provider's speed."""

    robot_speed_mps: float
    robot_pickup_lead_s: int
    courier_speed_mps: float
    courier_pickup_lead_s: int
    # Time spent at each end: loading at the pickup, handing over at the dropoff.
    robot_handling_s: float = 0.0
    courier_handling_s: float = 0.0

    def dropoff_after(
        self, provider: AttemptProvider, pickup_at: datetime, distance_m: int
    ) -> datetime:
        """When the goods are handed over, for a pickup reached at `pickup_at`."""
        robot = provider is AttemptProvider.ROBOT
        speed = self.robot_speed_mps if robot else self.courier_speed_mps
        handling = self.robot_handling_s if robot else self.courier_handling_s
        return pickup_at + timedelta(seconds=round(distance_m / speed + handling))

    def estimate(
        self,
        provider: AttemptProvider,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str | None = None,
    ) -> Eta:
        robot = provider is AttemptProvider.ROBOT
        lead = self.robot_pickup_lead_s if robot else self.courier_pickup_lead_s
        pickup_at = at + timedelta(seconds=lead)
        return Eta(pickup_at, self.dropoff_after(provider, pickup_at, distance_m))

    def robot_from_fleet(
        self,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str,
        unavailable: int = 0,
    ) -> Eta | None:
        return None  # nothing is known of the fleet

    def forget(self) -> None:
        """Nothing is read of the fleet: distance alone decides."""


@dataclass(frozen=True)
class FleetState:
    """One area's fleet as operations last told it: per robot that can take work, where it
    will be free, in how many seconds and how fast it goes; and the tasks waiting before."""

    taken_at: datetime
    robots: NDArray[np.float64]  # rows of lat, lng, free_in_s, speed_mps
    pending: int

    @classmethod
    def of(cls, taken_at: datetime, robots: list[list[float]], pending: int) -> "FleetState":
        array = np.array(robots, dtype=np.float64).reshape(-1, 4)
        return cls(taken_at, array, pending)


def fleet_pickup_lead_s(
    state: FleetState,
    pickup: LatLng,
    *,
    detour_factor: float,
    cycle_s: float,
    age_s: float = 0.0,
    unavailable: int = 0,
) -> float | None:
    """Seconds until a robot reaches `pickup`, if the waiting tasks take the robots that are
    soonest there first: the (pending + 1)-th soonest arrival; with more tasks than robots,
    a robot's later rounds each add a typical task's length. A busy robot is `age_s` nearer
    to free than the snapshot says. `unavailable` robots the snapshot may still list are out
    (one that failed since, not known by row): the soonest that many are left out, the worst
    case. None with no robot at all."""
    robots = state.robots
    if len(robots) <= unavailable:
        return None
    lat1, lng1 = np.radians(robots[:, 0]), np.radians(robots[:, 1])
    lat2, lng2 = math.radians(pickup.lat), math.radians(pickup.lng)
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * math.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    arrival = np.maximum(robots[:, 2] - age_s, 0.0) + metres * detour_factor / robots[:, 3]
    if unavailable:
        arrival = np.sort(arrival)[unavailable:]
    rounds, place = divmod(state.pending, len(arrival))
    soonest = float(np.partition(arrival, place)[place])
    return soonest + rounds * cycle_s


class FleetEta:
    """Robot ETAs from the newest fleet snapshot of the quote's area, read again at most every
    `refresh_s` (several processes may serve quotes; each reads the shared table). A snapshot
    older than `max_age_s`, an area never told of, and couriers use the distance estimate."""

    def __init__(
        self,
        fallback: DistanceEta,
        load: Callable[[], Mapping[str, FleetState]],
        *,
        detour_factor: float,
        max_age_s: float,
        refresh_s: float = 2.0,
    ) -> None:
        self._fallback, self._load = fallback, load
        self._detour, self._max_age = detour_factor, timedelta(seconds=max_age_s)
        self._refresh_s = refresh_s
        self._states: Mapping[str, FleetState] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Read the snapshots again on the next estimate (a new one has just been stored)."""
        self._loaded_at = None

    def _current(self) -> Mapping[str, FleetState]:
        now = time.monotonic()
        loaded = self._loaded_at
        if loaded is None or now - loaded >= self._refresh_s:
            with self._lock:
                if self._loaded_at is None or now - self._loaded_at >= self._refresh_s:
                    self._states = self._load()
                    self._loaded_at = now
        return self._states

    def estimate(
        self,
        provider: AttemptProvider,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str | None = None,
    ) -> Eta:
        known = None
        if provider is AttemptProvider.ROBOT and area_id is not None:
            known = self.robot_from_fleet(pickup, dropoff, distance_m, at=at, area_id=area_id)
        return known or self._fallback.estimate(provider, pickup, dropoff, distance_m, at=at)

    def robot_from_fleet(
        self,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
        area_id: str,
        unavailable: int = 0,
    ) -> Eta | None:
        state = self._current().get(area_id)
        if state is None or at - state.taken_at > self._max_age:
            return None
        lead = fleet_pickup_lead_s(
            state,
            pickup,
            detour_factor=self._detour,
            cycle_s=self._fallback.robot_pickup_lead_s,
            age_s=max(0.0, (at - state.taken_at).total_seconds()),
            unavailable=unavailable,
        )
        if lead is None:
            return None
        pickup_at = at + timedelta(seconds=round(lead))
        robot = AttemptProvider.ROBOT
        return Eta(pickup_at, self._fallback.dropoff_after(robot, pickup_at, distance_m))
