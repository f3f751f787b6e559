"""Events a service could not read, kept instead of dropped or retried for ever. A handler
that cannot make sense of an event (a field missing, a value of the wrong kind, a payload of
a version it does not know) raises; `handle_or_keep` then writes the event and the reason to
the service's `<owner>_dead_letters` table and the consumer moves on. An admin sees them
(`sidewalk events dead-letters`, and a gauge in `/metrics`) and, once the cause is fixed,
replays them (`sidewalk events replay`): the handler runs again on the stored event, which
its inbox still applies once. Errors of the database or the network are not the event's
fault: they propagate, and the bus delivers the event again."""

import logging
from collections.abc import Callable, Mapping
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
    replayed_at: datetime | None
    envelope: Envelope


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:2000]


def handle_or_keep(
    handle: Callable[[Envelope], None], event: Envelope, keep: Callable[[Envelope, str], None]
) -> bool:
    """Run `handle(event)`; if it cannot read the event, `keep(event, reason)` it as a dead
    letter (in a transaction of its own: the handler's was rolled back) and return False.
    Any other error propagates, for the bus to deliver the event again."""
    try:
        handle(event)
    except UNREADABLE as error:
        log.error("%s %s kept as a dead letter: %r", event.type, event.id, error)
        keep(event, _reason(error))
        return False
    return True


def keep(
    connection: Connection,
    table: Table,
    *,
    consumer: str,
    event: Envelope,
    reason: str,
    at: datetime,
) -> None:
    connection.execute(
        insert(table).values(
            consumer=consumer,
            event_id=event.id,
            type=event.type,
            envelope=event.to_json().decode(),
            reason=reason,
            failed_at=at,
        )
    )


def waiting(connection: Connection, table: Table, *, limit: int = 100) -> list[DeadLetter]:
    """The dead letters not replayed yet, oldest first."""
    query = select(table).where(table.c.replayed_at.is_(None)).order_by(table.c.seq).limit(limit)
    return [_letter(row) for row in connection.execute(query)]


def count_waiting(connection: Connection, table: Table) -> int:
    query = select(func.count()).select_from(table).where(table.c.replayed_at.is_(None))
    return int(connection.execute(query).scalar_one())


def one_waiting(connection: Connection, table: Table, seq: int) -> DeadLetter | None:
    query = select(table).where(table.c.seq == seq, table.c.replayed_at.is_(None))
    row = connection.execute(query).first()
    return None if row is None else _letter(row)


def mark_replayed(connection: Connection, table: Table, seq: int, at: datetime) -> None:
    connection.execute(update(table).where(table.c.seq == seq).values(replayed_at=at))


def _letter(row: Row[Any]) -> DeadLetter:
    r = row._mapping
    return DeadLetter(
        seq=r["seq"],
        consumer=r["consumer"],
        event_id=r["event_id"],
        type=r["type"],
        reason=r["reason"],
        failed_at=r["failed_at"],
        replayed_at=r["replayed_at"],
        envelope=Envelope.from_json(r["envelope"]),
    )


def waiting_gauge(service: str, waiting: int) -> GaugeMetricFamily:
    """`/metrics`: the service's dead letters waiting for an admin."""
    return gauge(
        "sidewalk_dead_letters",
        "Events a service could not read, kept and not yet replayed.",
        {(service,): float(waiting)},
        ("service",),
    )


class DeadLetters:
    """One service's dead letters, through its units of work."""

    def __init__(self, uow: Callable[[], UnitOfWork], table: Table) -> None:
        self._uow, self._table = uow, table

    def keeper(self, consumer: str) -> Callable[[Envelope, str], None]:
        """What `handle_or_keep` calls for an event `consumer` could not read."""

        def keep_it(event: Envelope, reason: str) -> None:
            with self._uow() as uow:
                keep(
                    uow.connection,
                    self._table,
                    consumer=consumer,
                    event=event,
                    reason=reason,
                    at=uow.clock.now(),
                )
                uow.commit()

        return keep_it

    def waiting(self, *, limit: int = 100) -> list[DeadLetter]:
        with self._uow() as uow:
            return waiting(uow.connection, self._table, limit=limit)

    def count(self) -> int:
        with self._uow() as uow:
            return count_waiting(uow.connection, self._table)

    def replay(
        self, seq: int, handlers: Mapping[str, Callable[[Envelope], None]]
    ) -> DeadLetter | None:
        """Run the handler of its consumer (in `handlers`) again on dead letter `seq`; on
        success it is marked replayed, on failure it stays and the error propagates. None:
        no such letter is waiting."""
        with self._uow() as uow:
            letter = one_waiting(uow.connection, self._table, seq)
        if letter is None:
            return None
        handlers[letter.consumer](letter.envelope)
        with self._uow() as uow:
            mark_replayed(uow.connection, self._table, seq, uow.clock.now())
            uow.commit()
        return letter
