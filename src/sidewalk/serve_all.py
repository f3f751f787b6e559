"""`sidewalk serve all`: the embedded layout, one process running both APIs (on two ports),
the dispatcher, the events between the services and the warehouse sync's schedule."""

import asyncio
import threading
import time
from collections.abc import Callable

import uvicorn
import uvloop

from sidewalk.app import create_deliveries_app, create_operations_app, service_events
from sidewalk.bootstrap import Platform
from sidewalk.kernel.log_format import logging_config
from sidewalk.warehouse.job import sync_on_schedule


def serve_all(
    platform: Platform,
    host: str,
    port: int,
    ops_port: int,
    *,
    duration: float | None = None,
    log_level: str = "warning",
    access_log: bool = False,
    before_close: Callable[[], None] | None = None,
) -> None:
    """Serve until Ctrl-C (or for `duration` seconds); the platform is closed afterwards,
    once `before_close` has run."""
    log_config = logging_config(platform.settings.log_format, log_level)
    servers = [
        uvicorn.Server(
            uvicorn.Config(
                create_deliveries_app(platform, own_lifecycle=False),
                host=host,
                port=port,
                log_level=log_level,
                log_config=log_config,
                access_log=access_log,
            )
        ),
        uvicorn.Server(
            uvicorn.Config(
                create_operations_app(platform, own_lifecycle=False),
                host=host,
                port=ops_port,
                log_level=log_level,
                log_config=log_config,
                access_log=access_log,
            )
        ),
    ]
    if duration is not None:
        threading.Thread(target=_stop_after, args=(servers, duration), daemon=True).start()
    try:
        # uvloop, as `uvicorn.run` picks for the single services: the standard loop's sends
        # each give the interpreter lock up and wait to take it back from whichever thread
        # (a dispatch round, a flush) holds it, which under a fleet's load was most of the
        # loop's time.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(platform, servers))
    finally:
        if before_close is not None:
            before_close()
        platform.close()


async def _serve(platform: Platform, servers: list[uvicorn.Server]) -> None:
    stop_syncing = asyncio.Event()
    syncing = asyncio.create_task(sync_on_schedule(platform.settings, stop_syncing))
    try:
        async with service_events(platform, "deliveries", "operations"):
            await asyncio.gather(*(s.serve() for s in servers))
    finally:
        stop_syncing.set()
        await syncing


def _stop_after(servers: list[uvicorn.Server], seconds: float) -> None:
    time.sleep(seconds)
    for server in servers:
        server.should_exit = True
