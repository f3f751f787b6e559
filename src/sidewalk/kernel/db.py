"""Database plumbing shared by the services: a declarative base with stable constraint names,
UTC-aware timestamps on every engine, and engines tuned for SQLite and PostgreSQL."""

import enum
import json
import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Enum,
    MetaData,
    Table,
    bindparam,
    create_engine,
    event,
    literal_column,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else stored_utc(value)


def stored_utc(value: datetime | str) -> datetime:
    """A time read past `UTCDateTime` (a driver statement's row) as it reads it: aware UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def driver_time(at: datetime | None, *, sqlite: bool) -> datetime | str | None:
    """A time as `UTCDateTime` stores it, for a driver statement that bypasses it: on SQLite
    naive UTC text with microseconds always written (the driver's own adapter drops them on a
    whole second, and such a time would then compare in SQL as earlier than itself), aware
    UTC elsewhere."""
    if at is None:
        return None
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else at


class JsonText(str):
    """A JSON document serialised already, stored by `driver_insert` as it is."""


def _json_value(value: Any) -> str | None:
    if value is None or isinstance(value, JsonText):
        return value
    return json.dumps(value)


def driver_insert(connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (column values by name, as Core takes them; every row names the same
    columns) in one driver statement, each value converted as its column's type would convert
    it (times as `UTCDateTime` stores them, JSON dumped unless it is `JsonText`, enums by
    value), without SQLAlchemy's processing of every value of every row, which costs more
    than the database for rows written once. A JSON column given None is stored as SQL NULL,
    as the ORM stores it; columns left out take their server defaults.

    On SQLite an executemany, which the driver runs in C. On PostgreSQL the rows travel as
    one JSON document that the server reads back as rows of the table's own type: one short
    statement, prepared once, whatever the number of rows (an executemany costs the driver
    a statement of Python per row)."""
    if not rows:
        return
    plan = _plan(connection.dialect, table, tuple(rows[0]))
    if connection.dialect.name != "sqlite":
        connection.exec_driver_sql(plan.sql, (_document(plan, rows),))
        return
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = plan.pick(row)
        if plan.converters:
            converted = list(values)
            for at, convert in plan.converters:
                converted[at] = convert(converted[at])
            values = tuple(converted)
        params.append(values)
    connection.exec_driver_sql(plan.sql, params)


class RowUpdates:
    """An UPDATE of some columns of a table's rows by their `key` (`id`), built once, written
    from records whose attributes bear the columns' names (plain records a use case moved
    instead of ORM objects): one statement for all the records given. On SQLite a driver
    statement, each value converted as `driver_insert` converts it (SQLAlchemy's processing
    of every value costs more than the database's update of the row)."""

    def __init__(self, table: Table, columns: Sequence[str], *, key: str = "id") -> None:
        self._columns, self._key = tuple(columns), key
        self._statement = (
            update(table)
            .where(table.c[key] == bindparam("row_id"))
            .values({name: bindparam(f"to_{name}") for name in self._columns})
        )
        quote = sqlite.dialect().identifier_preparer.quote
        assignments = ", ".join(f"{quote(name)} = ?" for name in self._columns)
        self._sqlite_sql = f"UPDATE {quote(table.name)} SET {assignments} WHERE {quote(key)} = ?"
        self._sqlite_values = [
            (name, _converter(table.c[name].type, sqlite=True)) for name in self._columns
        ]

    def write(self, connection: Connection, records: Sequence[Any]) -> None:
        if not records:
            return
        if connection.dialect.name == "sqlite":
            params = [
                (
                    *(
                        getattr(r, name) if convert is None else convert(getattr(r, name))
                        for name, convert in self._sqlite_values
                    ),
                    getattr(r, self._key),
                )
                for r in records
            ]
            connection.exec_driver_sql(self._sqlite_sql, params[0] if len(params) == 1 else params)
            return
        rows = [
            {
                "row_id": getattr(r, self._key),
                **{f"to_{name}": getattr(r, name) for name in self._columns},
            }
            for r in records
        ]
        connection.execute(self._statement, rows[0] if len(rows) == 1 else rows)


class Inserts:
    """The rows a transaction inserts into tables nothing else of it reads back (a timeline,
    an outbox, new records written once), kept until it commits and then sent together: on
    PostgreSQL every table's rows in one statement (each table's insert a step of one `WITH`,
    the foreign keys checked at the statement's end), so a transaction writing six tables
    makes one round trip for them, not six; on SQLite one executemany per table."""

    def __init__(self) -> None:
        self._pending: list[tuple[Table, Sequence[Mapping[str, Any]]]] = []

    def add(self, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rows as `driver_insert` takes them."""
        if rows:
            self._pending.append((table, rows))

    def clear(self) -> None:
        self._pending = []

    def write(self, connection: Connection) -> None:
        pending, self._pending = self._pending, []
        if connection.dialect.name == "sqlite" or len(pending) <= 1:
            for table, rows in pending:
                driver_insert(connection, table, rows)
            return
        plans = [_plan(connection.dialect, table, tuple(rows[0])) for table, rows in pending]
        steps = ", ".join(f"step_{i} AS ({plan.sql})" for i, plan in enumerate(plans[:-1]))
        params = tuple(
            _document(plan, rows) for plan, (_, rows) in zip(plans, pending, strict=True)
        )
        connection.exec_driver_sql(f"WITH {steps} {plans[-1].sql}", params)


def _plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> "_InsertPlan":
    key = (table, columns, dialect.name == "sqlite")
    plan = _DRIVER_INSERTS.get(key)
    if plan is None:
        plan = _DRIVER_INSERTS[key] = _driver_insert_plan(dialect, table, columns)
    return plan


def _document(plan: "_InsertPlan", rows: Sequence[Mapping[str, Any]]) -> str:
    """The rows as one JSON array, for `json_populate_recordset`. A JSON text already
    serialised (`JsonText`) is spliced in as it is, not parsed to be serialised again."""
    if not any(isinstance(row[name], JsonText) for row in rows for name in plan.json_columns):
        return json.dumps(rows, default=json_time)
    return "[" + ", ".join(_row_document(row, plan.json_columns) for row in rows) + "]"


def _row_document(row: Mapping[str, Any], json_columns: tuple[str, ...]) -> str:
    texts = [(name, row[name]) for name in json_columns if isinstance(row[name], JsonText)]
    if not texts:
        return json.dumps(row, default=json_time)
    spliced = {name for name, _ in texts}
    plain = json.dumps({k: v for k, v in row.items() if k not in spliced}, default=json_time)
    spliced_in = ", ".join(f"{json.dumps(name)}: {text}" for name, text in texts)
    return "{" + ", ".join(part for part in (plain[1:-1], spliced_in) if part) + "}"


def json_time(value: object) -> str:
    """`json.dumps`'s `default` for documents of rows: a time as ISO 8601 with its zone."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime given; times must be timezone-aware")
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class _InsertPlan:
    """A table's driver INSERT for some columns: the statement, a function picking a row's
    values in the columns' order, the conversions of the columns that need one (SQLite), and
    the JSON columns (whose texts a PostgreSQL document embeds)."""

    sql: str
    pick: Callable[[Mapping[str, Any]], tuple[Any, ...]]
    converters: list[tuple[int, _Convert]]
    json_columns: tuple[str, ...]


_DRIVER_INSERTS: dict[tuple[Table, tuple[str, ...], bool], _InsertPlan] = {}


def _driver_insert_plan(dialect: Dialect, table: Table, columns: tuple[str, ...]) -> _InsertPlan:
    sqlite = dialect.name == "sqlite"
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if sqlite:
        sql = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join('?' * len(columns))})"
    else:
        sql = (
            f"INSERT INTO {quote(table.name)} ({names}) SELECT {names}"
            f" FROM json_populate_recordset(NULL::{quote(table.name)}, %s::json)"
        )
    getter = operator.itemgetter(*columns)

    def pick(row: Mapping[str, Any]) -> tuple[Any, ...]:
        values = getter(row)
        return values if len(columns) > 1 else (values,)

    by_column = [_converter(table.c[name].type, sqlite=sqlite) for name in columns]
    converters = [(at, convert) for at, convert in enumerate(by_column) if convert is not None]
    json_columns = tuple(name for name in columns if isinstance(table.c[name].type, JSON))
    return _InsertPlan(sql, pick, converters, json_columns)


def _converter(column_type: Any, *, sqlite: bool) -> _Convert | None:
    """How a value of the column's type is given to the driver, where it needs converting."""
    if isinstance(column_type, UTCDateTime):
        return lambda at: driver_time(at, sqlite=sqlite)
    if isinstance(column_type, JSON):
        return _json_value
    if isinstance(column_type, Enum):
        return lambda value: value.value if isinstance(value, enum.Enum) else value
    return None


def among(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """`column IN (...)` of constant values (a state machine's statuses), written into the
    statement itself: a list bound as a parameter is expanded anew at every execution, which
    costs more than a short statement's whole run."""
    texts = sorted(v.value if isinstance(v, enum.Enum) else str(v) for v in values)
    return cast(
        ColumnElement[bool],
        column.in_([literal_column("'" + t.replace("'", "''") + "'") for t in texts]),
    )


class OneOrMany:
    """A statement over `column IN (values)`, built once, with a variant comparing `column`
    with one value: a list bound as a parameter is expanded anew at every execution, and most
    calls (a delivery's webhooks, a robot's task, an order's quote) ask for one value.
    `build` makes the statement from the condition on `column`."""

    def __init__(self, build: Callable[[ColumnElement[bool]], Any], column: Any, name: str) -> None:
        self._name = name
        self._one = build(column == bindparam(name))
        self._many = build(column.in_(bindparam(name, expanding=True)))

    def pick(self, values: Collection[Any], **params: Any) -> tuple[Any, dict[str, Any]]:
        """The statement for `values` and its parameters, `params` with them."""
        if len(values) == 1:
            return self._one, {**params, self._name: next(iter(values))}
        return self._many, {**params, self._name: list(values)}


def text_enum(cls: type[Any], name: str) -> Enum:
    """Enums stored as their text value, guarded by a CHECK constraint on every engine."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda e: [m.value for m in e],
    )


def conflict_insert(dialect: str) -> Any:
    """The INSERT construct of `dialect` that knows `ON CONFLICT` (SQLite and PostgreSQL spell
    it alike; the generic one does not have it)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def make_engine(url: str, *, pool_size: int = 10, writer: bool = True, **kwargs: Any) -> Engine:
    """An engine for `url`; on SQLite, WAL with a busy timeout so that concurrent writers wait
    rather than fail, and foreign keys enforced. A reader's engine (`writer=False`) opens
    deferred transactions on SQLite: a read sees one snapshot and takes no write lock, so a
    long read never holds the services' writers up."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, open transactions, and open them as writers
            # (BEGIN IMMEDIATE) so two writers queue instead of failing mid-transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        begin = "BEGIN IMMEDIATE" if writer else "BEGIN"

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Straight to the driver: every transaction begins here.
            conn.connection.driver_connection.execute(begin)

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, **kwargs
    )
