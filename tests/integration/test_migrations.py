"""The migrations build exactly the schema the models describe, for each service, on both
engines (the tests' PostgreSQL database holds both services: each compares its own tables)."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData, select, text

from sidewalk import migrations
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Base as DeliveriesBase
from sidewalk.deliveries.models import Location
from sidewalk.kernel.db import make_engine
from sidewalk.operations.models import Base as OperationsBase

SERVICES = {"deliveries": DeliveriesBase.metadata, "operations": OperationsBase.metadata}


def _engine(platform: Platform, service: str) -> Engine:
    engine: Engine = getattr(platform, f"{service}_engine")
    return engine


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_migrated_database_matches_the_models(platform: Platform, service: str) -> None:
    metadata: MetaData = SERVICES[service]

    def own(name: str | None, type_: str, _parent: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    engine = _engine(platform, service)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_name": own}
        )
        assert compare_metadata(context, metadata) == []
    assert migrations.is_current(service, engine)


@pytest.mark.parametrize("service", list(SERVICES))
def test_upgrading_twice_changes_nothing(platform: Platform, service: str) -> None:
    migrations.upgrade(service, _engine(platform, service))
    assert migrations.is_current(service, _engine(platform, service))


def test_whole_second_times_written_before_0008_read_as_the_orm_binds_them(
    tmp_path: Path,
) -> None:
    """SQLite quotes stored without microseconds by the batch writer before 0008 are found
    by a query for their very time once migrated."""
    engine = make_engine(f"sqlite:///{tmp_path / 'deliveries.db'}")
    config = migrations.alembic_config("deliveries", str(engine.url))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        connection.execute(
            text(
                "INSERT INTO locations (id, lat, lng, full_address, created_at)"
                " VALUES ('loc_1', 34.09, -118.36, 'Sunset Blvd', '2026-01-05 12:00:00')"
            )
        )
    migrations.upgrade("deliveries", engine)

    at = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    with engine.connect() as connection:
        found = connection.execute(select(Location.id).where(Location.created_at == at))
        assert list(found.scalars()) == ["loc_1"]
    engine.dispose()
