"""The composition root: the only place that builds engines, clocks and estimators. Tests, the
CLI and the ASGI apps all come through `bootstrap`; nothing is built at import time."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sidewalk import migrations
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.eta import CalibratedEta, DistanceEta, FleetEta, promise_policy
from sidewalk.deliveries.fleet import fleet_states
from sidewalk.deliveries.models import API_REQUESTS as DELIVERIES_API_REQUESTS
from sidewalk.deliveries.ordering import OrderRequest, loop_order_writer, order_writer
from sidewalk.deliveries.promise_store import margins as promise_margins
from sidewalk.deliveries.providers.courier import CourierProvider
from sidewalk.deliveries.providers.courier_updates import apply_courier_update
from sidewalk.deliveries.providers.registry import courier_provider
from sidewalk.deliveries.quote_store import PostgresQuoteWriter, sqlite_quote_writer
from sidewalk.deliveries.schemas import QuoteRead
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.webhook_messages import WebhookQueue
from sidewalk.kernel.audit import AuditLog
from sidewalk.kernel.cache import TtlCache
from sidewalk.kernel.clock import Clock, SystemClock
from sidewalk.kernel.db import make_engine
from sidewalk.kernel.flusher import Flusher
from sidewalk.kernel.geo import DEFAULT_SERVICE_AREAS_FILE, ServiceAreas
from sidewalk.kernel.group_commit import GroupCommit
from sidewalk.kernel.loop_sessions import LoopSessions
from sidewalk.kernel.rate_limit import RateLimiter
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import ReadUnitOfWork
from sidewalk.kernel.write_lock import write_lock_for
from sidewalk.operations import access
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.domain import Principal
from sidewalk.operations.models import API_REQUESTS as OPERATIONS_API_REQUESTS
from sidewalk.operations.positions import LivePositions
from sidewalk.operations.uow import Observer, OperationsUnitOfWork


@dataclass
class Platform:
    settings: Settings
    clock: Clock
    deliveries_engine: Engine
    deliveries: DeliveriesContext
    operations_engine: Engine
    operations: OperationsContext
    # What reads without writing goes through: on SQLite engines whose transactions take no
    # write lock (a deferred BEGIN on a WAL snapshot); elsewhere the engines themselves.
    deliveries_reader: Engine
    operations_reader: Engine
    # Told of what happened in operations after each commit (the events issue relays them).
    operations_observers: list[Observer] = field(default_factory=list)
    # The courier network that carries courier attempts out (`courier_provider` setting).
    couriers: CourierProvider | None = None

    def close(self) -> None:
        self.operations.positions.close()
        for engine in {
            self.deliveries_engine,
            self.operations_engine,
            self.deliveries_reader,
            self.operations_reader,
        }:
            engine.dispose()


def bootstrap(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> Platform:
    """Wire the platform for `settings`; by default bring the databases up to date first, so a
    first command on a new machine just works."""
    clock = clock or SystemClock()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.deliveries_url, pool_size=settings.db_pool_size)
    if migrate:
        migrations.upgrade("deliveries", engine)
    sessions = sessionmaker(engine, expire_on_commit=False, autobegin=False)
    write_lock = write_lock_for(engine)
    # Quotes read the fleet's snapshots on the event loop: on SQLite through a reader's
    # connection, which never waits for (or takes) the write lock.
    reader = _reader(engine, settings.deliveries_url, settings)
    areas = ServiceAreas.from_file(settings.service_areas_file or DEFAULT_SERVICE_AREAS_FILE)
    model = FleetEta(
        DistanceEta.from_settings(settings),
        lambda: fleet_states(reader),
        detour_factor=settings.detour_factor,
        max_age_s=settings.fleet_snapshot_max_age_s,
    )
    promise = promise_policy(settings)
    eta = CalibratedEta(
        model, lambda: promise_margins(reader, promise, settings.eta_calibration_legs)
    )

    tell_merchants = WebhookQueue(settings.public_base_url)

    def uow() -> DeliveriesUnitOfWork:
        return DeliveriesUnitOfWork(
            sessions, clock, tell_merchants=tell_merchants, write_lock=write_lock
        )

    deliveries = DeliveriesContext(
        settings=settings,
        clock=clock,
        areas=areas,
        eta=eta,
        uow=uow,
        principals=TtlCache(settings.api_key_cache_s),
        quote_writer=_quote_writer(engine, uow, write_lock),
        order_writer=_order_writer(engine, uow, settings, write_lock),
        rate_limit=RateLimiter(settings.rate_limit_key_rps, settings.rate_limit_key_burst),
        audit=AuditLog(
            engine,
            DELIVERIES_API_REQUESTS,
            flush_interval_s=settings.audit_flush_interval_s,
            write_lock=write_lock,
        ),
    )
    operations_engine, operations_reader, operations, observers = _operations(
        settings, clock, areas, migrate
    )
    couriers = courier_provider(
        settings, uow=uow, clock=clock, sink=lambda u: apply_courier_update(deliveries, u)
    )
    return Platform(
        settings,
        clock,
        deliveries_engine=engine,
        deliveries=deliveries,
        operations_engine=operations_engine,
        operations=operations,
        deliveries_reader=reader,
        operations_reader=operations_reader,
        operations_observers=observers,
        couriers=couriers,
    )


def _reader(engine: Engine, url: str, settings: Settings) -> Engine:
    """The engine that reads without writing: on SQLite a second one, whose transactions are
    deferred (they neither take nor wait for the write lock); elsewhere `engine` itself."""
    if engine.dialect.name != "sqlite":
        return engine
    return make_engine(url, pool_size=settings.db_pool_size, writer=False)


def _operations(
    settings: Settings, clock: Clock, areas: ServiceAreas, migrate: bool
) -> tuple[Engine, Engine, OperationsContext, list[Observer]]:
    engine = make_engine(settings.operations_url, pool_size=settings.db_pool_size)
    if migrate:
        migrations.upgrade("operations", engine)
    sessions = sessionmaker(engine, expire_on_commit=False, autobegin=False)
    write_lock = write_lock_for(engine)
    observers: list[Observer] = []

    def uow() -> OperationsUnitOfWork:
        return OperationsUnitOfWork(
            sessions, clock, settings, observers=observers, write_lock=write_lock
        )

    reader = _reader(engine, settings.operations_url, settings)
    reads = sessionmaker(reader, expire_on_commit=False, autobegin=False)

    def read() -> ReadUnitOfWork:
        return ReadUnitOfWork(reads, clock)

    positions = LivePositions(
        uow,
        clock,
        areas,
        reader=reader,
        flush_interval_s=settings.telemetry_flush_interval_s,
        max_age_s=settings.robot_view_max_age_s,
        position_event_s=settings.robot_position_event_s,
    )
    observers.append(positions.observe)
    principals: TtlCache[str, Principal] = TtlCache(settings.api_key_cache_s, 1_000_000)

    def refresh_principals() -> None:
        principals.refresh(lambda: access.every_principal(read))

    ctx = OperationsContext(
        settings=settings,
        clock=clock,
        areas=areas,
        uow=uow,
        read=read,
        positions=positions,
        principals=principals,
        principals_refresh=Flusher(
            refresh_principals,
            max(settings.api_key_cache_s / 2, 1.0),
            name="principals",
            flush_on_stop=False,
        ),
        rate_limit=RateLimiter(
            settings.rate_limit_operator_rps, settings.rate_limit_operator_burst
        ),
        audit=AuditLog(
            engine,
            OPERATIONS_API_REQUESTS,
            flush_interval_s=settings.audit_flush_interval_s,
            write_lock=write_lock,
        ),
    )
    return engine, reader, ctx, observers


def _order_writer(
    engine: Engine,
    uow: Callable[[], DeliveriesUnitOfWork],
    settings: Settings,
    write_lock: AbstractContextManager[object] | None,
) -> GroupCommit[OrderRequest]:
    """Orders are committed in batches. On SQLite one batch at a time (one write lock), of
    at most 64 orders, as a batch written on the event loop holds it for about a third of a
    millisecond an order. On PostgreSQL a batch's time is mostly its eight or so round trips
    and its commit, which wait on the loop (`LoopSessions`): sixteen batches may be on their
    way at once (with sixteen merchants ordering at once, 16 to 17 % more orders a second than
    with eight, measured side by side twice with bench/api.py)."""
    if engine.dialect.name == "postgresql":
        sessions = LoopSessions(engine, pool_size=16)

        def uow_in(session: Session) -> DeliveriesUnitOfWork:
            return uow().over(session)

        write = loop_order_writer(sessions, uow_in, settings)
        return GroupCommit(write, writers=16, close=sessions.aclose)
    return GroupCommit(order_writer(uow, settings, write_lock), max_batch=64)


def _quote_writer(
    engine: Engine,
    uow: Callable[[], DeliveriesUnitOfWork],
    write_lock: AbstractContextManager[object] | None,
) -> GroupCommit[QuoteRead]:
    """Quotes are committed in batches: on SQLite on the event loop when the write lock is
    free (`write_soon`), on PostgreSQL over an async connection of their own."""
    if engine.dialect.name == "postgresql":
        conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        postgres = PostgresQuoteWriter(conninfo)
        return GroupCommit(postgres, close=postgres.aclose)
    return GroupCommit(sqlite_quote_writer(uow, write_lock))
