"""Merchant API throughput: quotes and delivery creation, on SQLite and on PostgreSQL, side by
side with a bare FastAPI endpoint, all in one run.

What is measured: `POST /v1/quotes` and `POST /v1/deliveries` of the deliveries service, and,
as the baseline, `POST /v1/ping` of bench/bare_app.py (a small Pydantic body in, a small JSON
object out, nothing else). Each app runs in its own process and is served the same way: uvicorn,
one worker, on 127.0.0.1; ours with the real command `sidewalk serve deliveries`, on a SQLite
file in a temporary directory or on a PostgreSQL database made for the run and dropped after.

How: wrk loads each endpoint with the same connections, threads and duration, after a warm-up
that is not reported; the figures (requests/s, p50 and p99 latency, errors) are wrk's own.
The bare endpoint stays up for the whole run and is measured again just before each of our
scenarios, which is compared with that run: this machine's speed drifts by tens of percent
from one minute to the next.
Errors are answers with a status of 400 or more plus socket errors and timeouts. A delivery
needs an unused quote: those the quote scenario made (topped up when they would not last) are
read from the database into a file, and a wrk Lua script hands out one per request, each with
its own Idempotency-Key, as a merchant sends it. Each scenario waits (a bounded time) for the
machine to be idle first, and the CPU used by the server, by wrk, by PostgreSQL and by anything
else during each measured run is reported too, to tell what limited it.

Prints a Rich table and rewrites the section `## Merchant API (bench/api.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/api.py [--duration 10] [--connections 16]
[--threads 1] [--quick] [--compare-with COMMIT]`; `--compare-with` serves an older commit's
sources (from a git worktree) too, in the same run, to measure a change before and after.
"""

import argparse
import json
import math
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, make_url, select

from sections import code_version, machine, write_section
from sidewalk.deliveries.models import Quote

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
SECTION = "## Merchant API (bench/api.py)"
# Each endpoint's share of the bare endpoint's throughput to reach, by database.
GOALS = {
    ("POST /v1/quotes", "SQLite"): 0.40,
    ("POST /v1/quotes", "PostgreSQL"): 0.40,
    ("POST /v1/deliveries", "SQLite"): 0.20,
    ("POST /v1/deliveries", "PostgreSQL"): 0.15,
}
QUOTE_LIFETIME_S = 3600  # quotes made early in the run must still be usable for deliveries
POOL_MARGIN = 1.5  # unused quotes prepared per delivery the expected rate needs
TOP_UP_MAX_S = 300  # at most this long spent making extra quotes
NOISY_CPU = 0.3  # cores of other work during a run that make it worth a warning
LOADED_CPU = 0.85  # a process using this much of a core is the limit
WRK_TIMEOUT = "10s"  # a request slower than this counts as a timeout error
ERROR_KINDS = ("non-2xx", "connect", "read", "write", "timeout")

QUOTE_BODY = {
    "external_reference_id": "order-1042",
    "pickup": {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"},
    "dropoff": {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St, Apt 4"},
    "order_value_cents": 2350,
}
PING_BODY = {"reference": "order-1042", "value_cents": 2350}

console = Console()
if not console.is_terminal:
    console.width = 140  # a piped or `make` run would otherwise squeeze the table to 80


# --- options -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    duration: int
    warmup: int
    connections: int
    threads: int
    postgres: str
    output: Path
    quiet_wait: int
    compare_with: str | None = None


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unreported warm-up")
    parser.add_argument("--connections", type=int, default=16, help="open connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "SIDEWALK_BENCH_POSTGRES", f"postgresql://postgres@{HOST}:5432/postgres"
        ),
        help="admin URL of the PostgreSQL server; a fresh database is made there and dropped",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--quiet-wait",
        type=int,
        default=60,
        help="before each scenario, wait up to this many seconds for other work on the machine "
        "to stop (0: do not wait)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 s, 1 s warm-up")
    parser.add_argument(
        "--compare-with",
        metavar="COMMIT",
        help="also serve this commit's sources (from a git worktree) in the same run, each "
        "database's scenarios before this checkout's",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2, 1
    if min(args.duration, args.warmup, args.threads) < 1:
        parser.error("--duration, --warmup and --threads must be at least 1")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        postgres=args.postgres,
        output=args.output,
        quiet_wait=args.quiet_wait,
        compare_with=args.compare_with,
    )


# --- wrk scripts -------------------------------------------------------------------------

# Prints wrk's own summary as one JSON line (latencies are in microseconds).
DONE_LUA = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "non-2xx": %d, "connect": %d, '
    .. '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p99_us": %d}\\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""

# One unused quote per request, read from a file whose lines are dealt out to the threads.
# Past its share a thread starts over, and the reused quotes answer 409: counted as errors.
DELIVERIES_LUA = """
local ids_file, tag, threads = {ids_file}, {tag}, {threads}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = {authorization}

local dealt = 0
function setup(thread)
  thread:set("index", dealt)
  dealt = dealt + 1
end

local ids, count, sent = {{}}, 0, 0
function init(args)
  local line_no = 0
  for line in io.lines(ids_file) do
    if line_no % threads == index then
      count = count + 1
      ids[count] = line
    end
    line_no = line_no + 1
  end
  assert(count > 0, "no quote ids for thread " .. index)
end

function request()
  sent = sent + 1
  wrk.headers["Idempotency-Key"] = tag .. "-" .. index .. "-" .. sent
  return wrk.format(nil, nil, nil, '{{"quote_id":"' .. ids[(sent - 1) % count + 1] .. '"}}')
end
"""


def lua_string(text: str) -> str:
    """`text` as a Lua long-bracket literal, which needs no escaping."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    return f"[{'=' * level}[{text}]{'=' * level}]"


def static_post_script(body: dict[str, Any], headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(json.dumps(body))}"]
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lines.append(f"wrk.headers[ {lua_string(name)} ] = {lua_string(value)}")
    return "\n".join(lines) + "\n" + DONE_LUA


def deliveries_script(ids_file: Path, api_key: str, threads: int) -> str:
    return (
        DELIVERIES_LUA.format(
            ids_file=lua_string(str(ids_file)),
            tag=lua_string(f"bench-{uuid.uuid4().hex[:12]}"),
            threads=threads,
            authorization=lua_string(f"Bearer {api_key}"),
        )
        + DONE_LUA
    )


# --- CPU accounting ----------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    base_url: str
    pid: int
    database: str | None = None  # its PostgreSQL database, whose processes' CPU is counted


@dataclass(frozen=True)
class Cpu:
    """CPU so far, in clock ticks: of the server, of the PostgreSQL processes working for its
    database, and of the whole machine; and in seconds, of this process's finished children
    (wrk)."""

    server: int
    postgres: dict[int, int]  # by process
    machine_busy: int
    machine_all: int
    children_s: float

    @classmethod
    def now(cls, server: Server) -> "Cpu":
        jiffies = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            server=process_ticks(server.pid),
            postgres=postgres_ticks(server.database),
            machine_busy=sum(jiffies) - jiffies[3] - jiffies[4],  # all but idle and iowait
            machine_all=sum(jiffies),
            children_s=usage.ru_utime + usage.ru_stime,
        )


def process_ticks(pid: int, *, reaped_children: bool = False) -> int:
    """User plus system CPU of a process (all its threads), and optionally of its children
    that have exited; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    own = int(fields[11]) + int(fields[12])
    return own + (int(fields[13]) + int(fields[14]) if reaped_children else 0)


def postgres_ticks(database: str | None) -> dict[int, int]:
    """CPU of the PostgreSQL processes working for `database`: those whose title names it
    (its connections, its autovacuum workers), the server-wide ones (WAL writer,
    checkpointer, ...), and the postmaster with its exited children (connections closed
    during the run); not the live connections to other databases."""
    if database is None:
        return {}
    ticks, postmasters = {}, set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if not title.startswith("postgres: "):
            continue
        postmasters.add(parent)
        words = title.split()
        of_a_database = any(w.endswith(")") or w == "[local]" for w in words) or "worker" in words
        if database in words or not of_a_database:
            ticks[int(entry.name)] = process_ticks(int(entry.name))
    for pid in postmasters:
        ticks[pid] = process_ticks(pid, reaped_children=True)
    return ticks


def machine_busy_cores(seconds: float) -> float:
    """How many cores the machine keeps busy over `seconds`, from now."""

    def read() -> tuple[int, int]:
        jiffies = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
        return sum(jiffies) - jiffies[3] - jiffies[4], sum(jiffies)

    busy, total = read()
    time.sleep(seconds)
    busy_after, total_after = read()
    return (busy_after - busy) / max(total_after - total, 1) * (os.cpu_count() or 1)


def wait_for_quiet(limit_s: int) -> None:
    """Wait until the machine is idle (our server too), for at most `limit_s` seconds: this
    machine is shared, and other work running alongside makes the figures low."""
    if limit_s <= 0:
        return
    deadline = time.monotonic() + limit_s
    busy = machine_busy_cores(1)
    if busy <= NOISY_CPU:
        return
    console.print(f"  waiting for the machine to be quiet ({busy:.2f} cores busy)")
    while time.monotonic() < deadline:
        busy = machine_busy_cores(1)
        if busy <= NOISY_CPU:
            return
    console.print(f"  [yellow]still {busy:.2f} cores busy after {limit_s} s: going on[/yellow]")


def cores_used(before: Cpu, after: Cpu, seconds: float) -> dict[str, float]:
    """What each part used between the two readings, in cores (1.0: one core all along)."""
    tick = os.sysconf("SC_CLK_TCK")
    machine = (after.machine_busy - before.machine_busy) / (after.machine_all - before.machine_all)
    used = {
        "server": (after.server - before.server) / tick / seconds,
        "wrk": (after.children_s - before.children_s) / seconds,
        "postgres": (sum(after.postgres.values()) - sum(before.postgres.values())) / tick / seconds,
    }
    used["other"] = max(machine * (os.cpu_count() or 1) - sum(used.values()), 0.0)
    return used


# --- running wrk -------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What wrk measured in one run, and the CPU used meanwhile (in cores: 1.0 is one core
    busy all the time)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors_by_kind: dict[str, int]
    server_cpu: float
    wrk_cpu: float
    postgres_cpu: float
    other_cpu: float  # everything else the machine did: other programs, and the kernel

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def errors(self) -> int:
        return sum(self.errors_by_kind.values())

    def error_detail(self) -> str:
        return ", ".join(f"{n} {kind}" for kind, n in self.errors_by_kind.items() if n)


def run_wrk(opts: Options, url: str, script: str, seconds: int, server: Server) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    command = ["wrk", f"--threads={opts.threads}", f"--connections={opts.connections}"]
    command += [f"--duration={seconds}s", f"--timeout={WRK_TIMEOUT}", f"--script={f.name}", url]
    before = Cpu.now(server)
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    finally:
        Path(f.name).unlink()
    after = Cpu.now(server)
    wait_until_idle(server.pid)
    found = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {url}:\n{done.stdout}\n{done.stderr}")
    summary = json.loads(found.group(1))
    elapsed = summary["duration_us"] / 1e6
    used = cores_used(before, after, elapsed)
    return Load(
        requests=summary["requests"],
        seconds=elapsed,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors_by_kind={kind: summary[kind] for kind in ERROR_KINDS},
        server_cpu=used["server"],
        wrk_cpu=used["wrk"],
        postgres_cpu=used["postgres"],
        other_cpu=used["other"],
    )


def wait_until_idle(pid: int) -> None:
    """Let the server finish the requests still in flight when wrk stopped (a few seconds at
    most), so that they do not run into the next measurement."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        before = process_ticks(pid)
        time.sleep(0.25)
        if process_ticks(pid) - before <= 1:
            return


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serving(
    command: list[str], env: dict[str, str], port: int, log: Path, database: str | None = None
) -> Iterator[Server]:
    """Run a server process until the block ends; yields once `/healthz` answers."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        base_url = f"http://{HOST}:{port}"
        wait_until_healthy(base_url, process, log)
        yield Server(base_url, process.pid, database)
    finally:
        stop(process)


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{base_url}/healthz did not answer within 60 s:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """One request before the load, to fail early and plainly if the endpoint does not work."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            result: dict[str, Any] = json.loads(answer.read())
            return result
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"POST {url} answered {e.code}: {e.read().decode()}") from e


def clean_env() -> dict[str, str]:
    """This environment without any SIDEWALK_* setting, so the figures are the defaults'."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIDEWALK_")}


def sidewalk_env(var_dir: Path, database_url: str) -> dict[str, str]:
    return clean_env() | {
        "SIDEWALK_VAR_DIR": str(var_dir),
        "SIDEWALK_DELIVERIES_DATABASE_URL": database_url,
        "SIDEWALK_QUOTE_LIFETIME_S": str(QUOTE_LIFETIME_S),
        # One key drives the whole load: its rate limit would measure the limiter.
        "SIDEWALK_RATE_LIMIT_KEY_RPS": "0",
    }


def create_api_key(env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(BIN / "sidewalk"), "merchants", "create", "--name", "Bench", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    key: str = json.loads(done.stdout)["api_key"]
    return key


# --- databases ---------------------------------------------------------------------------


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A new empty database on the server of `admin_url`, dropped afterwards."""
    name = f"sidewalk_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version(admin_url: str) -> str:
    with psycopg.connect(admin_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]).split()[0] if row else "?"


def fresh_quote_ids(database_url: str, handed_out: set[str]) -> list[str]:
    """Quotes no delivery uses and no earlier run was given: requests of that run may still
    be in flight when it ends."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Quote.id).where(Quote.used_by_delivery_id.is_(None)))
            return [row[0] for row in rows if row[0] not in handed_out]
    finally:
        engine.dispose()


# --- scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Code:
    """The code a server runs: this checkout, or another commit's sources (a worktree)."""

    name: str = "this"
    src: Path | None = None


def worktree(commit: str, tmp: Path) -> Code:
    """The sources of `commit`, checked out beside this one for the run (removed by
    `remove_worktree`)."""
    folder = tmp / "compared"
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    name = subprocess.run(
        ["git", "rev-parse", "--short", commit],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return Code(name, folder / "src")


def remove_worktree(code: Code) -> None:
    if code.src is not None:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(code.src.parent)], cwd=ROOT, check=False
        )


@dataclass(frozen=True)
class Row:
    scenario: str
    backend: str
    load: Load
    baseline: Load | None = None  # the bare endpoint, measured just before this scenario
    code: str = ""  # the older commit it ran, when compared with one

    @property
    def where(self) -> str:
        return f"{self.backend}, code {self.code}" if self.code else self.backend


def measure(opts: Options, server: Server, path: str, script: str) -> Load:
    """A warm-up, then the measured run."""
    url = server.base_url + path
    wait_for_quiet(opts.quiet_wait)
    run_wrk(opts, url, script, opts.warmup, server)
    return shown(path, run_wrk(opts, url, script, opts.duration, server))


def shown(path: str, load: Load) -> Load:
    errors = f", {load.error_detail()}" if load.errors else ""
    console.print(f"  {path}: {load.rate:,.0f} requests/s, p99 {load.p99_ms:.1f} ms{errors}")
    return load


@contextmanager
def bare_server(log: Path) -> Iterator[Server]:
    """bench/bare_app.py served by uvicorn, one worker process, until the block ends."""
    port = free_port()
    command = [str(BIN / "python"), "-m", "uvicorn", "bare_app:app"]
    command += ["--app-dir", str(ROOT / "bench"), "--host", HOST, "--port", str(port)]
    command += ["--workers", "1", "--log-level", "info", "--no-access-log"]
    with serving(command, clean_env(), port, log) as server:
        yield server


@contextmanager
def bare_endpoint(opts: Options, tmp: Path) -> Iterator[Callable[[], Load]]:
    """The bare endpoint's server, up for the whole run, and a function that measures it:
    each of our scenarios is compared with a bare run made just before it, since this
    machine's speed drifts by tens of percent from minute to minute."""
    with bare_server(tmp / "bare.log") as server:
        console.print(f"[bold]bare endpoint[/bold] on {server.base_url}")
        post(server.base_url + "/v1/ping", PING_BODY, {})
        script = static_post_script(PING_BODY, {})
        yield lambda: measure(opts, server, "/v1/ping", script)


def bench_backend(
    opts: Options,
    var_dir: Path,
    backend: str,
    database_url: str,
    bare: Callable[[], Load],
    code: Code = Code(),
) -> list[Row]:
    var_dir.mkdir()
    env = sidewalk_env(var_dir, database_url)
    if code.src is not None:  # the server imports the other commit's sources first
        env["PYTHONPATH"] = str(code.src)
    api_key = create_api_key(env)
    auth = {"Authorization": f"Bearer {api_key}"}
    port = free_port()
    command = [str(BIN / "sidewalk"), "serve", "deliveries", "--host", HOST, "--port", str(port)]
    database = make_url(database_url).database if backend == "PostgreSQL" else None
    with serving(command, env, port, var_dir / "server.log", database) as server:
        console.print(f"[bold]{backend}[/bold], code {code.name}: API on {server.base_url}")
        quote = post(server.base_url + "/v1/quotes", QUOTE_BODY, auth)
        post(server.base_url + "/v1/deliveries", {"quote_id": quote["id"]}, auth)
        quotes_baseline = bare()
        quotes = measure(opts, server, "/v1/quotes", static_post_script(QUOTE_BODY, auth))
        deliveries_baseline = bare()
        deliveries = bench_deliveries(opts, server, var_dir, database_url, api_key, quotes.rate)
    older = code.name if code.src is not None else ""
    return [
        Row("POST /v1/quotes", backend, quotes, quotes_baseline, older),
        Row("POST /v1/deliveries", backend, deliveries, deliveries_baseline, older),
    ]


def bench_deliveries(
    opts: Options, server: Server, var_dir: Path, database_url: str, api_key: str, quote_rate: float
) -> Load:
    """A warm-up, then the measured run, each on quotes nobody has used yet: the warm-up gets
    enough for its length at the quotes' rate, the measured run all the others, at least
    enough for its length at the warm-up's rate. Quotes are made first if too few are left."""
    ids_file = var_dir / "quote_ids.txt"
    expected, handed_out = quote_rate, set[str]()
    for seconds, last in ((opts.warmup, False), (opts.duration, True)):
        needed = math.ceil(expected * seconds * POOL_MARGIN) + opts.connections
        ids = fresh_quote_ids(database_url, handed_out)
        if len(ids) < needed:
            make_quotes(opts, server, api_key, needed - len(ids), quote_rate)
            ids = fresh_quote_ids(database_url, handed_out)
        ids = ids if last else ids[:needed]
        handed_out.update(ids)
        ids_file.write_text("\n".join(ids) + "\n")
        if not last:
            wait_for_quiet(opts.quiet_wait)
        script = deliveries_script(ids_file, api_key, opts.threads)
        load = run_wrk(opts, server.base_url + "/v1/deliveries", script, seconds, server)
        expected = load.rate
    return shown("/v1/deliveries", load)


def make_quotes(opts: Options, server: Server, api_key: str, count: int, rate: float) -> None:
    seconds = min(math.ceil(count / rate * POOL_MARGIN), TOP_UP_MAX_S)
    console.print(f"  making about {count} more quotes ({seconds} s, not measured)")
    script = static_post_script(QUOTE_BODY, {"Authorization": f"Bearer {api_key}"})
    run_wrk(opts, server.base_url + "/v1/quotes", script, seconds, server)


# --- report ------------------------------------------------------------------------------


def ratio(row: Row, bare: Row) -> float:
    return row.load.rate / (row.baseline or bare.load).rate


def rich_table(rows: list[Row], bare: Row) -> Table:
    table = Table(title="Merchant API throughput (wrk); CPU used, in cores")
    for name in ("scenario", "backend"):
        table.add_column(name)
    for name in ("requests/s", "p50 ms", "p99 ms", "errors", "vs bare"):
        table.add_column(name, justify="right")
    for name in ("server", "wrk", "PostgreSQL", "other"):
        table.add_column(name, justify="right")
    for row in rows:
        load = row.load
        table.add_row(
            row.scenario,
            row.where,
            f"{load.rate:,.0f}",
            f"{load.p50_ms:.1f}",
            f"{load.p99_ms:.1f}",
            f"{load.errors} ({load.error_detail()})" if load.errors else "0",
            f"{ratio(row, bare):.0%}",
            f"{load.server_cpu:.2f}",
            f"{load.wrk_cpu:.2f}",
            f"{load.postgres_cpu:.2f}",
            f"{load.other_cpu:.2f}",
        )
    return table


def goal_verdicts(rows: list[Row], bare: Row) -> list[str]:
    verdicts = []
    for row in rows:
        goal = GOALS.get((row.scenario, row.backend))
        if goal is None or row.code:
            continue
        share = ratio(row, bare)
        if row.load.errors:
            verdict = f"not judged, {row.load.errors} errors"
        else:
            verdict = "**met**" if share >= goal else "**not met**"
        verdicts.append(
            f"- {row.scenario}, {row.backend}: {share:.0%} of the bare endpoint "
            f"(goal {goal:.0%}): {verdict}"
        )
    return verdicts


def markdown_table(rows: list[Row], bare: Row) -> list[str]:
    lines = [
        "| scenario | backend | requests/s | p50 ms | p99 ms | errors "
        "| bare endpoint just before, requests/s | ratio to it |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        load, baseline = row.load, (row.baseline or bare.load)
        lines.append(
            f"| {row.scenario} | {row.where} | {load.rate:,.0f} | {load.p50_ms:.1f} "
            f"| {load.p99_ms:.1f} | {load.errors} | {baseline.rate:,.0f} | {ratio(row, bare):.0%} |"
        )
    return lines


def markdown_notes(rows: list[Row]) -> list[str]:
    errors = [
        f"{r.scenario} on {r.backend}: {r.load.error_detail()}" for r in rows if r.load.errors
    ]
    notes = [
        "Errors are answers with a status of 400 or more (wrk's `Non-2xx or 3xx responses`) "
        f"plus socket errors and timeouts (over {WRK_TIMEOUT})"
        + (f"; here {'; '.join(errors)}." if errors else "; there were none."),
        "The bare endpoint (`bench/bare_app.py`) is an `async def` FastAPI route taking a "
        "two-field Pydantic body and answering a three-field response model. Each delivery uses "
        "a fresh quote made by the API and sends its own `Idempotency-Key`.",
    ]
    wrk = max(r.load.wrk_cpu for r in rows)
    notes.append(
        f"wrk used at most {wrk:.2f} of a core, so the load generator was not the limit."
        if wrk < LOADED_CPU
        else f"wrk used up to {wrk:.2f} of a core: the load generator may have been a limit."
    )
    if min(r.load.server_cpu for r in rows) >= LOADED_CPU:
        notes.append(
            "Every server process kept a core busy throughout: with one worker process, "
            "throughput is bound by the CPU time each request takes in it."
        )
    other = max(r.load.other_cpu for r in rows)
    if other > NOISY_CPU:
        notes.append(
            f"The machine was not quiet: up to {other:.2f} cores went to other work during a "
            "measured run (see the table below), so some figures may be low."
        )
    return notes


def markdown_cpu_table(rows: list[Row]) -> list[str]:
    lines = [
        "CPU used during the measured runs, in cores (1.00 is one core busy throughout; "
        '"other" is the rest of the machine: the kernel and other programs):',
        "",
        "| scenario | backend | server process | wrk | PostgreSQL | other |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        load = r.load
        lines.append(
            f"| {r.scenario} | {r.where} | {load.server_cpu:.2f} | {load.wrk_cpu:.2f} "
            f"| {load.postgres_cpu:.2f} | {load.other_cpu:.2f} |"
        )
    return lines


def markdown_section(opts: Options, rows: list[Row], bare: Row) -> str:
    via_make = " (by `make bench`)" if "MAKELEVEL" in os.environ else ""
    lines = [
        SECTION,
        "",
        f"Command: `{command_line()}`{via_make}  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}  ",
        f"Load: wrk, {opts.connections} connections, {opts.threads} thread(s), "
        f"{opts.duration} s per scenario after a {opts.warmup} s warm-up, over loopback; each "
        "app served by uvicorn, one worker process.  ",
        f"Stack: {stack_description(opts)}",
        "",
        *markdown_table(rows, bare),
        "",
        *(line for note in markdown_notes(rows) for line in (note, "")),
        *markdown_cpu_table(rows),
        "",
        "Goals: each endpoint's share of the bare endpoint's throughput.",
        "",
        *goal_verdicts(rows, bare),
        "",
    ]
    return "\n".join(lines)


def machine_header() -> str:
    cpus = subprocess.run(["nproc"], capture_output=True, text=True, check=True).stdout.strip()
    model = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    return (
        "# Benchmarks\n\n"
        "The figures below come from `make bench` on this machine: "
        f"{cpus} CPUs ({model.group(1).strip() if model else 'model unknown'}), "
        f"{int(memory.group(1)) / 2**20 if memory else 0:.0f} GiB of memory, "
        f"{platform.system()} {platform.release()}. Compare figures within one table only: "
        "each table is one run on one machine.\n"
    )


def stack_description(opts: Options) -> str:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    wrk_words = (wrk.stdout + wrk.stderr).split()
    packages = [
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "pydantic",
        "sqlalchemy",
        "psycopg",
    ]
    return ", ".join(
        [
            f"Python {platform.python_version()}",
            *(f"{name} {version(name)}" for name in packages),
            f"SQLite {sqlite3.sqlite_version}",
            f"PostgreSQL {postgres_version(opts.postgres)}",
            f"wrk {wrk_words[1] if len(wrk_words) > 1 else '?'}",
        ]
    )


def command_line() -> str:
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    script = Path(sys.argv[0]).resolve()
    return shlex.join([str(shown), str(script.relative_to(ROOT)), *sys.argv[1:]])


# --- main --------------------------------------------------------------------------------


def preflight(opts: Options) -> None:
    """Fail at once, and plainly, when a tool or the PostgreSQL server is missing."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: `apt-get install -y wrk` (`make bench` installs it)")
    try:
        psycopg.connect(opts.postgres, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        raise SystemExit(f"PostgreSQL is needed at {opts.postgres} (--postgres): {e}") from e


def main(argv: list[str]) -> None:
    opts = parse_options(argv)
    preflight(opts)
    with tempfile.TemporaryDirectory(prefix="sidewalk-bench-") as name:
        tmp = Path(name)
        codes = [worktree(opts.compare_with, tmp), Code()] if opts.compare_with else [Code()]
        try:
            with bare_endpoint(opts, tmp) as measure_bare:
                bare = Row("bare endpoint", "-", measure_bare())
                rows = [bare]
                for code in codes:
                    folder = tmp / f"sqlite-{code.name}"
                    url = f"sqlite:///{folder / 'deliveries.db'}"
                    rows += bench_backend(opts, folder, "SQLite", url, measure_bare, code)
                for code in codes:
                    with postgres_database(opts.postgres) as url:
                        folder = tmp / f"postgresql-{code.name}"
                        rows += bench_backend(opts, folder, "PostgreSQL", url, measure_bare, code)
        finally:
            for code in codes:
                remove_worktree(code)
    console.print(rich_table(rows, bare))
    for verdict in goal_verdicts(rows, bare):
        console.print(verdict.replace("**", ""))
    write_section(opts.output, SECTION, markdown_section(opts, rows, bare), header=machine_header())
    console.print(f"wrote {opts.output}")


if __name__ == "__main__":
    main(sys.argv[1:])
