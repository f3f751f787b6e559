"""Test databases: a SQLite file, or a fresh PostgreSQL database on the server at
127.0.0.1:5432. With CI=true a missing PostgreSQL fails the tests that need it; elsewhere
they are skipped, and say so."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from sidewalk import migrations
from sidewalk.kernel.db import make_engine

PG_ADMIN_URL = os.environ.get(
    "SIDEWALK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def postgres_or_skip() -> None:
    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except psycopg.OperationalError as e:
        if IN_CI:
            pytest.fail(f"PostgreSQL is needed in CI and is unreachable: {e}")
        pytest.skip(f"PostgreSQL unreachable ({e}); it is required in CI")


def _url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new database (empty, or a copy of `template`), dropped afterwards; yields its URL."""
    postgres_or_skip()
    name = f"sidewalk_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    try:
        yield _url(name)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_postgres_template() -> Iterator[str]:
    """A database migrated once for both services, to be copied for each test (much faster
    than migrating); the services' tables and revision tables do not overlap."""
    with fresh_postgres_database() as url:
        engine = make_engine(url)
        migrations.upgrade("deliveries", engine)
        migrations.upgrade("operations", engine)
        engine.dispose()
        yield url.rsplit("/", 1)[1]


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'deliveries.db'}"
