"""The machine `make bench` measured on, written first: the head of BENCHMARKS.md (everything
above the first section) is rewritten with the CPU, memory, system and the versions of every
part the figures depend on. Each section also names its own machine in one line, as sections
may come from different runs.

Run: `make bench` (first), or `.venv/bin/python bench/machine.py [--output FILE]`."""

import argparse
import asyncio
import re
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from layouts import NATS_URL, nats_reachable
from scratch_postgres import PG_ADMIN, postgres_reachable
from sections import machine

ROOT = Path(__file__).resolve().parents[1]


def versions() -> list[str]:
    import duckdb
    import fastapi
    import sqlalchemy
    import uvicorn

    found = [
        f"SQLite {sqlite3.sqlite_version}",
        f"DuckDB {duckdb.__version__}",
        f"SQLAlchemy {sqlalchemy.__version__}",
        f"FastAPI {fastapi.__version__}",
        f"uvicorn {uvicorn.__version__}",
    ]
    if postgres_reachable():
        with psycopg.connect(PG_ADMIN) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        found.append(f"PostgreSQL {row[0].split()[0] if row else '?'}")
    if nats_reachable():
        found.append(f"NATS server {asyncio.run(_nats_version())}")
    return found


async def _nats_version() -> str:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=5)
    try:
        return str(nc._server_info.get("version", "?"))
    finally:
        await nc.close()


def head() -> str:
    return (
        "# Benchmarks\n\n"
        f"The latest benchmark runs were on: {machine()}; {', '.join(versions())} "
        f"({datetime.now(UTC):%Y-%m-%d}). PostgreSQL, NATS and the load generators run on the "
        "same machine as sidewalk. Each section names the command that made it and the machine "
        "it ran on; compare figures within one table only (each table is one run).\n"
    )


def write_head(path: Path, text: str) -> None:
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    first = re.search(r"^## ", old, re.MULTILINE)
    rest = old[first.start() :] if first else ""
    path.write_text(text + ("\n" + rest if rest else ""))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=ROOT / "BENCHMARKS.md")
    opts = parser.parse_args(argv)
    text = head()
    write_head(opts.output, text)
    sys.stderr.write(text)


if __name__ == "__main__":
    main()
