"""When will the goods be picked up and dropped off? From the fleet's real state where it is
known (the operations service tells it as `fleet.snapshot` events, kept in `fleet_snapshots`),
else from distance alone."""

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.deliveries.promises import NO_MARGINS, Margins, PromisePolicy, promised
from sidewalk.kernel.cache import Refreshed
from sidewalk.kernel.geo import EARTH_RADIUS_M, LatLng
from sidewalk.kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class Eta:
    pickup: datetime
    dropoff: datetime
    # What the times add to the fleet model's estimate (`CalibratedEta`); none on their own.
    margins: Margins = NO_MARGINS


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

    def note_order(self, area_id: str, pickup: LatLng, *, at: datetime) -> None:
        """A robot order was placed in `area_id` at `at`: until the fleet tells its state
        again, the robot soonest at `pickup` is spoken for."""


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

    @classmethod
    def from_settings(cls, settings: Settings) -> "DistanceEta":
        return cls(
            robot_speed_mps=settings.robot_speed_mps,
            robot_pickup_lead_s=settings.robot_pickup_lead_s,
            courier_speed_mps=settings.courier_speed_mps,
            courier_pickup_lead_s=settings.courier_pickup_lead_s,
            robot_handling_s=settings.robot_pickup_dwell_s + settings.robot_dropoff_dwell_s,
            courier_handling_s=settings.courier_pickup_dwell_s + settings.courier_dropoff_dwell_s,
        )

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

    def note_order(self, area_id: str, pickup: LatLng, *, at: datetime) -> None:
        """Nothing is known of the robots to take."""


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
    taken: Sequence[LatLng] = (),
) -> float | None:
    """Seconds until a robot reaches `pickup`, if the waiting tasks take the robots that are
    soonest there first: the (pending + 1)-th soonest arrival; with more tasks than robots,
    a robot's later rounds each add a typical task's length. A busy robot is `age_s` nearer
    to free than the snapshot says. While robots are free now for every waiting task, only
    they count: the dispatcher sends a free robot at once rather than wait for a busy one
    that would be there sooner. Each order placed since the snapshot (`taken`, its pickup)
    has taken the robot soonest at its own pickup. `unavailable` robots the snapshot may
    still list are out (one that failed since, not known by row): the soonest that many are
    left out, the worst case. None with no robot at all."""
    robots = state.robots
    free_now = robots[:, 2] <= age_s
    if int(free_now.sum()) > state.pending + len(taken) + unavailable:
        robots = robots[free_now]
    pending = state.pending
    if taken:
        # Each order in turn takes the soonest robot left at its pickup; past the robots
        # (all but the one counted on here), it waits with the others.
        spare = max(0, len(robots) - 1 - unavailable)
        left = np.ones(len(robots), dtype=bool)
        if spare:
            at_pickups = _arrivals(robots, list(taken[:spare]), detour_factor, age_s)
            for row in at_pickups:
                left[int(np.argmin(np.where(left, row, np.inf)))] = False
        pending += len(taken) - min(spare, len(taken))
        robots = robots[left]
    if len(robots) <= unavailable:
        return None
    arrival = _arrivals(robots, [pickup], detour_factor, age_s)[0]
    if unavailable:
        arrival = np.sort(arrival)[unavailable:]
    rounds, place = divmod(pending, len(arrival))
    soonest_s = float(np.partition(arrival, place)[place])
    return soonest_s + rounds * cycle_s


def _arrivals(
    robots: NDArray[np.float64], pickups: Sequence[LatLng], detour_factor: float, age_s: float
) -> NDArray[np.float64]:
    """Each robot's seconds to each of `pickups` (a row per pickup): until it is free, then
    the way there."""
    lat1, lng1 = np.radians(robots[:, 0]), np.radians(robots[:, 1])
    lat2 = np.radians([p.lat for p in pickups])[:, None]
    lng2 = np.radians([p.lng for p in pickups])[:, None]
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    )
    metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))
    arrival: NDArray[np.float64] = (
        np.maximum(robots[:, 2] - age_s, 0.0) + metres * detour_factor / robots[:, 3]
    )
    return arrival


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
        self._states = Refreshed(self._read_states, refresh_s)
        self._lock = threading.Lock()
        # Robot orders this process placed, per area: when, and where the robot picks up.
        self._taken: dict[str, list[tuple[datetime, LatLng]]] = {}

    def forget(self) -> None:
        """Read the snapshots again on the next estimate (a new one has just been stored)."""
        self._states.forget()

    def note_order(self, area_id: str, pickup: LatLng, *, at: datetime) -> None:
        with self._lock:
            self._taken.setdefault(area_id, []).append((at, pickup))

    def _read_states(self) -> Mapping[str, FleetState]:
        """The snapshots; the orders they count are no longer noted apart."""
        states = self._load()
        with self._lock:
            for area_id, orders in self._taken.items():
                state = states.get(area_id)
                if state is not None:
                    orders[:] = [o for o in orders if o[0] > state.taken_at]
        return states

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
        state = self._states.get().get(area_id)
        if state is None or at - state.taken_at > self._max_age:
            return None
        lead = fleet_pickup_lead_s(
            state,
            pickup,
            detour_factor=self._detour,
            cycle_s=self._fallback.robot_pickup_lead_s,
            age_s=max(0.0, (at - state.taken_at).total_seconds()),
            unavailable=unavailable,
            taken=[p for t, p in self._taken.get(area_id, ()) if t > state.taken_at],
        )
        if lead is None:
            return None
        pickup_at = at + timedelta(seconds=round(lead))
        robot = AttemptProvider.ROBOT
        return Eta(pickup_at, self._fallback.dropoff_after(robot, pickup_at, distance_m))


def promise_policy(settings: Settings) -> PromisePolicy:
    """How promises are calibrated, as the settings say."""
    return PromisePolicy(
        settings.eta_promise_percentile,
        settings.eta_calibration_min_legs,
        settings.eta_prior_margin_s,
    )


class CalibratedEta:
    """Promises: another estimator's times plus the margins that recent deliveries of the same
    provider needed (`deliveries.promises`), read again with the fleet's state (`forget`) and
    at most every `refresh_s` otherwise."""

    def __init__(
        self,
        model: EtaEstimator,
        load: Callable[[], Mapping[AttemptProvider, Margins]],
        *,
        refresh_s: float = 30.0,
    ) -> None:
        self._model = model
        self._margins = Refreshed(load, refresh_s)

    def margins(self, provider: AttemptProvider) -> Margins:
        return self._margins.get().get(provider, NO_MARGINS)

    def _promise(self, provider: AttemptProvider, at: datetime, estimate: Eta) -> Eta:
        pickup, dropoff, margins = promised(
            at, estimate.pickup, estimate.dropoff, self.margins(provider)
        )
        return Eta(pickup, dropoff, margins)

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
        found = self._model.estimate(provider, pickup, dropoff, distance_m, at=at, area_id=area_id)
        return self._promise(provider, at, found)

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
        found = self._model.robot_from_fleet(
            pickup, dropoff, distance_m, at=at, area_id=area_id, unavailable=unavailable
        )
        return None if found is None else self._promise(AttemptProvider.ROBOT, at, found)

    def forget(self) -> None:
        """Read the fleet's state and the margins again on the next estimate."""
        self._model.forget()
        self._margins.forget()

    def note_order(self, area_id: str, pickup: LatLng, *, at: datetime) -> None:
        self._model.note_order(area_id, pickup, at=at)
