"""The warehouse mirror after a simulated run of the whole platform, on DuckDB and PostgreSQL:
table by table as many rows as the services hold, a second sync adding nothing, and after more
activity exactly the rows that are new or changed (worked out from the services' tables
before and after, not from the sync)."""

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import merchants, ordering, quoting, webhooks
from sidewalk.deliveries.models import Delivery
from sidewalk.deliveries.schemas import CustomerIn, DeliveryCreate, LocationIn, QuoteCreate
from sidewalk.deliveries.webhook_schemas import WebhookEndpointCreate
from sidewalk.kernel.db import make_engine
from sidewalk.simulator.params import SimParams
from sidewalk.simulator.run import Databases, Simulation, finished_simulation
from sidewalk.warehouse.mirror import MIRRORED, Mirrored
from sidewalk.warehouse.sync import SyncSources, create_mirror_tables, sync
from sidewalk.warehouse.target import Warehouse, open_warehouse
from tests.databases import fresh_postgres_database
from tests.factories import MerchantClient

pytestmark = pytest.mark.slow

PARAMS = SimParams(hours=1.5, robots=8, pilots=3, orders_per_hour=40, seed=3, start_local_hour=11)


@pytest.fixture(scope="module")
def simulated() -> Iterator[tuple[Simulation, SyncSources]]:
    """A simulated run that the tests only read (shared by the module's tests)."""
    with finished_simulation(PARAMS) as (sim, _):
        yield sim, _sources(sim)


@pytest.fixture
def running() -> Iterator[tuple[Simulation, SyncSources]]:
    """A simulated run of the test's own, which it may carry on."""
    with finished_simulation(PARAMS) as (sim, _):
        yield sim, _sources(sim)


def _sources(sim: Simulation) -> SyncSources:
    settings = sim.world.platform.settings
    return SyncSources(
        make_engine(settings.deliveries_url, writer=False),
        make_engine(settings.operations_url, writer=False),
    )


def _engine(sources: SyncSources, m: Mirrored) -> Engine:
    return sources.of(m.service)


def source_rows(sources: SyncSources) -> dict[str, set[tuple[Any, ...]]]:
    """Every mirrored row as the services hold it (mirrored columns only), per warehouse table."""
    rows: dict[str, set[tuple[Any, ...]]] = {}
    for m in MIRRORED:
        table = m.table()
        kept = [table.c[name] for name, _, _ in m.columns()[len(m.constants) :]]
        with _engine(sources, m).connect() as connection:
            found = connection.execute(select(*kept)).all()
        rows.setdefault(m.qualified, set()).update(
            (m.service, *(_comparable(v) for v in row)) for row in found
        )
    return rows


def _comparable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else value


def warehouse_counts(warehouse: Warehouse) -> dict[str, int]:
    counts = {}
    for name in {m.qualified for m in MIRRORED}:
        _, ((n,),) = warehouse.query(f"SELECT count(*) FROM {name}")
        counts[name] = int(n)
    return counts


def test_a_sync_mirrors_every_table_and_a_second_adds_nothing(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    _, sources = simulated
    expected = {name: len(rows) for name, rows in source_rows(sources).items()}
    assert expected["deliveries_v3.deliveries"] > 30
    assert expected["deliveries_v3.state_history"] > 0
    assert expected["events.domain_events"] > expected["deliveries_v3.deliveries"]

    first = sync(sources, warehouse)

    assert first == expected
    assert warehouse_counts(warehouse) == expected
    assert set(sync(sources, warehouse).values()) == {0}


def test_after_more_activity_a_sync_adds_exactly_the_new_and_changed_rows(
    running: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    sim, sources = running
    sync(sources, warehouse)
    before = source_rows(sources)

    sim.run_until(PARAMS.duration_s + 1800)  # half an hour more of the city
    after = source_rows(sources)
    expected = {name: len(after[name] - before[name]) for name in after}
    assert expected["deliveries_v3.deliveries"] > 0

    assert sync(sources, warehouse) == expected
    assert warehouse_counts(warehouse) == {name: len(rows) for name, rows in after.items()}


def test_the_warehouse_keeps_types_times_with_their_zone_and_money_in_cents(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    _, sources = simulated
    sync(sources, warehouse)
    with sources.deliveries.connect() as connection:
        delivered = connection.execute(
            select(func.count()).select_from(Delivery).where(Delivery.status == "delivered")
        ).scalar_one()
    _, rows = warehouse.query(
        "SELECT d.created_at, d.delivered_at, q.fee_cents, d.status "
        "FROM deliveries_v3.deliveries d JOIN deliveries_v3.quotes q ON q.id = d.quote_id "
        "WHERE d.status = :status",
        {"status": "delivered"},
    )
    assert len(rows) == delivered > 0
    for created_at, delivered_at, fee_cents, _ in rows:
        assert isinstance(created_at, datetime)
        assert created_at.utcoffset() is not None
        assert created_at.astimezone(UTC) < delivered_at.astimezone(UTC)
        assert isinstance(fee_cents, int)


def test_each_attempt_keeps_its_own_times_and_network(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    """A delivery another provider took over keeps each attempt's times apart: the robot's
    request and failure, then the next attempt's request, each named with its network."""
    _, sources = simulated
    sync(sources, warehouse)
    _, rows = warehouse.query(
        "SELECT l.delivery_id, l.sequence, a.provider, a.network, a.requested_at,"
        " COALESCE(a.failed_at, a.cancelled_at) "
        "FROM deliveries_v3.delivery_attempts l JOIN deliveries_v3.attempts a"
        " ON a.id = l.attempt_id ORDER BY l.delivery_id, l.sequence"
    )
    by_delivery: dict[str, list[tuple[Any, ...]]] = {}
    for delivery_id, *attempt in rows:
        by_delivery.setdefault(delivery_id, []).append(tuple(attempt))
    taken_over = [a for a in by_delivery.values() if len(a) > 1]
    assert taken_over
    for attempts in taken_over:
        assert [a[0] for a in attempts] == list(range(1, len(attempts) + 1))
        for (_, provider, network, _, ended), (_, _, _, next_requested, _) in pairwise(attempts):
            assert network == ("sidewalk" if provider == "robot" else "simulated")
            assert ended is not None
            assert ended.astimezone(UTC) <= next_requested.astimezone(UTC)


# Where the services keep what must never leave them: credentials, the PIN that opens a
# robot, and how to reach a customer or an operator.
SECRETS = {
    "deliveries": (
        "SELECT customer_name, customer_phone, dropoff_instructions, tracking_token, unlock_pin"
        " FROM deliveries",
        "SELECT key_hash FROM api_keys",
        "SELECT secret FROM webhook_endpoints",
    ),
    "operations": (
        "SELECT token_digest FROM robots",
        "SELECT token_digest, email FROM operators",
        "SELECT unlock_pin FROM tasks",
    ),
}


def _order_with_everything_personal(sim: Simulation) -> None:
    """One order that names its customer and says how to reach the door, from a merchant
    with a webhook endpoint (whose signing secret is the merchant's), carried on by the
    simulation like any other."""
    ctx = sim.world.platform.deliveries
    name, api_key = next(iter(sim.merchant_keys.items()))
    who = merchants.authenticate(ctx, f"Bearer {api_key}")
    webhooks.create_endpoint(
        ctx,
        who,
        WebhookEndpointCreate(url="https://merchant.example/hooks", events=["delivery.created"]),
    )
    shop = next(m.place for m in sim.world.city.merchants if m.place.name == name)
    quote = quoting.price_quote(
        ctx,
        who,
        QuoteCreate(
            pickup=LocationIn(lat=shop.lat, lng=shop.lng, full_address=shop.name),
            dropoff=LocationIn(lat=shop.lat + 0.004, lng=shop.lng, full_address="12 Elm St"),
        ),
    )
    quoting.store_quote(ctx, quote)
    customer = CustomerIn(name="Quentin Marchetti-Oyelaran", phone="+1 310 555 0199")
    ordering.create_delivery(
        ctx,
        who,
        DeliveryCreate(
            quote_id=quote.id,
            customer=customer,
            dropoff_instructions="Gate code 7731, then the blue door on the left",
        ),
    )


def _secrets(sources: SyncSources) -> set[str]:
    found: set[str] = set()
    for service_name, queries in SECRETS.items():
        with sources.of(service_name).connect() as connection:
            for sql in queries:
                for row in connection.exec_driver_sql(sql):
                    found.update(str(v) for v in row if v is not None and str(v) != "")
    return found


def _warehouse_texts(warehouse: Warehouse) -> Iterator[tuple[str, str, str]]:
    """(table, column, text) of every text cell of every table the warehouse holds (JSON
    is kept as text); numbers and times cannot hold a secret."""
    _, tables = warehouse.query(
        "SELECT table_schema, table_name FROM information_schema.tables"
        " WHERE table_schema NOT IN ('information_schema', 'pg_catalog', 'main')"
        " AND table_type = 'BASE TABLE'"
    )
    assert len(tables) >= len({m.qualified for m in MIRRORED})
    for schema, table in tables:
        columns, rows = warehouse.query(f'SELECT * FROM {schema}."{table}"')
        for row in rows:
            for column, value in zip(columns, row, strict=True):
                if isinstance(value, str):
                    yield f"{schema}.{table}", column, value


def test_nothing_secret_or_personal_reaches_the_warehouse(
    running: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    """Every cell of every table of a synced warehouse, against every credential, PIN and
    contact detail the services hold: none is there, whole or inside a document."""
    sim, sources = running
    _order_with_everything_personal(sim)
    sim.run_until(PARAMS.duration_s + 900)  # the order reaches a robot, and its task a PIN
    sync(sources, warehouse)
    secrets = _secrets(sources)
    pins = {s for s in secrets if len(s) < 8}
    assert "Gate code 7731, then the blue door on the left" in secrets
    assert pins  # the deliveries' and the tasks' PINs
    long_ones = secrets - pins
    leaks = [
        (table, column)
        for table, column, text in _warehouse_texts(warehouse)
        if text in pins
        or any(f'"{pin}"' in text for pin in pins)
        or any(secret in text for secret in long_ones)
    ]
    assert sorted(set(leaks)) == []


@pytest.mark.postgres
def test_a_sync_reads_postgresql_services_as_well() -> None:
    with (
        fresh_postgres_database() as url,
        finished_simulation(PARAMS.with_(hours=1), dbs=Databases(url, url)) as (sim, _),
    ):
        sources = _sources(sim)
        warehouse = open_warehouse("duckdb:///:memory:")
        expected = {name: len(rows) for name, rows in source_rows(sources).items()}
        assert sync(sources, warehouse) == expected
        assert set(sync(sources, warehouse).values()) == {0}
        warehouse.close()
        for engine in (sources.deliveries, sources.operations):
            engine.dispose()


def test_api_requests_and_events_reach_the_events_schema(
    platform: Platform, merchant: MerchantClient, warehouse: Warehouse
) -> None:
    delivery = merchant.delivery()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").status_code == 200
    platform.deliveries.audit.flush()
    sources = SyncSources(
        make_engine(platform.settings.deliveries_url, writer=False),
        make_engine(platform.settings.operations_url, writer=False),
    )

    changed = sync(sources, warehouse)

    _, calls = warehouse.query(
        "SELECT service, actor_type, method, route, status_code FROM events.api_requests "
        "ORDER BY seq"
    )
    assert calls == [
        ("deliveries", "merchant", "POST", "/v1/quotes", 201),
        ("deliveries", "merchant", "POST", "/v1/deliveries", 201),
        ("deliveries", "merchant", "GET", "/v1/deliveries/{delivery_id}", 200),
    ]
    assert changed["events.api_requests"] == 3
    _, types = warehouse.query(
        "SELECT type FROM events.domain_events WHERE service = :service", {"service": "deliveries"}
    )
    assert ("delivery.created",) in types or ("attempt.requested",) in types
    for engine in (sources.deliveries, sources.operations):
        engine.dispose()


def test_a_warehouse_made_before_the_services_gained_columns_gets_them(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    _, sources = simulated
    newer = {"undeliverable_action", "undeliverable", "pickup_ready_at", "dropoff_before"}
    older = [
        dataclasses.replace(m, leave_out=m.leave_out | newer)
        if m.qualified in ("deliveries_v3.deliveries", "deliveries_v3.quotes")
        else m
        for m in MIRRORED
    ]
    create_mirror_tables(warehouse, older)

    counts = sync(sources, warehouse)

    assert counts == {name: len(rows) for name, rows in source_rows(sources).items()}
    _, rows = warehouse.query(
        "SELECT count(*) FROM deliveries_v3.deliveries WHERE undeliverable_action = 'return'"
    )
    assert rows[0][0] == counts["deliveries_v3.deliveries"]


def test_a_column_the_mirror_has_stopped_keeping_is_dropped_with_its_values(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    """Older versions mirrored the tasks' PINs: a warehouse they made loses the column."""
    _, sources = simulated
    older = [
        dataclasses.replace(m, leave_out=m.leave_out - {"unlock_pin"})
        if m.qualified == "deliveries_v3.tasks"
        else m
        for m in MIRRORED
    ]
    create_mirror_tables(warehouse, older)
    pins_kept = "SELECT count(*) FROM information_schema.columns WHERE column_name = 'unlock_pin'"
    assert warehouse.query(pins_kept)[1][0][0] == 1

    counts = sync(sources, warehouse)

    assert counts == {name: len(rows) for name, rows in source_rows(sources).items()}
    assert warehouse.query(pins_kept)[1][0][0] == 0
