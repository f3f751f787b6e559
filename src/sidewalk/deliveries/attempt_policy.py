"""Who tries next when an attempt fails before the goods are picked up. A robot that failed on
its own account (a fault, going offline, a trip it could not finish) is followed by another
robot if one can still make the delivery's window; a robot the fleet never had (no robot or
no pilot free in time), a task a supervisor cancelled and any robot that cannot make it, by a
courier if the merchant takes couriers; a courier whose job failed on the way, by another
courier (a network that refuses the job outright is not asked again). A merchant caps the
attempts of a delivery (robots' and couriers' together); past the cap, or with no way left,
the delivery fails. After pickup nobody else can take over: the goods are on board."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sidewalk.deliveries.domain import AttemptProvider

# The network of the platform's own robots, as an attempt records who carried it.
ROBOT_NETWORK = "sidewalk"

# Why a robot attempt ended that no other robot would change: the fleet had no robot or no
# pilot free in time, or a supervisor took the task off the robots.
CANCELLED_BY_OPERATIONS = "cancelled_by_operations"
NOT_FOR_ANOTHER_ROBOT = frozenset(
    {"no_robot_available", "no_pilot_available", CANCELLED_BY_OPERATIONS}
)
MAX_ATTEMPTS_ALLOWED = 10


@dataclass(frozen=True, slots=True)
class AttemptPolicy:
    """A merchant's terms for trying again."""

    max_attempts: int
    courier_fallback: bool


def network_of(provider: AttemptProvider, courier_network: str) -> str:
    """Who carries an attempt of `provider`: the platform's robots, or the deployment's courier
    network (the `courier_provider` setting)."""
    return ROBOT_NETWORK if provider is AttemptProvider.ROBOT else courier_network


def robot_in_time(
    robot_dropoff: datetime | None,
    *,
    dropoff_before: datetime | None,
    promised_dropoff: datetime,
    grace_s: float,
) -> bool:
    """Whether a robot sent now would hand the goods over by the end of the merchant's window,
    or, with no window, within `grace_s` of the time promised at the quote. None: no robot's
    time is known (none is free in the area), so not."""
    if robot_dropoff is None:
        return False
    deadline = dropoff_before or promised_dropoff + timedelta(seconds=grace_s)
    return robot_dropoff <= deadline


def next_provider(
    policy: AttemptPolicy,
    *,
    attempts: int,
    ended: AttemptProvider,
    reason: str,
    robot_can_make_it: bool,
) -> AttemptProvider | None:
    """The provider of the next attempt after one by `ended` failed for `reason` before pickup,
    with `attempts` made so far; None when the delivery has no way left."""
    if attempts >= policy.max_attempts:
        return None
    if ended is AttemptProvider.ROBOT and reason not in NOT_FOR_ANOTHER_ROBOT and robot_can_make_it:
        return AttemptProvider.ROBOT
    return AttemptProvider.COURIER if policy.courier_fallback else None
