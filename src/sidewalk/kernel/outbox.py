"""The transactional outbox and the inbox: how a service's events reach the bus without ever
being lost or applied twice.

A use case adds its events to the `outbox` table in the transaction of its state change, so
they exist exactly when the change does. A relay reads them in order and publishes them; a
relay that dies between publishing and marking publishes again, which the bus deduplicates by
envelope id and consumers ignore through their `inbox`: a consumer records each event id it
handled in the transaction of the effect, and an id already there is skipped. Each service
builds both tables in its own metadata (`outbox_table`, `inbox_table`), named after it, so that
two services may also share one database."""

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
    text,
    update,
)

from sidewalk.kernel.bus.base import Bus
from sidewalk.kernel.db import Inserts, UTCDateTime, conflict_insert, driver_time
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.write_lock import write_lock_for

log = logging.getLogger(__name__)

T = TypeVar("T")

UNPUBLISHED = text("published_at IS NULL")


def outbox_table(metadata: MetaData, owner: str) -> Table:
    name = f"{owner}_outbox"
    return Table(
        name,
        metadata,
        # The order events were written in; on SQLite an INTEGER PRIMARY KEY is the rowid.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", String(40), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("occurred_at", UTCDateTime(), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("published_at", UTCDateTime(), nullable=True),
        Index(
            f"ix_{name}_unpublished",
            "seq",
            sqlite_where=UNPUBLISHED,
            postgresql_where=UNPUBLISHED,
        ),
        # The warehouse's incremental reads.
        Index(f"ix_{name}_changed", "occurred_at"),
    )


def inbox_table(metadata: MetaData, owner: str) -> Table:
    return Table(
        f"{owner}_inbox",
        metadata,
        Column("consumer", String(64), nullable=False),
        Column("event_id", String(40), nullable=False),
        Column("handled_at", UTCDateTime(), nullable=False),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


def add_to_outbox(inserts: Inserts, outbox: Table, envelopes: Sequence[Envelope]) -> None:
    """Write events in the transaction of `inserts`: published only if it commits."""
    inserts.add(
        outbox,
        [
            {
                "event_id": e.id,
                "type": e.type,
                "occurred_at": e.occurred_at,
                "envelope": e.to_json().decode(),
            }
            for e in envelopes
        ],
    )


def first_time(
    connection: Connection, inbox: Table, consumer: str, event_id: str, at: datetime
) -> bool:
    """Record that `consumer` handles `event_id` in this transaction; False when it already
    did (a redelivery), and the handler then changes nothing. One statement: the row is
    inserted unless it exists. Of two deliveries racing, the second waits on the first's row
    (PostgreSQL) or for the write lock (SQLite), and is told False once the first commits."""
    dialect = connection.dialect.name
    statement = _INBOX_INSERTS.get((inbox, dialect))
    if statement is None:
        insert_new = conflict_insert(dialect)(inbox)
        statement = insert_new.on_conflict_do_nothing().returning(inbox.c.event_id)
        _INBOX_INSERTS[(inbox, dialect)] = statement
    if dialect == "sqlite":  # the same statement, compiled once, straight to the driver
        sql = _SQLITE_INBOX_INSERTS.get(inbox)
        if sql is None:
            sql = _SQLITE_INBOX_INSERTS[inbox] = str(statement.compile(dialect=connection.dialect))
        found = connection.exec_driver_sql(sql, (consumer, event_id, driver_time(at, sqlite=True)))
        return found.first() is not None
    row = {"consumer": consumer, "event_id": event_id, "handled_at": at}
    return connection.execute(statement, row).first() is not None


# Built once per inbox and dialect: a statement object remembers its cache key. On SQLite
# its text takes the values in the inbox's column order: consumer, event id, time.
_INBOX_INSERTS: dict[tuple[Table, str], Any] = {}
_SQLITE_INBOX_INSERTS: dict[Table, str] = {}


class OutboxRelay:
    """Publishes a service's outbox in order. Several relays may run on one PostgreSQL
    database: each takes a batch with SKIP LOCKED, so they share the rows instead of
    publishing them twice (a double publish would still be harmless)."""

    def __init__(
        self,
        engine: Engine,
        outbox: Table,
        bus: Bus,
        now: Callable[[], datetime],
        *,
        batch: int = 200,
        idle_wait_s: float = 0.05,
    ) -> None:
        self._engine, self._outbox, self._bus, self._now = engine, outbox, bus, now
        self._batch, self._idle_wait_s = batch, idle_wait_s
        self._write_lock = write_lock_for(engine) or contextlib.nullcontext()

    async def relay_once(self) -> int:
        """Publish one batch of unpublished events, oldest first; how many were published.

        On PostgreSQL the batch stays locked (SKIP LOCKED) while it is published, so relays
        share the outbox. SQLite has one write lock for the whole database, which a
        transaction kept open across the publish would hold from every use case meanwhile:
        there the batch is read, published, then marked, each step on its own (one relay per
        SQLite file, and a repeat after a crash is harmless)."""
        if self._engine.dialect.name == "sqlite":
            rows = await asyncio.to_thread(self._in_transaction, self._claim)
            await self._publish(rows)
            if rows:
                seqs = [seq for seq, _ in rows]
                await asyncio.to_thread(self._in_transaction, lambda c: self._mark(c, seqs))
            return len(rows)
        connection = await asyncio.to_thread(self._engine.connect)
        try:
            transaction = await asyncio.to_thread(connection.begin)
            rows = await asyncio.to_thread(self._claim, connection)
            await self._publish(rows)
            if rows:
                await asyncio.to_thread(self._mark, connection, [seq for seq, _ in rows])
            await asyncio.to_thread(transaction.commit)
            return len(rows)
        finally:
            await asyncio.to_thread(connection.close)

    async def _publish(self, rows: list[tuple[int, str]]) -> None:
        for _seq, envelope in rows:
            await self._bus.publish(Envelope.from_json(envelope))

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self._write_lock, self._engine.begin() as connection:
            return work(connection)

    def _claim(self, connection: Connection) -> list[tuple[int, str]]:
        o = self._outbox
        query = (
            select(o.c.seq, o.c.envelope)
            .where(o.c.published_at.is_(None))
            .order_by(o.c.seq)
            .limit(self._batch)
            .with_for_update(skip_locked=True)
        )
        return [(int(seq), str(env)) for seq, env in connection.execute(query)]

    def _mark(self, connection: Connection, seqs: list[int]) -> None:
        o = self._outbox
        connection.execute(update(o).where(o.c.seq.in_(seqs)).values(published_at=self._now()))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; a failed batch (bus or database away) is retried."""
        while not stop.is_set():
            try:
                published = await self.relay_once()
            except Exception:
                log.exception("outbox relay batch failed; retrying")
                published = 0
                await asyncio.sleep(1.0)
            if published == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._idle_wait_s)
