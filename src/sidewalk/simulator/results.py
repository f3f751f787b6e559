"""What a simulation and a plan found: the figures the CLI prints and the report draws."""

from dataclasses import dataclass, field
from statistics import stdev

from sidewalk.simulator.params import SimParams


def share(part: int | float, whole: int | float) -> float:
    return part / whole if whole else 0.0


@dataclass(frozen=True)
class Kpis:
    orders: int  # deliveries ordered
    refused: int  # quotes the platform could not serve (outside every area and range)
    delivered: int
    on_time: int  # delivered by the quoted dropoff time (+ grace)
    due: int  # orders judged for on time: not cancelled, and finished or past their time
    cancelled: int
    failed: int
    returned: int
    in_flight: int  # not terminal when the simulation ended
    by_robot: int  # delivered by a robot
    by_courier: int  # delivered by a courier
    fallbacks: int  # deliveries that went to a courier after a robot attempt
    p50_delivery_min: float | None  # order to hand-over, delivered ones
    p90_delivery_min: float | None
    robot_utilisation: float  # share of robot time on a task
    pilot_load: float  # mean robots supervised per pilot on shift, ÷ capacity
    pilot_peak: int  # most robots one pilot supervised at once
    # Orders that ended undelivered other than on the merchant's word: failed, or brought
    # back for another reason (a blocked path, nobody at the door).
    unfinished: int = 0

    @property
    def delivered_pct(self) -> float:
        return share(self.delivered, self.orders)

    @property
    def on_time_pct(self) -> float:
        """On time among the orders due: a late, failed or returned order is not on time; one
        still on its way when the run ended counts only if its time had passed."""
        return share(self.on_time, self.due)

    @property
    def fallback_pct(self) -> float:
        return share(self.fallbacks, self.orders)

    @property
    def completion_pct(self) -> float:
        """Delivered among the orders that ended, but those the merchant called off."""
        return share(self.delivered, self.delivered + self.unfinished)

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "orders": self.orders,
            "refused": self.refused,
            "delivered": self.delivered,
            "delivered_pct": round(self.delivered_pct, 4),
            "on_time": self.on_time,
            "on_time_pct": round(self.on_time_pct, 4),
            "due": self.due,
            "cancelled": self.cancelled,
            "failed": self.failed,
            "returned": self.returned,
            "in_flight": self.in_flight,
            "by_robot": self.by_robot,
            "by_courier": self.by_courier,
            "fallbacks": self.fallbacks,
            "fallback_pct": round(self.fallback_pct, 4),
            "unfinished": self.unfinished,
            "completion_pct": round(self.completion_pct, 4),
            "p50_delivery_min": self.p50_delivery_min,
            "p90_delivery_min": self.p90_delivery_min,
            "robot_utilisation": round(self.robot_utilisation, 4),
            "pilot_load": round(self.pilot_load, 4),
            "pilot_peak": self.pilot_peak,
        }


@dataclass(frozen=True)
class HourRow:
    """One simulated hour (0 = the first hour of the run)."""

    hour: int
    orders: int
    delivered: int
    on_time: int
    robot_utilisation: float  # share of robot time on a task in this hour
    pilot_load: float  # mean supervised robots ÷ capacity of the pilots on shift


@dataclass(frozen=True)
class SimResult:
    city: str
    params: SimParams
    kpis: Kpis
    hourly: list[HourRow]
    delivery_minutes: list[float]  # each delivered order, order to hand-over
    wall_s: float
    database: str  # "sqlite" or "postgresql"
    errors: list[str] = field(default_factory=list)

    @property
    def speedup(self) -> float:
        """Simulated seconds per wall-clock second."""
        return self.params.duration_s / self.wall_s if self.wall_s else 0.0


@dataclass(frozen=True)
class PlanCell:
    robots: int
    pilots: int
    on_time: list[float]  # on-time share of each seed's run
    delivered: list[float]

    @property
    def mean_on_time(self) -> float:
        return sum(self.on_time) / len(self.on_time)

    @property
    def low_on_time(self) -> float:
        """Lower end of a 95 % interval of the mean on-time share (t over the seeds)."""
        n = len(self.on_time)
        if n < 2:
            return self.mean_on_time
        from scipy.stats import t  # loaded when a result is summed up, not by every command

        half = float(t.ppf(0.975, n - 1)) * stdev(self.on_time) / float(n) ** 0.5
        return float(self.mean_on_time - half)


@dataclass(frozen=True)
class PlanResult:
    city: str
    orders_per_hour: float
    hours: float
    target_on_time: float
    seeds: int
    cells: list[PlanCell]
    best: PlanCell | None  # the smallest mix whose mean meets the target
