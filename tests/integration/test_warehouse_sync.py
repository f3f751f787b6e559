"""The warehouse mirror after a simulated run of the whole platform, on DuckDB and PostgreSQL:
table by table as many rows as the services hold, a second sync adding nothing, and after more
activity exactly the rows that are new or changed (worked out from the services' tables
before and after, not from the sync)."""

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Delivery
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


def test_nothing_secret_or_personal_reaches_the_warehouse(
    simulated: tuple[Simulation, SyncSources], warehouse: Warehouse
) -> None:
    _, sources = simulated
    sync(sources, warehouse)
    kept = {name for m in MIRRORED for name, _, _ in m.columns()}
    for secret in ("token_digest", "tracking_token", "customer_phone", "secret", "key_hash"):
        assert secret not in kept
    with sources.operations.connect() as connection:
        digests = [
            d for (d,) in connection.exec_driver_sql("SELECT token_digest FROM robots").all()
        ]
    _, rows = warehouse.query("SELECT * FROM config.robots")
    assert digests
    assert not {str(v) for row in rows for v in row} & set(digests)
    # Events keep what happened, not whom to hand the goods to or the PIN that opens the robot.
    with sources.deliveries.connect() as connection:
        pins = [p for (p,) in connection.exec_driver_sql("SELECT unlock_pin FROM deliveries").all()]
        told = connection.exec_driver_sql(
            "SELECT count(*) FROM deliveries_outbox WHERE envelope LIKE '%unlock_pin%'"
        ).scalar_one()
    _, events = warehouse.query("SELECT envelope FROM events.domain_events")
    assert pins
    assert told > 0
    assert events
    for (envelope,) in events:
        for personal in ('"unlock_pin"', '"customer"', '"dropoff_instructions"'):
            assert personal not in str(envelope)


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
