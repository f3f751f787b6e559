"""Events a service could not read, kept instead of dropped or retried for ever. A handler
that cannot make sense of an event (a field missing, a value of the wrong kind, a payload of
a version it does not know) raises; `DeadLetters.handle` then writes the event and the reason
to the service's `<owner>_dead_letters` table and the consumer moves on. An admin sees them
(`sidewalk events dead-letters`, and a gauge in `/metrics`) and, once the cause is fixed,
replays them (`sidewalk events replay`): the handler runs again on the stored event, which
its inbox still applies once. Errors of the database or the network are not the event's
fault: they propagate, and the bus delivers the event again."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from sidewalk.kernel.db import UTCDateTime
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.metrics import gauge
from sidewalk.kernel.uow import UnitOfWork

log = logging.getLogger(__name__)

# What a handler raises for an event it cannot read: these are the event's fault (or the
# handler's, to be fixed and replayed), never the database's or the network's, which are
# retried.
UNREADABLE = (KeyError, TypeError, ValueError)


def dead_letter_table(metadata: MetaData, owner: str) -> Table:
    name = f"{owner}_dead_letters"
    return Table(
        name,
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("consumer", String(64), nullable=False),
        Column("event_id", String(40), nullable=False),
        Column("type", String(100), nullable=False),
        Column("envelope", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("failed_at", UTCDateTime(), nullable=False),
        Column("replayed_at", UTCDateTime(), nullable=True),
        Index(f"ix_{name}_waiting", "replayed_at", "seq"),
    )


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    event_id: str
    type: str
    reason: str
    failed_at: datetime
    envelope: Envelope


def count_waiting(connection: Connection, table: Table) -> int:
    """The dead letters of `table` not replayed yet (all its consumers')."""
    query = select(func.count()).select_from(table).where(table.c.replayed_at.is_(None))
    return int(connection.execute(query).scalar_one())


def waiting_gauge(service: str, waiting: int) -> GaugeMetricFamily:
    """`/metrics`: the service's dead letters waiting for an admin."""
    return gauge(
        "sidewalk_dead_letters",
        "Events a service could not read, kept and not yet replayed.",
        {(service,): float(waiting)},
        ("service",),
    )


class DeadLetters:
    """One consumer's handling of events, with its dead letters: `handle` runs the handler
    and keeps what it cannot read; `replay` runs it again on one kept."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        table: Table,
        consumer: str,
        handler: Callable[[Envelope], None],
    ) -> None:
        self._uow, self._table = uow, table
        self._consumer, self._handler = consumer, handler

    def handle(self, event: Envelope) -> bool:
        """Run the handler on `event`; if it cannot read it, keep it as a dead letter (in a
        transaction of its own: the handler's was rolled back) and return False. Any other
        error propagates, for the bus to deliver the event again."""
        try:
            self._handler(event)
        except UNREADABLE as error:
            log.error("%s %s kept as a dead letter: %r", event.type, event.id, error)
            self._keep(event, f"{type(error).__name__}: {error}"[:2000])
            return False
        return True

    def _keep(self, event: Envelope, reason: str) -> None:
        with self._uow() as uow:
            uow.connection.execute(
                insert(self._table).values(
                    consumer=self._consumer,
                    event_id=event.id,
                    type=event.type,
                    envelope=event.to_json().decode(),
                    reason=reason,
                    failed_at=uow.clock.now(),
                )
            )
            uow.commit()

    def waiting(self, *, limit: int = 100) -> list[DeadLetter]:
        """The dead letters not replayed yet, oldest first."""
        t = self._table
        mine = t.c.consumer == self._consumer
        query = select(t).where(mine, t.c.replayed_at.is_(None)).order_by(t.c.seq).limit(limit)
        with self._uow() as uow:
            return [_letter(row) for row in uow.connection.execute(query)]

    def count(self) -> int:
        with self._uow() as uow:
            return count_waiting(uow.connection, self._table)

    def replay(self, seq: int) -> DeadLetter | None:
        """Run the handler again on dead letter `seq`; on success it is marked replayed, on
        failure it stays and the error propagates. None: no such letter is waiting."""
        t = self._table
        mine = t.c.consumer == self._consumer
        query = select(t).where(mine, t.c.seq == seq, t.c.replayed_at.is_(None))
        with self._uow() as uow:
            row = uow.connection.execute(query).first()
        if row is None:
            return None
        letter = _letter(row)
        self._handler(letter.envelope)
        with self._uow() as uow:
            done = update(t).where(t.c.seq == seq).values(replayed_at=uow.clock.now())
            uow.connection.execute(done)
            uow.commit()
        return letter


def _letter(row: Row[Any]) -> DeadLetter:
    r = row._mapping
    return DeadLetter(
        seq=r["seq"],
        consumer=r["consumer"],
        event_id=r["event_id"],
        type=r["type"],
        reason=r["reason"],
        failed_at=r["failed_at"],
        envelope=Envelope.from_json(r["envelope"]),
    )
