"""The outbox relay through a NATS outage: a private server goes away for longer than a publish
may wait; the relay keeps trying, and once the server is back every event written meanwhile is
published, in order and once, on SQLite and PostgreSQL."""

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import OUTBOX
from sidewalk.kernel.bus.nats import NatsBus
from sidewalk.kernel.outbox import OutboxRelay
from tests.factories import MerchantClient
from tests.integration.test_bus import QUIET, Recorder
from tests.nats_server import NatsServer
from tests.outboxes import outbox_events


def unpublished(platform: Platform) -> int:
    with platform.deliveries_engine.connect() as connection:
        query = select(func.count()).select_from(OUTBOX).where(OUTBOX.c.published_at.is_(None))
        return int(connection.execute(query).scalar_one())


def failed_batches(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "outbox relay batch failed" in r.getMessage()]


def test_the_relay_keeps_trying_through_a_nats_outage(
    platform: Platform, merchant: MerchantClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="sidewalk.kernel.outbox")
    server = NatsServer(tmp_path / "nats")
    server.start()

    async def scenario() -> None:
        bus = NatsBus(
            server.url,
            retry_backoff=0.05,
            fetch_timeout=0.2,
            publish_timeout=0.5,  # so the outage outlasts several publishes
            request_timeout=0.2,
            connect_timeout=3.0,
            reconnect_wait=0.1,
        )
        stop = asyncio.Event()
        async with bus:
            operations = Recorder()
            await bus.subscribe("operations", operations)
            relay = OutboxRelay(
                platform.deliveries_engine, OUTBOX, bus, platform.clock.now, idle_wait_s=0.02
            )
            relaying = asyncio.create_task(relay.run(stop))
            await asyncio.to_thread(merchant.delivery)
            await operations.wait_for(1)

            server.stop()
            for _ in range(3):
                await asyncio.to_thread(merchant.delivery)
            while not failed_batches(caplog):  # one gave up waiting for the server, at least
                assert not relaying.done()
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # and the relay went on trying
            assert unpublished(platform) == 3
            assert len(operations.handled) == 1

            server.start()
            await operations.wait_for(4, timeout=20)
            await asyncio.sleep(QUIET)
            stop.set()
            await relaying
            written = outbox_events(platform.deliveries_engine, OUTBOX)
            assert operations.handled == [e.id for e in written]
            assert [e.type for e in written] == ["attempt.requested"] * 4
            assert unpublished(platform) == 0

    try:
        asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    finally:
        server.stop()
