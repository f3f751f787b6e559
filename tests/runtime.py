"""The event runtime of a test on a thread of its own: relays and consumers as a server runs
them, while the test drives the services from its own thread."""

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sidewalk.bootstrap import Platform
from sidewalk.events_runtime import EventRuntime
from sidewalk.kernel.bus import Bus


@contextmanager
def running_events(
    platform: Platform,
    make_bus: Callable[[], Bus],
    services: tuple[str, ...] = ("deliveries", "operations"),
) -> Iterator[None]:
    """Run `services`' events on a bus from `make_bus` while the block runs; a failure of the
    runtime fails the test."""
    started, stop = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    async def main() -> None:
        async with make_bus() as bus:
            events = EventRuntime(platform, bus, services=services, idle_wait_s=0.02)
            await events.start()
            started.set()
            while not stop.is_set():
                await asyncio.sleep(0.02)
            await events.stop()

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:
            failures.append(e)
            started.set()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    assert started.wait(15)
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures
