"""What a simulation is asked to do: the fleet, the demand and how the world misbehaves."""

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Self


@dataclass(frozen=True)
class SimParams:
    hours: float = 24.0
    robots: int = 30
    pilots: int = 6
    # Pilots on duty in each local hour (24 numbers), a shift plan, in place of `pilots` per
    # shift of the city; such a plan's pilots take no breaks (the plan covers them).
    pilots_by_hour: tuple[int, ...] | None = None
    # Mean orders per hour over the simulated day: the city's demand curve shapes them.
    orders_per_hour: float = 60.0
    seed: int = 0
    # The simulated day and the local hour the run starts at (the city's demand curve and
    # pilot shifts are in local time).
    day: date = date(2026, 6, 1)
    start_local_hour: float = 0.0

    # Robots on the sidewalk.
    robot_speed_mps: float = 1.6
    detour_factor: float = 1.3
    telemetry_interval_s: float = 300.0
    idle_heartbeat_s: float = 600.0
    pickup_dwell_s: float = 90.0
    dropoff_dwell_s: float = 120.0
    return_dwell_s: float = 60.0
    charge_pct_per_min: float = 1.0
    # Random trouble: faults per km driven, a share of trips that meet a blocked path.
    fault_per_km: float = 0.01
    repair_s: float = 2700.0
    blocked_trip_rate: float = 0.01
    # Merchants: a share of orders cancelled, some minutes after ordering.
    cancel_rate: float = 0.02
    cancel_after_s: tuple[float, float] = (60.0, 1200.0)
    # Pilots take a break of `break_s` every `break_every_s` on shift.
    break_every_s: float = 7200.0
    break_s: float = 900.0
    # A delivery is on time when it is handed over by the quoted dropoff time plus this.
    on_time_grace_s: float = 300.0

    # How the platform runs under the simulation.
    dispatch_interval_s: float = 10.0
    courier_tick_s: float = 30.0
    courier_position_every_s: float = 300.0
    fleet_snapshot_interval_s: float = 120.0

    def start_utc(self, utc_offset_h: float) -> datetime:
        midnight = datetime(self.day.year, self.day.month, self.day.day, tzinfo=UTC)
        return midnight + timedelta(hours=self.start_local_hour - utc_offset_h)

    @property
    def duration_s(self) -> float:
        return self.hours * 3600.0

    def with_(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]
