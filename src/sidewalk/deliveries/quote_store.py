"""Writing quotes, the hottest write of the service. Concurrent quotes are committed together
(see `kernel.group_commit`) in multi-row INSERT statements sent straight to the driver:
SQLAlchemy's per-value processing cost more than the database itself. On SQLite the batch is
written on the event loop when the service's write lock is free (else on a thread, which
waits for it); on PostgreSQL by an async connection, so the loop never waits on the network
and no thread fights it for the interpreter lock."""

import asyncio
import json
import weakref
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import Connection

from sidewalk.deliveries.schemas import QuoteRead
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.db import driver_time, json_time
from sidewalk.kernel.write_lock import write_soon

LOCATION_COLUMNS = ("id", "lat", "lng", "full_address", "created_at")
QUOTE_COLUMNS = (
    "id",
    "external_reference_id",
    "merchant_id",
    "pickup_location_id",
    "dropoff_location_id",
    "provider",
    "fee_cents",
    "currency",
    "distance_m",
    "service_area_id",
    "order_value_cents",
    "pickup_eta",
    "dropoff_eta",
    "expires_at",
    "used_by_delivery_id",
    "created_at",
    "pickup_ready_at",
    "dropoff_after",
    "dropoff_before",
    "pickup_margin_s",
    "dropoff_margin_s",
)

Statement = tuple[str, tuple[Any, ...]]


def _multirow(
    table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], marker: str
) -> Statement:
    row = f"({', '.join([marker] * len(columns))})"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))}"
    return sql, tuple(v for r in rows for v in r)


Rows = list[tuple[Any, ...]]


def quote_rows(quotes: list[QuoteRead], *, naive_times: bool) -> tuple[Rows, Rows]:
    """The rows of `locations` and of `quotes` that store `quotes`, times as `UTCDateTime`
    stores them (`driver_time`)."""

    def when(at: datetime | None) -> datetime | str | None:
        return driver_time(at, sqlite=naive_times)

    places = [
        (p.id, p.lat, p.lng, p.full_address, when(q.created_at))
        for q in quotes
        for p in (q.pickup, q.dropoff)
    ]
    rows = [
        (
            q.id,
            q.external_reference_id,
            q.merchant_id,
            q.pickup.id,
            q.dropoff.id,
            q.provider.value,
            q.fee.amount_cents,
            q.fee.currency,
            q.distance_m,
            q.service_area_id,
            q.order_value_cents,
            when(q.pickup_eta),
            when(q.dropoff_eta),
            when(q.expires_at),
            None,
            when(q.created_at),
            when(q.pickup_ready_at),
            when(q.dropoff_window.start_at if q.dropoff_window else None),
            when(q.dropoff_window.end_at if q.dropoff_window else None),
            q._margins.pickup_s,
            q._margins.dropoff_s,
        )
        for q in quotes
    ]
    return places, rows


def insert_quotes(connection: Connection, quotes: list[QuoteRead]) -> None:
    """Store quotes in the connection's transaction."""
    sqlite = connection.dialect.name == "sqlite"
    marker = "?" if sqlite else "%s"
    places, rows = quote_rows(quotes, naive_times=sqlite)
    for sql, params in (
        _multirow("locations", LOCATION_COLUMNS, places, marker),
        _multirow("quotes", QUOTE_COLUMNS, rows, marker),
    ):
        connection.exec_driver_sql(sql, params)


# One short statement whatever the batch size, hence one round trip and one transaction, one
# parse and one plan: the rows travel as one JSON document per table, serialised in C, and
# PostgreSQL reads them back as rows of the table's own type. (The driver adapts scalars in C
# but arrays in Python, and splits a long multi-row statement anew on every call: both cost
# more than the database did.) The places go in through a data-modifying CTE; the foreign keys
# are checked at the end of the statement.
_POSTGRES_BATCH = (
    "WITH places AS (INSERT INTO locations SELECT * FROM"
    " json_populate_recordset(NULL::locations, %s::json))"
    " INSERT INTO quotes SELECT * FROM json_populate_recordset(NULL::quotes, %s::json)"
)


def _json_rows(columns: tuple[str, ...], rows: Rows) -> str:
    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=json_time)


def sqlite_quote_writer(
    uow: Callable[[], DeliveriesUnitOfWork], write_lock: AbstractContextManager[object] | None
) -> Callable[[list[QuoteRead]], Awaitable[None]]:
    """Writes a batch in one unit of work, on the event loop when the service's SQLite write
    lock is free at once, else on a thread that waits for it (another use case may hold it
    for a while, and the loop, every request of the process, must not wait with it)."""

    def write_now(quotes: list[QuoteRead]) -> None:
        with uow() as unit:
            insert_quotes(unit.connection, quotes)
            unit.commit()

    async def write(quotes: list[QuoteRead]) -> None:
        await write_soon(write_lock, lambda: write_now(quotes))

    return write


class PostgresQuoteWriter:
    """Commits batches of quotes over an async connection of its own per event loop; a broken
    connection is dropped and replaced on the next batch."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._idle: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, list[psycopg.AsyncConnection[Any]]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, quotes: list[QuoteRead]) -> None:
        idle = self._idle.setdefault(asyncio.get_running_loop(), [])
        connection = idle.pop() if idle else None
        if connection is None or connection.closed or connection.broken:
            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        places, rows = quote_rows(quotes, naive_times=False)
        params = (_json_rows(LOCATION_COLUMNS, places), _json_rows(QUOTE_COLUMNS, rows))
        try:
            await connection.execute(_POSTGRES_BATCH, params, prepare=True)
        finally:
            if not connection.broken:
                idle.append(connection)

    async def aclose(self) -> None:
        for connection in self._idle.pop(asyncio.get_running_loop(), []):
            await connection.close()
