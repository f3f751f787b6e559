"""Operations acting on what deliveries tells it: the events a real order and cancel wrote to
the deliveries outbox, handled by the operations handlers, each delivered twice (and through
the relay and the memory bus once), change the fleet once."""

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.bus import MemoryBus
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.outbox import OutboxRelay
from sidewalk.operations import handlers, tasks
from sidewalk.operations.models import Task
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.outboxes import outbox_events


def all_tasks(fleet: Fleet) -> list[Task]:
    with fleet.ctx.uow() as uow:
        return list(uow.session.scalars(select(Task).order_by(Task.created_at)))


def test_an_order_becomes_one_task_and_a_cancel_stops_it(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()
    merchant.post(f"/v1/deliveries/{delivery['id']}/cancel")
    requested, cancel = outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
    for _ in range(2):
        handlers.handle(fleet.ctx, requested)
    (task,) = all_tasks(fleet)
    assert task.attempt_id == delivery["latest_attempt_id"]
    assert task.delivery_id == delivery["id"]
    assert (task.start_lat, task.start_lng) == (
        requested.payload["pickup"]["lat"],
        requested.payload["pickup"]["lng"],
    )
    fleet.dispatch()
    for _ in range(2):
        handlers.handle(fleet.ctx, cancel)
    assert tasks.get_task(fleet.ctx, task.id).status == "cancelled"
    assert fleet.robot_state("SW-1") == "idle"


def test_courier_attempts_and_unreadable_events_are_left_alone(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    beverly_hills = {"lat": 34.0736, "lng": -118.4004, "full_address": "9400 Wilshire Blvd"}
    quote = merchant.quote(dropoff=beverly_hills)
    assert quote["provider"] == "courier"
    merchant.order(quote["id"], key="order-1")
    (requested,) = outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
    handlers.handle(fleet.ctx, requested)
    broken = replace(requested, id="evt_broken", payload={"provider": "robot"})
    handlers.handle(fleet.ctx, broken)
    handlers.handle(fleet.ctx, replace(requested, type="something.else"))
    assert all_tasks(fleet) == []


def test_through_the_relay_and_the_bus(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    merchant.order(key="order-1")

    async def scenario() -> None:
        async with MemoryBus() as bus:
            done = asyncio.Event()

            async def consume(event: Envelope) -> None:
                await asyncio.to_thread(handlers.handle, fleet.ctx, event)
                done.set()

            await bus.subscribe("operations", consume)
            relay = OutboxRelay(
                platform.deliveries_engine, DELIVERIES_OUTBOX, bus, lambda: datetime.now(UTC)
            )
            assert await relay.relay_once() == 1
            await asyncio.wait_for(done.wait(), timeout=5)

    asyncio.run(scenario())
    (task,) = all_tasks(fleet)
    assert task.status == "pending"
