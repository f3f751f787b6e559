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


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty database, dropped afterwards; yields its SQLAlchemy URL."""
    postgres_or_skip()
    name = f"sidewalk_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'deliveries.db'}"
