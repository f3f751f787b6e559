"""Writing quotes, the hottest write of the service. Concurrent quotes are committed together
(see `kernel.group_commit`) in multi-row INSERT statements sent straight to the driver:
SQLAlchemy's per-value processing cost more than the database itself. On SQLite the batch is
written on the event loop (a local file, well under a millisecond); on PostgreSQL by an async
connection, so the loop never waits on the network and no thread fights it for the
interpreter lock."""

import asyncio
import weakref
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy.orm import Session

from sidewalk.deliveries.schemas import QuoteRead

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
)

Statement = tuple[str, tuple[Any, ...]]


def _multirow(
    table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]], marker: str
) -> Statement:
    row = f"({', '.join([marker] * len(columns))})"
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([row] * len(rows))}"
    return sql, tuple(v for r in rows for v in r)


def quote_inserts(quotes: list[QuoteRead], *, sqlite: bool) -> Iterator[Statement]:
    """The two statements that store `quotes` and their places. Times are stored as
    `UTCDateTime` stores them: naive UTC on SQLite, aware elsewhere."""

    def when(at: datetime) -> datetime:
        at = at.astimezone(UTC)
        return at.replace(tzinfo=None) if sqlite else at

    marker = "?" if sqlite else "%s"
    places = [
        (p.id, p.lat, p.lng, p.full_address, when(q.created_at))
        for q in quotes
        for p in (q.pickup, q.dropoff)
    ]
    yield _multirow("locations", LOCATION_COLUMNS, places, marker)
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
        )
        for q in quotes
    ]
    yield _multirow("quotes", QUOTE_COLUMNS, rows, marker)


def insert_quotes(session: Session, quotes: list[QuoteRead]) -> None:
    """Store quotes in the session's transaction."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    connection = session.connection()
    for sql, params in quote_inserts(quotes, sqlite=sqlite):
        connection.exec_driver_sql(sql, params)


class PostgresQuoteWriter:
    """Commits batches of quotes over one async connection per event loop, reconnecting
    after a failure."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._connections: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, psycopg.AsyncConnection[Any]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, quotes: list[QuoteRead]) -> None:
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is None or connection.closed or connection.broken:
            connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            self._connections[loop] = connection
        # One statement, hence one round trip and its own transaction: the places are
        # inserted by a data-modifying CTE, and the foreign keys are checked at its end.
        (places_sql, places), (quotes_sql, rows) = quote_inserts(quotes, sqlite=False)
        await connection.execute(f"WITH places AS ({places_sql}) {quotes_sql}", places + rows)

    async def aclose(self) -> None:
        connection = self._connections.pop(asyncio.get_running_loop(), None)
        if connection is not None:
            await connection.close()
