"""Composes the ASGI applications that `sidewalk serve` runs."""

import gc
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, nullcontext

from fastapi import APIRouter, FastAPI, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.telemetry import TelemetryConfig
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import Metric
from sqlalchemy import Engine, text
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from sidewalk import __version__, migrations
from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import gauges as deliveries_gauges
from sidewalk.deliveries.api import LEAN_ROUTES as DELIVERIES_LEAN_ROUTES
from sidewalk.deliveries.api import router as deliveries_router
from sidewalk.deliveries.api_couriers import router as couriers_router
from sidewalk.deliveries.api_tracking import router as tracking_router
from sidewalk.deliveries.api_webhooks import router as webhooks_router
from sidewalk.deliveries.api_webhooks import webhook_docs
from sidewalk.deliveries.webhook_sender import WebhookSender
from sidewalk.events_runtime import EventRuntime
from sidewalk.kernel.audit import AuditLog, RequestAudit
from sidewalk.kernel.bus import make_bus
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.http import BodySizeLimit, document_api, install_problem_handlers
from sidewalk.kernel.lean_routes import LeanFrontDoor
from sidewalk.kernel.metrics import exposition, request_observer
from sidewalk.kernel.schemas import Health
from sidewalk.kernel.settings import Settings
from sidewalk.operations import gauges as operations_gauges
from sidewalk.operations.api import LEAN_ROUTES as OPERATIONS_LEAN_ROUTES
from sidewalk.operations.api import router as operations_router
from sidewalk.operations.api_board import page_router as dashboard_page_router
from sidewalk.operations.api_board import router as board_router
from sidewalk.operations.dispatcher import DispatchLoop
from sidewalk.pages import static_files

# The services measure themselves (`/metrics`, the audit log, the access log); the framework's
# own OpenTelemetry hooks would look for a tracer and a meter on every request (about 25 µs of
# a robot's reading), for nothing.
NO_FRAMEWORK_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

DESCRIPTION = """
Quote, order, track and cancel deliveries by sidewalk robot (or by courier where no robot can go).

* **Auth**: `Authorization: Bearer <api key>`. A merchant only ever sees its own quotes and
  deliveries; any other id answers `404`, exactly as an unknown id does.
* **Errors**: RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* **Retries**: send an `Idempotency-Key` header when creating a delivery; the same key with the
  same body gets the same answer (with `Idempotent-Replayed: true`).
* **Request ids**: every answer carries an `X-Request-ID`: yours when you send one of 1-64
  characters `[A-Za-z0-9._-]`, else a new one. Quote it when you ask us about a request.
"""

OPS_DESCRIPTION = """
Run the fleet: robots and their state history, tasks and trips, operators and pilots, hubs.

* **Auth**: `Authorization: Bearer <token>`: an operator's token, whose role (pilot,
  supervisor, admin) decides what they may do, or a robot's own token, with which a robot
  reports its telemetry and trips and reads its task, for itself only.
* **Errors**: RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* **Request ids**: every answer carries an `X-Request-ID`: yours when you send one of 1-64
  characters `[A-Za-z0-9._-]`, else a new one.
"""


@asynccontextmanager
async def service_events(platform: Platform, *services: str) -> AsyncIterator[None]:
    """The events of `services` while the block runs: their outbox relays and consumers on the
    settings' bus. The deliveries service brings its courier side along when
    `couriers_in_server` says so."""
    s = platform.settings
    if "deliveries" in services and s.couriers_in_server and "couriers" not in services:
        services = (*services, "couriers")
    bus = make_bus(
        s.bus_url, stream=s.bus_stream, prefix=s.bus_subject_prefix, ack_wait=s.bus_ack_wait_s
    )
    async with bus:
        runtime = EventRuntime(platform, bus, services=services)
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()


def create_deliveries_app(
    platform: Platform, *, own_lifecycle: bool = True, events: bool = False
) -> FastAPI:
    """The deliveries service; when it owns the platform it closes it on shutdown. With
    `events`, it also relays its outbox and handles the operations service's events. With the
    `webhooks_in_server` setting, it also sends the merchants' webhooks."""
    webhooks = WebhookSender(platform.deliveries) if platform.settings.webhooks_in_server else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settle_process()
        platform.deliveries.audit.start()
        async with (
            service_events(platform, "deliveries") if events else nullcontext(),
            webhooks.running() if webhooks else nullcontext(),
        ):
            yield
        await platform.deliveries.quote_writer.aclose()
        await platform.deliveries.order_writer.aclose()
        await run_in_threadpool(platform.deliveries.audit.stop)
        if own_lifecycle:
            platform.close()

    app = FastAPI(
        telemetry=NO_FRAMEWORK_TELEMETRY,
        title="sidewalk deliveries API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The routes themselves rather than `include_router`, which matches every request
        # a second time through the included router.
        routes=[
            *_health_routes("deliveries", platform.deliveries_engine),
            *DELIVERIES_LEAN_ROUTES,
            *deliveries_router.routes,
            *webhooks_router.routes,
            *tracking_router.routes,
            *couriers_router.routes,
        ],
        webhooks=webhook_docs,
    )
    app.state.deliveries = platform.deliveries
    app.mount("/static", static_files(), name="static")
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=platform.settings.max_body_bytes)
    _audit_requests(
        app, platform, platform.deliveries.audit, "/v1/", "deliveries", DELIVERIES_LEAN_ROUTES
    )
    _add_metrics_route(app, lambda: deliveries_gauges.snapshot(platform.deliveries))
    document_api(app, bearer_prefix="/v1/", bearer_description="The merchant's API key.")

    return app


def create_operations_app(
    platform: Platform, *, own_lifecycle: bool = True, dispatch: bool = True, events: bool = False
) -> FastAPI:
    """The operations service; with `dispatch`, it also runs the dispatch loop (any number of
    replicas may: only one acts on an area at a time)."""
    loop = DispatchLoop(platform.operations) if dispatch else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        settle_process()
        platform.operations.audit.start()
        platform.operations.positions.start()
        platform.operations.principals_refresh.start()
        platform.operations.principals_refresh.wake()  # before the fleet's first requests
        if loop is not None:
            loop.start()
        async with service_events(platform, "operations") if events else nullcontext():
            yield
        if loop is not None:
            await run_in_threadpool(loop.stop)
        await run_in_threadpool(platform.operations.principals_refresh.stop)
        await run_in_threadpool(platform.operations.positions.stop)
        await run_in_threadpool(platform.operations.audit.stop)
        if own_lifecycle:
            platform.close()

    app = FastAPI(
        telemetry=NO_FRAMEWORK_TELEMETRY,
        title="sidewalk ops API",
        version=__version__,
        description=OPS_DESCRIPTION,
        lifespan=lifespan,
        routes=[
            *_health_routes("operations", platform.operations_engine),
            *OPERATIONS_LEAN_ROUTES,
            *_robot_routes_first(operations_router.routes),
            *board_router.routes,
            *dashboard_page_router.routes,
        ],
    )
    app.state.operations = platform.operations
    app.mount("/static", static_files(), name="static")
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=platform.settings.max_body_bytes)
    _audit_requests(
        app, platform, platform.operations.audit, "/ops/v1/", "operations", OPERATIONS_LEAN_ROUTES
    )
    _add_metrics_route(app, lambda: operations_gauges.snapshot(platform.operations))
    document_api(
        app,
        bearer_prefix="/ops/v1/",
        bearer_description="An operator's token (`opt_…`) or a robot's own token (`rbt_…`).",
    )
    return app


def settle_process() -> None:
    """Tune the serving process once it has started.

    What exists at start-up lives as long as the process: it is kept out of the garbage
    collector's full passes, which otherwise stall requests for tens of milliseconds.

    The threads beside the event loop (the dispatcher, the batch writers) release the
    interpreter's lock at every database call and then wait for the busy event loop to hand
    it back, by default after 5 ms: a dispatch round of a few milliseconds took seconds under
    fleet load. A 1 ms switch interval gives it back sooner, and bounds how long those threads
    hold up a request in turn.

    A request allocates hundreds of objects that die with it; at the collector's default
    threshold (700) the youngest generation is scanned every few requests, and the middle one
    every few dozen, each pass stalling every request for milliseconds. Scanning it every
    `GC_YOUNG_THRESHOLD` allocations costs a fraction of that time."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    sys.setswitchinterval(SWITCH_INTERVAL_S)


SWITCH_INTERVAL_S = 0.001
GC_YOUNG_THRESHOLD = 50_000


def _audit_requests(
    app: FastAPI,
    platform: Platform,
    audit: AuditLog,
    prefix: str,
    service: str,
    lean: Sequence[Route],
) -> None:
    """Added last, so it wraps the other middleware and records (and counts) what they refuse
    too; the lean routes' front door, outside it, records and limits its requests alike."""
    observe = request_observer(service)
    app.add_middleware(
        RequestAudit, audit=audit, clock=platform.clock, prefix=prefix, observe=observe
    )
    max_bytes = platform.settings.max_body_bytes

    def wrap(answer: ASGIApp) -> ASGIApp:
        limited = BodySizeLimit(answer, max_bytes)
        return RequestAudit(limited, audit=audit, clock=platform.clock, prefix=prefix,
                            observe=observe)  # fmt: skip

    app.add_middleware(LeanFrontDoor, routes=lean, wrap=wrap, handlers=app.exception_handlers)


def _add_metrics_route(app: FastAPI, snapshot: Callable[[], list[Metric]]) -> None:
    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        """Prometheus metrics: the process's counters and the database's state now."""
        return Response(exposition(snapshot()), media_type=CONTENT_TYPE_LATEST)


def _health_routes(service: str, engine: Engine) -> list[BaseRoute]:
    """Liveness and readiness, placed first among the routes: probes and load balancers call
    them often, and the liveness answer is made on the event loop with no thread."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health, summary="The process is up")
    async def healthz() -> Response:
        return Response(_HEALTHY, media_type="application/json")

    @router.get("/readyz", response_model=Health, summary="Ready to take traffic")
    def readyz() -> Health:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            ready = migrations.is_current(service, engine)
        except Exception as e:  # a database that is down is a 503, not a crash
            raise NotReady(str(e)) from e
        if not ready:
            raise NotReady("the database schema is not at the newest revision")
        return Health(status="ready")

    return list(router.routes)


_HEALTHY = Health(status="ok").model_dump_json()

# What robots call besides their telemetry (served lean, before every route): matched
# before the other routes.
_ROBOT_ROUTES = frozenset({"/ops/v1/trips/{trip_id}/events", "/ops/v1/robots/{serial}/task"})


def _robot_routes_first(routes: list[BaseRoute]) -> list[BaseRoute]:
    return sorted(routes, key=lambda r: getattr(r, "path", "") not in _ROBOT_ROUTES)


class NotReady(SidewalkError):
    status, code, title = 503, "not_ready", "Not ready"


def operations_app_from_environment() -> FastAPI:
    """The factory uvicorn calls in a serving process: settings from the environment."""
    return operations_app(Settings())


def operations_app(settings: Settings, *, jobs: bool = True) -> FastAPI:
    """The operations service of a serving process: with `jobs`, running those the settings
    put in the server (the dispatcher, the events), else none."""
    return create_operations_app(
        bootstrap(settings, migrate=False),
        dispatch=jobs and settings.dispatch_in_server,
        events=jobs and settings.bus_is_shared and settings.events_in_server,
    )


def deliveries_app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process: settings from the environment."""
    settings = Settings()
    return create_deliveries_app(
        bootstrap(settings, migrate=False),
        events=settings.bus_is_shared and settings.events_in_server,
    )
