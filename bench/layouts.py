"""The two ways sidewalk runs, started from scratch for a benchmark and torn down after it.

- **embedded**: `sidewalk serve all`, one process on SQLite and the in-process bus.
- **production**: PostgreSQL (a new database on the server the tests use) and NATS JetStream
  (a new stream on the local server); `serve deliveries` and `serve operations` only serve,
  and every background job is a `sidewalk worker` of its own: the events of each service, the
  dispatcher, the courier network and the webhook sender.

A layout comes ready to prepare (merchants, robots: made in-process through the service layer,
with `settings()`), then `start()` runs its processes. Every process is a `Proc` that can be
killed and started again with the same command; its output goes to `logs/<name>.log` in the
run's folder, kept across restarts."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx

from api import process_ticks
from scratch_postgres import postgres_database

NATS_URL = os.environ.get("SIDEWALK_TEST_NATS", "nats://127.0.0.1:4222")


@dataclass
class Proc:
    """One sidewalk process of a layout; `ready` is the URL that answers once it serves."""

    name: str
    args: list[str]
    env: dict[str, str]
    cwd: Path
    ready: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        logs = self.cwd / "logs"
        logs.mkdir(exist_ok=True)
        self._log = self._log or (logs / f"{self.name}.log").open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "sidewalk", *self.args],
            env=self.env,
            cwd=self.cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.starts += 1

    def wait_ready(self, timeout: float = 60) -> None:
        """Until its URL answers 200 (a worker: until it has run a moment without dying)."""
        deadline = time.monotonic() + timeout
        if self.ready is None:
            time.sleep(0.5)
        while self.ready is not None:
            try:
                if httpx.get(self.ready, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not become ready; see logs/{self.name}.log")
            time.sleep(0.1)
        if self.popen is None or self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} died while starting; see logs/{self.name}.log")

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye, as when a machine loses power."""
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(timeout=30)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Layout:
    name: str
    folder: Path
    env: dict[str, str]  # the SIDEWALK_* settings every process of it reads
    api: str
    ops: str
    procs: list[Proc] = field(default_factory=list)
    stack: ExitStack = field(default_factory=ExitStack)

    def start(self) -> None:
        """Start every process and wait until each is ready; they stop with the layout."""
        for proc in self.procs:
            self.stack.callback(proc.stop)
            proc.start()
        for proc in self.procs:
            proc.wait_ready()

    def proc(self, name: str) -> Proc:
        return next(p for p in self.procs if p.name == name)

    @contextmanager
    def platform(self) -> Iterator[Any]:
        """The layout's platform in this process, to prepare it through the service layer."""
        from sidewalk.bootstrap import bootstrap
        from sidewalk.kernel.settings import Settings

        made = bootstrap(Settings(**self.settings()))
        try:
            yield made
        finally:
            made.close()

    def settings(self) -> dict[str, str]:
        """The layout's settings as keyword arguments of `Settings`, for work done in-process
        (creating merchants, reading the databases)."""
        return {
            k.removeprefix("SIDEWALK_").lower(): v
            for k, v in self.env.items()
            if k.startswith("SIDEWALK_")
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _base_env(folder: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIDEWALK_")}
    env.update(
        SIDEWALK_VAR_DIR=str(folder),
        SIDEWALK_LOG_LEVEL="warning",
        SIDEWALK_WAREHOUSE_SYNC_INTERVAL_S="0",
        **settings,
    )
    return env


@contextmanager
def embedded(folder: Path, *, ops_workers: int = 1, **settings: str) -> Iterator[Layout]:
    api, ops = free_port(), free_port()
    env = _base_env(folder, **settings)
    layout = Layout("embedded", folder, env, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}")
    layout.procs.append(
        Proc(
            "serve-all",
            [
                "serve",
                "all",
                "--port",
                str(api),
                "--ops-port",
                str(ops),
                *(["--ops-workers", str(ops_workers)] if ops_workers > 1 else []),
            ],
            env,
            folder,
            ready=f"{layout.api}/readyz",
        )
    )
    with layout.stack:
        yield layout


# What runs beside the two servers in production: each service's events, then each job.
WORKERS = (
    ("events-deliveries", ["worker", "events", "deliveries"]),
    ("events-operations", ["worker", "events", "operations"]),
    ("dispatch", ["worker", "dispatch"]),
    ("couriers", ["worker", "couriers"]),
    ("webhooks", ["worker", "webhooks"]),
)


@contextmanager
def production(folder: Path, *, ops_workers: int = 1, **settings: str) -> Iterator[Layout]:
    """Both services in one new PostgreSQL database (their tables do not overlap), on a new
    JetStream stream; both are dropped afterwards."""
    tag = uuid.uuid4().hex[:10]
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database())
        stack.callback(lambda: asyncio.run(_delete_stream(f"BENCH_{tag}")))
        env = _base_env(
            folder,
            SIDEWALK_DELIVERIES_DATABASE_URL=url,
            SIDEWALK_OPERATIONS_DATABASE_URL=url,
            SIDEWALK_BUS_URL=NATS_URL,
            SIDEWALK_BUS_STREAM=f"BENCH_{tag}",
            SIDEWALK_BUS_SUBJECT_PREFIX=f"bench_{tag}",
            SIDEWALK_EVENTS_IN_SERVER="0",
            SIDEWALK_DISPATCH_IN_SERVER="0",
            SIDEWALK_WEBHOOKS_IN_SERVER="0",
            SIDEWALK_COURIERS_IN_SERVER="0",
            **settings,
        )
        migrated = subprocess.run(
            [sys.executable, "-m", "sidewalk", "db", "upgrade"],
            env=env,
            cwd=folder,
            capture_output=True,
            text=True,
            check=False,
        )
        if migrated.returncode != 0:
            raise RuntimeError(f"sidewalk db upgrade failed: {migrated.stderr}")
        api, ops = free_port(), free_port()
        layout = Layout(
            "production", folder, env, f"http://127.0.0.1:{api}", f"http://127.0.0.1:{ops}"
        )
        layout.procs += [
            Proc("api", ["serve", "deliveries", "--port", str(api)], env, folder,
                 ready=f"{layout.api}/readyz"),
            Proc("ops", ["serve", "operations", "--port", str(ops), "--no-dispatch",
                         "--workers", str(ops_workers)], env, folder,
                 ready=f"{layout.ops}/readyz"),
            *(Proc(name, args, env, folder) for name, args in WORKERS),
        ]  # fmt: skip
        with layout.stack:
            yield layout


async def _delete_stream(stream: str) -> None:
    import nats
    import nats.js.errors

    nc = await nats.connect(NATS_URL, connect_timeout=5)
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


def nats_reachable() -> bool:
    host, _, port = NATS_URL.removeprefix("nats://").partition(":")
    try:
        socket.create_connection((host, int(port or 4222)), 2).close()
    except OSError:
        return False
    return True


def postgres_ticks() -> dict[int, int]:
    """CPU so far of every PostgreSQL process on the machine, in clock ticks, by process."""
    found: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                found[int(entry.name)] = process_ticks(int(entry.name))
        except OSError:
            continue
    return found


def postgres_ticks_since(before: dict[int, int]) -> int:
    """PostgreSQL's CPU since `before`: of the processes alive now (one started meanwhile
    counts whole; one that ended meanwhile is lost, so this never goes below zero)."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in postgres_ticks().items())


def tree_ticks(pid: int) -> int:
    """CPU so far of a process and of its live descendants (a server's worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        found = todo.pop()
        total += process_ticks(found)
        todo += children.get(found, [])
    return total
