"""The bus contract, one suite for both backends: every test taking `open_bus` runs on the
in-process bus and on NATS JetStream (a fresh stream and subject prefix per test on the server
at 127.0.0.1:4222, or `SIDEWALK_TEST_NATS`). Without a NATS server the NATS cases are skipped,
and fail with CI=true. Backoffs and pulls are short here so the suite stays quick."""

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client

from sidewalk.kernel.bus import Bus, MemoryBus, make_bus
from sidewalk.kernel.bus.nats import NatsBus
from sidewalk.kernel.events import Envelope, Source
from tests.databases import IN_CI
from tests.nats_server import NatsServer

NATS_URL = os.environ.get("SIDEWALK_TEST_NATS", "nats://127.0.0.1:4222")
QUIET = 0.3  # how long to watch for deliveries that must not happen

OpenBus = Callable[[], Bus]


def run(scenario: Coroutine[Any, Any, None]) -> None:
    """Run one scenario on a fresh event loop, never for ever."""
    asyncio.run(asyncio.wait_for(scenario, timeout=15))


def fast_memory_bus() -> MemoryBus:
    return MemoryBus(retry_backoff=0.05, max_retry_backoff=0.2)


def fast_nats_bus(url: str, *, stream: str | None = None, prefix: str | None = None) -> NatsBus:
    return NatsBus(
        url,
        stream=stream,
        prefix=prefix,
        retry_backoff=0.05,
        max_retry_backoff=0.2,
        fetch_timeout=0.2,
        publish_timeout=5.0,
        request_timeout=1.0,
        connect_timeout=3.0,
        reconnect_wait=0.1,
    )


async def _connect() -> Client:
    return await nats.connect(NATS_URL, max_reconnect_attempts=0, connect_timeout=2)


async def _jetstream_answers() -> None:
    nc = await _connect()
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()


def nats_or_skip() -> None:
    address = urlsplit(NATS_URL)
    try:
        socket.create_connection((address.hostname, address.port or 4222), 3).close()
        run(_jetstream_answers())
    except (OSError, TimeoutError, nats.errors.Error) as e:
        if IN_CI:
            pytest.fail(f"NATS JetStream is needed in CI and is unreachable at {NATS_URL}: {e!r}")
        pytest.skip(f"NATS JetStream unreachable at {NATS_URL} ({e!r}); it is required in CI")


async def _delete_stream(stream: str) -> None:
    nc = await _connect()
    try:
        await nc.jetstream().delete_stream(stream)
    except nats.js.errors.NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture(params=["memory", "nats"])
def open_bus(request: pytest.FixtureRequest) -> Iterator[OpenBus]:
    """Opens the test's bus; NATS buses opened by one test share its stream."""
    if request.param == "memory":
        yield fast_memory_bus
        return
    nats_or_skip()
    tag = uuid.uuid4().hex[:12]
    stream = f"TEST_{tag}"
    yield lambda: fast_nats_bus(NATS_URL, stream=stream, prefix=f"test_{tag}")
    run(_delete_stream(stream))


def event(type: str = "attempt.requested", **payload: Any) -> Envelope:
    source: Source = "deliveries" if type.startswith("attempt") else "operations"
    return Envelope.new(
        type,
        source,
        occurred_at=datetime.now(UTC),
        subject={"delivery_id": "del_1", "attempt_id": "att_1"},
        payload=payload,
    )


class Recorder:
    """A handler that remembers what it handled; it can fail given events a number of times
    and take its time over each."""

    def __init__(self, *, fail: dict[str, int] | None = None, pause: float = 0) -> None:
        self.handled: list[str] = []
        self.calls: list[str] = []
        self._fail, self._pause = dict(fail or {}), pause

    async def __call__(self, envelope: Envelope) -> None:
        self.calls.append(envelope.id)
        if self._pause:
            await asyncio.sleep(self._pause)
        if self._fail.get(envelope.id, 0) > 0:
            self._fail[envelope.id] -= 1
            raise RuntimeError(f"handler failed on {envelope.id}")
        self.handled.append(envelope.id)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.handled) < count:
            assert time.monotonic() < deadline, f"handled {len(self.handled)} of {count}"
            await asyncio.sleep(0.01)
        return self.handled


async def publish_all(bus: Bus, events: list[Envelope]) -> list[str]:
    for e in events:
        await bus.publish(e)
    return [e.id for e in events]


def test_a_consumer_gets_what_was_published_before_it_first_subscribed(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            sent = await publish_all(bus, [event() for _ in range(3)])
            operations = Recorder()
            await bus.subscribe("operations", operations)
            assert await operations.wait_for(3) == sent

    run(scenario())


def test_every_consumer_gets_every_event(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            dispatcher, notifier = Recorder(), Recorder()
            await bus.subscribe("dispatcher", dispatcher)
            await bus.subscribe("notifier", notifier)
            sent = await publish_all(bus, [event() for _ in range(5)])
            assert await dispatcher.wait_for(5) == sent
            assert await notifier.wait_for(5) == sent

    run(scenario())


def test_subscriptions_with_one_name_share_its_events(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            replica_a, replica_b = Recorder(pause=0.02), Recorder(pause=0.02)
            await bus.subscribe("operations", replica_a)
            await bus.subscribe("operations", replica_b)
            sent = await publish_all(bus, [event() for _ in range(10)])
            deadline = time.monotonic() + 5
            while len(replica_a.handled) + len(replica_b.handled) < 10:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            await asyncio.sleep(QUIET)
            assert sorted(replica_a.handled + replica_b.handled) == sorted(sent)
            assert replica_a.handled
            assert replica_b.handled

    run(scenario())


def test_a_failed_event_comes_back_and_later_events_keep_flowing(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            stuck, *later = [event() for _ in range(3)]
            operations = Recorder(fail={stuck.id: 3})
            await bus.subscribe("operations", operations)
            await publish_all(bus, [stuck, *later])
            handled = await operations.wait_for(3)
            assert handled == [e.id for e in later] + [stuck.id]
            assert operations.calls.count(stuck.id) == 4
            await asyncio.sleep(QUIET)
            assert operations.handled == handled

    run(scenario())


def test_events_arrive_in_publication_order(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            operations = Recorder()
            await bus.subscribe("operations", operations)
            sent = await publish_all(bus, [event(n=n) for n in range(30)])
            assert await operations.wait_for(30) == sent

    run(scenario())


def test_a_consumer_gets_only_the_types_it_asked_for(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            requested_only, both = Recorder(), Recorder()
            await bus.subscribe("dispatcher", requested_only, types=["attempt.requested"])
            await bus.subscribe("tracker", both, types={"attempt.requested", "task.completed"})
            requested, completed, moved = (
                event("attempt.requested"),
                event("task.completed"),
                event("robot.moved"),
            )
            await publish_all(bus, [moved, requested, completed, moved])
            assert await requested_only.wait_for(1) == [requested.id]
            assert await both.wait_for(2) == [requested.id, completed.id]
            await asyncio.sleep(QUIET)
            assert requested_only.handled == [requested.id]
            assert both.handled == [requested.id, completed.id]

    run(scenario())


def test_a_consumer_keeps_the_types_it_was_created_with(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            await bus.subscribe("dispatcher", Recorder(), types=["attempt.requested"])
            with pytest.raises(ValueError, match="another name"):
                await bus.subscribe("dispatcher", Recorder(), types=["task.completed"])
            with pytest.raises(ValueError, match="consumer name"):
                await bus.subscribe("has.dots", Recorder())

    run(scenario())


def test_a_stopped_consumer_resumes_after_its_last_acked_event(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            before = Recorder()
            subscription = await bus.subscribe("operations", before)
            first = await publish_all(bus, [event(), event()])
            await before.wait_for(2)
            await subscription.stop()

            meanwhile = await publish_all(bus, [event(), event()])
            await asyncio.sleep(QUIET)
            assert before.handled == first

            after = Recorder()
            await bus.subscribe("operations", after)
            assert await after.wait_for(2) == meanwhile
            await asyncio.sleep(QUIET)
            assert after.handled == meanwhile

    run(scenario())


def test_an_envelope_published_twice_is_delivered_once(open_bus: OpenBus) -> None:
    async def scenario() -> None:
        async with open_bus() as bus:
            operations = Recorder()
            await bus.subscribe("operations", operations)
            twice, after = event(), event()
            await publish_all(bus, [twice, twice, after])
            assert await operations.wait_for(2) == [twice.id, after.id]
            await asyncio.sleep(QUIET)
            assert operations.handled == [twice.id, after.id]

    run(scenario())


def test_an_envelope_survives_json() -> None:
    sent = Envelope.new(
        "attempt.requested",
        "deliveries",
        occurred_at=datetime(2026, 1, 5, 13, 30, 15, 250_000, tzinfo=timezone(timedelta(hours=1))),
        subject={"delivery_id": "del_1", "attempt_id": "att_1"},
        payload={"provider": "robot", "fee": {"amount_cents": 399}, "note": "café ✓"},
        schema_version=2,
    )
    received = Envelope.from_json(sent.to_json())
    assert received == sent
    assert received.occurred_at.tzinfo is UTC
    assert received.occurred_at == datetime(2026, 1, 5, 12, 30, 15, 250_000, tzinfo=UTC)
    assert sent.id.startswith("evt_")
    assert b'"occurred_at":"2026-01-05T12:30:15.250000Z"' in sent.to_json()


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b"{}",
        b'{"id": "evt_1", "type": "attempt.requested"}',
        event().to_json().replace(b'"deliveries"', b'"warehouse"'),
        event().to_json().replace(b'"schema_version":1', b'"schema_version":"1"'),
        event().to_json().replace(b"Z", b""),  # a time without its zone
        event().to_json().replace(b'"attempt.requested"', b'"attempt requested"'),
        event().to_json().replace(b'"payload":{}', b'"payload":[]'),
    ],
)
def test_a_malformed_message_is_refused_clearly(garbage: bytes) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        Envelope.from_json(garbage)


def test_an_event_is_checked_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Envelope.new("a.b", "deliveries", occurred_at=datetime(2026, 1, 5), subject={}, payload={})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        event(when=datetime.now(UTC))


def test_the_url_names_the_backend() -> None:
    assert isinstance(make_bus("memory://"), MemoryBus)
    nats_bus = make_bus("nats://127.0.0.1:4222", stream="S", prefix="p")
    assert isinstance(nats_bus, NatsBus)
    assert nats_bus.stream == "S"
    assert nats_bus.subject_of(event()) == "p.events.deliveries.attempt.requested"
    with pytest.raises(ValueError, match="unknown bus URL"):
        make_bus("kafka://127.0.0.1:9092")


def test_nats_bus_rides_out_a_server_restart(tmp_path: Path) -> None:
    """A private server, stopped and started again: the subscription and the publisher go on
    where they were, and a publish made while it is away waits for it."""
    server = NatsServer(tmp_path)
    server.start()

    async def scenario() -> None:
        bus = fast_nats_bus(server.url)
        async with bus:
            operations = Recorder()
            await bus.subscribe("operations", operations)
            before, during = event(), event()
            await bus.publish(before)
            await operations.wait_for(1)

            server.stop()
            publishing = asyncio.create_task(bus.publish(during, timeout=10))
            await asyncio.sleep(0.3)
            assert not publishing.done()
            server.start()
            await publishing
            assert await operations.wait_for(2, timeout=10) == [before.id, during.id]

    try:
        run(scenario())
    finally:
        server.stop()
