"""A live fleet on this machine: N robots report their telemetry over HTTP at a rate each,
with their own tokens, and drive the trips the dispatcher gives them; merchants order at a
steady rate; the dispatcher runs; an open dashboard polls the board. Against the embedded
layout (`sidewalk serve all`: SQLite, the in-process bus) and the production layout
(PostgreSQL and NATS JetStream, each service and job its own process), from bench/layouts.py.

The load: the robots' telemetry comes from wrk (one connection per robot, each paced by the
Lua script's `delay()` to the rate asked, the phases spread at random), the rest from this
process with asyncio and httpx: merchants quote and order (Poisson arrivals), the robots
given a task read it with their own token and report every step of its trips (each leg
takes `--leg-s`; the PIN of the order opens the compartment at the door), a dashboard reads
`/ops/v1/board` every 2 s, and `/metrics` of both services is read every second (outbox lag,
open tasks, dispatch rounds). Before the load, the robots are registered and reported in
through the service layer; a warm-up of `--warmup` seconds is not reported.

It reports telemetry accepted per second and its p50/p99 (wrk's own), order creation p50/p99,
the dispatch rounds (the slowest, from the server's histogram or, where the dispatcher is a
worker, from its log, which names every round over 1 s), the outbox lag (p99 of the samples
of the oldest unpublished event's age), errors, the CPU of each process and of the load
generators, and whether the run kept up: telemetry at ≥ 95 % of the rate asked, and neither
the outbox lag nor the pending tasks growing from the first third of the run to the last.
Before each run, the same connections at the same rate against the bare endpoint
(bench/bare_app.py) show what the web stack itself holds on this machine. `--ops-workers`
runs the ops API in that many processes (`serve all --ops-workers`, `serve operations
--workers`); a list (`1,2`) runs each, side by side in one table.

Prints Rich tables and rewrites the section `## Fleet (bench/fleet.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/fleet.py [--robots 2000] [--hz 1]
[--orders-per-s 5] [--duration 300] [--layouts embedded,production] [--output FILE]
[--ops-workers 1,2] [--quick]`; `--quick` (200 robots, 20 s, embedded) writes nothing
unless `--output` is given. `--sizes 500,1000,2000` runs each fleet size in turn (the
largest that holds the goals is named)."""

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from api import DONE_LUA, PING_BODY, bare_server, process_ticks, static_post_script
from layouts import (
    Layout,
    embedded,
    nats_reachable,
    postgres_ticks,
    postgres_ticks_since,
    production,
    tree_ticks,
)
from scratch_postgres import postgres_reachable
from sections import code_version, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Fleet (bench/fleet.py)"
GOALS = {"telemetry_p99_ms": 100, "order_p99_ms": 200, "round_s": 1.0, "lag_p99_s": 1.0}
LAYOUTS = {"embedded": embedded, "production": production}
SETTINGS = {  # what the run changes from the defaults, and why
    "SIDEWALK_RATE_LIMIT_KEY_RPS": "0",  # the load is the merchants', not the limiter's
    "SIDEWALK_RATE_LIMIT_OPERATOR_RPS": "0",
}
console = Console(stderr=True)
if not console.is_terminal:
    console.width = 170

BARE_S = 20  # seconds of the bare endpoint's run, after a warm-up of 5
WRK_THREADS = 2  # one thread's timer lists cost it half a core at 2,000 connections
# Each connection sends the next reading of its thread's robots, then waits a period spread
# at random around the rate asked (so that the connections do not report in step), and so
# on: N connections at 1/period each, each robot's readings at its rate. The bare endpoint
# takes the same load with a body of its own.
DELAY_LUA = """
function delay()
  return math.random(math.floor({period_ms} / 2), math.floor({period_ms} * 3 / 2))
end
"""
TELEMETRY_LUA = """
local robots_file, threads = {robots_file}, {threads}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local serials, tokens, lats, lngs, count, sent = {{}}, {{}}, {{}}, {{}}, 0, 0
local dealt = 0
function setup(thread)
  thread:set("index", dealt)
  dealt = dealt + 1
end
function init(args)
  math.randomseed(os.time() + index)
  local line_no = 0
  for line in io.lines(robots_file) do
    if line_no % threads == index then  -- each thread reports for its own share of the robots
      local serial, token, lat, lng = line:match("([^ ]+) ([^ ]+) ([^ ]+) ([^ ]+)")
      count = count + 1
      serials[count], tokens[count] = serial, "Bearer " .. token
      lats[count], lngs[count] = tonumber(lat), tonumber(lng)
    end
    line_no = line_no + 1
  end
end
function request()
  sent = sent + 1
  local i = (sent - 1) % count + 1
  wrk.headers["Authorization"] = tokens[i]
  local wiggle = math.random() * 0.0002 - 0.0001
  local body = string.format('{{"lat": %.6f, "lng": %.6f, "battery_pct": %.1f}}',
    lats[i] + wiggle, lngs[i] - wiggle, 90 - (sent % 100) * 0.01)
  return wrk.format(nil, "/ops/v1/robots/" .. serials[i] .. "/telemetry", nil, body)
end
"""


# --- preparing the fleet --------------------------------------------------------------------


@dataclass(frozen=True)
class Robot:
    serial: str
    token: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Prepared:
    robots: list[Robot]
    merchant_keys: list[str]
    supervisor: str


def _places(count: int, seed: int) -> list[tuple[float, float]]:
    """Points spread over the default service area."""
    from sidewalk.kernel.geo import DEFAULT_SERVICE_AREAS_FILE, LatLng, ServiceAreas

    areas = ServiceAreas.from_file(DEFAULT_SERVICE_AREAS_FILE)
    lng0, lat0, lng1, lat1 = next(iter(areas)).polygon.bounds
    rng, found = random.Random(seed), []
    while len(found) < count:
        lat, lng = rng.uniform(lat0, lat1), rng.uniform(lng0, lng1)
        if areas.containing(LatLng(lat, lng)) is not None:
            found.append((round(lat, 6), round(lng, 6)))
    return found


def prepare(layout: Layout, robots: int, pilots: int) -> Prepared:
    """Merchants, a supervisor, available pilots and `robots` robots reported in, all made
    through the service layer before the servers start."""
    from sidewalk.deliveries import merchants
    from sidewalk.operations import operators
    from sidewalk.operations import robots as robot_registry
    from sidewalk.operations.domain import OperatorPrincipal, OperatorRole, OperatorStatus

    made: list[Robot] = []
    with layout.platform() as platform:
        ops = platform.operations
        keys = [
            merchants.create_merchant(platform.deliveries, f"Fleet {i}").api_key for i in range(5)
        ]
        boss = operators.create_operator(ops, "boss@example.com", OperatorRole.SUPERVISOR)
        for i in range(pilots):
            pilot = operators.create_operator(ops, f"pilot{i}@example.com", OperatorRole.PILOT)
            me = OperatorPrincipal(pilot.operator.id, OperatorRole.PILOT)
            operators.set_status(ops, me, pilot.operator.id, OperatorStatus.AVAILABLE)
        for i, (lat, lng) in enumerate(_places(robots, seed=7)):
            serial = f"FL-{i:05d}"
            spec = robot_registry.RobotSpec(serial, serial)
            token = robot_registry.register_robot(ops, spec).token
            robot_registry.report_telemetry(ops, serial, robot_registry.Telemetry(lat, lng, 90))
            made.append(Robot(serial, token, lat, lng))
        ops.positions.flush()
    return Prepared(made, keys, boss.token)


# --- the load from this process -------------------------------------------------------------


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)

    def took(self, what: str, seconds: float) -> None:
        self.latencies.setdefault(what, []).append(seconds)


@dataclass
class Samples:
    lag_s: list[tuple[float, float]] = field(default_factory=list)  # (t, oldest event age)
    pending: list[tuple[float, float]] = field(default_factory=list)  # (t, pending tasks)
    # histogram bucket → count: at the first reading of the run, and at the last. The
    # histogram counts from the server's start (the rounds of the preparing and the warm-up
    # too); the run's own rounds are the difference.
    rounds_first: dict[float, float] = field(default_factory=dict)
    rounds: dict[float, float] = field(default_factory=dict)


class Driver:
    """Merchants, robots on their trips, a dashboard and a metrics reader, until `until`."""

    def __init__(self, layout: Layout, prepared: Prepared, opts: "Options") -> None:
        self.layout, self.prepared, self.opts = layout, prepared, opts
        self.tally, self.samples = Tally(), Samples()
        self.pins: dict[str, str] = {}
        self.tokens = {r.serial: r.token for r in prepared.robots}
        self.seen_tasks: set[str] = set()
        self.places = _places(400, seed=11)
        self.rng = random.Random(3)
        self.driving: set[asyncio.Task[None]] = set()

    async def run(self, seconds: float, *, measured: bool) -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with (
            httpx.AsyncClient(base_url=self.layout.api, limits=limits, timeout=30) as api,
            httpx.AsyncClient(base_url=self.layout.ops, limits=limits, timeout=30) as ops,
        ):
            self.api, self.ops = api, ops
            until = time.monotonic() + seconds
            jobs = [self._merchants(until), self._tasks(until), self._dashboard(until)]
            if measured:
                jobs.append(self._metrics(until))
            await asyncio.gather(*jobs)
            if self.driving:
                await asyncio.wait(self.driving, timeout=self.opts.leg_s * 3)

    async def _call(
        self, http: httpx.AsyncClient, what: str, method: str, url: str, **kwargs: Any
    ) -> httpx.Response | None:
        began = time.perf_counter()
        try:
            answer = await http.request(method, url, **kwargs)
        except httpx.HTTPError as e:
            self.tally.errors[f"{what}: {type(e).__name__}"] += 1
            return None
        self.tally.took(what, time.perf_counter() - began)
        if answer.status_code >= 400:
            code = problem_code(answer)
            self.tally.errors[f"{what}: {answer.status_code} {code}"] += 1
        return answer

    async def _merchants(self, until: float) -> None:
        orders: set[asyncio.Task[None]] = set()
        while (now := time.monotonic()) < until:
            await asyncio.sleep(min(self.rng.expovariate(self.opts.orders_per_s), until - now))
            task = asyncio.create_task(self._order())
            orders.add(task)
            task.add_done_callback(orders.discard)
        if orders:
            await asyncio.wait(orders, timeout=30)

    async def _order(self) -> None:
        key = self.rng.choice(self.prepared.merchant_keys)
        auth = {"Authorization": f"Bearer {key}"}
        (plat, plng), (dlat, dlng) = self.rng.sample(self.places, 2)
        body = {
            "external_reference_id": f"fleet-{uuid.uuid4().hex[:12]}",
            "pickup": {"lat": plat, "lng": plng, "full_address": "pickup"},
            "dropoff": {"lat": dlat, "lng": dlng, "full_address": "dropoff"},
            "order_value_cents": 2350,
        }
        quote = await self._call(
            self.api, "POST /v1/quotes", "POST", "/v1/quotes", json=body, headers=auth
        )
        if quote is None or quote.status_code != 201:
            return
        headers = {**auth, "Idempotency-Key": uuid.uuid4().hex}
        ordered = await self._call(
            self.api,
            "POST /v1/deliveries",
            "POST",
            "/v1/deliveries",
            json={"quote_id": quote.json()["id"]},
            headers=headers,
        )
        if ordered is not None and ordered.status_code == 201:
            delivery = ordered.json()
            self.pins[delivery["id"]] = delivery.get("unlock_pin") or ""
            self.tally.counts[f"ordered ({quote.json()['provider']})"] += 1

    async def _tasks(self, until: float) -> None:
        """Robots learn their new tasks (here: from the task list, once a second, as a fleet
        gateway would) and drive them."""
        auth = {"Authorization": f"Bearer {self.prepared.supervisor}"}
        while time.monotonic() < until:
            await asyncio.sleep(1)
            cursor: str | None = None
            while True:
                params = {
                    "status": "assigned",
                    "limit": 100,
                    **({"cursor": cursor} if cursor else {}),
                }
                page = await self._call(
                    self.ops,
                    "GET /ops/v1/tasks",
                    "GET",
                    "/ops/v1/tasks",
                    params=params,
                    headers=auth,
                )
                if page is None or page.status_code != 200:
                    break
                found = page.json()
                for task in found["data"]:
                    if task["id"] not in self.seen_tasks and task.get("robot_serial"):
                        self.seen_tasks.add(task["id"])
                        job = asyncio.create_task(self._drive(task))
                        self.driving.add(job)
                        job.add_done_callback(self.driving.discard)
                cursor = found.get("next_cursor")
                if not cursor:
                    break

    async def _drive(self, task: dict[str, Any]) -> None:
        serial = task["robot_serial"]
        auth = {"Authorization": f"Bearer {self.tokens[serial]}"}
        mine = await self._call(
            self.ops, "GET robot task", "GET", f"/ops/v1/robots/{serial}/task", headers=auth
        )
        if mine is None or mine.status_code != 200:
            return
        current = mine.json()
        for trip in current["trips"]:
            url = f"/ops/v1/trips/{trip['id']}/events"
            for event in ("started", "arrived", "completed"):
                if event == "arrived":
                    await asyncio.sleep(self.opts.leg_s)
                if event == "completed" and trip["type"] == "to_dropoff":
                    pin = self.pins.get(current.get("delivery_id") or "", "")
                    await self._call(
                        self.ops,
                        "POST unlock",
                        "POST",
                        f"/ops/v1/robots/{serial}/unlock",
                        json={"pin": pin},
                        headers=auth,
                    )
                moved = await self._call(
                    self.ops, "POST trip event", "POST", url, json={"event": event}, headers=auth
                )
                if moved is None or moved.status_code != 200:
                    return
        self.tally.counts["trips driven to the end"] += 1

    async def _dashboard(self, until: float) -> None:
        auth = {"Authorization": f"Bearer {self.prepared.supervisor}"}
        while time.monotonic() < until:
            await self._call(self.ops, "GET /ops/v1/board", "GET", "/ops/v1/board", headers=auth)
            await asyncio.sleep(2)

    async def _metrics(self, until: float) -> None:
        began = time.monotonic()
        while time.monotonic() < until:
            t = time.monotonic() - began
            lags = []
            for http in (self.api, self.ops):
                try:
                    text = (await http.get("/metrics")).text
                except httpx.HTTPError:
                    continue
                lags += [
                    float(v)
                    for v in re.findall(r"^sidewalk_outbox_lag_seconds\{[^}]*\} (\S+)$", text, re.M)
                ]
                pending = re.search(r'^sidewalk_tasks_open\{status="pending"\} (\S+)$', text, re.M)
                if pending:
                    self.samples.pending.append((t, float(pending.group(1))))
                for le, n in re.findall(
                    r'^sidewalk_dispatch_round_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M
                ):
                    bucket = math.inf if le == "+Inf" else float(le)
                    self.samples.rounds[bucket] = max(self.samples.rounds.get(bucket, 0), float(n))
                if not self.samples.rounds_first:
                    self.samples.rounds_first = dict(self.samples.rounds)
            if lags:
                self.samples.lag_s.append((t, max(lags)))
            await asyncio.sleep(1)


# --- telemetry from wrk ---------------------------------------------------------------------


def problem_code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", ""))
    except ValueError:
        return ""


def start_wrk(
    prepared: Prepared, layout: Layout, hz: float, seconds: float, folder: Path
) -> subprocess.Popen[str]:
    robots_file = folder / "robots.txt"
    robots_file.write_text(
        "".join(f"{r.serial} {r.token} {r.lat} {r.lng}\n" for r in prepared.robots)
    )
    connections = len(prepared.robots)
    period_ms = 1000 / hz
    script = folder / "telemetry.lua"
    script.write_text(
        TELEMETRY_LUA.format(robots_file=json.dumps(str(robots_file)), threads=WRK_THREADS)
        + DELAY_LUA.format(period_ms=period_ms)
        + DONE_LUA
    )
    return _wrk(connections, seconds, script, layout.ops)


def _wrk(connections: int, seconds: float, script: Path, url: str) -> subprocess.Popen[str]:
    command = [
        "wrk",
        f"--threads={WRK_THREADS}",
        f"--connections={connections}",
        f"--duration={seconds}s",
        "--timeout=10s",
        f"--script={script}",
        url,
    ]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@dataclass(frozen=True)
class Bare:
    rate: float
    p50_ms: float
    p99_ms: float


def bare_reference(robots: int, hz: float, seconds: float, folder: Path) -> Bare:
    """The same connections at the same rate against the bare endpoint (bench/bare_app.py,
    one uvicorn process), alone on the machine: what the web stack itself holds here."""
    with bare_server(folder / "bare.log") as server:
        url = f"{server.base_url}/v1/ping"
        script = folder / "bare.lua"
        script.write_text(DELAY_LUA.format(period_ms=1000 / hz) + static_post_script(PING_BODY, {}))
        wrk_summary(_wrk(robots, 5, script, url))  # connections made, warmed up
        summary = wrk_summary(_wrk(robots, seconds, script, url))
    took = summary["duration_us"] / 1e6
    return Bare(summary["requests"] / took, summary["p50_us"] / 1000, summary["p99_us"] / 1000)


def wrk_summary(done: subprocess.Popen[str]) -> dict[str, Any]:
    output, _ = done.communicate(timeout=120)
    found = re.search(r"^WRK_JSON (.*)$", output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk failed:\n{output}")
    summary: dict[str, Any] = json.loads(found.group(1))
    return summary


# --- CPU ------------------------------------------------------------------------------------


def _own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- one run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    robots: int
    hz: float
    orders_per_s: float
    duration: int
    warmup: int
    leg_s: float
    pilots: int
    keep_logs: Path | None = None
    ops_workers: int = 1


@dataclass
class Result:
    layout: str
    robots: int
    hz: float
    orders_per_s: float
    seconds: float
    telemetry_rate: float
    telemetry_p50_ms: float
    telemetry_p99_ms: float
    telemetry_errors: int
    order_p50_ms: float
    order_p99_ms: float
    orders: int
    round_max_s: float
    slow_rounds: int
    lag_p99_s: float
    lag_trend: tuple[float, float]
    pending_trend: tuple[float, float]
    errors: dict[str, int]
    counts: dict[str, int]
    cpu: dict[str, float]
    bare: Bare | None = None
    ops_workers: int = 1

    @property
    def kept_up(self) -> bool:
        lag_first, lag_last = self.lag_trend
        pending_first, pending_last = self.pending_trend
        return (
            self.telemetry_rate >= 0.95 * self.robots * self.hz
            and lag_last <= max(1.0, 2 * lag_first)
            and pending_last <= pending_first + max(5.0, self.orders_per_s * 5)
        )

    def verdicts(self) -> dict[str, bool]:
        return {
            "telemetry p99 ≤ 100 ms": self.telemetry_p99_ms <= GOALS["telemetry_p99_ms"],
            "order p99 ≤ 200 ms": self.order_p99_ms <= GOALS["order_p99_ms"],
            "every dispatch round ≤ 1 s": self.round_max_s <= GOALS["round_s"],
            "outbox lag p99 ≤ 1 s": self.lag_p99_s <= GOALS["lag_p99_s"],
            "kept up": self.kept_up,
            "no errors": not self.errors and not self.telemetry_errors,
        }

    @property
    def holds(self) -> bool:
        return all(self.verdicts().values())


def _p(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _thirds(series: list[tuple[float, float]]) -> tuple[float, float]:
    if len(series) < 3:
        return (0.0, 0.0)
    third = len(series) // 3
    first, last = series[:third], series[-third:]
    return (statistics.fmean(v for _, v in first), statistics.fmean(v for _, v in last))


def _slow_rounds(folder: Path) -> list[float]:
    """Rounds over 1 s, as the dispatcher logs them (in whichever process runs it)."""
    took = []
    for log in (folder / "logs").glob("*.log"):
        took += [float(s) for s in re.findall(r"dispatch round took ([0-9.]+) s", log.read_text())]
    return took


def run_one(layout_name: str, opts: Options) -> Result:
    with (
        tempfile.TemporaryDirectory(prefix="sidewalk-bench-fleet-") as scratch,
        LAYOUTS[layout_name](Path(scratch), ops_workers=opts.ops_workers, **SETTINGS) as layout,
    ):
        folder = Path(scratch)
        console.print(f"bare endpoint: {opts.robots} connections at {opts.hz:g} Hz…")
        bare = bare_reference(opts.robots, opts.hz, BARE_S, folder)
        console.print(f"{layout_name}: preparing {opts.robots} robots, {opts.pilots} pilots…")
        prepared = prepare(layout, opts.robots, opts.pilots)
        layout.start()
        console.print(f"{layout_name}: warm-up {opts.warmup} s…")
        warm = start_wrk(prepared, layout, opts.hz, opts.warmup, folder)
        driver = Driver(layout, prepared, opts)
        asyncio.run(driver.run(opts.warmup, measured=False))
        wrk_summary(warm)
        driver.tally = Tally()
        pids = {p.name: p.popen.pid for p in layout.procs if p.popen is not None}
        before = {name: tree_ticks(pid) for name, pid in pids.items()}
        pg_before, own_before = postgres_ticks(), _own_cpu_s()
        slow_before = len(_slow_rounds(folder))
        console.print(
            f"{layout_name}: {opts.robots} robots at {opts.hz:g} Hz, "
            f"{opts.orders_per_s:g} orders/s for {opts.duration} s…"
        )
        began = time.monotonic()
        load = start_wrk(prepared, layout, opts.hz, opts.duration, folder)
        wrk_pid = load.pid
        wrk_before = process_ticks(wrk_pid)
        wrk_cpu_s = 0.0

        async def drive_and_watch() -> None:
            nonlocal wrk_cpu_s
            task = asyncio.create_task(driver.run(opts.duration, measured=True))
            while not task.done():
                await asyncio.sleep(1)
                if load.poll() is None:
                    wrk_cpu_s = (process_ticks(wrk_pid) - wrk_before) / os.sysconf("SC_CLK_TCK")
            await task

        asyncio.run(drive_and_watch())
        summary = wrk_summary(load)
        seconds = time.monotonic() - began
        tick = os.sysconf("SC_CLK_TCK")
        cpu = {
            name: (tree_ticks(pid) - before[name]) / tick / seconds for name, pid in pids.items()
        }
        if layout_name == "production":
            cpu["PostgreSQL"] = postgres_ticks_since(pg_before) / tick / seconds
        cpu["wrk (robots' telemetry)"] = wrk_cpu_s / (summary["duration_us"] / 1e6)
        cpu["this script (merchants, trips, dashboard)"] = (_own_cpu_s() - own_before) / seconds
        if opts.keep_logs is not None:
            shutil.copytree(folder / "logs", opts.keep_logs / f"{layout_name}-{opts.robots}",
                            dirs_exist_ok=True)  # fmt: skip
        slow = _slow_rounds(folder)[slow_before:]
        first, last = driver.samples.rounds_first, driver.samples.rounds
        round_max = max(
            [*slow, _histogram_max({le: n - first.get(le, 0) for le, n in last.items()})]
        )
        orders = driver.tally.latencies.get("POST /v1/deliveries", [])
        wrk_errors = sum(summary[k] for k in ("non-2xx", "connect", "read", "write", "timeout"))
        return Result(
            layout=layout_name,
            robots=opts.robots,
            hz=opts.hz,
            orders_per_s=opts.orders_per_s,
            seconds=summary["duration_us"] / 1e6,
            telemetry_rate=(summary["requests"] - summary["non-2xx"])
            / (summary["duration_us"] / 1e6),
            telemetry_p50_ms=summary["p50_us"] / 1000,
            telemetry_p99_ms=summary["p99_us"] / 1000,
            telemetry_errors=wrk_errors,
            order_p50_ms=_p(orders, 0.5) * 1000,
            order_p99_ms=_p(orders, 0.99) * 1000,
            orders=len(orders),
            round_max_s=round_max,
            slow_rounds=len(slow),
            lag_p99_s=_p([v for _, v in driver.samples.lag_s], 0.99),
            lag_trend=_thirds(driver.samples.lag_s),
            pending_trend=_thirds(driver.samples.pending),
            errors=dict(driver.tally.errors),
            counts=dict(driver.tally.counts),
            cpu=cpu,
            bare=bare,
            ops_workers=opts.ops_workers,
        )


def _histogram_max(buckets: dict[float, float]) -> float:
    """The upper bound of the slowest round the histogram saw (0 when it saw none, as where
    the dispatcher is a worker without `/metrics`: its log names the rounds over 1 s)."""
    total = buckets.get(math.inf, 0.0)
    if not total:
        return 0.0
    return next(le for le, n in sorted(buckets.items()) if n >= total)


# --- report ---------------------------------------------------------------------------------


def _layout(r: Result) -> str:
    return r.layout if r.ops_workers == 1 else f"{r.layout}, {r.ops_workers} ops processes"


def _bare(r: Result) -> str:
    if r.bare is None:
        return "-"
    return f"{r.bare.rate:,.0f}, {r.bare.p50_ms:.1f} / {r.bare.p99_ms:.1f}"


def _round(r: Result) -> str:
    if r.round_max_s == 0:
        return "none over 1 s logged"
    return f"≤ {r.round_max_s:g} s"


def rich_table(results: list[Result]) -> Table:
    table = Table(
        title="A live fleet (goals: telemetry p99 ≤ 100 ms, orders p99 ≤ 200 ms, "
        "rounds ≤ 1 s, outbox lag p99 ≤ 1 s)"
    )
    for name in (
        "layout",
        "robots",
        "telemetry/s",
        "p50",
        "p99",
        "bare p99",
        "orders",
        "order p50",
        "order p99",
        "slowest round",
        "lag p99",
        "errors",
        "holds",
    ):
        table.add_column(name, justify="right" if name not in ("layout", "holds") else "left")
    for r in results:
        table.add_row(
            _layout(r),
            str(r.robots),
            f"{r.telemetry_rate:,.0f}",
            f"{r.telemetry_p50_ms:.1f}",
            f"{r.telemetry_p99_ms:.1f}",
            f"{r.bare.p99_ms:.1f}" if r.bare else "-",
            str(r.orders),
            f"{r.order_p50_ms:.0f}",
            f"{r.order_p99_ms:.0f}",
            _round(r),
            f"{r.lag_p99_s:.2f}",
            str(sum(r.errors.values()) + r.telemetry_errors),
            "yes" if r.holds else "no: " + ", ".join(k for k, ok in r.verdicts().items() if not ok),
        )
    return table


def markdown(results: list[Result], argv: list[str]) -> str:
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, code {code_version()}, with "
        f"`{shlex.join(['.venv/bin/python', 'bench/fleet.py', *argv])}`. The load generators "
        "run on the same machine as the servers (their CPU is below). Telemetry latencies are "
        "wrk's; the slowest dispatch round is read from the server's histogram (an upper "
        "bound: a bucket's edge) or from the dispatcher's log, which names every round over "
        "1 s; the outbox lag is the age of the oldest event not yet published, read every "
        "second from `/metrics`. The bare endpoint (bench/bare_app.py, one uvicorn process, "
        "alone on the machine) took the same connections at the same rate from the same wrk "
        f"just before each run ({BARE_S} s): what the web stack itself holds here. wrk ran "
        f"{WRK_THREADS} threads.",
        "",
        "| layout | robots x Hz | orders/s | telemetry/s | telemetry p50 / p99 ms "
        "| bare endpoint /s, p50 / p99 ms "
        "| orders made | order p50 / p99 ms | slowest round | outbox lag p99 s "
        "| lag, first → last third | pending tasks, first → last third | errors | holds |",
        "| --- " + "| ---: " * 12 + "| --- |",
    ]
    for r in results:
        failing = [k for k, ok in r.verdicts().items() if not ok]
        lines.append(
            f"| {_layout(r)} | {r.robots} x {r.hz:g} | {r.orders_per_s:g} "
            f"| {r.telemetry_rate:,.0f} | {r.telemetry_p50_ms:.1f} / {r.telemetry_p99_ms:.1f} "
            f"| {_bare(r)} | {r.orders} "
            f"| {r.order_p50_ms:.0f} / {r.order_p99_ms:.0f} | {_round(r)} "
            f"| {r.lag_p99_s:.2f} | {r.lag_trend[0]:.2f} → {r.lag_trend[1]:.2f} "
            f"| {r.pending_trend[0]:.0f} → {r.pending_trend[1]:.0f} "
            f"| {sum(r.errors.values()) + r.telemetry_errors} "
            f"| {'**yes**' if r.holds else 'no (' + ', '.join(failing) + ')'} |"
        )
    lines += ["", "CPU of each process during the measured run, in cores (1.00 = one core):", ""]
    for r in results:
        parts = ", ".join(f"{name} {v:.2f}" for name, v in r.cpu.items())
        lines.append(f"- {_layout(r)}, {r.robots} robots: {parts}.")
    lines += ["", "What the runs did and what went wrong, if anything:", ""]
    for r in results:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(r.counts.items())) or "nothing"
        errors = ", ".join(f"{k} x{v}" for k, v in sorted(r.errors.items())) or "no errors"
        lines.append(
            f"- {_layout(r)}, {r.robots} robots: {counts}; {errors}; telemetry errors "
            f"{r.telemetry_errors}."
        )
    held: dict[str, int] = {}
    for r in results:
        if r.holds:
            held[_layout(r)] = max(held.get(_layout(r), 0), r.robots)
    if held:
        lines += [
            "",
            "Largest fleet measured that holds every goal: "
            + "; ".join(f"{k} {v} robots at {results[0].hz:g} Hz" for k, v in held.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--robots", type=int, default=2000)
    parser.add_argument("--sizes", default=None, help="fleet sizes to run in turn, e.g. 500,2000")
    parser.add_argument("--hz", type=float, default=1.0, help="readings a second per robot")
    parser.add_argument("--orders-per-s", type=float, default=5.0)
    parser.add_argument("--duration", type=int, default=300, help="seconds measured")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--leg-s", type=float, default=10.0, help="seconds each trip leg takes")
    parser.add_argument("--pilots", type=int, default=80, help="pilots on duty")
    parser.add_argument("--layouts", default="embedded,production")
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--ops-workers",
        default="1",
        help="processes serving the ops API (serve all --ops-workers, serve operations --workers);"
        " a list (1,2) runs each",
    )
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy the servers' logs here")
    args = parser.parse_args(argv)
    if args.quick:
        args.robots, args.duration, args.warmup = 200, 20, 5
        args.layouts = "embedded"
    output = args.output or (None if args.quick else ROOT / "BENCHMARKS.md")
    sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [args.robots]
    layouts = args.layouts.split(",")
    if "production" in layouts and not (postgres_reachable() and nats_reachable()):
        console.print("[yellow]PostgreSQL or NATS unreachable: production layout skipped")
        layouts.remove("production")
    results = []
    ops_workers = [int(n) for n in str(args.ops_workers).split(",")]
    for name, workers, size in itertools.product(layouts, ops_workers, sizes):
        opts = Options(
            size,
            args.hz,
            args.orders_per_s,
            args.duration,
            args.warmup,
            args.leg_s,
            args.pilots,
            args.keep_logs,
            workers,
        )
        results.append(run_one(name, opts))
        console.print(rich_table(results[-1:]))
        console.print(markdown(results[-1:], argv).split("\n", 3)[3])
    console.print(rich_table(results))
    if output is not None:
        write_section(output, SECTION, markdown(results, argv))
        console.print(f"wrote {SECTION!r} in {output}")


if __name__ == "__main__":
    main(sys.argv[1:])
