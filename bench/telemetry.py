"""Robot telemetry throughput: `POST /ops/v1/robots/{serial}/telemetry` of `sidewalk serve
operations`, on SQLite and on PostgreSQL, at 16 and 64 robots reporting at once, side by side
with a bare FastAPI endpoint of the same shape; and the service's own `GET /healthz` beside
the bare endpoint's, to show what the per-request middleware costs.

How: `--robots` robots are registered through the service layer before the server starts,
each with its own token. wrk's Lua script hands each request to the next robot in turn, with
its own token and a position that moves a little every time (as a robot on the move reports),
so N connections are N robots reporting at once. The bare endpoint (bench/bare_app.py) is
measured just before each of our runs at the same concurrency, since this machine's speed
drifts; the ratio is ours to it. CPU of the server, of wrk, of PostgreSQL and of everything
else is reported beside each run.

With `--compare-with COMMIT`, the same runs are made against that commit's server too (its
sources checked out in a temporary git worktree), in the same run: before and after a change.

Prints a Rich table and rewrites the section `## Telemetry (bench/telemetry.py)` of
BENCHMARKS.md. Run: `make bench`, or `.venv/bin/python bench/telemetry.py [--duration 10]
[--levels 16,64] [--robots 500] [--backends sqlite,postgresql] [--compare-with COMMIT]
[--quick] [--output FILE]`; `--quick` (2 s a run) writes nothing unless `--output` is given."""

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import make_url

from api import (
    BIN,
    DONE_LUA,
    HOST,
    PING_BODY,
    Code,
    Load,
    Options,
    Server,
    clean_env,
    free_port,
    lua_string,
    postgres_database,
    remove_worktree,
    run_wrk,
    serving,
    static_post_script,
    wait_for_quiet,
    worktree,
)
from sections import code_version, machine, write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Telemetry (bench/telemetry.py)"
TELEMETRY_GOAL = 0.50  # telemetry at ≥ 50 % of the bare endpoint
HEALTHZ_GOAL = 0.70  # the service's /healthz at ≥ 70 % of the bare one
console = Console()
if not console.is_terminal:
    console.width = 150

# Each request goes to the next robot, with its own token; the position wanders a little.
TELEMETRY_LUA = """
local robots_file, threads = {robots_file}, {threads}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local dealt = 0
function setup(thread)
  thread:set("index", dealt)
  dealt = dealt + 1
end

local serials, tokens, count, sent = {{}}, {{}}, 0, 0
function init(args)
  local line_no = 0
  for line in io.lines(robots_file) do
    if line_no % threads == index then
      local serial, token = line:match("([^ ]+) ([^ ]+)")
      count = count + 1
      serials[count], tokens[count] = serial, "Bearer " .. token
    end
    line_no = line_no + 1
  end
  assert(count > 0, "no robots for thread " .. index)
end

function request()
  sent = sent + 1
  local i = (sent - 1) % count + 1
  wrk.headers["Authorization"] = tokens[i]
  local step = (sent % 1000) * 0.000001
  local body = string.format(
    '{{"lat": %.6f, "lng": %.6f, "battery_pct": %.1f}}',
    34.0901 + step, -118.3617 - step, 90 - (sent % 50) * 0.1)
  return wrk.format(nil, "/ops/v1/robots/" .. serials[i] .. "/telemetry", nil, body)
end
"""

HEALTHZ_LUA = 'wrk.method = "GET"\n' + DONE_LUA


@dataclass(frozen=True)
class Row:
    scenario: str
    backend: str
    connections: int
    load: Load
    baseline: Load
    code: str = "this"  # the code served: this checkout, or the commit compared with

    @property
    def ratio(self) -> float:
        return self.load.rate / self.baseline.rate if self.baseline.rate else 0.0


def register_robots(env: dict[str, str], count: int, out: Path) -> None:
    """`count` robots, each reporting once so that it is idle, made in-process through the
    service layer; their serials and tokens go to `out`, one robot a line."""
    from sidewalk.bootstrap import bootstrap
    from sidewalk.kernel.settings import Settings
    from sidewalk.operations import robots

    settings = {k.removeprefix("SIDEWALK_").lower(): v for k, v in env.items() if "SIDEWALK_" in k}
    platform = bootstrap(Settings(**settings))
    lines = []
    try:
        for i in range(count):
            serial = f"bench-{i:05d}"
            made = robots.register_robot(platform.operations, robots.RobotSpec(serial, serial))
            lines.append(f"{serial} {made.token}")
    finally:
        platform.close()
    out.write_text("\n".join(lines) + "\n")


def telemetry_script(robots_file: Path, threads: int) -> str:
    return TELEMETRY_LUA.format(robots_file=lua_string(str(robots_file)), threads=threads) + (
        DONE_LUA
    )


def measure_backend(
    opts: Options,
    levels: list[int],
    robots: int,
    backend: str,
    url: str,
    bare: Server,
    tmp: Path,
    code: Code = Code(),
) -> list[Row]:
    var_dir = tmp / f"{backend.lower()}-{code.name}"
    var_dir.mkdir()
    env = clean_env() | {
        "SIDEWALK_VAR_DIR": str(var_dir),
        "SIDEWALK_OPERATIONS_DATABASE_URL": url,
        "SIDEWALK_LOG_LEVEL": "warning",
    }
    if code.src is not None:  # the server imports the other commit's sources first
        env["PYTHONPATH"] = str(code.src)
    robots_file = var_dir / "robots.txt"
    register_robots(env, robots, robots_file)
    port = free_port()
    command = [str(BIN / "sidewalk"), "serve", "operations", "--host", HOST, "--port", str(port)]
    database = make_url(url).database if backend == "PostgreSQL" else None
    rows = []
    with serving(command, env, port, var_dir / "server.log", database) as server:
        console.print(f"[bold]{backend}[/bold], code {code.name}: ops API on {server.base_url}")
        script = telemetry_script(robots_file, opts.threads)
        for connections in levels:
            level = replace(opts, connections=connections)
            warm = replace(level, duration=opts.warmup)
            path = "/ops/v1/robots/x/telemetry"
            run_wrk(warm, server.base_url + path, script, opts.warmup, server)
            baseline = bare_run(level, bare, "/v1/ping", static_post_script(PING_BODY, {}))
            wait_for_quiet(opts.quiet_wait)
            load = run_wrk(level, server.base_url + path, script, opts.duration, server)
            rows.append(Row("POST telemetry", backend, connections, load, baseline, code.name))
            show(rows[-1])
        level = replace(opts, connections=levels[0])
        baseline = bare_run(level, bare, "/healthz", HEALTHZ_LUA)
        load = run_wrk(level, server.base_url + "/healthz", HEALTHZ_LUA, opts.duration, server)
        rows.append(Row("GET /healthz", backend, levels[0], load, baseline, code.name))
        show(rows[-1])
    return rows


def bare_run(opts: Options, bare: Server, path: str, script: str) -> Load:
    wait_for_quiet(opts.quiet_wait)
    return run_wrk(opts, bare.base_url + path, script, opts.duration, bare)


def show(row: Row) -> None:
    load = row.load
    errors = f", {load.errors} errors ({load.error_detail()})" if load.errors else ""
    console.print(
        f"  {row.scenario} at {row.connections}: {load.rate:,.0f}/s, p99 {load.p99_ms:.1f} ms, "
        f"bare {row.baseline.rate:,.0f}/s → {row.ratio:.0%}{errors}"
    )


def rich_table(rows: list[Row]) -> Table:
    table = Table(title="Telemetry and /healthz beside a bare endpoint (wrk); CPU in cores")
    for name in ("scenario", "code", "backend"):
        table.add_column(name)
    for name in ("at once", "requests/s", "p50 ms", "p99 ms", "errors", "bare/s", "ratio"):
        table.add_column(name, justify="right")
    for name in ("server", "wrk", "PostgreSQL", "other"):
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            r.scenario,
            r.code,
            r.backend,
            str(r.connections),
            f"{r.load.rate:,.0f}",
            f"{r.load.p50_ms:.1f}",
            f"{r.load.p99_ms:.1f}",
            str(r.load.errors),
            f"{r.baseline.rate:,.0f}",
            f"{r.ratio:.0%}",
            f"{r.load.server_cpu:.2f}",
            f"{r.load.wrk_cpu:.2f}",
            f"{r.load.postgres_cpu:.2f}",
            f"{r.load.other_cpu:.2f}",
        )
    return table


def verdict(row: Row) -> str:
    goal = HEALTHZ_GOAL if row.scenario == "GET /healthz" else TELEMETRY_GOAL
    if row.load.errors:
        return f"not judged ({row.load.errors} errors)"
    return f"goal ≥ {goal:.0%}: " + ("**met**" if row.ratio >= goal else "**not met**")


def markdown(rows: list[Row], argv: list[str], robots: int) -> str:
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, code {code_version()}, with "
        f"`{shlex.join(['.venv/bin/python', 'bench/telemetry.py', *argv])}`. {robots} robots "
        "registered, each request from the next robot with its own token; `sidewalk serve "
        "operations` (one uvicorn worker, the dispatcher running) beside bench/bare_app.py, "
        "the bare endpoint measured just before each of our runs at the same concurrency. "
        "CPU in cores (1.00 = one core all along); wrk is the load generator.",
        "",
        "| scenario | code | backend | at once | requests/s | p50 ms | p99 ms | errors | bare/s "
        "| ratio | server CPU | wrk CPU | PostgreSQL CPU | verdict |",
        "| --- | --- | --- " + "| ---: " * 10 + "| --- |",
    ]
    for r in rows:
        load = r.load
        lines.append(
            f"| {r.scenario} | {r.code} | {r.backend} | {r.connections} | {load.rate:,.0f} "
            f"| {load.p50_ms:.1f} | {load.p99_ms:.1f} | {load.errors} | {r.baseline.rate:,.0f} "
            f"| {r.ratio:.0%} | {load.server_cpu:.2f} | {load.wrk_cpu:.2f} "
            f"| {load.postgres_cpu:.2f} | {verdict(r) if r.code == 'this' else '(before)'} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--levels", default="16,64", help="robots reporting at once")
    parser.add_argument("--robots", type=int, default=500, help="robots registered")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=f"postgresql://postgres@{HOST}:5432/postgres")
    parser.add_argument("--quiet-wait", type=int, default=30)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="2 s a run; writes no file")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument(
        "--compare-with",
        default=None,
        help="a commit (e.g. HEAD~3) whose server is measured too, beside this checkout's",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 2, 1
    output = args.output or (None if args.quick else ROOT / "BENCHMARKS.md")
    levels = [int(n) for n in args.levels.split(",")]
    opts = Options(
        duration=args.duration,
        warmup=args.warmup,
        connections=levels[0],
        threads=1,
        postgres=args.postgres,
        output=output or ROOT / "BENCHMARKS.md",
        quiet_wait=args.quiet_wait,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sidewalk-telemetry-") as folder:
        tmp = Path(folder)
        port = free_port()
        command = [str(BIN / "python"), "-m", "uvicorn", "bare_app:app", "--app-dir"]
        command += [str(ROOT / "bench"), "--host", HOST, "--port", str(port), "--no-access-log"]
        codes = [Code()]
        if args.compare_with:
            codes.insert(0, worktree(args.compare_with, tmp))
        with serving(command, clean_env(), port, tmp / "bare.log") as bare:
            for backend in args.backends.split(","):
                for code in codes:
                    if backend == "sqlite":
                        url = f"sqlite:///{tmp}/operations-{code.name}.db"
                        rows += measure_backend(
                            opts, levels, args.robots, "SQLite", url, bare, tmp, code
                        )
                    else:
                        with postgres_database(args.postgres) as url:
                            rows += measure_backend(
                                opts, levels, args.robots, "PostgreSQL", url, bare, tmp, code
                            )
        for code in codes:
            remove_worktree(code)
    console.print(rich_table(rows))
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "scenario": r.scenario,
                        "backend": r.backend,
                        "connections": r.connections,
                        "rate": r.load.rate,
                        "p99_ms": r.load.p99_ms,
                        "ratio": r.ratio,
                    }
                    for r in rows
                ]
            )
        )
    if output is not None:
        write_section(output, SECTION, markdown(rows, argv, args.robots))
        console.print(f"wrote {SECTION!r} in {output}")


if __name__ == "__main__":
    main(sys.argv[1:])
