"""Alembic environments, one per service database, shipped inside the package so that
`sidewalk db upgrade` works from any directory and from an installed wheel."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

HERE = Path(__file__).resolve().parent

# Each service's database is its own, but a small deployment (or a test) may give both the
# same one: their tables differ, and so must the tables that record their revisions.
VERSION_TABLES = {"deliveries": "alembic_version", "operations": "alembic_version_operations"}


def alembic_config(service: str, url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE / service))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(service: str, engine: Engine) -> None:
    """Bring the service's database to the newest revision (a no-op when it is there)."""
    config = alembic_config(service, engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def is_current(service: str, engine: Engine) -> bool:
    script = ScriptDirectory.from_config(alembic_config(service, str(engine.url)))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLES[service]}
        )
        current = context.get_current_heads()
    return set(current) == set(script.get_heads())
