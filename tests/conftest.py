"""Fixtures: a platform on SQLite or PostgreSQL (tests taking `platform` run on both), a
manual clock, and HTTP clients in-process or over a real socket."""

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import settings

from sidewalk.app import create_deliveries_app, create_operations_app
from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from sidewalk.warehouse.target import Warehouse, open_warehouse
from tests.databases import fresh_postgres_database, migrated_postgres_template, sqlite_url
from tests.factories import MerchantClient, make_merchant
from tests.fleet import Fleet
from tests.serving import free_port, serving

__all__ = ["free_port"]  # imported from here by many tests

# In CI the property tests draw the same examples on every run, so that a red build is the
# change's and can be run again; elsewhere they explore anew each time (and what they find
# is printed as a reproducible blob).
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("explore", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "explore")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first: with `--dist loadfile --no-loadscope-reorder` the workers take files
    in this order, so the long ones start early and the short ones fill in at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    with migrated_postgres_template() as name:
        yield name


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database of one test: a SQLite file, or a copy of the migrated PostgreSQL template."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
    else:
        template = request.getfixturevalue("postgres_template")
        with fresh_postgres_database(template) as url:
            yield url


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """An empty warehouse of one test: a DuckDB file, or a fresh PostgreSQL database."""
    if request.param == "duckdb":
        target = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
        yield target
        target.close()
    else:
        with fresh_postgres_database() as url:
            target = open_warehouse(url)
            yield target
            target.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """On SQLite each service has its file under `tmp_path`; on PostgreSQL both share the test's
    database, as their tables do not overlap."""
    shared = database_url if database_url.startswith("postgresql") else ""
    return Settings(
        var_dir=tmp_path,
        deliveries_database_url=database_url,
        operations_database_url=shared,
        # The tests receive webhooks on this machine; the refusal has tests of its own.
        webhooks_allow_private_targets=True,
        # Readings held in memory are written when a test says (a dispatch round, a pump), not
        # by the writer's thread at a moment of its own.
        telemetry_flush_interval_s=3600,
    )


@pytest.fixture
def platform(settings: Settings, clock: ManualClock) -> Iterator[Platform]:
    built = bootstrap(settings, clock=clock)
    yield built
    built.close()


@pytest.fixture
def client(platform: Platform) -> Iterator[TestClient]:
    with TestClient(create_deliveries_app(platform, own_lifecycle=False)) as test_client:
        yield test_client


@pytest.fixture
def merchant(platform: Platform, client: TestClient) -> MerchantClient:
    return make_merchant(platform, client, "Sunset Bakery")


@pytest.fixture
def rival(platform: Platform, client: TestClient) -> MerchantClient:
    return make_merchant(platform, client, "Rival Deli")


def free_port_pair() -> int:
    """A free port whose next one is free too (the ops API of `serve all` takes it)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port + 1)) != 0:
                return port


@pytest.fixture
def live_url(platform: Platform) -> Iterator[str]:
    """The deliveries API served by uvicorn on a real socket, in this process."""
    with serving(create_deliveries_app(platform, own_lifecycle=False)) as url:
        yield url


@pytest.fixture
def live_client(live_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_url, timeout=30) as http:
        yield http


@pytest.fixture
def ops_client(platform: Platform) -> Iterator[TestClient]:
    """The ops API in-process, without its dispatch loop (tests run rounds themselves)."""
    app = create_operations_app(platform, own_lifecycle=False, dispatch=False)
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def fleet(platform: Platform, ops_client: TestClient) -> Fleet:
    return Fleet(platform, ops_client)
