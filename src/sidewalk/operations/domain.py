"""The rules of the operations service, free of any framework: robot, task and trip states and
their state machines, the legs of each kind of task, who may do what, a robot's battery
budget and the choice of a pilot."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sidewalk.kernel.errors import Conflict
from sidewalk.kernel.geo import LatLng, haversine_m


class RobotState(StrEnum):
    OFFLINE = "offline"
    IDLE = "idle"
    ON_TASK = "on_task"
    CHARGING = "charging"
    MAINTENANCE = "maintenance"
    FAULT = "fault"


class TaskType(StrEnum):
    DELIVERY = "delivery"
    RETURN = "return"
    CHARGE = "charge"
    REPOSITION = "reposition"


class TaskStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TripType(StrEnum):
    TO_PICKUP = "to_pickup"
    TO_DROPOFF = "to_dropoff"
    TO_MERCHANT = "to_merchant"
    TO_HUB = "to_hub"


class TripStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TripEvent(StrEnum):
    """What a robot reports about the leg it drives."""

    STARTED = "started"
    ARRIVED = "arrived"
    COMPLETED = "completed"
    FAILED = "failed"


class OperatorRole(StrEnum):
    PILOT = "pilot"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class OperatorStatus(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    BREAK = "break"


R = RobotState
T = TaskStatus
P = TripStatus

# The service moves a robot between `idle` and `on_task` (dispatch, end of task) and into
# `charging` (a charge task completed at a hub); the robot reports `offline`, `fault`,
# `charging` and `idle` itself; supervisors switch `maintenance` on and off. A robot on a task
# cannot be taken into maintenance: its task is cancelled or reassigned first.
ROBOT_TRANSITIONS: dict[RobotState, frozenset[RobotState]] = {
    R.OFFLINE: frozenset({R.IDLE, R.CHARGING, R.MAINTENANCE, R.FAULT}),
    R.IDLE: frozenset({R.ON_TASK, R.CHARGING, R.MAINTENANCE, R.OFFLINE, R.FAULT}),
    R.ON_TASK: frozenset({R.IDLE, R.CHARGING, R.OFFLINE, R.FAULT}),
    R.CHARGING: frozenset({R.IDLE, R.ON_TASK, R.MAINTENANCE, R.OFFLINE, R.FAULT}),
    R.MAINTENANCE: frozenset({R.IDLE, R.OFFLINE}),
    R.FAULT: frozenset({R.IDLE, R.MAINTENANCE, R.OFFLINE}),
}

# A task goes back to `pending` when it is taken from its robot before it starts (reassign).
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    T.PENDING: frozenset({T.ASSIGNED, T.FAILED, T.CANCELLED}),
    T.ASSIGNED: frozenset({T.PENDING, T.IN_PROGRESS, T.FAILED, T.CANCELLED}),
    T.IN_PROGRESS: frozenset({T.COMPLETED, T.FAILED, T.CANCELLED}),
    T.COMPLETED: frozenset(),
    T.FAILED: frozenset(),
    T.CANCELLED: frozenset(),
}

TRIP_TRANSITIONS: dict[TripStatus, frozenset[TripStatus]] = {
    P.PENDING: frozenset({P.IN_PROGRESS, P.FAILED, P.CANCELLED}),
    P.IN_PROGRESS: frozenset({P.ARRIVED, P.FAILED, P.CANCELLED}),
    P.ARRIVED: frozenset({P.COMPLETED, P.FAILED, P.CANCELLED}),
    P.COMPLETED: frozenset(),
    P.FAILED: frozenset(),
    P.CANCELLED: frozenset(),
}

# Operators move freely between their statuses; the table keeps "every status change goes
# through its state machine" true for them as well.
OPERATOR_TRANSITIONS: dict[OperatorStatus, frozenset[OperatorStatus]] = {
    s: frozenset(OperatorStatus) - {s} for s in OperatorStatus
}

TRIP_EVENT_STATUS: dict[TripEvent, TripStatus] = {
    TripEvent.STARTED: P.IN_PROGRESS,
    TripEvent.ARRIVED: P.ARRIVED,
    TripEvent.COMPLETED: P.COMPLETED,
    TripEvent.FAILED: P.FAILED,
}

ACTIVE_TASK = frozenset({T.ASSIGNED, T.IN_PROGRESS})
OPEN_TASK = frozenset({T.PENDING, *ACTIVE_TASK})
TERMINAL_TASK = frozenset(s for s, out in TASK_TRANSITIONS.items() if not out)
TERMINAL_TRIP = frozenset(s for s, out in TRIP_TRANSITIONS.items() if not out)

# The legs of each kind of task, in order.
TRIPS_OF: dict[TaskType, tuple[TripType, ...]] = {
    TaskType.DELIVERY: (TripType.TO_PICKUP, TripType.TO_DROPOFF),
    TaskType.RETURN: (TripType.TO_MERCHANT,),
    TaskType.CHARGE: (TripType.TO_HUB,),
    TaskType.REPOSITION: (TripType.TO_HUB,),
}


class FailureReason(StrEnum):
    """Why the service itself failed a task (a robot gives its own reason as free text)."""

    NO_ROBOT_AVAILABLE = "no_robot_available"
    NO_PILOT_AVAILABLE = "no_pilot_available"
    ROBOT_FAULT = "robot_fault"
    ROBOT_OFFLINE = "robot_offline"


# What a robot may report of itself. `on_task` belongs to the dispatcher and `maintenance` to
# supervisors; while on a task only a fault or going offline counts (and ends the task), and
# in maintenance the robot's own view changes nothing.
REPORTABLE = frozenset({RobotState.IDLE, RobotState.CHARGING, RobotState.FAULT, RobotState.OFFLINE})
ENDS_TASK = {
    RobotState.FAULT: FailureReason.ROBOT_FAULT,
    RobotState.OFFLINE: FailureReason.ROBOT_OFFLINE,
}


def reported_change(
    current: RobotState,
    reported: RobotState | None,
    fresh: bool,
    battery_pct: float,
    charged_pct: float,
) -> RobotState | None:
    """The state a robot's reading moves it to, or None when it changes nothing. An old
    reading (`fresh` false: taken before the one kept) counts only for a fault or going
    offline; a robot heard from while offline is idle unless it says otherwise; a charging
    robot that reports a full battery is idle again."""
    if not fresh and reported not in ENDS_TASK:
        reported = None
    elif reported is None and fresh and current is RobotState.CHARGING:
        reported = RobotState.IDLE if battery_pct >= charged_pct else None
    if reported is None and current is RobotState.OFFLINE:
        reported = RobotState.IDLE
    if reported is None or reported is current or current is RobotState.MAINTENANCE:
        return None
    if current is RobotState.ON_TASK and reported not in ENDS_TASK:
        return None
    return reported


# --- who may do what --------------------------------------------------------------------


class Action(StrEnum):
    ROBOTS_READ = "robots.read"
    ROBOTS_MANAGE = "robots.manage"
    TASKS_READ = "tasks.read"
    TASKS_MANAGE = "tasks.manage"
    TRIPS_REPORT = "trips.report"
    OPERATORS_READ = "operators.read"
    OPERATORS_MANAGE = "operators.manage"
    ASSIGNMENTS_READ = "assignments.read"
    HUBS_READ = "hubs.read"
    HUBS_MANAGE = "hubs.manage"
    DISPATCH_RUN = "dispatch.run"
    ALERTS_ACKNOWLEDGE = "alerts.acknowledge"
    DOORSTEP = "doorstep"


PILOT, SUPERVISOR, ADMIN = OperatorRole.PILOT, OperatorRole.SUPERVISOR, OperatorRole.ADMIN

# Pilots read only what they supervise (the routes narrow their lists and refuse the rest);
# supervisors run the fleet; admins also manage operators. Robots act only for themselves,
# with their own tokens, and are not in this table.
PERMISSIONS: Mapping[Action, frozenset[OperatorRole]] = {
    Action.ROBOTS_READ: frozenset({PILOT, SUPERVISOR, ADMIN}),
    Action.ROBOTS_MANAGE: frozenset({SUPERVISOR, ADMIN}),
    Action.TASKS_READ: frozenset({PILOT, SUPERVISOR, ADMIN}),
    Action.TASKS_MANAGE: frozenset({SUPERVISOR, ADMIN}),
    Action.TRIPS_REPORT: frozenset({SUPERVISOR, ADMIN}),
    Action.OPERATORS_READ: frozenset({SUPERVISOR, ADMIN}),
    Action.OPERATORS_MANAGE: frozenset({ADMIN}),
    Action.ASSIGNMENTS_READ: frozenset({PILOT, SUPERVISOR, ADMIN}),
    Action.HUBS_READ: frozenset({PILOT, SUPERVISOR, ADMIN}),
    Action.HUBS_MANAGE: frozenset({SUPERVISOR, ADMIN}),
    Action.DISPATCH_RUN: frozenset({SUPERVISOR, ADMIN}),
    Action.ALERTS_ACKNOWLEDGE: frozenset({PILOT, SUPERVISOR, ADMIN}),
    Action.DOORSTEP: frozenset({PILOT, SUPERVISOR, ADMIN}),
}


def may(role: OperatorRole, action: Action) -> bool:
    return role in PERMISSIONS[action]


def sees_everything(role: OperatorRole) -> bool:
    """Supervisors and admins see the whole fleet; a pilot only what they supervise."""
    return role is not PILOT


# --- robots -----------------------------------------------------------------------------

# A serial: letters, digits, '.', '_' and '-', starting with a letter or digit (it is a path
# segment of the API and a key of the state history).
SERIAL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


@dataclass(frozen=True, slots=True)
class RobotConfig:
    """How a robot moves and how far its battery takes it."""

    speed_mps: float
    battery_low_pct: float  # under this, an idle robot is sent to charge
    battery_reserve_pct: float  # what must remain on arrival back at a hub
    drain_pct_per_km: float


def battery_after(battery_pct: float, config: RobotConfig, distance_m: float) -> float:
    return battery_pct - config.drain_pct_per_km * distance_m / 1000


def needs_charge(battery_pct: float, config: RobotConfig) -> bool:
    return battery_pct < config.battery_low_pct


def nearest(where: LatLng, places: Sequence[LatLng]) -> int | None:
    """Index of the place nearest to `where`, or None when there is none."""
    if not places:
        return None
    return min(range(len(places)), key=lambda i: haversine_m(where, places[i]))


def remaining_travel_s(
    where: LatLng, stops: Sequence[LatLng], speed_mps: float, detour_factor: float
) -> float:
    """How long a robot at `where` still travels through `stops`, in order, on foot."""
    metres, here = 0.0, where
    for stop in stops:
        metres += haversine_m(here, stop)
        here = stop
    return metres * detour_factor / speed_mps


def stop_wait_s(trip: TripType, *, pickup_s: float, dropoff_s: float) -> float:
    """How long a robot stays at the end of a leg: loading at the pickup, handing over at the
    dropoff, handing the goods back at the merchant (as long as loading); none at a hub."""
    if trip in (TripType.TO_PICKUP, TripType.TO_MERCHANT):
        return pickup_s
    return dropoff_s if trip is TripType.TO_DROPOFF else 0.0


def delivery_time_s(
    pickup: LatLng,
    dropoff: LatLng,
    *,
    speed_mps: float,
    detour_factor: float,
    pickup_s: float,
    dropoff_s: float,
) -> float:
    """A delivery from the moment its robot reaches the pickup: loading, the way to the
    dropoff, handing over. A robot must be at the pickup this long before the time promised
    at the door."""
    way_s = remaining_travel_s(pickup, [dropoff], speed_mps, detour_factor)
    return pickup_s + way_s + dropoff_s


def crosses_interval(previous: datetime | None, taken: datetime, interval_s: float) -> bool:
    """Whether a reading taken at `taken` starts a new `interval_s` slot after `previous`:
    what thins a robot's frequent readings into an event every interval at most."""
    if previous is None:
        return True
    return int(taken.timestamp() // interval_s) != int(previous.timestamp() // interval_s)


def next_history_date(now: datetime, last: datetime | None) -> datetime:
    """The date of a new state-history row: now, or a microsecond after the robot's last row
    when the clock has not moved on (two changes in one instant, a clock step back), so that
    the key (serial, date) never collides and the order of the changes is kept."""
    if last is not None and now <= last:
        return last + timedelta(microseconds=1)
    return now


# --- pilots -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PilotLoad:
    pilot_id: str
    active: int  # robots they supervise now


def choose_pilot(loads: Sequence[PilotLoad], capacity: int) -> str | None:
    """The least-loaded pilot with room for one more robot (ties: the earliest id, so the
    choice is reproducible), or None when every pilot is full."""
    free = [p for p in loads if p.active < capacity]
    if not free:
        return None
    return min(free, key=lambda p: (p.active, p.pilot_id)).pilot_id


def robot_busy(state: RobotState) -> Conflict:
    return Conflict(
        f"The robot is {state.value}; it takes no new task now", code="robot_unavailable"
    )


# --- who calls ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OperatorPrincipal:
    id: str
    role: OperatorRole


@dataclass(frozen=True, slots=True)
class RobotPrincipal:
    serial: str


Principal = OperatorPrincipal | RobotPrincipal
