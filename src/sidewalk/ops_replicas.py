"""Processes serving the ops API for `serve all --ops-workers N`: a fleet's readings are most
of what the platform answers, and one process has one interpreter lock, which its event loop
shares with every job the embedded layout runs (the dispatcher, the events, the batch
writers). A replica is what the production layout calls a replica: the ops API with its own
readings held in memory and flushed to the database, and no job of its own; the main process
keeps the merchant API and the jobs.

The replicas listen on the one port (`SO_REUSEPORT`: the kernel spreads the connections, a
robot's connection stays with one process). What a replica changes reaches the others as it
does between replicas in production: its events through the outbox (relayed by the main
process, which polls it), its robots' positions through the database at each flush (at most
`telemetry_flush_interval_s` behind), a state changed by another process at the next flush
or once a held view is older than `robot_view_max_age_s`. On SQLite the processes take turns
at the database's write lock (in its busy handler) rather than the in-process lock."""

import asyncio
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn
import uvloop

from sidewalk.kernel.log_format import logging_config
from sidewalk.kernel.settings import Settings


def _shared_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket that other processes may bind too, each getting its share of the
    new connections."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def start_replicas(
    settings: Settings, host: str, port: int, count: int, log_level: str, *, jobs: bool = False
) -> list[BaseProcess]:
    """`count` replica processes serving the ops API on `host:port`, once they all serve;
    with `jobs`, each also runs what the settings put in the server (the dispatcher, events)."""
    spawn = multiprocessing.get_context("spawn")
    # A flag in shared memory, not an Event: setting an Event waits for its waiters to wake,
    # and a parent killed while it waited would leave the replica stuck there for good.
    ready = [spawn.RawValue("b", 0) for _ in range(count)]
    replicas: list[BaseProcess] = [
        spawn.Process(
            target=_serve_replica,
            args=(settings, host, port, log_level, os.getpid(), serving, jobs),
            name=f"ops-replica-{n}",
            daemon=True,
        )
        for n, serving in enumerate(ready, start=1)
    ]
    for replica in replicas:
        replica.start()
    deadline = time.monotonic() + STARTUP_S
    for replica, serving in zip(replicas, ready, strict=True):
        while not serving.value:
            time.sleep(0.05)
            if not replica.is_alive() or time.monotonic() > deadline:
                stop_replicas(replicas)
                raise RuntimeError(f"{replica.name} did not start serving on {host}:{port}")
    return replicas


STARTUP_S = 60.0


def stop_replicas(replicas: list[BaseProcess], timeout_s: float = 10.0) -> None:
    """Ask each replica to finish its requests and flush its readings, then wait for it."""
    for replica in replicas:
        if replica.is_alive():
            replica.terminate()  # SIGTERM: uvicorn shuts down gracefully
    deadline = time.monotonic() + timeout_s
    for replica in replicas:
        replica.join(max(0.0, deadline - time.monotonic()))
        if replica.is_alive():
            replica.kill()
            replica.join()


def serve_replicated(settings: Settings, host: str, port: int, count: int) -> None:
    """`serve operations --workers N`: N replicas, each with its own listening socket on the
    port (the kernel spreads the connections evenly; one socket shared by all gave most of a
    fleet's connections to whichever worker woke first), kept running until SIGINT or
    SIGTERM; one that dies is started again."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    level = settings.log_level
    replicas = start_replicas(settings, host, port, count, level, jobs=True)
    try:
        while not stop.wait(1.0):
            for n, replica in enumerate(replicas):
                if not replica.is_alive():
                    replicas[n] = start_replicas(settings, host, port, 1, level, jobs=True)[0]
    finally:
        stop_replicas(replicas)


def _serve_replica(
    settings: Settings,
    host: str,
    port: int,
    log_level: str,
    parent: int,
    serving: Any,
    jobs: bool,
) -> None:
    from sidewalk.app import operations_app

    threading.Thread(target=_end_with, args=(parent,), daemon=True).start()
    server = uvicorn.Server(
        uvicorn.Config(
            operations_app(settings, jobs=jobs),
            log_level=log_level,
            log_config=logging_config(settings.log_format, log_level),
            access_log=False,
        )
    )
    sock = _shared_socket(host, port)

    async def serve() -> None:
        served = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not served.done():
            await asyncio.sleep(0.05)
        serving.value = 1
        await served

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve())


def _end_with(parent: int) -> None:
    """A replica whose parent is gone (killed, say) stops too, gracefully."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
