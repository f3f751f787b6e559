"""The in-process bus stays bounded without breaking its contract: what every consumer acked
leaves it, a lagging consumer is kept everything up to `max_events` and told what it lost past
that, and the ids it deduplicates on are remembered over a bounded window."""

import asyncio
import logging
import time

import pytest

from sidewalk.kernel.bus import MemoryBus
from sidewalk.kernel.events import Envelope
from tests.integration.test_bus import QUIET, Recorder, event, publish_all, run


def bounded_bus(**limits: int) -> MemoryBus:
    return MemoryBus(retry_backoff=0.05, max_retry_backoff=0.2, **limits)


async def until_retained(bus: MemoryBus, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while bus.retained != count:
        assert time.monotonic() < deadline, f"the bus holds {bus.retained}, not {count}"
        await asyncio.sleep(0.01)


async def publish_in_step(bus: MemoryBus, events: list[Envelope], live: Recorder) -> list[str]:
    """Publish one at a time, each once `live` has handled the one before: a consumer that
    keeps up, beside one that does not."""
    for e in events:
        await bus.publish(e)
        await live.wait_for(len(live.handled) + 1)
    return [e.id for e in events]


def mixed(n: int) -> list[Envelope]:
    return [event("attempt.requested" if i % 3 else "task.completed", n=i) for i in range(n)]


def test_what_every_consumer_acked_leaves_the_bus() -> None:
    async def scenario() -> None:
        async with bounded_bus() as bus:
            everything, requests = Recorder(), Recorder()
            await bus.subscribe("warehouse", everything)
            await bus.subscribe("operations", requests, types=["attempt.requested"])
            first = mixed(2_000)
            await publish_all(bus, first)
            await everything.wait_for(2_000)
            await until_retained(bus, 0)

            later = mixed(300)
            await publish_all(bus, later)
            assert await everything.wait_for(2_300) == [e.id for e in first + later]
            wanted = [e.id for e in first + later if e.type == "attempt.requested"]
            assert await requests.wait_for(len(wanted)) == wanted
            await until_retained(bus, 0)
            assert bus.lost("warehouse") == bus.lost("operations") == 0

    run(scenario())


def test_an_event_is_kept_while_a_consumer_still_owes_it() -> None:
    async def scenario() -> None:
        async with bounded_bus() as bus:
            stuck, *later = [event() for _ in range(3)]
            operations = Recorder(fail={stuck.id: 3})
            await bus.subscribe("operations", operations)
            await publish_all(bus, [stuck, *later])
            await operations.wait_for(2)
            assert bus.retained == 3  # the failed one, and those published after it
            assert await operations.wait_for(3) == [e.id for e in later] + [stuck.id]
            await until_retained(bus, 0)

    run(scenario())


def test_a_stopped_consumer_still_gets_everything_within_the_cap() -> None:
    async def scenario() -> None:
        async with bounded_bus(max_events=50) as bus:
            dispatcher = Recorder()
            await bus.subscribe("dispatcher", dispatcher)
            slow = await bus.subscribe("notifier", Recorder())
            await slow.stop()

            sent = await publish_all(bus, [event(n=n) for n in range(50)])
            await dispatcher.wait_for(50)
            assert bus.retained == 50  # the notifier has read none of them

            notifier = Recorder()
            await bus.subscribe("notifier", notifier)
            assert await notifier.wait_for(50) == sent
            await until_retained(bus, 0)
            assert bus.lost("notifier") == 0

    run(scenario())


def test_past_the_cap_a_lagging_consumer_loses_the_oldest_and_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="sidewalk.kernel.bus.memory")

    async def scenario() -> None:
        async with bounded_bus(max_events=50) as bus:
            dispatcher = Recorder()
            await bus.subscribe("dispatcher", dispatcher)
            await (await bus.subscribe("notifier", Recorder())).stop()
            await (await bus.subscribe("tracker", Recorder(), types=["task.completed"])).stop()

            sent = await publish_in_step(bus, [event(n=n) for n in range(80)], dispatcher)
            assert dispatcher.handled == sent
            assert bus.retained == 50

            notifier = Recorder()
            await bus.subscribe("notifier", notifier)
            assert await notifier.wait_for(50) == sent[30:]
            await asyncio.sleep(QUIET)
            assert notifier.handled == sent[30:]
            assert bus.lost("notifier") == 30
            assert bus.lost("tracker") == 0  # none of what went was of its types

    run(scenario())
    told = [r.getMessage() for r in caplog.records if "notifier" in r.getMessage()]
    assert told
    assert "(30 in all)" in told[-1]
    assert not [r for r in caplog.records if "tracker" in r.getMessage()]


def test_an_event_failing_for_ever_is_given_up_when_the_cap_needs_its_room() -> None:
    async def scenario() -> None:
        async with bounded_bus(max_events=5) as bus:
            poison = event()
            operations = Recorder(fail={poison.id: 1_000_000})
            await bus.subscribe("operations", operations)
            await bus.publish(poison)
            later = await publish_in_step(bus, [event(n=n) for n in range(10)], operations)
            assert operations.handled == later
            assert bus.lost("operations") == 1
            await until_retained(bus, 0)
            tries = operations.calls.count(poison.id)
            await asyncio.sleep(QUIET)
            assert operations.calls.count(poison.id) == tries  # no longer delivered

    run(scenario())


def test_ids_are_deduplicated_over_a_bounded_window() -> None:
    async def scenario() -> None:
        async with bounded_bus(dedup_window=3) as bus:
            operations = Recorder()
            await bus.subscribe("operations", operations)
            again, *others = [event(n=n) for n in range(4)]
            await bus.publish(again)
            await operations.wait_for(1)
            await until_retained(bus, 0)
            await bus.publish(again)  # acked and gone from the log, still remembered
            await publish_all(bus, others)  # three newer ids push it out of the window
            await bus.publish(again)
            expected = [again.id, *(e.id for e in others), again.id]
            assert await operations.wait_for(5) == expected
            await asyncio.sleep(QUIET)
            assert operations.handled == expected

    run(scenario())


def test_a_consumer_first_known_after_the_others_acked_gets_what_comes_next() -> None:
    async def scenario() -> None:
        async with bounded_bus() as bus:
            early = Recorder()
            await bus.subscribe("dispatcher", early)
            await publish_all(bus, [event(), event()])
            await early.wait_for(2)
            await until_retained(bus, 0)
            late = Recorder()
            await bus.subscribe("notifier", late)
            after = await publish_all(bus, [event()])
            assert await late.wait_for(1) == after

    run(scenario())


def test_the_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryBus(max_events=0)
    with pytest.raises(ValueError, match="at least 1"):
        MemoryBus(dedup_window=0)
