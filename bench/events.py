"""Events between the services: how long a change committed in one service takes to take
effect in the other, on the memory bus and on NATS JetStream, and how fast the outbox relay
drains a backlog, against the bus's own ceiling; all in one run.

Latency: both services in this process with their event runtime as `sidewalk serve all` runs
it (`service_events`: one outbox relay per service polling every 50 ms when idle, one consumer
per service, handlers in worker threads), on the bus under test. Deliveries are ordered
through the service layer (`create_delivery` commits the delivery, its attempt and
`attempt.requested` in its outbox in one transaction) at a steady rate; the clock starts when
it returns and stops when operations has committed the delivery's task (an observer of the
operations unit of work, told right after each commit). Each service has its own database:
two SQLite files, or two PostgreSQL databases made for the run and dropped after. A few
unreported orders warm each scenario up first.

Relay throughput: N events (copies of an `attempt.requested` envelope, fresh ids) in the
deliveries outbox, then `OutboxRelay.relay_once` until it is empty (batches of 200, each
claimed, published one event at a time, marked and committed). Baselines from the same process
without a database: raw JetStream publishes of the same envelopes (nats-py `js.publish` with
its `Nats-Msg-Id`, one at a time awaiting each ack, as the relay does), and `NatsBus.publish`.
Every NATS scenario has a stream and subject prefix of its own on the server, deleted after.

Prints Rich tables and rewrites the section `## Events (bench/events.py)` of BENCHMARKS.md.
Run: `make bench`, or `.venv/bin/python bench/events.py [--events 300] [--rate 25]
[--relay-events 20000] [--quick]`; `--quick` writes nothing unless `--output` is given.
"""

import argparse
import asyncio
import os
import platform
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import nats
import nats.js.errors
import numpy as np
import psycopg
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, make_url
from sqlalchemy.orm import Session

from sections import code_version, machine, write_section
from sidewalk import migrations
from sidewalk.app import service_events
from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries import merchants, ordering, quoting
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import MerchantPrincipal
from sidewalk.deliveries.models import OUTBOX
from sidewalk.deliveries.quote_store import insert_quotes
from sidewalk.deliveries.schemas import DeliveryCreate, LocationIn, QuoteCreate
from sidewalk.kernel.bus import Bus, MemoryBus
from sidewalk.kernel.bus.nats import NatsBus
from sidewalk.kernel.db import Inserts, make_engine
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.outbox import OutboxRelay, add_to_outbox
from sidewalk.kernel.settings import Settings
from sidewalk.operations.uow import OpsEvent

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## Events (bench/events.py)"
HOST = "127.0.0.1"
WARMUP_ORDERS = 20
ARRIVAL_TIMEOUT_S = 60.0
FILL_BATCH = 2_000

PICKUP = LocationIn(lat=34.0901, lng=-118.3617, full_address="8500 Sunset Blvd")
DROPOFF = LocationIn(lat=34.0857, lng=-118.3760, full_address="1 Main St, Apt 4")

console = Console()
if not console.is_terminal:
    console.width = 140


@dataclass(frozen=True)
class Options:
    events: int
    rate: float
    relay_events: int
    postgres: str
    nats: str
    output: Path | None


def parse_options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--events", type=int, help="orders timed per scenario (300)")
    parser.add_argument("--rate", type=float, default=25.0, help="orders per second")
    parser.add_argument("--relay-events", type=int, help="outbox backlog (20,000)")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "SIDEWALK_BENCH_POSTGRES", f"postgresql://postgres@{HOST}:5432/postgres"
        ),
        help="admin URL of the PostgreSQL server; databases are made there and dropped",
    )
    parser.add_argument(
        "--nats",
        default=os.environ.get("SIDEWALK_BENCH_NATS", f"nats://{HOST}:4222"),
        help="the NATS JetStream server; streams are made there and deleted",
    )
    parser.add_argument("--output", type=Path, default=None, help="default: BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="smoke run: 40 orders, 2,000 events")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 40 if args.quick else 300
    if args.relay_events is None:
        args.relay_events = 2_000 if args.quick else 20_000
    if args.events < 1 or args.relay_events < 1 or args.rate <= 0:
        parser.error("--events, --relay-events and --rate must be positive")
    output = args.output or (None if args.quick else ROOT / "BENCHMARKS.md")
    return Options(args.events, args.rate, args.relay_events, args.postgres, args.nats, output)


# --- places: databases and streams ---------------------------------------------------------


@contextmanager
def postgres_databases(admin_url: str, count: int) -> Iterator[list[str]]:
    """`count` new empty databases on the server of `admin_url`, dropped afterwards."""
    names = [f"sidewalk_bench_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = make_url(admin_url).set(drivername="postgresql+psycopg")
        yield [base.set(database=n).render_as_string(hide_password=False) for n in names]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Stream:
    name: str
    prefix: str


def new_stream() -> Stream:
    tag = uuid.uuid4().hex[:12]
    return Stream(f"BENCH_{tag}", f"bench_{tag}")


async def delete_streams(url: str, streams: Sequence[Stream]) -> None:
    nc = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=5)
    try:
        js = nc.jetstream()
        for stream in streams:
            with suppress(nats.js.errors.NotFoundError):
                await js.delete_stream(stream.name)
    finally:
        await nc.close()


async def nats_server_version(url: str) -> str:
    nc = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=5)
    try:
        v = nc.connected_server_version
        return f"{v.major}.{v.minor}.{v.patch}"
    finally:
        await nc.close()


# --- latency --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    bus: str
    database: str
    count: int
    arrived: int
    seconds: np.ndarray

    def ms(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) * 1000


@contextmanager
def events_running(platform: Platform) -> Iterator[None]:
    """Both services' event runtime, as `sidewalk serve all` runs it, on a thread of its own."""
    started = threading.Event()
    failures: list[BaseException] = []
    loop_and_stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stop = asyncio.Event()
        loop_and_stop.append((asyncio.get_running_loop(), stop))
        async with service_events(platform, "deliveries", "operations"):
            started.set()
            await stop.wait()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:
            failures.append(e)
            started.set()

    thread = threading.Thread(target=target, name="events", daemon=True)
    thread.start()
    if not started.wait(60) or failures:
        raise RuntimeError(f"the event runtime did not start: {failures}")
    try:
        yield
    finally:
        loop, stop = loop_and_stop[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
    if failures:
        raise failures[0]


def measure_latency(
    bus: str, database: str, urls: tuple[str, str], stream: Stream, opts: Options, tmp: Path
) -> Latency:
    settings = Settings(
        var_dir=tmp,
        deliveries_database_url=urls[0],
        operations_database_url=urls[1],
        bus_url="memory://" if bus == "memory" else opts.nats,
        bus_stream=stream.name,
        bus_subject_prefix=stream.prefix,
    )
    built = bootstrap(settings)
    arrived: dict[str, float] = {}

    def task_committed(events: Sequence[OpsEvent]) -> None:
        now = time.perf_counter()
        for e in events:
            if e.type == "task.created" and e.delivery_id is not None:
                arrived.setdefault(e.delivery_id, now)

    built.operations_observers.append(task_committed)
    try:
        ctx = built.deliveries
        made = merchants.create_merchant(ctx, "Bench Bakery", quote_lifetime_s=3600)
        merchant = merchants.authenticate(ctx, f"Bearer {made.api_key}")
        ask = QuoteCreate(pickup=PICKUP, dropoff=DROPOFF)
        quotes = [
            quoting.price_quote(ctx, merchant, ask) for _ in range(WARMUP_ORDERS + opts.events)
        ]
        with ctx.uow() as uow:
            insert_quotes(uow.session, quotes)
            uow.commit()
        sent: dict[str, float] = {}
        with events_running(built):
            warm = [order(ctx, merchant, q.id) for q in quotes[:WARMUP_ORDERS]]
            wait_for(arrived, warm)
            gap, start = 1 / opts.rate, time.perf_counter()
            for i, quote in enumerate(quotes[WARMUP_ORDERS:]):
                pause = start + i * gap - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                delivery_id = order(ctx, merchant, quote.id)
                sent[delivery_id] = time.perf_counter()
            wait_for(arrived, list(sent))
        seconds = np.array([arrived[d] - t for d, t in sent.items() if d in arrived])
        return Latency(bus, database, len(sent), len(seconds), seconds)
    finally:
        built.close()


def order(ctx: DeliveriesContext, merchant: MerchantPrincipal, quote: str) -> str:
    ordered = ordering.create_delivery(ctx, merchant, DeliveryCreate(quote_id=quote))
    return str(ordered.delivery["id"])


def wait_for(arrived: dict[str, float], deliveries: list[str]) -> None:
    deadline = time.monotonic() + ARRIVAL_TIMEOUT_S
    while not all(d in arrived for d in deliveries) and time.monotonic() < deadline:
        time.sleep(0.01)


# --- relay throughput -----------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    name: str
    database: str
    bus: str
    events: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.events / self.seconds


def envelopes(n: int) -> list[Envelope]:
    """Copies of an `attempt.requested` as the deliveries service writes it, fresh ids."""
    payload = {
        "provider": "robot",
        "sequence": 1,
        "merchant_id": "mer_3hG7kqWm2nP8xR4tV9bC5d",
        "pickup": PICKUP.model_dump(),
        "dropoff": DROPOFF.model_dump(),
        "dropoff_instructions": "Leave at the door",
        "customer": {"name": "Ada", "phone": "+13105550100"},
        "order_value_cents": 2350,
        "currency": "USD",
    }
    at = datetime.now(UTC)
    return [
        Envelope.new(
            "attempt.requested",
            "deliveries",
            occurred_at=at,
            subject={"delivery_id": f"dlv_bench{i:08d}", "attempt_id": f"att_bench{i:08d}"},
            payload=payload,
        )
        for i in range(n)
    ]


def fill_outbox(engine: Engine, events: list[Envelope]) -> None:
    for start in range(0, len(events), FILL_BATCH):
        with Session(engine) as session, session.begin():
            inserts = Inserts()
            add_to_outbox(inserts, OUTBOX, events[start : start + FILL_BATCH])
            inserts.write(session.connection())


async def drain_outbox(engine: Engine, bus: Bus, warm: Envelope) -> float:
    """Seconds the relay takes to publish every event of the outbox (after one warm-up
    publish, which connects and makes the stream)."""
    await bus.publish(warm)
    relay = OutboxRelay(engine, OUTBOX, bus, lambda: datetime.now(UTC))
    started = time.perf_counter()
    while await relay.relay_once():
        pass
    return time.perf_counter() - started


async def publish_through(bus: Bus, events: list[Envelope], warm: Envelope) -> float:
    await bus.publish(warm)
    started = time.perf_counter()
    for e in events:
        await bus.publish(e)
    return time.perf_counter() - started


async def publish_raw(url: str, stream: Stream, events: list[Envelope]) -> float:
    """nats-py alone: the same envelopes, subjects and message ids, one ack at a time."""
    nc = await nats.connect(url, max_reconnect_attempts=0, connect_timeout=5)
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream.name, subjects=[f"{stream.prefix}.events.>"])
        await js.publish(f"{stream.prefix}.events.warm", b"{}", stream=stream.name)
        subject = f"{stream.prefix}.events.deliveries.attempt.requested"
        started = time.perf_counter()
        for e in events:
            await js.publish(
                subject, e.to_json(), stream=stream.name, headers={"Nats-Msg-Id": e.id}
            )
        return time.perf_counter() - started
    finally:
        await nc.close()


def relay_engine(url: str) -> Engine:
    engine = make_engine(url)
    migrations.upgrade("deliveries", engine)
    return engine


def measure_throughput(
    opts: Options, postgres_url: str, sqlite_url: str, streams: list[Stream]
) -> list[Throughput]:
    n = opts.relay_events
    results = []

    def nats_bus() -> NatsBus:
        stream = new_stream()
        streams.append(stream)
        return NatsBus(opts.nats, stream=stream.name, prefix=stream.prefix)

    raw = new_stream()
    streams.append(raw)
    console.print("[dim]raw JetStream publish...[/dim]")
    seconds = asyncio.run(publish_raw(opts.nats, raw, envelopes(n)))
    results.append(Throughput("raw JetStream publish (nats-py)", "-", "NATS", n, seconds))

    async def through_bus() -> float:
        async with nats_bus() as bus:
            return await publish_through(bus, envelopes(n), envelopes(1)[0])

    console.print("[dim]NatsBus.publish...[/dim]")
    results.append(Throughput("NatsBus.publish", "-", "NATS", n, asyncio.run(through_bus())))

    for database, url in (("PostgreSQL", postgres_url), ("SQLite", sqlite_url)):
        for bus_name in ("NATS", "memory"):
            console.print(f"[dim]outbox relay, {database}, {bus_name}...[/dim]")
            engine = relay_engine(url)
            try:
                fill_outbox(engine, envelopes(n))

                async def relay(engine: Engine = engine, bus_name: str = bus_name) -> float:
                    bus: Bus = nats_bus() if bus_name == "NATS" else MemoryBus(max_events=2 * n)
                    async with bus:
                        return await drain_outbox(engine, bus, envelopes(1)[0])

                seconds = asyncio.run(relay())
                results.append(Throughput("outbox relay", database, bus_name, n, seconds))
                with engine.begin() as conn:  # the next run starts from an empty outbox
                    conn.execute(OUTBOX.delete())
            finally:
                engine.dispose()
    return results


# --- report ---------------------------------------------------------------------------------


def latency_rows(rows: list[Latency]) -> list[list[str]]:
    memory = {r.database: r for r in rows if r.bus == "memory"}
    out = []
    for r in rows:
        base = memory.get(r.database)
        ratio = (
            f"{r.ms(50) / base.ms(50):.2f} / {r.ms(99) / base.ms(99):.2f}"
            if base is not None and r.bus != "memory"
            else "-"
        )
        out.append(
            [
                r.database,
                r.bus,
                f"{r.arrived:,} / {r.count:,}",
                f"{r.ms(50):.1f}",
                f"{r.ms(99):.1f}",
                f"{float(np.mean(r.seconds)) * 1000:.1f}",
                f"{float(np.max(r.seconds)) * 1000:.1f}",
                ratio,
            ]
        )
    return out


LATENCY_HEADER = [
    "databases",
    "bus",
    "arrived",
    "p50 ms",
    "p99 ms",
    "mean ms",
    "max ms",
    "NATS / memory (p50 / p99)",
]
THROUGHPUT_HEADER = ["what", "database", "bus", "events", "seconds", "events/s", "of raw publish"]


def throughput_rows(rows: list[Throughput]) -> list[list[str]]:
    raw = rows[0].per_second
    return [
        [
            r.name,
            r.database,
            r.bus,
            f"{r.events:,}",
            f"{r.seconds:.2f}",
            f"{r.per_second:,.0f}",
            f"{r.per_second / raw:.0%}",
        ]
        for r in rows
    ]


def rich_table(title: str, header: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 3 else "right")
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" if i < 3 else "---:" for i in range(len(header))) + " |",
    ]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown_section(
    opts: Options, latency: list[Latency], throughput: list[Throughput], stack: str
) -> str:
    return "\n".join(
        [
            SECTION,
            "",
            f"Command: `{command_line()}`  ",
            f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, code {code_version()}  ",
            f"Machine: {machine()}  ",
            f"Stack: {stack}",
            "",
            "Latency from a change committed in deliveries to its effect committed in "
            "operations: a delivery ordered through the service layer (its `attempt.requested` "
            "written to the outbox in the same transaction) until operations has committed its "
            f"task. {opts.events:,} orders per scenario at {opts.rate:g} a second after "
            f"{WARMUP_ORDERS} unreported ones; both services in one process with their event "
            "runtime as `sidewalk serve all` runs it (an idle outbox relay looks for new "
            "events every 50 ms: 25 ms of each figure on average, whatever the bus); each "
            "service on its own database; NATS JetStream on this machine, a stream of the "
            "run's own. One run on a shared 2-core machine: figures move by tens of percent "
            "from run to run.",
            "",
            *markdown_table(LATENCY_HEADER, latency_rows(latency)),
            "",
            f"Outbox relay throughput: {opts.relay_events:,} `attempt.requested` events in the "
            "deliveries outbox, drained by `OutboxRelay.relay_once` (batches of 200: claim, "
            "publish one at a time, mark, commit). The baselines publish the same envelopes "
            "from this process without a database: nats-py alone (`js.publish` with the "
            "message id, awaiting each ack, as the relay does) and our `NatsBus.publish`. "
            "The memory bus rows show what the relay costs with a bus that costs almost "
            "nothing.",
            "",
            *markdown_table(THROUGHPUT_HEADER, throughput_rows(throughput)),
            "",
        ]
    )


def command_line() -> str:
    python = Path(sys.executable)
    shown = python.relative_to(ROOT) if python.is_relative_to(ROOT) else python
    script = Path(sys.argv[0]).resolve()
    script_shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    return shlex.join([str(shown), str(script_shown), *sys.argv[1:]])


def stack_description(opts: Options) -> str:
    with psycopg.connect(opts.postgres) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    postgres = str(row[0]).split()[0] if row else "?"
    packages = ("nats-py", "sqlalchemy", "psycopg")
    return ", ".join(
        [
            f"Python {platform.python_version()}",
            *(f"{name} {version(name)}" for name in packages),
            f"nats-server {asyncio.run(nats_server_version(opts.nats))}",
            f"SQLite {sqlite3.sqlite_version}",
            f"PostgreSQL {postgres}",
        ]
    )


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    opts = parse_options(argv)
    try:
        stack = stack_description(opts)
    except (OSError, psycopg.OperationalError, nats.errors.Error) as e:
        needed = f"PostgreSQL ({opts.postgres}) and NATS ({opts.nats}) are needed: {e}"
        raise SystemExit(needed) from e
    streams: list[Stream] = []
    latency: list[Latency] = []
    try:
        with (
            tempfile.TemporaryDirectory(prefix="sidewalk-bench-") as name,
            postgres_databases(opts.postgres, 5) as pg,
        ):
            tmp = Path(name)
            for n, (database, bus) in enumerate(
                (db, bus) for db in ("SQLite", "PostgreSQL") for bus in ("memory", "NATS")
            ):
                console.print(f"[dim]latency, {database}, {bus} bus...[/dim]")
                here = tmp / f"latency-{n}"
                here.mkdir()
                urls = (
                    (f"sqlite:///{here / 'deliveries.db'}", f"sqlite:///{here / 'operations.db'}")
                    if database == "SQLite"
                    else (pg[n % 2 * 2], pg[n % 2 * 2 + 1])  # two databases per scenario
                )
                stream = new_stream()
                streams.append(stream)
                latency.append(measure_latency(bus, database, urls, stream, opts, here))
            throughput = measure_throughput(opts, pg[4], f"sqlite:///{tmp / 'relay.db'}", streams)
    finally:
        asyncio.run(delete_streams(opts.nats, streams))
    console.print(rich_table("Event latency", LATENCY_HEADER, latency_rows(latency)))
    console.print(
        rich_table("Outbox relay throughput", THROUGHPUT_HEADER, throughput_rows(throughput))
    )
    if any(r.arrived < r.count for r in latency):
        console.print("[red]some events never arrived: see the `arrived` column[/red]")
    if opts.output is not None:
        write_section(opts.output, SECTION, markdown_section(opts, latency, throughput, stack))
        console.print(f"wrote {opts.output}")


if __name__ == "__main__":
    main(sys.argv[1:])
