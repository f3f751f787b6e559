"""The kernel's plain statements (`among`, `RowUpdates`, `Inserts`) write and find the same
values as SQLAlchemy's own statements, on SQLite (where they go straight to the driver) and
on PostgreSQL."""

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Engine, MetaData, String, Table, insert, select

from sidewalk.kernel.db import (
    Inserts,
    JsonText,
    RowUpdates,
    UTCDateTime,
    among,
    make_engine,
    text_enum,
)


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    QUOTED = "it's"


metadata = MetaData()
THINGS = Table(
    "test_things",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("colour", text_enum(Colour, "test_colour"), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=True),
    Column("times", JSON, nullable=True),
)
# Only a key and a document: a row whose every other value is spliced in.
OTHERS = Table(
    "test_others",
    metadata,
    Column("id", String(20), primary_key=True),
    Column("times", JSON, nullable=False),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    metadata.create_all(built)
    yield built
    metadata.drop_all(built)
    built.dispose()


@dataclass
class Thing:
    id: str
    colour: Any
    seen_at: datetime | None
    times: dict[str, Any] | None


def test_among_finds_exactly_the_rows_with_one_of_the_values(engine: Engine) -> None:
    rows = [{"id": c.name, "colour": c} for c in Colour]
    with engine.begin() as connection:
        connection.execute(insert(THINGS), rows)
        query = select(THINGS.c.id).where(among(THINGS.c.colour, [Colour.QUOTED, Colour.RED]))
        assert sorted(connection.scalars(query)) == ["QUOTED", "RED"]
        unwanted = select(THINGS.c.id).where(~among(THINGS.c.colour, [Colour.RED]))
        assert sorted(connection.scalars(unwanted)) == ["GREEN", "QUOTED"]


def test_row_updates_write_what_the_columns_types_would_store(engine: Engine) -> None:
    at = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)  # a whole second: the driver would drop .0
    with engine.begin() as connection:
        connection.execute(
            insert(THINGS), [{"id": "a", "colour": Colour.RED}, {"id": "b", "colour": Colour.RED}]
        )
        updates = RowUpdates(THINGS, ("colour", "seen_at", "times"))
        updates.write(connection, [Thing("a", Colour.GREEN, at, {"green": at.isoformat()})])
        later = at + timedelta(microseconds=5)
        updates.write(
            connection,
            [Thing("a", "it's", later, None), Thing("b", Colour.GREEN, None, {"x": [1, 2]})],
        )
        stored = {r.id: r for r in connection.execute(select(THINGS))}
        # The stored times compare as times in SQL, the way SQLAlchemy stores them.
        newer = select(THINGS.c.id).where(THINGS.c.seen_at > at)
        assert list(connection.scalars(newer)) == ["a"]
    assert stored["a"].colour is Colour.QUOTED
    assert stored["a"].seen_at == later
    assert stored["a"].times is None
    assert stored["b"].colour is Colour.GREEN
    assert stored["b"].seen_at is None
    assert stored["b"].times == {"x": [1, 2]}


def test_inserts_store_json_texts_as_the_documents_they_spell(engine: Engine) -> None:
    """Rows of a commit's inserts, some with JSON already serialised: on PostgreSQL every
    table's rows go in one statement, the serialised texts spliced into its document."""
    at = datetime(2026, 6, 1, 12, 0, 0, 5, tzinfo=UTC)
    inserts = Inserts()
    inserts.add(
        THINGS,
        [
            {"id": "a", "colour": Colour.RED, "seen_at": at, "times": JsonText('{"x": [1, "é"]}')},
            {"id": "b", "colour": Colour.QUOTED, "seen_at": None, "times": {"y": at.isoformat()}},
            {"id": "c", "colour": Colour.GREEN, "seen_at": at, "times": None},
        ],
    )
    inserts.add(OTHERS, [{"id": "d", "times": JsonText("[]")}])
    with engine.begin() as connection:
        inserts.write(connection)
        stored = {r.id: r for r in connection.execute(select(THINGS))}
        other = connection.execute(select(OTHERS)).one()
    assert stored["a"].times == {"x": [1, "é"]}
    assert stored["a"].seen_at == at
    assert stored["b"].colour is Colour.QUOTED
    assert stored["b"].times == {"y": at.isoformat()}
    assert stored["c"].times is None
    assert stored["c"].seen_at == at
    assert other.times == []
