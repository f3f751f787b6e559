"""The outbox, the relay and the inbox, on SQLite and PostgreSQL, with the memory and the NATS
bus: events exist exactly when their transaction commits, are published in order, and are
applied once by a consumer even when the relay dies between publishing and marking."""

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session

from sidewalk.kernel.bus.base import Bus
from sidewalk.kernel.db import Inserts, make_engine
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.outbox import (
    OutboxRelay,
    add_to_outbox,
    first_time,
    inbox_table,
    outbox_table,
)
from tests.integration.test_bus import OpenBus, Recorder, event, open_bus, run

__all__ = ["open_bus"]  # the bus fixture, shared with the bus contract tests

metadata = MetaData()
OUTBOX = outbox_table(metadata, "test")
INBOX = inbox_table(metadata, "test")
EFFECTS = Table(
    "test_effects",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(40)),
)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    built = make_engine(database_url)
    metadata.create_all(built)
    yield built
    built.dispose()


def now() -> datetime:
    return datetime.now(UTC)


def write(engine: Engine, events: list[Envelope], *, commit: bool) -> None:
    with Session(engine) as session, session.begin():
        inserts = Inserts()
        add_to_outbox(inserts, OUTBOX, events)
        inserts.write(session.connection())
        if not commit:
            session.rollback()


def unpublished(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
            )
            or 0
        )


def test_committed_events_are_published_in_order_and_rolled_back_ones_never(
    engine: Engine, open_bus: OpenBus
) -> None:
    kept = [event(n=i) for i in range(5)]
    write(engine, [event(n=99)], commit=False)
    write(engine, kept[:3], commit=True)
    write(engine, kept[3:], commit=True)

    async def scenario() -> None:
        async with open_bus() as bus:
            seen = Recorder()
            await bus.subscribe("watcher", seen)
            relay = OutboxRelay(engine, OUTBOX, bus, now, batch=2)
            assert [await relay.relay_once() for _ in range(4)] == [2, 2, 1, 0]
            assert await seen.wait_for(5) == [e.id for e in kept]
            await asyncio.sleep(0.3)
            assert len(seen.handled) == 5

    run(scenario())
    assert unpublished(engine) == 0


class DiesAfterPublishing(OutboxRelay):
    """A relay whose process dies after publishing, before marking what it published."""

    def _mark(self, connection: Connection, seqs: list[int]) -> None:
        raise SystemExit("killed between the publish and the database commit")


def test_a_relay_killed_after_publishing_publishes_again_and_the_inbox_applies_once(
    engine: Engine, open_bus: OpenBus
) -> None:
    events = [event(n=i) for i in range(3)]
    write(engine, events, commit=True)

    async def consume(bus: Bus) -> Recorder:
        recorder = Recorder()

        async def apply(envelope: Envelope) -> None:
            def effect() -> None:
                with Session(engine) as session, session.begin():
                    if first_time(session.connection(), INBOX, "effects", envelope.id, now()):
                        session.execute(insert(EFFECTS).values(event_id=envelope.id))

            await asyncio.to_thread(effect)
            await recorder(envelope)

        await bus.subscribe("effects", apply)
        return recorder

    async def scenario() -> None:
        async with open_bus() as bus:
            recorder = await consume(bus)
            with pytest.raises(SystemExit):
                await DiesAfterPublishing(engine, OUTBOX, bus, now).relay_once()
            assert unpublished(engine) == 3
            assert await OutboxRelay(engine, OUTBOX, bus, now).relay_once() == 3
            await recorder.wait_for(3)
            # every event delivered twice more, as a misbehaving bus might
            for e in events:
                await apply_twice(recorder, e)

    async def apply_twice(recorder: Recorder, envelope: Envelope) -> None:
        for _ in range(2):
            with Session(engine) as session, session.begin():
                if first_time(session.connection(), INBOX, "effects", envelope.id, now()):
                    session.execute(insert(EFFECTS).values(event_id=envelope.id))

    run(scenario())
    assert unpublished(engine) == 0
    with engine.connect() as connection:
        applied = sorted(connection.scalars(select(EFFECTS.c.event_id)))
    assert applied == sorted(e.id for e in events)


def test_first_time_is_true_once_per_consumer(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        assert first_time(session.connection(), INBOX, "a", "evt_1", now())
        assert not first_time(session.connection(), INBOX, "a", "evt_1", now())
        assert first_time(session.connection(), INBOX, "b", "evt_1", now())
