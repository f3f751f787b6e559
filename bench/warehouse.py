"""The warehouse's speed on a large history: a sync of 1,000,000 deliveries with their
attempts, tasks, trips, state history (and quotes, places, pilot assignments) from the
embedded default's SQLite files into DuckDB, rows per second beside a row-by-row load of the
same rows into the same engine (the baseline, as a ratio); the sync into PostgreSQL beside it;
a second sync with nothing new; and each query pattern's time on DuckDB at that size.
Goals: a sync of at least 100,000 rows/s; every pattern within 1 s.

The history is written by `warehouse_data.py` (SQL that makes the rows in SQLite itself).
Prints Rich tables and rewrites the section `## Warehouse (bench/warehouse.py)` of
BENCHMARKS.md. Run: `make bench`, or `.venv/bin/python bench/warehouse.py [--deliveries N]
[--no-postgres] [--quick]`; `--quick` (50,000 deliveries) writes nothing unless `--output`."""

import argparse
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from sqlalchemy import column, select, table

from scratch_postgres import postgres_database, postgres_reachable
from sections import code_version, machine, write_section
from sidewalk.kernel.db import make_engine
from sidewalk.warehouse import patterns
from sidewalk.warehouse.mirror import MIRRORED
from sidewalk.warehouse.sync import SyncSources, sync
from sidewalk.warehouse.target import open_warehouse
from warehouse_data import make_history

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Warehouse (bench/warehouse.py)"
SYNC_GOAL, PATTERN_GOAL_S = 100_000, 1.0
BASELINE_ROWS = 20_000
console = Console()


def timed_sync(sources: SyncSources, url: str) -> tuple[int, float, float]:
    """Rows of a first sync into the warehouse at `url`, its seconds, and a second's seconds.
    Each is timed from opening the warehouse to closing it, so DuckDB's checkpoint of what the
    sync wrote into its file (on closing) is counted."""

    def once() -> tuple[int, float]:
        began = time.perf_counter()
        warehouse = open_warehouse(url)
        try:
            rows = sum(sync(sources, warehouse).values())
        finally:
            warehouse.close()
        return rows, time.perf_counter() - began

    rows, first = once()
    again, second = once()
    assert again == 0, f"a second sync changed {again} rows"
    return rows, first, second


def row_by_row(sources: SyncSources, folder: Path) -> float:
    """Rows per second of the baseline: the deliveries read the same way, inserted one row at
    a time (a prepared INSERT per row) into a DuckDB table of the same columns."""
    m = next(m for m in MIRRORED if m.name == "deliveries")
    names = [name for name, _, _ in m.columns()]
    with sources.deliveries.connect() as connection:
        rows: Sequence[Any] = connection.execute(
            select(*(column(n) for n in names)).select_from(table(m.source)).limit(BASELINE_ROWS)
        ).all()
    con = duckdb.connect(str(folder / "baseline.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    definition = ", ".join(f"{n} {kind}" for n, kind, _ in m.columns())
    con.execute(f"CREATE TABLE deliveries ({definition}, PRIMARY KEY (id))")
    marks = ", ".join("?" for _ in names)
    began = time.perf_counter()
    con.execute("BEGIN")
    for row in rows:
        con.execute(f"INSERT INTO deliveries VALUES ({marks})", list(row))
    con.execute("COMMIT")
    elapsed = time.perf_counter() - began
    con.close()
    return len(rows) / elapsed


def pattern_params() -> dict[str, str]:
    """Values for the patterns' parameters that have no default."""
    return {"delivery_id": "dlv_00000042"}


def time_patterns(url: str) -> list[tuple[str, float, int]]:
    """Each pattern's median seconds over three runs (after one unmeasured), and its rows."""
    warehouse = open_warehouse(url)
    values = pattern_params()
    results = []
    try:
        for p in patterns.load_patterns():
            params = {
                k: values[k] for k, default in p.params.items() if not default and k in values
            }
            _, rows = patterns.run_pattern(warehouse, p.name, params)
            runs = []
            for _ in range(3):
                began = time.perf_counter()
                patterns.run_pattern(warehouse, p.name, params)
                runs.append(time.perf_counter() - began)
            results.append((p.name, statistics.median(runs), len(rows)))
    finally:
        warehouse.close()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--quick", action="store_true", help="50,000 deliveries")
    parser.add_argument("--output", type=Path, default=None)
    opts = parser.parse_args(argv)
    deliveries = 50_000 if opts.quick else opts.deliveries
    with tempfile.TemporaryDirectory(prefix="sidewalk-bench-warehouse-") as scratch:
        folder = Path(scratch)
        with console.status(f"writing a history of {deliveries:,} deliveries…"):
            began = time.perf_counter()
            deliveries_url, operations_url = make_history(folder, deliveries)
            made_s = time.perf_counter() - began
        sources = SyncSources(
            make_engine(deliveries_url, writer=False), make_engine(operations_url, writer=False)
        )
        duck_url = f"duckdb:///{folder / 'warehouse.duckdb'}"
        with console.status("sync into DuckDB…"):
            rows, duck_s, duck_again_s = timed_sync(sources, duck_url)
        with console.status("baseline: row by row…"):
            baseline = row_by_row(sources, folder)
        pg: tuple[int, float, float] | None = None
        if not opts.no_postgres and postgres_reachable():
            with postgres_database() as url, console.status("sync into PostgreSQL…"):
                pg = timed_sync(sources, url)
        with console.status("query patterns on DuckDB…"):
            timings = time_patterns(duck_url)
        for engine in (sources.deliveries, sources.operations):
            engine.dispose()
    section = render(
        deliveries,
        made_s,
        rows,
        duck_s,
        duck_again_s,
        baseline,
        pg,
        timings,
        argv if argv is not None else sys.argv[1:],
    )
    console.print(section)
    output = opts.output or (None if opts.quick else ROOT / "BENCHMARKS.md")
    if output is not None:
        write_section(output, SECTION, section)
        console.print(f"wrote {output}")


def render(
    deliveries: int,
    made_s: float,
    rows: int,
    duck_s: float,
    duck_again_s: float,
    baseline: float,
    pg: tuple[int, float, float] | None,
    timings: list[tuple[str, float, int]],
    argv: list[str],
) -> str:
    ours = rows / duck_s
    lines = [
        SECTION,
        "",
        f"Command: `.venv/bin/python bench/warehouse.py{' ' + shlex.join(argv) if argv else ''}`  ",
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
        f"Machine: {machine()}, DuckDB {version('duckdb')}, pyarrow "
        f"{version('pyarrow')}, SQLite {__import__('sqlite3').sqlite_version}",
        "",
        f"History: {deliveries:,} deliveries, {rows:,} rows in all (deliveries, quotes, "
        f"places, attempts and their links, tasks, trips, state history, pilot assignments, "
        f"merchants, robots, pilots), written in {made_s:.0f} s into the services' SQLite files.",
        "",
        "| sync | rows | seconds | rows/s | goal |",
        "| --- | ---: | ---: | ---: | --- |",
        f"| SQLite → DuckDB, first sync | {rows:,} | {duck_s:.1f} | {ours:,.0f} | "
        f"≥ {SYNC_GOAL:,}: {'met' if ours >= SYNC_GOAL else 'not met'} |",
        f"| SQLite → DuckDB, again (nothing new) | 0 | {duck_again_s:.2f} | | |",
    ]
    if pg is not None:
        pg_rows, pg_s, pg_again_s = pg
        lines += [
            f"| SQLite → PostgreSQL, first sync | {pg_rows:,} | {pg_s:.1f} | "
            f"{pg_rows / pg_s:,.0f} | |",
            f"| SQLite → PostgreSQL, again (nothing new) | 0 | {pg_again_s:.2f} | | |",
        ]
    lines += [
        f"| baseline: {BASELINE_ROWS:,} deliveries into DuckDB row by row | {BASELINE_ROWS:,} "
        f"| {BASELINE_ROWS / baseline:.1f} | {baseline:,.0f} | |",
        "",
        f"The sync loads **{ours / baseline:,.0f} times** as many rows per second as the "
        "row-by-row baseline into the same engine.",
        "",
        f"Query patterns on DuckDB at {deliveries:,} deliveries (median of 3 runs after one "
        f"unmeasured; goal ≤ {PATTERN_GOAL_S:g} s each):",
        "",
        "| pattern | seconds | rows | goal |",
        "| --- | ---: | ---: | --- |",
    ]
    for name, seconds, n in timings:
        met = "met" if seconds <= PATTERN_GOAL_S else "not met"
        lines.append(f"| {name} | {seconds:.3f} | {n:,} | {met} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
