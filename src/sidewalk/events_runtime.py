"""The events between the services, running: a relay per service publishing its outbox, and
a consumer per service running its handlers on the other's events (in worker threads, as the
use cases are synchronous). One process may run both services (`sidewalk demo`, tests) or one
of them; the bus decides who hears what: `memory://` only reaches the same process, NATS
reaches every process on the same server.

A third side, "couriers", hands the deliveries service's own courier attempts to the courier
network (no relay of its own: the deliveries relay publishes those events) and keeps an
in-process network (the simulated one) running beside it."""

import asyncio
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import handlers as deliveries_handlers
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.deliveries.providers import courier_handlers
from sidewalk.deliveries.providers.courier import InProcessNetwork
from sidewalk.deliveries.schedule_keeper import keep_windows
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
    types: Collection[str]
    relay: bool = True
    # Runs beside the consumer until the runtime stops (the simulated courier network, the
    # keeper of dropoff windows).
    background: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None


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
                deliveries_handlers.ROUTES.types,
                background=lambda stop: keep_windows(platform.deliveries, stop),
            ),
            "operations": _Side(
                "operations",
                platform.operations_engine,
                OPERATIONS_OUTBOX,
                lambda e: operations_handlers.handle(platform.operations, e),
                operations_handlers.ROUTES.types,
            ),
        }
        if "couriers" in services:
            sides["couriers"] = _couriers_side(platform)
        self._sides = [sides[s] for s in services]
        self._bus, self._clock = bus, platform.clock
        self._idle_wait_s = idle_wait_s
        self._stop = asyncio.Event()
        self._relays: list[asyncio.Task[None]] = []
        self._subscriptions: list[Subscription] = []

    async def start(self) -> None:
        # Every consumer first: the memory bus keeps an event only for the consumers it knows.
        for side in self._sides:

            async def handle(event: Envelope, side: _Side = side) -> None:
                await asyncio.to_thread(side.handle, event)

            self._subscriptions.append(
                await self._bus.subscribe(side.name, handle, types=sorted(side.types))
            )
        for side in self._sides:
            if side.relay:
                relay = OutboxRelay(
                    side.engine,
                    side.outbox,
                    self._bus,
                    self._clock.now,
                    idle_wait_s=self._idle_wait_s,
                )
                self._relays.append(asyncio.create_task(relay.run(self._stop)))
            if side.background is not None:
                self._relays.append(asyncio.create_task(side.background(self._stop)))

    async def stop(self) -> None:
        self._stop.set()
        for subscription in self._subscriptions:
            await subscription.stop()
        await asyncio.gather(*self._relays)


def _couriers_side(platform: Platform) -> _Side:
    couriers = platform.couriers
    if couriers is None:
        raise ValueError("the platform has no courier provider")
    return _Side(
        "couriers",
        platform.deliveries_engine,
        DELIVERIES_OUTBOX,
        lambda e: courier_handlers.handle(platform.deliveries, couriers, e),
        courier_handlers.ROUTES.types,
        relay=False,
        background=couriers.run if isinstance(couriers, InProcessNetwork) else None,
    )
