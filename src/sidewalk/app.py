"""Composes the ASGI applications that `sidewalk serve` runs."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import text

from sidewalk import __version__, migrations
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.api import router as deliveries_router
from sidewalk.deliveries.schemas import Health
from sidewalk.kernel.errors import SidewalkError
from sidewalk.kernel.http import BodySizeLimit, document_api, install_problem_handlers

DESCRIPTION = """
Quote, order, track and cancel deliveries by sidewalk robot (or by courier where no robot can go).

* **Auth**: `Authorization: Bearer <api key>`. A merchant only ever sees its own quotes and
  deliveries; any other id answers `404`, exactly as an unknown id does.
* **Errors**: RFC 9457 problem details (`application/problem+json`) with a stable `code`.
* **Retries**: send an `Idempotency-Key` header when creating a delivery; the same key with the
  same body gets the same answer (with `Idempotent-Replayed: true`).
"""


def create_deliveries_app(platform: Platform, *, own_lifecycle: bool = True) -> FastAPI:
    """The deliveries service; when it owns the platform it closes it on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What exists at start-up lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise stall requests for tens of milliseconds.
        gc.freeze()
        yield
        await platform.deliveries.quote_writer.aclose()
        if own_lifecycle:
            platform.close()

    app = FastAPI(
        title="sidewalk deliveries API",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        # The routes themselves rather than `include_router`, which matches every request
        # a second time through the included router.
        routes=list(deliveries_router.routes),
    )
    app.state.deliveries = platform.deliveries
    install_problem_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=platform.settings.max_body_bytes)
    document_api(app, bearer_prefix="/v1/", bearer_description="The merchant's API key.")

    @app.get("/healthz", response_model=Health, tags=["health"], summary="The process is up")
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], summary="Ready to take traffic")
    def readyz() -> Health:
        engine = platform.deliveries_engine
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            ready = migrations.is_current("deliveries", engine)
        except Exception as e:  # a database that is down is a 503, not a crash
            raise NotReady(str(e)) from e
        if not ready:
            raise NotReady("the database schema is not at the newest revision")
        return Health(status="ready")

    return app


class NotReady(SidewalkError):
    status, code, title = 503, "not_ready", "Not ready"


def deliveries_app_from_environment() -> FastAPI:
    """The factory uvicorn calls in each worker process: settings from the environment."""
    from sidewalk.bootstrap import bootstrap
    from sidewalk.kernel.settings import Settings

    return create_deliveries_app(bootstrap(Settings(), migrate=False))
