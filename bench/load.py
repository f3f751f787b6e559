"""The merchant flow under rising load: quote → order → read → cancel, by N merchants at
once, against each layout (`bench/layouts.py`): embedded (`sidewalk serve all` on SQLite and
the in-process bus) and production (PostgreSQL, NATS JetStream, every service and worker its
own process), each beside a bare endpoint of the same server (`GET /healthz`) loaded the same
way in the same run.

Each level runs `--duration` seconds with N concurrent flows (each its own merchant key, so
that no rate limit is what is measured); every request's latency and status is kept. Reports
per level: flows/s, requests/s, p50 and p99 latency, errors (any status of 400 or more, or
no answer), and the ratio of our requests/s to the bare endpoint's at the same concurrency.
The load comes from this process, on the same machine as the servers: on 2 cores they all
compete, which the figures include.

Prints Rich tables and rewrites the section `## Load (bench/load.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/load.py [--duration 10] [--levels 1,4,16,64]
[--layouts embedded,production] [--quick] [--output FILE] [--json]`; `--quick` (embedded,
1 s a level, levels 1 and 4) writes nothing unless `--output` is given."""

import argparse
import asyncio
import json
import shlex
import statistics
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

from layouts import Layout, embedded, nats_reachable, production
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


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    flows: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # what the errors were

    def add(self, began: float, answer: httpx.Response | None, what: str) -> bool:
        self.latencies.append(time.perf_counter() - began)
        ok = answer is not None and answer.status_code < 400
        if not ok:
            self.errors += 1
            code = "no answer" if answer is None else f"{answer.status_code} {problem_code(answer)}"
            self.kinds[f"{what}: {code}"] += 1
        return ok


def problem_code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", ""))
    except ValueError:
        return ""


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

    @property
    def ratio(self) -> float:
        return self.requests_s / self.bare_requests_s if self.bare_requests_s else 0.0


def _merchant_keys(layout: Layout, n: int) -> list[str]:
    """`n` merchants, made through the service layer before the servers start."""
    from sidewalk.deliveries import merchants

    with layout.platform() as made:
        return [merchants.create_merchant(made.deliveries, f"Load {i}").api_key for i in range(n)]


async def _call(
    http: httpx.AsyncClient, tally: Tally, method: str, url: str, **kwargs: Any
) -> httpx.Response | None:
    began = time.perf_counter()
    what = f"{method} {url.split('/dlv_')[0]}"
    try:
        answer = await http.request(method, url, **kwargs)
    except httpx.HTTPError:
        tally.add(began, None, what)
        return None
    tally.add(began, answer, what)
    return answer


async def _flows(http: httpx.AsyncClient, key: str, until: float, tally: Tally) -> None:
    auth = {"Authorization": f"Bearer {key}"}
    while time.perf_counter() < until:
        quote = await _call(http, tally, "POST", "/v1/quotes", json=QUOTE, headers=auth)
        if quote is None or quote.status_code != 201:
            continue
        ordered = await _call(
            http,
            tally,
            "POST",
            "/v1/deliveries",
            json={"quote_id": quote.json()["id"]},
            headers={**auth, "Idempotency-Key": uuid.uuid4().hex},
        )
        if ordered is None or ordered.status_code != 201:
            continue
        delivery = ordered.json()["id"]
        await _call(http, tally, "GET", f"/v1/deliveries/{delivery}", headers=auth)
        await _call(http, tally, "POST", f"/v1/deliveries/{delivery}/cancel", headers=auth)
        tally.flows += 1


async def _bare(http: httpx.AsyncClient, until: float, tally: Tally) -> None:
    while time.perf_counter() < until:
        await _call(http, tally, "GET", "/healthz")


async def _level(base: str, keys: list[str], concurrency: int, seconds: float) -> Level:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        bare = Tally()
        until = time.perf_counter() + seconds
        await asyncio.gather(*(_bare(http, until, bare) for _ in range(concurrency)))
        ours = Tally()
        began = time.perf_counter()
        until = began + seconds
        await asyncio.gather(*(_flows(http, keys[i], until, ours) for i in range(concurrency)))
        took = time.perf_counter() - began
    ms = sorted(x * 1000 for x in ours.latencies) or [0.0]
    return Level(
        concurrency=concurrency,
        flows_s=ours.flows / took,
        requests_s=len(ours.latencies) / took,
        p50_ms=statistics.median(ms),
        p99_ms=ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        errors=ours.errors,
        requests=len(ours.latencies),
        bare_requests_s=len(bare.latencies) / seconds,
        error_kinds=dict(ours.kinds),
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
        keys = _merchant_keys(layout, max(levels))
        layout.start()
        asyncio.run(_level(layout.api, keys, 1, min(seconds, 2)))  # warm-up, not reported
        results = []
        for n in levels:
            console.print(f"{layout_name}: {n} at once for {seconds:g} s…")
            results.append(asyncio.run(_level(layout.api, keys, n, seconds)))
        return results


LAYOUT_WORDS = {
    "embedded": "`sidewalk serve all`: one process, SQLite, the in-process bus",
    "production": "PostgreSQL and NATS JetStream; `serve deliveries` (this load's server), "
    "`serve operations` and five workers, each its own process",
}


def render(runs: dict[str, list[Level]], seconds: float, argv: list[str]) -> str:
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/load.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}; the load generator runs on the same machine.",
        "",
        f"Each flow is quote → order → read → cancel by its own merchant; {seconds:g} s a "
        "level. The bare endpoint is `GET /healthz` of the same server at the same "
        "concurrency, just before.",
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
            json.dumps(
                {n: [{**r.__dict__, "ratio": r.ratio} for r in rs] for n, rs in runs.items()}
            )
        )
    section = render(runs, seconds, argv if argv is not None else sys.argv[1:])
    for name, results in runs.items():
        table = Table(title=f"merchant flow under load: {name}")
        for column in ("at once", "flows/s", "requests/s", "p50 ms", "p99 ms", "errors", "ratio"):
            table.add_column(column, justify="right")
        for r in results:
            table.add_row(
                str(r.concurrency), f"{r.flows_s:.1f}", f"{r.requests_s:.0f}", f"{r.p50_ms:.1f}",
                f"{r.p99_ms:.1f}", str(r.errors), f"{r.ratio:.2f}",
            )  # fmt: skip
        console.print(table)
    output = opts.output or (None if opts.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_section(output, SECTION, section)
        console.print(f"wrote {output}")


if __name__ == "__main__":
    main()
