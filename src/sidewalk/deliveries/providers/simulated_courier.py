"""A simulated courier network, standing in for a real one (DoorDash Drive, Uber Direct) in
the embedded layout, the demo and the tests. It keeps its jobs in its own table
(`courier_sim_jobs`), so a restart loses nothing, and moves them along as a function of the
injected clock: `advance(now)` pushes every update due by `now` to the sink, as a real
network's status webhooks would, at least once and in order per job.

Several processes may run it on one database. On PostgreSQL each tick locks the jobs it moves
(SKIP LOCKED), so processes share them. SQLite admits one writer, whose transaction cannot
stay open while the sink writes: there the due jobs are read, pushed, then marked, and a job
two processes push at once is pushed twice, which the sink's inbox absorbs."""

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from sidewalk.deliveries.domain import CourierStatus, price, route_distance_m
from sidewalk.deliveries.models import CourierSimJob
from sidewalk.deliveries.providers.courier import (
    CourierJob,
    CourierQuote,
    CourierRejected,
    CourierRequest,
    CourierUpdate,
    UpdateSink,
)
from sidewalk.deliveries.providers.courier_timeline import (
    COURIER_START_M,
    SimParams,
    Step,
    Timeline,
    plan_job,
    replan_cancel,
    state_at,
    travel_s,
)
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.db import RowUpdates
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.money import Money
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import UnitOfWork

log = logging.getLogger(__name__)

NAME = "simulated"
BASE_FEE_CENTS, FEE_PER_KM_CENTS = 450, 110  # what the network charges the platform
QUOTE_LIFETIME_S = 300


@dataclass(frozen=True, slots=True)
class _Due:
    """A job to push, as read: on SQLite it is pushed after the read transaction ended."""

    id: str
    external_id: str
    pushed: int
    steps: list[Step]
    proof: str


class SimulatedCourierNetwork:
    name = NAME

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        clock: Clock,
        params: SimParams,
        *,
        sink: UpdateSink,
        max_distance_m: int,
        tick_s: float = 1.0,
        batch: int = 200,
    ) -> None:
        self._uow, self._clock, self._params, self._sink = uow, clock, params, sink
        self._max_distance_m, self._tick_s, self._batch = max_distance_m, tick_s, batch

    @classmethod
    def from_settings(
        cls, settings: Settings, *, uow: Callable[[], UnitOfWork], clock: Clock, sink: UpdateSink
    ) -> Self:
        params = SimParams.from_settings(settings)
        return cls(
            uow,
            clock,
            params,
            sink=sink,
            max_distance_m=settings.courier_max_distance_m,
            tick_s=settings.courier_sim_tick_s,
        )

    # The network's API
    def quote(self, request: CourierRequest) -> CourierQuote:
        self._check(request)
        now = self._clock.now()
        pickup_eta = now + self._lead()
        if request.pickup_at is not None:
            pickup_eta = max(pickup_eta, request.pickup_at)
        ride_s = travel_s(request.pickup.point, request.dropoff.point, self._params)
        return CourierQuote(
            fee=self._fee(request),
            pickup_eta=pickup_eta,
            dropoff_eta=pickup_eta + timedelta(seconds=self._params.pickup_dwell_s + ride_s),
            expires_at=now + timedelta(seconds=QUOTE_LIFETIME_S),
        )

    def _lead(self) -> timedelta:
        """A typical courier's time from the job's start to the pickup."""
        approach_m = sum(COURIER_START_M) / 2 * self._params.detour_factor
        return timedelta(seconds=self._params.accept_delay_s + approach_m / self._params.speed_mps)

    def _plan(self, request: CourierRequest, now: datetime) -> Timeline:
        """The job's timeline; a scheduled one is offered to couriers a typical lead before its
        pickup, and moved later still if its courier would reach the pickup early (a job's
        draws are its own, so the same timeline comes, shifted)."""
        pickup, dropoff, ident = request.pickup.point, request.dropoff.point, request.external_id

        def plan(start: datetime) -> Timeline:
            return plan_job(
                pickup, dropoff, ident, start, self._params, request.undeliverable_action
            )

        if request.pickup_at is None:
            return plan(now)
        start = max(now, request.pickup_at - self._lead())
        timeline = plan(start)
        early = request.pickup_at - timeline.pickup_eta
        return plan(start + early) if early > timedelta(0) else timeline

    def create(self, request: CourierRequest) -> CourierJob:
        self._check(request)
        try:
            return self._create_once(request)
        except IntegrityError:  # a twin request created it first: answer with its job
            return self._create_once(request)

    def cancel(self, job_id: str, *, reason: str | None = None) -> CourierJob:
        with self._uow() as uow:
            job = uow.session.get(CourierSimJob, job_id, with_for_update=True)
            if job is None:
                raise CourierRejected(f"no courier job {job_id!r}", code="job_not_found")
            now = self._clock.now()
            if job.cancel_reason is None:
                pickup = LatLng(job.request["pickup"]["lat"], job.request["pickup"]["lng"])
                steps = replan_cancel(
                    _steps(job),
                    job.pushed,
                    pickup,
                    now,
                    reason or "cancelled_by_requester",
                    self._params,
                )
                if steps is not None:
                    job.plan = [s.to_json() for s in steps]
                    job.cancel_reason = reason or "cancelled_by_requester"
                    job.next_at = steps[job.pushed].at if job.pushed < len(steps) else None
                    job.updated_at = now
            answer = _job(job, now)
            uow.commit()
            return answer

    def update(self, job_id: str, request: CourierRequest) -> CourierJob:
        """The simulated network takes no changes: its couriers go by the first request."""
        return self.get(job_id)

    def get(self, job_id: str) -> CourierJob:
        with self._uow() as uow:
            job = uow.session.get(CourierSimJob, job_id)
            if job is None:
                raise CourierRejected(f"no courier job {job_id!r}", code="job_not_found")
            return _job(job, self._clock.now())

    # Time passing
    def advance(self, now: datetime) -> int:
        """Push every update due by `now`, in order per job; how many jobs were looked at. A
        sink that fails stops its job's updates until the next tick."""
        with self._uow() as uow:
            connection = uow.connection
            due_now = {"now": now, "batch": self._batch}
            if connection.dialect.name != "sqlite":
                locked = [_due(row) for row in connection.execute(_DUE_LOCKED, due_now)]
                marks = [_marked(d.id, d.pushed, d.steps, self._push(d, now), now) for d in locked]
                _SAVE_MARKS.write(connection, [m for m in marks if m is not None])
                uow.commit()
                return len(locked)
            due = [_due(row) for row in connection.execute(_DUE, due_now)]
        pushed = {d.id: self._push(d, now) for d in due}
        moved = [d.id for d in due if pushed[d.id] > d.pushed]
        if moved:
            with self._uow() as uow:
                # The plans as they are now: a cancel may have redrawn one meanwhile.
                jobs = uow.connection.execute(_PLANS, {"ids": moved})
                marks = [_marked(j.id, j.pushed, _steps(j), pushed[j.id], now) for j in jobs]
                _SAVE_MARKS.write(uow.connection, [m for m in marks if m is not None])
                uow.commit()
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Move the jobs along every `tick_s` seconds until `stop` is set (at once again while
        a full batch was due); a failed tick is logged and retried."""
        while not stop.is_set():
            try:
                looked_at = await asyncio.to_thread(self.advance, self._clock.now())
            except Exception:
                log.exception("the simulated courier network failed to move its jobs; retrying")
                looked_at = 0
            if looked_at < self._batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._tick_s)

    def _push(self, job: _Due, now: datetime) -> int:
        """Hand the job's due steps to the sink; how many of its steps are pushed now."""
        count = job.pushed
        for index in range(job.pushed, len(job.steps)):
            step = job.steps[index]
            if step.at > now:
                break
            update = CourierUpdate(
                provider=NAME,
                event_id=_event_id(job.id, index),
                job_id=job.id,
                external_id=job.external_id,
                status=step.status,
                occurred_at=step.at,
                lat=step.lat,
                lng=step.lng,
                reason=step.reason,
                proof=job.proof
                if step.status is CourierStatus.DELIVERED and step.undeliverable is None
                else None,
                undeliverable=step.undeliverable,
            )
            try:
                self._sink(update)
            except Exception:
                log.exception("courier update %s of job %s was not taken", update.event_id, job.id)
                break
            count = index + 1
        return count

    def _create_once(self, request: CourierRequest) -> CourierJob:
        """The job of the request's attempt: the one made already, or a new one, written at
        commit as a plain row (the ORM's flush costs more than the insert)."""
        with self._uow() as uow:
            now = self._clock.now()
            made = uow.connection.execute(_BY_EXTERNAL_ID, {"external_id": request.external_id})
            made_id = made.scalar()
            job = None if made_id is None else uow.session.get_one(CourierSimJob, made_id)
            if job is None:
                timeline = self._plan(request, now)
                fee = self._fee(request)
                job = CourierSimJob(
                    id=new_id("csj"),
                    external_id=request.external_id,
                    status="created",
                    request=_request_json(request),
                    plan=[s.to_json() for s in timeline.steps],
                    pushed=0,
                    next_at=timeline.steps[0].at,
                    fee_cents=fee.amount_cents,
                    currency=fee.currency,
                    pickup_eta=timeline.pickup_eta,
                    dropoff_eta=timeline.dropoff_eta,
                    cancel_reason=None,
                    created_at=now,
                    updated_at=now,
                )
                uow.inserts.add(_JOBS_TABLE, [{c.key: getattr(job, c.key) for c in _COLUMNS}])
            answer = _job(job, now)
            uow.commit()
            return answer

    def _check(self, request: CourierRequest) -> None:
        for end, place in (("pickup", request.pickup), ("dropoff", request.dropoff)):
            if not (-90 <= place.lat <= 90 and -180 <= place.lng <= 180):
                raise CourierRejected(f"the {end} lies outside the globe", code="invalid_address")
        distance = self._distance_m(request)
        if distance > self._max_distance_m:
            raise CourierRejected(
                f"a {distance} m ride is beyond the network's {self._max_distance_m} m",
                code="distance_too_long",
            )

    def _distance_m(self, request: CourierRequest) -> int:
        return route_distance_m(
            request.pickup.point, request.dropoff.point, self._params.detour_factor
        )

    def _fee(self, request: CourierRequest) -> Money:
        return price(BASE_FEE_CENTS, FEE_PER_KM_CENTS, self._distance_m(request), request.currency)


# The jobs with a step due, oldest first, as plain rows; built once, as the network's clock
# asks every tick.
_JOBS_TABLE = cast(Table, CourierSimJob.__table__)
_COLUMNS = tuple(_JOBS_TABLE.columns)
_DUE = (
    select(
        _JOBS_TABLE.c.id,
        _JOBS_TABLE.c.external_id,
        _JOBS_TABLE.c.pushed,
        _JOBS_TABLE.c.plan,
        _JOBS_TABLE.c.request,
    )
    .where(_JOBS_TABLE.c.next_at <= bindparam("now", type_=_JOBS_TABLE.c.next_at.type))
    .order_by(_JOBS_TABLE.c.next_at)
    .limit(bindparam("batch"))
)
_DUE_LOCKED = _DUE.with_for_update(skip_locked=True)
_PLANS = select(_JOBS_TABLE.c.id, _JOBS_TABLE.c.pushed, _JOBS_TABLE.c.plan).where(
    _JOBS_TABLE.c.id.in_(bindparam("ids", expanding=True))
)
_SAVE_MARKS = RowUpdates(_JOBS_TABLE, ("pushed", "status", "next_at", "updated_at"))
_BY_EXTERNAL_ID = select(_JOBS_TABLE.c.id).where(
    _JOBS_TABLE.c.external_id == bindparam("external_id")
)


def _event_id(job_id: str, index: int) -> str:
    """The same step of the same job always has the same id, however often it is pushed."""
    return "cev_" + hashlib.sha256(f"{job_id}:{index}".encode()).hexdigest()[:32]


def _steps(job: Any) -> list[Step]:
    """The steps of a job's plan (the ORM row's, or a plain row's)."""
    return [Step.from_json(s) for s in job.plan]


def _due(job: Any) -> _Due:
    # The courier asks the customer for the PIN when there is one, as DoorDash's and Uber's
    # PIN verification do; the network never learns it, and trusts its courier.
    proof = "pin" if job.request.get("dropoff_pin_required") else "none"
    return _Due(job.id, job.external_id, job.pushed, _steps(job), proof)


@dataclass(frozen=True, slots=True)
class _Marks:
    """What a push changes of a job's row."""

    id: str
    pushed: int
    status: str
    next_at: datetime | None
    updated_at: datetime


def _marked(
    job_id: str, pushed: int, steps: list[Step], count: int, now: datetime
) -> _Marks | None:
    """That the first `count` steps were pushed (None: no more than before); the next one
    sets when to look again."""
    if count <= pushed:
        return None
    next_at = steps[count].at if count < len(steps) else None
    return _Marks(job_id, count, steps[count - 1].status.value, next_at, now)


def _job(job: CourierSimJob, now: datetime) -> CourierJob:
    status, position, _ = state_at(_steps(job), now)
    return CourierJob(
        id=job.id,
        external_id=job.external_id,
        status=status,
        fee=Money(job.fee_cents, job.currency),
        pickup_eta=job.pickup_eta,
        dropoff_eta=job.dropoff_eta,
        courier_position=position,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def _request_json(request: CourierRequest) -> dict[str, Any]:
    return {
        "pickup": {
            "lat": request.pickup.lat,
            "lng": request.pickup.lng,
            "address": request.pickup.address,
        },
        "dropoff": {
            "lat": request.dropoff.lat,
            "lng": request.dropoff.lng,
            "address": request.dropoff.address,
        },
        "dropoff_contact_name": request.dropoff_contact_name,
        "dropoff_phone": request.dropoff_phone,
        "dropoff_instructions": request.dropoff_instructions,
        "order_value_cents": request.order_value_cents,
        "currency": request.currency,
        "reference": request.reference,
        "pickup_at": request.pickup_at.isoformat() if request.pickup_at else None,
        "dropoff_pin_required": request.dropoff_pin is not None,
        "undeliverable_action": request.undeliverable_action,
        "dropoff_before": request.dropoff_before.isoformat() if request.dropoff_before else None,
    }
