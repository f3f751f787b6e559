"""The migrations build exactly the schema the models describe, for each service, on both
engines (the tests' PostgreSQL database holds both services: each compares its own tables)."""

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, MetaData

from sidewalk import migrations
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Base as DeliveriesBase
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
