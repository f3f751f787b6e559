"""When will the goods be picked up and dropped off? Behind one interface, so the estimate
from distance alone gives way to the fleet-aware estimate of the operations service."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sidewalk.deliveries.domain import AttemptProvider
from sidewalk.kernel.geo import LatLng


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
    ) -> Eta: ...


@dataclass(frozen=True)
class DistanceEta:
    """A typical lead time to reach the pickup, then the route at the provider's speed."""

    robot_speed_mps: float
    robot_pickup_lead_s: int
    courier_speed_mps: float
    courier_pickup_lead_s: int

    def estimate(
        self,
        provider: AttemptProvider,
        pickup: LatLng,
        dropoff: LatLng,
        distance_m: int,
        *,
        at: datetime,
    ) -> Eta:
        if provider is AttemptProvider.ROBOT:
            lead, speed = self.robot_pickup_lead_s, self.robot_speed_mps
        else:
            lead, speed = self.courier_pickup_lead_s, self.courier_speed_mps
        pickup_at = at + timedelta(seconds=lead)
        return Eta(pickup_at, pickup_at + timedelta(seconds=round(distance_m / speed)))
