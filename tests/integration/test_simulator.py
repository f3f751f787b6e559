"""A simulated day drives the real services; afterwards what they recorded must hold
together: robots never on two tasks at once, robot state histories that follow their
tasks, attempt chains that explain each delivery, pilots within their capacity, and KPIs
whose counts add up. The same seed gives the same figures, on SQLite and PostgreSQL."""

import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from sidewalk.deliveries.domain import AttemptProvider, AttemptStatus, DeliveryStatus
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryAttempt
from sidewalk.kernel.events import Envelope
from sidewalk.operations.domain import ROBOT_TRANSITIONS, RobotState
from sidewalk.operations.models import OUTBOX, PilotAssignment, Robot, StateHistory, Task
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.results import SimResult
from sidewalk.simulator.robots import Mode
from sidewalk.simulator.run import Databases, Simulation, finished_simulation, simulate
from tests.databases import fresh_postgres_database

pytestmark = pytest.mark.slow

# A working day with trouble made common, so every path is taken: faults, blocked paths,
# cancellations, pilots on breaks, couriers taking over.
TROUBLED_DAY = SimParams(
    hours=12,
    start_local_hour=8,
    robots=8,
    pilots=2,
    orders_per_hour=8,
    seed=11,
    fault_per_km=0.08,
    blocked_trip_rate=0.05,
    cancel_rate=0.1,
)

TASK_ENDS = ("task.completed", "task.failed", "task.cancelled", "task.unassigned")
TERMINAL_ATTEMPT = {AttemptStatus.SUCCEEDED, AttemptStatus.FAILED, AttemptStatus.CANCELLED}
IN_FLIGHT = {
    DeliveryStatus.PENDING,
    DeliveryStatus.ASSIGNED,
    DeliveryStatus.ENROUTE_TO_PICKUP,
    DeliveryStatus.AT_PICKUP,
    DeliveryStatus.ENROUTE_TO_DROPOFF,
    DeliveryStatus.AT_DROPOFF,
    DeliveryStatus.RETURNING,
}


@pytest.fixture(scope="module")
def day() -> Iterator[tuple[Simulation, SimResult]]:
    with finished_simulation(TROUBLED_DAY) as finished:
        yield finished


def ops_events(sim: Simulation) -> list[Envelope]:
    with sim.world.platform.operations.uow() as uow:
        rows = uow.session.execute(select(OUTBOX.c.envelope).order_by(OUTBOX.c.seq)).scalars()
        return [Envelope.from_json(r) for r in rows]


def test_the_day_saw_every_kind_of_trouble(day: tuple[Simulation, SimResult]) -> None:
    sim, result = day
    tally, k = sim.world.tally, result.kpis
    assert result.errors == []
    assert k.orders > 100
    assert tally.faults > 0
    assert tally.blocked > 0
    assert tally.cancel_asked > 0
    assert k.delivered > 0
    assert k.fallbacks > 0
    assert k.cancelled > 0
    assert k.by_robot > 0
    assert k.by_courier > 0


def test_no_robot_is_ever_on_two_active_tasks(day: tuple[Simulation, SimResult]) -> None:
    sim, _ = day
    active: dict[str, set[str]] = defaultdict(set)
    holder: dict[str, str] = {}
    assignments = 0
    for e in ops_events(sim):
        task, serial = e.subject.get("task_id"), e.subject.get("robot_serial")
        if e.type == "task.assigned":
            assert task is not None
            assert serial is not None
            active[serial].add(task)
            holder[task] = serial
            assignments += 1
            assert len(active[serial]) == 1, (serial, sorted(active[serial]), e.occurred_at)
        elif e.type in TASK_ENDS and task in holder:
            active[holder.pop(task)].discard(task)
    assert assignments > 0


def test_each_robot_state_history_follows_its_tasks(day: tuple[Simulation, SimResult]) -> None:
    sim, _ = day
    with sim.world.platform.operations.uow() as uow:
        s = uow.session
        history = s.scalars(select(StateHistory).order_by(StateHistory.serial, StateHistory.date))
        by_robot: dict[str, list[StateHistory]] = defaultdict(list)
        for row in history:
            by_robot[row.serial].append(row)
        robots = {r.serial: r for r in s.scalars(select(Robot))}
        tasks = {t.id: t for t in s.scalars(select(Task))}
    served: dict[str, set[str]] = defaultdict(set)  # serial → tasks it was ever given
    for e in ops_events(sim):
        if e.type == "task.assigned":
            served[e.subject["robot_serial"]].add(e.subject["task_id"])
    assert set(by_robot) == set(robots)
    for serial, rows in by_robot.items():
        assert rows[0].state is RobotState.OFFLINE  # registered
        for before, after in itertools.pairwise(rows):
            assert after.date > before.date
            assert after.previous_state == before.state, (serial, after.date)
            assert after.state in ROBOT_TRANSITIONS[before.state], (serial, after.date)
            if after.state is RobotState.ON_TASK:
                assert after.task_id in tasks
                assert after.task_id in served[serial]
        assert robots[serial].state == rows[-1].state


def test_every_delivery_is_explained_by_its_attempts(day: tuple[Simulation, SimResult]) -> None:
    sim, _ = day
    with sim.world.platform.deliveries.uow() as uow:
        s = uow.session
        deliveries = s.execute(
            select(Delivery.id, Delivery.status, Delivery.latest_attempt_id, Delivery.status_times)
        )
        chains: dict[str, list[tuple[int, str, str, str, str | None]]] = defaultdict(list)
        for delivery_id, *link in s.execute(
            select(
                DeliveryAttempt.delivery_id,
                DeliveryAttempt.sequence,
                Attempt.id,
                Attempt.provider,
                Attempt.status,
                Attempt.provider_id,
            ).join(Attempt, Attempt.id == DeliveryAttempt.attempt_id)
        ):
            chains[delivery_id].append(tuple(link))  # type: ignore[arg-type]
    with sim.world.platform.operations.uow() as uow:
        task_of_attempt = {
            attempt_id: (task_id, delivery_id)
            for task_id, attempt_id, delivery_id in uow.session.execute(
                select(Task.id, Task.attempt_id, Task.delivery_id)
            )
        }
    for delivery_id, delivery_status, latest_attempt_id, times in deliveries.all():
        chain = sorted(chains[delivery_id])
        assert [c[0] for c in chain] == list(range(1, len(chain) + 1)), delivery_id
        statuses = [AttemptStatus(c[3]) for c in chain]
        assert latest_attempt_id == chain[-1][1]
        assert all(a in TERMINAL_ATTEMPT for a in statuses[:-1]), delivery_id
        assert AttemptStatus.SUCCEEDED not in statuses[:-1], delivery_id
        last = statuses[-1]
        status = DeliveryStatus(delivery_status)
        d_id = delivery_id
        if status is DeliveryStatus.DELIVERED:
            assert last is AttemptStatus.SUCCEEDED, d_id
        elif status is DeliveryStatus.FAILED and DeliveryStatus.RETURNING.value in times:
            # Cancelled with the goods on board, which never came back: the return failed.
            assert last in {AttemptStatus.CANCELLED, AttemptStatus.FAILED}, d_id
        elif status is DeliveryStatus.FAILED:
            assert last is AttemptStatus.FAILED, d_id
        elif status is DeliveryStatus.CANCELLED:
            assert last is AttemptStatus.CANCELLED, d_id
        else:
            assert status in IN_FLIGHT | {DeliveryStatus.RETURNED}, d_id
        for _, attempt_id, provider, attempt_status, provider_id in chain:
            if AttemptProvider(provider) is AttemptProvider.ROBOT:
                task = task_of_attempt.get(attempt_id)
                assert task is not None, attempt_id
                assert task[1] == d_id, attempt_id
                if AttemptStatus(attempt_status) is not AttemptStatus.REQUESTED:
                    assert provider_id == task[0], attempt_id


def test_no_pilot_ever_supervises_beyond_capacity_or_off_duty(
    day: tuple[Simulation, SimResult],
) -> None:
    sim, result = day
    capacity = sim.world.platform.settings.pilot_capacity
    with sim.world.platform.operations.uow() as uow:
        rows = list(uow.session.scalars(select(PilotAssignment)))
    assert rows
    end = sim.world.agenda.time_at(sim.world.params.duration_s)
    by_pilot: dict[str, list[tuple[datetime, int]]] = defaultdict(list)
    for r in rows:
        by_pilot[r.pilot_id] += [(r.assigned_at, 1), (r.released_at or end, -1)]
    for pilot_id, changes in by_pilot.items():
        load = 0
        for _, step in sorted(changes):
            load += step
            assert load <= capacity, pilot_id
    at = sim.world.agenda.time_at
    on_duty = {
        p.me.id: [(at(s.start_s), at(s.end_s if s.end_s is not None else 1e9)) for s in p.available]
        for p in sim.pilots
    }
    for r in rows:
        released = r.released_at or end
        assert any(a <= r.assigned_at and released <= b for a, b in on_duty[r.pilot_id]), r.id
    assert result.kpis.pilot_peak <= capacity
    for pilot in sim.pilots:  # each stretch on duty ends before the next begins
        stretches = [(s.start_s, s.end_s) for s in pilot.available]
        for (_, end), (start, _) in itertools.pairwise(stretches):
            assert end is not None
            assert end <= start


def test_robots_and_the_platform_agree_on_their_work(day: tuple[Simulation, SimResult]) -> None:
    """What each simulated robot does at the end is what the platform says it should, and no
    report of theirs was ever refused (everything runs in order: none can come too late)."""
    sim, _ = day
    assert sim.world.tally.rejected_reports == []
    with sim.world.platform.operations.uow() as uow:
        active = dict(
            uow.session.execute(
                select(Task.robot_serial, Task.id).where(
                    Task.status.in_(["assigned", "in_progress"])
                )
            ).all()
        )
    for serial, robot in sim.robots.items():
        if serial in active:
            assert robot.task is not None, serial
            assert robot.task.id == active[serial], serial
            assert robot.mode in (Mode.DRIVING, Mode.DWELLING, Mode.WAITING_PILOT), serial
        else:
            assert robot.mode in (Mode.IDLE, Mode.CHARGING, Mode.FAULT), serial


def test_no_robot_moves_without_a_pilot(day: tuple[Simulation, SimResult]) -> None:
    sim, _ = day
    with sim.world.platform.operations.uow() as uow:
        spans: dict[str, list[tuple[datetime, datetime | None]]] = defaultdict(list)
        for task_id, assigned, released in uow.session.execute(
            select(
                PilotAssignment.task_id, PilotAssignment.assigned_at, PilotAssignment.released_at
            )
        ):
            spans[task_id].append((assigned, released))
    moves = [e for e in ops_events(sim) if e.type in ("trip.arrived", "trip.completed")]
    assert moves
    for e in moves:
        t = e.occurred_at
        supervised = any(a <= t and (r is None or t <= r) for a, r in spans[e.subject["task_id"]])
        assert supervised, (e.type, e.subject, t)


def test_the_kpis_add_up(day: tuple[Simulation, SimResult]) -> None:
    sim, result = day
    k, tally = result.kpis, sim.world.tally
    assert k.orders == tally.ordered == len(sim.orders)
    assert tally.quotes == tally.ordered + tally.refused
    assert k.orders == k.delivered + k.cancelled + k.failed + k.returned + k.in_flight
    assert k.delivered == k.by_robot + k.by_courier == len(result.delivery_minutes)
    assert k.on_time <= k.delivered
    assert sum(h.orders for h in result.hourly) == k.orders
    assert sum(h.delivered for h in result.hourly) == k.delivered
    assert sum(h.on_time for h in result.hourly) == k.on_time
    assert 0 < k.robot_utilisation < 1
    assert 0 < k.pilot_load <= 1


# A busy evening hour: short enough to run four times.
EVENING = SimParams(hours=1, robots=10, pilots=3, orders_per_hour=30, seed=5, start_local_hour=18)


@pytest.fixture(scope="module")
def evening() -> SimResult:
    return simulate(EVENING)


def test_the_same_seed_gives_the_same_figures_twice(evening: SimResult) -> None:
    again = simulate(EVENING)
    assert evening.kpis.orders > 20
    assert again.kpis == evening.kpis
    assert again.hourly == evening.hourly
    assert again.delivery_minutes == evening.delivery_minutes


@pytest.mark.postgres
def test_the_same_seed_gives_the_same_figures_on_postgresql(
    evening: SimResult, postgres_template: str
) -> None:
    with fresh_postgres_database(postgres_template) as url:
        on_postgres = simulate(EVENING, dbs=Databases(url, url))
    assert on_postgres.database == "postgresql"
    assert evening.database == "sqlite"
    assert on_postgres.kpis == evening.kpis
    assert on_postgres.hourly == evening.hourly
    assert on_postgres.delivery_minutes == evening.delivery_minutes


def test_another_seed_gives_another_day(evening: SimResult) -> None:
    assert simulate(EVENING.with_(seed=6)).kpis != evening.kpis


def test_every_robot_handover_was_opened_by_the_customers_pin(
    day: tuple[Simulation, SimResult],
) -> None:
    sim, _ = day
    with sim.world.platform.deliveries.uow() as uow:
        handovers = [
            h
            for (h,) in uow.session.execute(
                select(Delivery.handover).where(Delivery.status == DeliveryStatus.DELIVERED)
            )
        ]
    by_robot = [h for h in handovers if h["by"] == "robot"]
    assert by_robot
    assert {h["proof"] for h in by_robot} == {"pin"}
    assert all(h["lat"] is not None for h in by_robot)
