"""The events between the services, running: a relay per service publishing its outbox, and
a consumer per service running its handlers on the other's events (in worker threads, as the
use cases are synchronous). One process may run both services (`sidewalk demo`, tests) or one
of them; the bus decides who hears what: `memory://` only reaches the same process, NATS
reaches every process on the same server."""

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.bus import Bus, Subscription
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.outbox import OutboxRelay
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX


@dataclass(frozen=True)
class _Side:
    name: str
    engine: Engine
    outbox: Table
    handle: Callable[[Envelope], None]
    types: Mapping[str, Any]


class EventRuntime:
    def __init__(
        self,
        platform: Platform,
        bus: Bus,
        *,
        services: tuple[str, ...] = ("deliveries", "operations"),
        idle_wait_s: float = 0.05,
    ) -> None:
        sides = {
            "deliveries": _Side(
                "deliveries",
                platform.deliveries_engine,
                DELIVERIES_OUTBOX,
                lambda e: deliveries_handlers.handle(platform.deliveries, e),
                deliveries_handlers.HANDLERS,
            ),
            "operations": _Side(
                "operations",
                platform.operations_engine,
                OPERATIONS_OUTBOX,
                lambda e: operations_handlers.handle(platform.operations, e),
                operations_handlers.HANDLERS,
            ),
        }
        self._sides = [sides[s] for s in services]
        self._bus, self._clock = bus, platform.clock
        self._idle_wait_s = idle_wait_s
        self._stop = asyncio.Event()
        self._relays: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        for side in self._sides:
            relay = OutboxRelay(
                side.engine, side.outbox, self._bus, self._clock.now, idle_wait_s=self._idle_wait_s
            )
            self._relays.append(asyncio.create_task(relay.run(self._stop)))

            async def handle(event: Envelope, side: _Side = side) -> None:
                await asyncio.to_thread(side.handle, event)

            self._subscriptions.append(
                await self._bus.subscribe(side.name, handle, types=sorted(side.types))
            )

    async def stop(self) -> None:
        self._stop.set()
        for subscription in self._subscriptions:
            await subscription.stop()
        await asyncio.gather(*self._relays)
