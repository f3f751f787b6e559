"""The bus of a simulation: each service's outbox, read in order and handed at once to the
consumers that want each event (the same handlers and inboxes the event runtime runs), on
the simulation's own thread. Nothing runs concurrently, so a seeded run is repeatable."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, Table, bindparam, event, select, update

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.deliveries.providers import courier_handlers
from sidewalk.kernel.events import Envelope
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Consumer:
    name: str
    types: frozenset[str]
    handle: Callable[[Envelope], None]


class EventPump:
    def __init__(self, platform: Platform, listener: Callable[[Envelope], None]) -> None:
        couriers = platform.couriers
        consumers = [
            _Consumer(
                "deliveries",
                deliveries_handlers.ROUTES.types,
                lambda e: deliveries_handlers.handle(platform.deliveries, e),
            ),
            _Consumer(
                "operations",
                operations_handlers.ROUTES.types,
                lambda e: operations_handlers.handle(platform.operations, e),
            ),
        ]
        if couriers is not None:
            consumers.append(
                _Consumer(
                    "couriers",
                    courier_handlers.ROUTES.types,
                    lambda e: courier_handlers.handle(platform.deliveries, couriers, e),
                )
            )
        self._outboxes: list[tuple[Engine, Table]] = [
            (platform.deliveries_engine, DELIVERIES_OUTBOX),
            (platform.operations_engine, OPERATIONS_OUTBOX),
        ]
        # The outboxes are read through the readers (on SQLite no write lock is taken to look).
        self._readers = {
            id(platform.deliveries_engine): platform.deliveries_reader,
            id(platform.operations_engine): platform.operations_reader,
        }
        # The reads, built once: the unpublished events, then those past the last carried.
        self._queries = {
            id(engine): (
                select(o.c.seq, o.c.envelope).where(o.c.published_at.is_(None)).order_by(o.c.seq),
                select(o.c.seq, o.c.envelope).where(o.c.seq > bindparam("after")).order_by(o.c.seq),
            )
            for engine, o in self._outboxes
        }
        # On SQLite the same reads go straight to the driver, as compiled once here.
        self._driver_sql = {
            id(engine): tuple(
                str(q.compile(dialect=engine.dialect)) for q in self._queries[id(engine)]
            )
            for engine, _ in self._outboxes
            if engine.dialect.name == "sqlite"
        }
        self._consumers, self._listener = consumers, listener
        # An outbox is read again only after a transaction committed on its database.
        self._dirty = {id(engine): True for engine, _ in self._outboxes}
        for engine, _ in self._outboxes:
            event.listen(engine, "commit", self._committed(engine))
        # The last event carried from each outbox: the rows are read past it, not marked one
        # by one (`settle` marks them all at the end).
        self._carried_to: dict[int, int | None] = {id(engine): None for engine, _ in self._outboxes}
        self.errors: list[str] = []
        self.carried = 0
        self._held: dict[int, Connection] = {}

    def close(self) -> None:
        """Give back the connections the reads keep (a later read takes one again)."""
        for connection in self._held.values():
            connection.close()
        self._held.clear()

    def _committed(self, engine: Engine) -> "Callable[[Connection], None]":
        def mark(_connection: Connection) -> None:
            self._dirty[id(engine)] = True

        return mark

    def drain(self) -> int:
        """Carry events until no outbox has any left; how many were carried."""
        carried = 0
        while True:
            batch = 0
            for engine, outbox in self._outboxes:
                if not self._dirty[id(engine)]:
                    continue
                envelopes = self._take(engine, outbox)
                self._dirty[id(engine)] = False  # set again by any commit from here on
                for envelope in envelopes:
                    self._deliver(envelope)
                    batch += 1
            if batch == 0:
                self.carried += carried
                return carried
            carried += batch

    def _take(self, engine: Engine, outbox: Table) -> list[Envelope]:
        after = self._carried_to[id(engine)]
        first, following = self._queries[id(engine)]
        query, params = (first, {}) if after is None else (following, {"after": after})
        connection = self._held.get(id(engine))
        if connection is None:  # kept for the next reads: taking one from the pool costs more
            connection = self._held[id(engine)] = self._readers[id(engine)].connect()
        if engine.dialect.name == "sqlite":
            # Straight to the driver, outside any transaction: each read sees what was
            # committed before it, and costs a tenth of the same read through the engine.
            driver = connection.connection.driver_connection
            assert driver is not None
            unpublished, past = self._driver_sql[id(engine)]
            found = driver.execute(unpublished) if after is None else driver.execute(past, (after,))
            rows = found.fetchall()
        else:
            rows = list(connection.execute(query, params).all())
            connection.rollback()  # the read ends: the next one sees what was committed since
        if rows:
            self._carried_to[id(engine)] = int(rows[-1][0])
        return [Envelope.from_json(envelope) for _, envelope in rows]

    def settle(self, at: datetime) -> None:
        """Mark every event carried as published, so that a relay started afterwards (the live
        demo's) carries only what comes next."""
        self.close()
        for engine, outbox in self._outboxes:
            last = self._carried_to[id(engine)]
            if last is None:
                continue
            with engine.begin() as connection:
                connection.execute(
                    update(outbox)
                    .where(outbox.c.seq <= last, outbox.c.published_at.is_(None))
                    .values(published_at=at)
                )

    def _deliver(self, envelope: Envelope) -> None:
        for consumer in self._consumers:
            if envelope.type in consumer.types:
                try:
                    consumer.handle(envelope)
                except Exception as e:  # a real consumer would retry; a simulation reports
                    log.exception("%s failed on %s", consumer.name, envelope.type)
                    self.errors.append(f"{consumer.name} on {envelope.type} {envelope.id}: {e!r}")
        self._listener(envelope)
