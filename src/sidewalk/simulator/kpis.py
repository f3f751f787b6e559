"""The figures of a finished simulation, read from the services' own records: deliveries and
their attempts from the deliveries database, robot states and pilot assignments from the
operations database. The simulator's own tally is only used to check them."""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from sidewalk.deliveries.domain import (
    TERMINAL_DELIVERY,
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
)
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryAttempt, Quote
from sidewalk.operations.domain import RobotState
from sidewalk.operations.models import PilotAssignment, StateHistory
from sidewalk.simulator.results import HourRow, Kpis, SimResult

if TYPE_CHECKING:
    from sidewalk.simulator.run import Simulation


@dataclass(frozen=True)
class DeliveryFacts:
    id: str
    status: DeliveryStatus
    created_at: datetime
    delivered_at: datetime | None
    promised: datetime
    cancelled_by_merchant: bool  # asked for, whether or not it came in time
    providers: list[tuple[AttemptProvider, AttemptStatus]]  # in attempt order


def delivery_facts(sim: "Simulation") -> list[DeliveryFacts]:
    ctx = sim.world.platform.deliveries
    with ctx.uow() as uow:
        s = uow.session
        rows = s.execute(
            select(
                Delivery.id,
                Delivery.status,
                Delivery.created_at,
                Delivery.status_times,
                Quote.dropoff_eta,
                Delivery.cancel_reason,
            )
            .join(Quote, Quote.id == Delivery.quote_id)
            .order_by(Delivery.created_at, Delivery.id)
        ).all()
        chains: dict[str, list[tuple[AttemptProvider, AttemptStatus]]] = {}
        for delivery_id, provider, status in s.execute(
            select(DeliveryAttempt.delivery_id, Attempt.provider, Attempt.status)
            .join(Attempt, Attempt.id == DeliveryAttempt.attempt_id)
            .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.sequence)
        ):
            chains.setdefault(delivery_id, []).append(
                (AttemptProvider(provider), AttemptStatus(status))
            )
    facts = []
    for delivery_id, status, created_at, times, promised, cancel_reason in rows:
        stamp = (times or {}).get(DeliveryStatus.DELIVERED.value)
        delivered_at = datetime.fromisoformat(stamp) if stamp else None
        facts.append(
            DeliveryFacts(
                delivery_id,
                DeliveryStatus(status),
                created_at,
                delivered_at,
                promised,
                cancel_reason is not None,
                chains.get(delivery_id, []),
            )
        )
    return facts


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return round(ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo), 2)


def _busy_intervals(sim: "Simulation", end: datetime) -> list[tuple[datetime, datetime]]:
    """Each stretch of time a robot spent on a task."""
    ctx = sim.world.platform.operations
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(StateHistory.serial, StateHistory.date, StateHistory.state).order_by(
                StateHistory.serial, StateHistory.date
            )
        ).all()
    spans: list[tuple[datetime, datetime]] = []
    since: dict[str, datetime] = {}
    for serial, date, state in rows:
        if serial in since:
            spans.append((since.pop(serial), date))
        if RobotState(state) is RobotState.ON_TASK:
            since[serial] = date
    spans.extend((began, end) for began in since.values())
    return spans


def _supervision(sim: "Simulation", end: datetime) -> list[tuple[datetime, datetime, str]]:
    ctx = sim.world.platform.operations
    with ctx.uow() as uow:
        rows = uow.session.execute(
            select(
                PilotAssignment.assigned_at, PilotAssignment.released_at, PilotAssignment.pilot_id
            )
        ).all()
    return [(a, r or end, p) for a, r, p in rows]


def _overlap(spans: Iterable[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> float:
    return sum(max(0.0, (min(b, hi) - max(a, lo)).total_seconds()) for a, b in spans)


def _peak_load(supervision: list[tuple[datetime, datetime, str]]) -> int:
    peak = 0
    by_pilot: dict[str, list[tuple[datetime, int]]] = {}
    for a, b, pilot in supervision:
        by_pilot.setdefault(pilot, []).extend([(a, 1), (b, -1)])
    for changes in by_pilot.values():
        load = 0
        for _, step in sorted(changes, key=lambda c: (c[0], c[1])):
            load += step
            peak = max(peak, load)
    return peak


def _hourly(
    sim: "Simulation",
    start: datetime,
    end: datetime,
    facts: list[DeliveryFacts],
    delivered: list[DeliveryFacts],
    on_time: list[DeliveryFacts],
    busy: list[tuple[datetime, datetime]],
    pilot_load: Callable[[datetime, datetime], float],
) -> list[HourRow]:
    """Each simulated hour's figures; what happened at the very end counts in the last hour,
    so that the hours add up to the totals."""
    hours = max(1, math.ceil((end - start).total_seconds() / 3600))

    def hour_of(at: datetime) -> int:
        return min(int((at - start).total_seconds() // 3600), hours - 1)

    def per_hour(times: list[datetime]) -> list[int]:
        counts = [0] * hours
        for at in times:
            counts[hour_of(at)] += 1
        return counts

    ordered = per_hour([f.created_at for f in facts])
    handed = per_hour([f.delivered_at for f in delivered if f.delivered_at is not None])
    in_time = per_hour([f.delivered_at for f in on_time if f.delivered_at is not None])
    rows = []
    for h in range(hours):
        lo, hi = start + timedelta(hours=h), min(end, start + timedelta(hours=h + 1))
        robot_s = len(sim.robots) * (hi - lo).total_seconds()
        rows.append(
            HourRow(
                hour=h,
                orders=ordered[h],
                delivered=handed[h],
                on_time=in_time[h],
                robot_utilisation=round(_overlap(busy, lo, hi) / robot_s, 4) if robot_s else 0.0,
                pilot_load=round(pilot_load(lo, hi), 4),
            )
        )
    return rows


def measure(sim: "Simulation", wall_s: float) -> SimResult:
    w = sim.world
    p = w.params
    start = w.agenda.time_at(0.0)
    end = w.agenda.time_at(p.duration_s)
    grace = timedelta(seconds=p.on_time_grace_s)
    facts = delivery_facts(sim)
    delivered = [f for f in facts if f.status is DeliveryStatus.DELIVERED]
    on_time = [
        f for f in delivered if f.delivered_at is not None and f.delivered_at <= f.promised + grace
    ]
    # Orders the merchant called off are not due, unless handed over all the same (the
    # cancel came too late): goods brought back on the merchant's word are not late.
    due = [
        f
        for f in facts
        if f.status is not DeliveryStatus.CANCELLED
        and (f.status is DeliveryStatus.DELIVERED or not f.cancelled_by_merchant)
        and (f.status in TERMINAL_DELIVERY or f.promised + grace <= end)
    ]
    minutes = [
        round((f.delivered_at - f.created_at).total_seconds() / 60, 3)
        for f in delivered
        if f.delivered_at is not None
    ]
    last_provider = [f.providers[-1][0] if f.providers else None for f in delivered]
    fallbacks = sum(
        1
        for f in facts
        if f.providers
        and f.providers[0][0] is AttemptProvider.ROBOT
        and any(pr is AttemptProvider.COURIER for pr, _ in f.providers[1:])
    )
    busy = _busy_intervals(sim, end)
    supervision = _supervision(sim, end)
    capacity = w.platform.settings.pilot_capacity
    shifts = [
        (
            w.agenda.time_at(s.start_s),
            w.agenda.time_at(s.end_s if s.end_s is not None else p.duration_s),
        )
        for pilot in sim.pilots
        for s in pilot.available
    ]
    robot_s = len(sim.robots) * p.duration_s

    def pilot_load(lo: datetime, hi: datetime) -> float:
        on_shift = _overlap(shifts, lo, hi)
        supervised = _overlap([(a, b) for a, b, _ in supervision], lo, hi)
        return supervised / (on_shift * capacity) if on_shift else 0.0

    kpis = Kpis(
        orders=len(facts),
        refused=w.tally.refused,
        delivered=len(delivered),
        on_time=len(on_time),
        due=len(due),
        cancelled=sum(f.status is DeliveryStatus.CANCELLED for f in facts),
        failed=sum(f.status is DeliveryStatus.FAILED for f in facts),
        returned=sum(f.status is DeliveryStatus.RETURNED for f in facts),
        in_flight=sum(f.status not in TERMINAL_DELIVERY for f in facts),
        by_robot=sum(pr is AttemptProvider.ROBOT for pr in last_provider),
        by_courier=sum(pr is AttemptProvider.COURIER for pr in last_provider),
        fallbacks=fallbacks,
        p50_delivery_min=_percentile(minutes, 0.5),
        p90_delivery_min=_percentile(minutes, 0.9),
        robot_utilisation=round(_overlap(busy, start, end) / robot_s, 4) if robot_s else 0.0,
        pilot_load=round(pilot_load(start, end), 4),
        pilot_peak=_peak_load(supervision),
        unfinished=sum(
            f.status is DeliveryStatus.FAILED
            or (f.status is DeliveryStatus.RETURNED and not f.cancelled_by_merchant)
            for f in facts
        ),
    )
    hourly = _hourly(sim, start, end, facts, delivered, on_time, busy, pilot_load)
    return SimResult(
        city=w.city.name,
        params=p,
        kpis=kpis,
        hourly=hourly,
        delivery_minutes=minutes,
        wall_s=round(wall_s, 3),
        database=w.platform.deliveries_engine.dialect.name,
        errors=list(sim.pump.errors),
    )
