"""The migrations build exactly the schema the models describe, on both engines."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from sidewalk import migrations
from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import Base


def test_the_migrated_database_matches_the_models(platform: Platform) -> None:
    engine = platform.deliveries_engine
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert migrations.is_current("deliveries", engine)


def test_upgrading_twice_changes_nothing(platform: Platform) -> None:
    migrations.upgrade("deliveries", platform.deliveries_engine)
    assert migrations.is_current("deliveries", platform.deliveries_engine)
