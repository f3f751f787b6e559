"""The merchant flow under rising load: quote → order → read → cancel, by N merchants at
once, against each layout (`bench/layouts.py`): embedded (`sidewalk serve all` on SQLite and
the in-process bus) and production (PostgreSQL, NATS JetStream, every service and worker its
own process), each beside a bare endpoint of the same server (`GET /healthz`) loaded the same
way in the same run.

The load comes from wrk: N connections, each on its own wrk thread (so that each thread's Lua
state is one merchant's flow: the answer to a quote names the quote to order, the answer to
the order the delivery to read and cancel), each with its own merchant key, so that no rate
limit is what is measured. Each level runs `--duration` seconds. Reports per level: flows/s
(cancels answered), requests/s, p50 and p99 latency of every request (wrk's), errors (any
status of 400 or more, no answer in 10 s, or a broken connection), the ratio of our
requests/s to the bare endpoint's at the same concurrency, and the CPU of the servers, of
PostgreSQL and of wrk: the load generator, on the same machine, must not be what is measured.

Prints Rich tables and rewrites the section `## Load (bench/load.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/load.py [--duration 10] [--levels 1,4,16,64]
[--layouts embedded,production] [--quick] [--output FILE] [--json]`; `--quick` (embedded,
1 s a level, levels 1 and 4) writes nothing unless `--output` is given."""

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from api import DONE_LUA, lua_string
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
SECTION = "## Load (bench/load.py)"
QUOTE = {
    "pickup": {"lat": 34.0901, "lng": -118.3617, "full_address": "8500 Sunset Blvd"},
    "dropoff": {"lat": 34.0857, "lng": -118.3760, "full_address": "1 Main St"},
    "order_value_cents": 2350,
}
console = Console(stderr=True)

# One connection per wrk thread, so each thread's globals are one merchant's flow in step
# with its only connection: `response` sees the answer to the request `request` just made.
# wrk's summary (DONE_LUA) comes first and is called from this script's `done`.
# A step answered with an error (or not at all) starts the flow over with a new quote.
FLOW_LUA = """
local keys_file, tag, quote_body = {keys_file}, {tag}, {quote_body}

local dealt, threads = 0, {{}}
function setup(thread)
  thread:set("index", dealt)
  dealt = dealt + 1
  table.insert(threads, thread)
end

local auth, step, quote, delivery, orders = nil, "quote", nil, nil, 0
flows, failed = 0, ""
function init(args)
  local line_no = 0
  for line in io.lines(keys_file) do
    if line_no == index then auth = "Bearer " .. line end
    line_no = line_no + 1
  end
  assert(auth, "no merchant key for thread " .. index)
end

function request()
  local headers = {{["Authorization"] = auth, ["Content-Type"] = "application/json"}}
  if step == "quote" then
    return wrk.format("POST", "/v1/quotes", headers, quote_body)
  elseif step == "order" then
    orders = orders + 1
    headers["Idempotency-Key"] = tag .. "-" .. index .. "-" .. orders
    return wrk.format("POST", "/v1/deliveries", headers, '{{"quote_id": "' .. quote .. '"}}')
  elseif step == "read" then
    return wrk.format("GET", "/v1/deliveries/" .. delivery, headers)
  end
  return wrk.format("POST", "/v1/deliveries/" .. delivery .. "/cancel", headers)
end

function response(status, headers, body)
  if status >= 400 then
    if #failed < 400 then
      local code = body:match('"code":%s*"([^"]+)"') or ""
      failed = failed .. step .. " " .. status .. " " .. code .. ";"
    end
    step = "quote"
  elseif step == "quote" then
    quote = body:match('"id":%s*"(quo_[^"]+)"')
    step = quote and "order" or "quote"
  elseif step == "order" then
    delivery = body:match('"id":%s*"(dlv_[^"]+)"')
    step = delivery and "read" or "quote"
  elseif step == "read" then
    step = "cancel"
  else
    flows = flows + 1
    step = "quote"
  end
end

local report = done  -- the shared one, defined before this script
function done(summary, latency, requests)
  local total, errors = 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("flows")
    errors = errors .. thread:get("failed")
  end
  io.write("WRK_FLOWS " .. total .. "\\n")
  io.write("WRK_FAILED " .. errors .. "\\n")
  report(summary, latency, requests)
end
"""

HEALTHZ_LUA = 'wrk.method = "GET"\n'


@dataclass(frozen=True)
class Wrk:
    """What one wrk run measured, with the CPU each part used meanwhile (in cores)."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    flows: int
    failed: dict[str, int]
    cpu: dict[str, float]


@dataclass(frozen=True)
class Level:
    concurrency: int
    flows_s: float
    requests_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    bare_requests_s: float
    error_kinds: dict[str, int]
    cpu: dict[str, float]
    bare_wrk_cpu: float

    @property
    def ratio(self) -> float:
        return self.requests_s / self.bare_requests_s if self.bare_requests_s else 0.0


def _merchant_keys(layout: Layout, n: int) -> list[str]:
    """`n` merchants, made through the service layer before the servers start."""
    from sidewalk.deliveries import merchants

    with layout.platform() as made:
        return [merchants.create_merchant(made.deliveries, f"Load {i}").api_key for i in range(n)]


def _wrk(layout: Layout, connections: int, seconds: float, script: str, path: str) -> Wrk:
    """wrk with one thread per connection, measuring the CPU of the layout's processes, of
    PostgreSQL (production) and of wrk itself (this process's reaped children) meanwhile."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(DONE_LUA + script)
    command = ["wrk", f"--threads={connections}", f"--connections={connections}"]
    command += [f"--duration={seconds:g}s", "--timeout=10s", f"--script={f.name}"]
    pids = {p.name: p.popen.pid for p in layout.procs if p.popen is not None}
    before = {name: tree_ticks(pid) for name, pid in pids.items()}
    pg_before = postgres_ticks()
    children_before = _children_cpu_s()
    try:
        done = subprocess.run(
            [*command, layout.api + path],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=False,
        )
    finally:
        Path(f.name).unlink()
    found = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"wrk failed on {path}:\n{done.stdout}\n{done.stderr}")
    summary = json.loads(found.group(1))
    took = summary["duration_us"] / 1e6
    tick = os.sysconf("SC_CLK_TCK")
    cpu = {name: (tree_ticks(pid) - before[name]) / tick / took for name, pid in pids.items()}
    if layout.name == "production":
        cpu["PostgreSQL"] = postgres_ticks_since(pg_before) / tick / took
    cpu["wrk"] = (_children_cpu_s() - children_before) / took
    flows = re.search(r"^WRK_FLOWS (\d+)$", done.stdout, re.MULTILINE)
    failed = re.search(r"^WRK_FAILED (.*)$", done.stdout, re.MULTILINE)
    kinds: dict[str, int] = {}
    for kind in failed.group(1).split(";") if failed else []:
        if kind.strip():
            kinds[kind.strip()] = kinds.get(kind.strip(), 0) + 1
    errors = sum(summary[k] for k in ("non-2xx", "connect", "read", "write", "timeout"))
    return Wrk(
        requests=summary["requests"],
        seconds=took,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        errors=errors,
        flows=int(flows.group(1)) if flows else 0,
        failed=kinds,
        cpu=cpu,
    )


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def flow_script(keys_file: Path) -> str:
    return FLOW_LUA.format(
        keys_file=lua_string(str(keys_file)),
        tag=lua_string(f"load-{uuid.uuid4().hex[:12]}"),
        quote_body=lua_string(json.dumps(QUOTE)),
    )


def _level(layout: Layout, keys_file: Path, concurrency: int, seconds: float) -> Level:
    bare = _wrk(layout, concurrency, seconds, HEALTHZ_LUA, "/healthz")
    ours = _wrk(layout, concurrency, seconds, flow_script(keys_file), "/v1/quotes")
    return Level(
        concurrency=concurrency,
        flows_s=ours.flows / ours.seconds,
        requests_s=ours.requests / ours.seconds,
        p50_ms=ours.p50_ms,
        p99_ms=ours.p99_ms,
        errors=ours.errors,
        requests=ours.requests,
        bare_requests_s=bare.requests / bare.seconds,
        error_kinds=ours.failed,
        cpu=ours.cpu,
        bare_wrk_cpu=bare.cpu["wrk"],
    )


LAYOUTS = {"embedded": embedded, "production": production}
# One flow at a time makes over 100 calls a second with its key once orders are quick: the
# merchant's rate limit would be what is measured.
SETTINGS = {"SIDEWALK_RATE_LIMIT_KEY_RPS": "0"}


def run(layout_name: str, levels: list[int], seconds: float) -> list[Level]:
    with (
        tempfile.TemporaryDirectory(prefix="sidewalk-bench-load-") as scratch,
        LAYOUTS[layout_name](Path(scratch), **SETTINGS) as layout,
    ):
        keys_file = Path(scratch) / "keys.txt"
        keys_file.write_text("".join(f"{k}\n" for k in _merchant_keys(layout, max(levels))))
        layout.start()
        _level(layout, keys_file, 1, min(seconds, 2))  # warm-up, not reported
        results = []
        for n in levels:
            console.print(f"{layout_name}: {n} at once for {seconds:g} s…")
            results.append(_level(layout, keys_file, n, seconds))
        return results


LAYOUT_WORDS = {
    "embedded": "`sidewalk serve all`: one process, SQLite, the in-process bus",
    "production": "PostgreSQL and NATS JetStream; `serve deliveries` (this load's server), "
    "`serve operations` and five workers, each its own process",
}


def _cpu(level: Level) -> str:
    return ", ".join(f"{name} {cores:.2f}" for name, cores in level.cpu.items())


def render(runs: dict[str, list[Level]], seconds: float, argv: list[str]) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/load.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}; the load generator (wrk) runs on the same machine.",
        "",
        f"Each flow is quote → order → read → cancel by its own merchant, one wrk connection "
        f"(and thread) each; {seconds:g} s a level. Latencies are of every request (wrk's). "
        "The bare endpoint is `GET /healthz` of the same server at the same concurrency, "
        "from the same wrk, just before. Errors are answers of 400 or more, requests not "
        "answered in 10 s and broken connections.",
    ]
    for name, results in runs.items():
        lines += [
            "",
            f"**{name}** ({LAYOUT_WORDS[name]}):",
            "",
            "| at once | flows/s | requests/s | p50 ms | p99 ms | errors | bare requests/s "
            "| ratio |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in results:
            lines.append(
                f"| {r.concurrency} | {r.flows_s:,.1f} | {r.requests_s:,.0f} | {r.p50_ms:.1f} | "
                f"{r.p99_ms:.1f} | {r.errors} of {r.requests:,} | {r.bare_requests_s:,.0f} | "
                f"{r.ratio:.2f} |"
            )
        lines += ["", "CPU during the flows, in cores (1.00 = one core all along):", ""]
        for r in results:
            lines.append(
                f"- {r.concurrency} at once: {_cpu(r)} (wrk on the bare endpoint: "
                f"{r.bare_wrk_cpu:.2f})."
            )
        for r in results:
            if r.error_kinds:
                kinds = ", ".join(f"{k} ({n})" for k, n in sorted(r.error_kinds.items()))
                lines.append(f"\nErrors at {r.concurrency} at once: {kinds}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--layouts", default="embedded,production")
    parser.add_argument(
        "--quick", action="store_true", help="embedded only, 1 s a level, levels 1 and 4"
    )
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument("--json", action="store_true", help="print the levels as JSON")
    opts = parser.parse_args(argv)
    levels = [1, 4] if opts.quick else [int(x) for x in opts.levels.split(",")]
    seconds = 1.0 if opts.quick else opts.duration
    names = ["embedded"] if opts.quick else opts.layouts.split(",")
    if "production" in names and not (postgres_reachable() and nats_reachable()):
        sys.exit("the production layout needs PostgreSQL (127.0.0.1:5432) and NATS (:4222)")
    runs = {name: run(name, levels, seconds) for name in names}
    if opts.json:
        print(
            json.dumps({n: [{**asdict(r), "ratio": r.ratio} for r in rs] for n, rs in runs.items()})
        )
    section = render(runs, seconds, argv if argv is not None else sys.argv[1:])
    for name, results in runs.items():
        table = Table(title=f"merchant flow under load: {name}")
        for column in ("at once", "flows/s", "requests/s", "p50 ms", "p99 ms", "errors", "ratio",
                       "CPU (cores)"):  # fmt: skip
            table.add_column(column, justify="right")
        for r in results:
            table.add_row(
                str(r.concurrency), f"{r.flows_s:.1f}", f"{r.requests_s:.0f}", f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}", str(r.errors), f"{r.ratio:.2f}", _cpu(r),
            )  # fmt: skip
        console.print(table)
    output = opts.output or (None if opts.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_section(output, SECTION, section)
        console.print(f"wrote {output}")


if __name__ == "__main__":
    main()
