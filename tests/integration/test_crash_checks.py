"""The crash run's invariant checks (`bench/crash_checks.py`) can fail: on one delivery carried
out by a robot across both services they find nothing, and each kind of damage a crash could
do, made by hand in the databases, is found and named."""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select, update

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryEvent, WebhookMessage
from sidewalk.kernel.events import Envelope
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from sidewalk.operations.models import Task
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import Pump

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from crash_checks import Databases, check_all, check_attempts_and_tasks, crossed_cancels
from crash_workload import Order, Received


@pytest.fixture
def delivered(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> tuple[Databases, list[Order], list[Received]]:
    """A delivery ordered, carried to the door by a robot and reported to a webhook endpoint,
    its events relayed and its webhooks accepted, as a settled platform has them."""
    hooked = merchant.post(
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "events": ["delivery.delivered"]},
    )
    assert hooked.status_code == 201, hooked.text
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.delivery(key="order-1")
    pump()
    fleet.dispatch()
    pump()
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    for trip in task["trips"]:
        for event in ("started", "arrived", "completed"):
            if (trip["type"], event) == ("to_dropoff", "completed"):
                pin = {"pin": delivery["unlock_pin"]}
                assert fleet.post(token, "/ops/v1/robots/SW-1/unlock", pin).status_code == 200
            answer = fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
            assert answer.status_code == 200, answer.text
            pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "delivered"
    dbs = Databases(platform.deliveries_engine, platform.operations_engine)
    now = platform.clock.now()
    for engine, outbox in (
        (dbs.deliveries, DELIVERIES_OUTBOX),
        (dbs.operations, OPERATIONS_OUTBOX),
    ):
        with engine.begin() as db:
            db.execute(update(outbox).values(published_at=now))
    with dbs.deliveries.begin() as db:
        db.execute(update(WebhookMessage).values(status="succeeded"))
        messages = db.execute(select(WebhookMessage.id, WebhookMessage.event_type)).all()
    assert len(messages) == 1
    received = [Received(m, "/hooks", t, delivery["id"], signed=True) for m, t in messages]
    orders = [Order(merchant.merchant_id, "order-1042", delivery["id"])]
    return dbs, orders, received


def test_a_settled_delivery_passes_every_check(
    delivered: tuple[Databases, list[Order], list[Received]],
) -> None:
    assert check_all(*delivered) == []


def _sql(engine: Any, statement: Any) -> None:
    with engine.begin() as db:
        db.execute(statement)


def _applied_twice(dbs: Databases) -> None:
    with dbs.deliveries.begin() as db:
        row = db.execute(
            select(DeliveryEvent).where(DeliveryEvent.type == "delivery.delivered")
        ).one()
        db.execute(
            insert(DeliveryEvent).values(
                id="evt_again", delivery_id=row.delivery_id, type=row.type,
                occurred_at=row.occurred_at, data=row.data,
            )
        )  # fmt: skip


def _second_task(dbs: Databases) -> None:
    with dbs.operations.begin() as db:
        first = Envelope.from_json(
            db.execute(
                select(OPERATIONS_OUTBOX.c.envelope)
                .where(OPERATIONS_OUTBOX.c.type == "task.assigned")
                .order_by(OPERATIONS_OUTBOX.c.seq)
            )
            .scalars()
            .first()
        )
        other = Envelope.new(
            "task.assigned", "operations", occurred_at=first.occurred_at,
            subject={**first.subject, "task_id": "tsk_other"}, payload=first.payload,
        )  # fmt: skip
        # Assigned again right after the first assignment, before that task ended.
        seq = db.execute(
            select(OPERATIONS_OUTBOX.c.seq).where(OPERATIONS_OUTBOX.c.event_id == first.id)
        ).scalar_one()
        db.execute(update(OPERATIONS_OUTBOX).where(OPERATIONS_OUTBOX.c.seq > seq).values(
            seq=OPERATIONS_OUTBOX.c.seq + 1000))  # fmt: skip
        db.execute(insert(OPERATIONS_OUTBOX).values(
            seq=seq + 1, event_id=other.id, type=other.type, occurred_at=other.occurred_at,
            envelope=other.to_json().decode(), published_at=other.occurred_at,
        ))  # fmt: skip


Damage = Callable[[Databases, list[Order], list[Received]], None]

DAMAGE: dict[str, tuple[Damage, str]] = {
    "an event applied twice": (
        lambda dbs, o, r: _applied_twice(dbs),
        "moved a delivery 2 times",
    ),
    "an event never published": (
        lambda dbs, o, r: _sql(dbs.operations, update(OPERATIONS_OUTBOX).values(published_at=None)),
        "were never published",
    ),
    "a task lost": (
        lambda dbs, o, r: _sql(dbs.operations, update(Task).values(status="in_progress")),
        "but its task is still in_progress",
    ),
    "a delivery stuck": (
        lambda dbs, o, r: _sql(dbs.deliveries, update(Delivery).values(status="at_dropoff")),
        "is stuck in at_dropoff",
    ),
    "an answered order missing": (
        lambda dbs, o, r: o.append(Order(o[0].merchant_id, "order-lost", "dlv_lost")),
        "order order-lost was answered but exists 0 times",
    ),
    "a robot on two tasks": (lambda dbs, o, r: _second_task(dbs), "robot SW-1 on"),
    "a webhook never received": (lambda dbs, o, r: r.clear(), "was never received"),
    "a webhook badly signed": (
        lambda dbs, o, r: r.append(Received(r[0].message_id, "/hooks", "x", "y", signed=False)),
        "came with a bad signature",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_each_kind_of_damage_is_found(
    delivered: tuple[Databases, list[Order], list[Received]], damage: str
) -> None:
    do, said = DAMAGE[damage]
    do(*delivered)
    found = check_all(*delivered)
    assert any(said in v for v in found), found


def test_a_merchant_told_cancelled_for_goods_handed_over_is_a_violation(
    delivered: tuple[Databases, list[Order], list[Received]],
) -> None:
    """What the merchant is told must be what the robot did: an attempt cancelled whose task
    completed (the goods handed over) is named, and breaks the attempts' invariant."""
    dbs = delivered[0]
    assert crossed_cancels(dbs) == []
    _sql(dbs.deliveries, update(Attempt).values(status="cancelled"))
    assert len(crossed_cancels(dbs)) == 1
    assert any("is cancelled but its task is completed" in v for v in check_attempts_and_tasks(dbs))
