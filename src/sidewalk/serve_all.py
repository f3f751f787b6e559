"""`sidewalk serve all`: the embedded layout, one process running both APIs (on two ports),
the dispatcher, the events between the services and the warehouse sync's schedule."""

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import uvicorn
import uvloop

from sidewalk.app import create_deliveries_app, create_operations_app, service_events
from sidewalk.bootstrap import Platform
from sidewalk.kernel.log_format import logging_config
from sidewalk.ops_replicas import start_replicas, stop_replicas
from sidewalk.warehouse.job import sync_on_schedule


def serve_all(
    platform: Platform,
    host: str,
    port: int,
    ops_port: int,
    *,
    duration: float | None = None,
    ops_workers: int = 1,
    log_level: str = "warning",
    access_log: bool = False,
    before_close: Callable[[], None] | None = None,
) -> None:
    """Serve until Ctrl-C (or for `duration` seconds); the platform is closed afterwards,
    once `before_close` has run. With `ops_workers` above 1, that many replica processes
    serve the ops API (`ops_replicas.py`) while this one runs its jobs; the platform's clock
    must then be the system's, which the replicas keep."""
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
    # With replicas, this process still runs the ops service's jobs but listens on no port.
    replicated = ops_workers > 1
    ops_sockets: list[socket.socket] | None = [] if replicated else None
    replicas = start_replicas(
        platform.settings, host, ops_port, ops_workers if replicated else 0, log_level
    )
    if duration is not None:
        threading.Thread(target=_stop_after, args=(servers, duration), daemon=True).start()
    try:
        # uvloop, as `uvicorn.run` picks for the single services: the standard loop's sends
        # each give the interpreter lock up and wait to take it back from whichever thread
        # (a dispatch round, a flush) holds it, which under a fleet's load was most of the
        # loop's time.
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_serve(platform, servers, ops_sockets))
    finally:
        stop_replicas(replicas)
        if before_close is not None:
            before_close()
        platform.close()


async def _serve(
    platform: Platform, servers: list[uvicorn.Server], ops_sockets: list[socket.socket] | None
) -> None:
    stop_syncing = asyncio.Event()
    syncing = asyncio.create_task(sync_on_schedule(platform.settings, stop_syncing))
    try:
        async with service_events(platform, "deliveries", "operations"):
            deliveries, operations = servers
            await asyncio.gather(deliveries.serve(), operations.serve(sockets=ops_sockets))
    finally:
        stop_syncing.set()
        await syncing


def _stop_after(servers: list[uvicorn.Server], seconds: float) -> None:
    time.sleep(seconds)
    for server in servers:
        server.should_exit = True
