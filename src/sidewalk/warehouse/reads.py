"""A service table's rows changed since a time, read as Arrow tables in change order.

On SQLite the rows are fetched from the driver's own cursor and typed as the warehouse column
types say, which is about a quarter faster than through SQLAlchemy's result rows; other
databases (PostgreSQL) are read through their SQLAlchemy engine, whose driver types the values.
Both read with the same SQLite library as the services: a second library in the same process
(an Arrow-native driver, say) would keep locks of its own on the services' files, which POSIX
shares per process, and could break the services' WAL.

Every table ends with a `_changed` column, the row's change time, and arrives oldest change
first; times come as the source gives them (text on SQLite), and the warehouse casts them."""

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlalchemy import Engine, Text, bindparam, cast, column, literal_column, select, table
from sqlalchemy.sql import ColumnElement

from sidewalk.kernel.db import UTCDateTime
from sidewalk.warehouse.mirror import Mirrored

CHANGED = "_changed"

# The Arrow type of each warehouse type as SQLite gives it (times, dates and JSON as text,
# booleans as 0 and 1).
_SQLITE_ARROW = {
    "BIGINT": pa.int64(),
    "BOOLEAN": pa.int64(),
    "DOUBLE PRECISION": pa.float64(),
    "NUMERIC": pa.float64(),
}


def read_changes(
    source: Engine, m: Mirrored, since: datetime | None, batch_rows: int
) -> Iterator[pa.Table]:
    """`m`'s source rows whose change time is `since` or later (all when None), in batches of
    at most `batch_rows`, with `m`'s constant columns filled in."""
    reader = _read_sqlite if source.dialect.name == "sqlite" else _read_sqlalchemy
    for batch in reader(source, m, since, batch_rows):
        if m.scrubbed is not None:
            batch = _scrub(batch, *m.scrubbed)
        for name, value in reversed(m.constants):
            batch = batch.add_column(0, name, pa.array([value] * batch.num_rows, pa.string()))
        yield batch


def _scrub(batch: pa.Table, name: str, fields: frozenset[str]) -> pa.Table:
    """`batch` with `fields` taken out of the payload of each envelope in column `name`; an
    envelope that names none of them (most) is passed as it is, unparsed."""
    marks = tuple(f'"{f}"' for f in fields)

    def clean(text: str | None) -> str | None:
        if text is None or not any(m in text for m in marks):
            return text
        envelope = json.loads(text)
        payload = envelope.get("payload") if isinstance(envelope, dict) else None
        if not isinstance(payload, dict):
            return text
        envelope["payload"] = {k: v for k, v in payload.items() if k not in fields}
        return json.dumps(envelope)

    index = batch.schema.get_field_index(name)
    cleaned = pa.array([clean(v) for v in batch.column(index).to_pylist()], pa.string())
    return batch.set_column(index, name, cleaned)


def read_ahead(batches: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """`batches`, each next one read in a thread of its own while the caller works on the one
    before: the drivers and the warehouse let go of the interpreter while they work, so on two
    cores reading and loading overlap. The iterator is only ever advanced by that one thread."""
    with ThreadPoolExecutor(1, thread_name_prefix="warehouse-read") as reader:
        try:
            upcoming = reader.submit(next, batches, None)
            while (batch := upcoming.result()) is not None:
                upcoming = reader.submit(next, batches, None)
                yield batch
        finally:
            reader.submit(_close, batches).result()


def _close(batches: Iterator[pa.Table]) -> None:
    close = getattr(batches, "close", None)
    if close is not None:
        close()


def _quoted(name: str) -> str:
    return f'"{name}"'


def _read_sqlite(
    source: Engine, m: Mirrored, since: datetime | None, batch_rows: int
) -> Iterator[pa.Table]:
    kept = m.columns()[len(m.constants) :]
    keys = [k for k in m.key if k not in dict(m.constants)]
    where, params = "", list[str]()
    if since is not None:
        # The services keep UTC times on SQLite as this text, which sorts as time does.
        where, params = f" WHERE {m.changed} >= ?", [_sqlite_time(since)]
    sql = (
        f"SELECT {', '.join(_quoted(name) for name, _, _ in kept)}, {m.changed} AS {CHANGED} "
        f"FROM {m.source}{where} ORDER BY {', '.join([m.changed, *map(_quoted, keys)])}"
    )
    types = [_SQLITE_ARROW.get(kind, pa.string()) for _, kind, _ in kept] + [pa.string()]
    names = [name for name, _, _ in kept] + [CHANGED]
    with source.connect() as connection:
        cursor = connection.connection.cursor()  # the driver's: each row a plain tuple
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(batch_rows):
                values = zip(*rows, strict=True)
                yield pa.table(
                    [pa.array(v, t) for v, t in zip(values, types, strict=True)], names=names
                )
        finally:
            cursor.close()


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _read_sqlalchemy(
    source: Engine, m: Mirrored, since: datetime | None, batch_rows: int
) -> Iterator[pa.Table]:
    changed: ColumnElement[Any] = literal_column(m.changed)
    kept = m.columns()[len(m.constants) :]
    picked = [cast(column(name), Text) if is_json else column(name) for name, _, is_json in kept]
    query = (
        select(*picked, changed.label(CHANGED))
        .select_from(table(m.source))
        .order_by(changed, *(column(k) for k in m.key if k not in dict(m.constants)))
    )
    if since is not None:
        query = query.where(changed >= bindparam("since", since, type_=UTCDateTime()))
    names = [name for name, _, _ in kept] + [CHANGED]
    with source.connect() as connection:
        result = connection.execution_options(stream_results=True).execute(query)
        while rows := result.fetchmany(batch_rows):
            values = list(zip(*rows, strict=True))
            yield pa.table({name: pa.array(v) for name, v in zip(names, values, strict=True)})


def as_time(value: Any) -> datetime:
    """A `_changed` value as an aware time (SQLite keeps UTC as text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
