"""What must hold after the crash run, read from the services' own database once the
platform has settled. Each check returns the violations it found, in words; none is the pass.

- **Orders**: every order a merchant got an answer for exists exactly once (retries carried
  the same `Idempotency-Key`), and there is no delivery nobody ordered.
- **Progress**: every delivery has reached an end (`delivered`, `cancelled`, `returned`,
  `failed`); the run waits for that before checking, so one that did not is stuck.
- **Events, none lost**: both outboxes are fully published; every robot attempt has its task
  and every task its attempt, and the two agree on how they ended.
- **Events, none applied twice**: no robot event moved a delivery twice, and each delivery's
  timeline replays through the delivery state machine to the status it has.
- **Robots**: no robot was ever on two active tasks, by the order of the task events.
- **Webhooks**: every message was sent and accepted, the receiver got each one with a valid
  signature, and every status change a merchant subscribed to has its message."""

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from crash_workload import Order, Received
from sidewalk.deliveries.domain import (
    DELIVERY_TRANSITIONS,
    TERMINAL_DELIVERY,
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
)
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.deliveries.models import (
    Attempt,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    WebhookEndpoint,
    WebhookMessage,
)
from sidewalk.deliveries.webhook_domain import WEBHOOK_EVENT_TYPES
from sidewalk.kernel.events import Envelope
from sidewalk.operations.domain import TaskType
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from sidewalk.operations.models import Task


@dataclass(frozen=True)
class Databases:
    """The two services' databases (one PostgreSQL database may hold both)."""

    deliveries: Engine
    operations: Engine


TASK_ENDS = {"task.completed", "task.failed", "task.cancelled", "task.unassigned"}
ENDED_TASK = {"completed", "failed", "cancelled"}


def unsettled(dbs: Databases) -> dict[str, int]:
    """What is still moving: deliveries not ended, events not published, webhooks pending.
    The run waits for all of it to be zero before it checks."""
    with dbs.deliveries.connect() as db:
        left = {
            "deliveries not ended": db.scalar(
                select(func.count()).where(Delivery.status.not_in(TERMINAL_DELIVERY))
            ),
            "webhooks pending": db.scalar(
                select(func.count()).where(WebhookMessage.status == "pending")
            ),
        }
    left["events not published"] = sum(len(ids) for ids in _unpublished_ids(dbs).values())
    return {k: v or 0 for k, v in left.items()}


def check_all(dbs: Databases, orders: list[Order], received: list[Received]) -> list[str]:
    return [
        *check_orders(dbs, orders),
        *check_progress(dbs),
        *check_events_published(dbs),
        *check_attempts_and_tasks(dbs),
        *check_timelines(dbs),
        *check_one_task_per_robot(dbs),
        *check_webhooks(dbs, received),
    ]


def check_orders(dbs: Databases, orders: list[Order]) -> list[str]:
    with dbs.deliveries.connect() as db:
        stored = Counter(
            (m, r)
            for m, r in db.execute(select(Delivery.merchant_id, Delivery.external_reference_id))
        )
    found = []
    answered = {(o.merchant_id, o.reference) for o in orders if o.delivery_id}
    for key in answered:
        if stored[key] != 1:
            found.append(f"order {key[1]} was answered but exists {stored[key]} times")
    for o in orders:
        n = stored[(o.merchant_id, o.reference)]
        if not o.delivery_id and n > 1:
            found.append(f"unanswered order {o.reference} exists {n} times")
    tried = {(o.merchant_id, o.reference) for o in orders}
    for key, n in stored.items():
        if key not in tried:
            found.append(f"delivery {key[1]} exists ({n}) though nobody ordered it")
    return found


def check_progress(dbs: Databases) -> list[str]:
    with dbs.deliveries.connect() as db:
        open_ = db.execute(
            select(Delivery.id, Delivery.status).where(Delivery.status.not_in(TERMINAL_DELIVERY))
        ).all()
    return [f"delivery {d} is stuck in {s}" for d, s in open_]


def check_events_published(dbs: Databases, grace_s: float = 3.0) -> list[str]:
    """Events still unpublished a moment after they were first seen so: the services go on
    writing a few events of their own (fleet snapshots), which the relays publish within
    milliseconds."""
    before = _unpublished_ids(dbs)
    if not any(before.values()):
        return []
    time.sleep(grace_s)
    after = _unpublished_ids(dbs)
    left = {name: before[name] & after[name] for name in before}
    return [
        f"{len(ids)} events of {name} were never published" for name, ids in left.items() if ids
    ]


def _unpublished_ids(dbs: Databases) -> dict[str, set[str]]:
    found = {}
    for engine, outbox in (
        (dbs.deliveries, DELIVERIES_OUTBOX),
        (dbs.operations, OPERATIONS_OUTBOX),
    ):
        with engine.connect() as db:
            found[outbox.name] = set(
                db.scalars(select(outbox.c.event_id).where(outbox.c.published_at.is_(None)))
            )
    return found


def _attempts_and_tasks(dbs: Databases) -> tuple[dict[str, str], dict[str, str]]:
    with dbs.deliveries.connect() as db:
        attempts = dict(
            db.execute(
                select(Attempt.id, Attempt.status).where(Attempt.provider == AttemptProvider.ROBOT)
            ).all()
        )
    with dbs.operations.connect() as db:
        tasks = dict(
            db.execute(
                select(Task.attempt_id, Task.status).where(Task.type == TaskType.DELIVERY)
            ).all()
        )
    return attempts, tasks


def check_attempts_and_tasks(dbs: Databases) -> list[str]:
    """Each robot attempt is one delivery task (the operations side got `attempt.requested`)
    and they ended alike (the deliveries side got the task's end): what the merchant is told
    is what the robot did, also when the merchant's cancel crossed the robot finishing
    (`crossed_cancels` names those)."""
    attempts, tasks = _attempts_and_tasks(dbs)
    found = []
    for attempt, status in attempts.items():
        task = tasks.get(attempt)
        if task is None:
            found.append(f"robot attempt {attempt} ({status}) has no task")
        elif task not in ENDED_TASK:
            found.append(f"robot attempt {attempt} is {status} but its task is still {task}")
        elif (status == AttemptStatus.SUCCEEDED) != (task == "completed"):
            found.append(f"robot attempt {attempt} is {status} but its task is {task}")
    for attempt in tasks.keys() - attempts.keys():
        found.append(f"task of attempt {attempt} has no robot attempt")
    return found


def crossed_cancels(dbs: Databases) -> list[str]:
    """Robot attempts the merchant was told were cancelled whose robot had handed the goods
    over: none, since a robot's cancel is decided by the operations service, which knows
    where the goods are (before, the deliveries service decided on what it knew while the
    news of the robot's last step was still on its way). Also a violation of
    `check_attempts_and_tasks`."""
    attempts, tasks = _attempts_and_tasks(dbs)
    return [
        a
        for a, s in attempts.items()
        if (s, tasks.get(a)) == (AttemptStatus.CANCELLED, "completed")
    ]


def check_timelines(dbs: Databases) -> list[str]:
    with dbs.deliveries.connect() as db:
        statuses = dict(db.execute(select(Delivery.id, Delivery.status)).all())
        events = db.execute(
            select(DeliveryEvent.delivery_id, DeliveryEvent.type, DeliveryEvent.data).order_by(
                DeliveryEvent.seq
            )
        ).all()
    found = []
    sources = Counter(
        data["source_event"] for _, _, data in events if data.get("source_event") is not None
    )
    found += [f"event {e} moved a delivery {n} times" for e, n in sources.items() if n > 1]
    by_delivery: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for delivery, type_, data in events:
        by_delivery[delivery].append((type_, data))
    for delivery, timeline in by_delivery.items():
        problem = _replay(timeline, statuses[delivery])
        if problem:
            found.append(f"delivery {delivery}: {problem}")
    return found


def _replay(timeline: Iterable[tuple[str, dict[str, Any]]], final: str) -> str | None:
    """Walk a timeline through the delivery state machine; what is wrong with it, if anything.
    A courier taking over (`attempt.requested` after the first) puts the delivery back to
    `pending` without a status event of its own."""
    status: DeliveryStatus | None = None
    for type_, data in timeline:
        kind, _, name = type_.partition(".")
        if type_ == "delivery.created":
            if status is not None:
                return "created twice"
            status = DeliveryStatus(data["status"])
            continue
        if status is None:
            return f"{type_} before delivery.created"
        if type_ == "attempt.requested" and int(data.get("sequence", 1)) > 1:
            status = DeliveryStatus.PENDING
        elif kind == "delivery" and name in DeliveryStatus.__members__.values():
            target = DeliveryStatus(name)
            if target not in DELIVERY_TRANSITIONS[status]:
                return f"{status} → {target} is not a move the delivery can make"
            status = target
    if status != final:
        return f"its timeline ends {status} but it is {final}"
    return None


def check_one_task_per_robot(dbs: Databases) -> list[str]:
    with dbs.operations.connect() as db:
        rows = db.execute(
            select(OPERATIONS_OUTBOX.c.envelope).order_by(OPERATIONS_OUTBOX.c.seq)
        ).scalars()
        events = [Envelope.from_json(r) for r in rows]
    active: dict[str, set[str]] = defaultdict(set)
    holder: dict[str, str] = {}
    found = []
    for e in events:
        task, serial = e.subject.get("task_id"), e.subject.get("robot_serial")
        if e.type == "task.assigned" and task and serial:
            active[serial].add(task)
            holder[task] = serial
            if len(active[serial]) > 1:
                found.append(f"robot {serial} on {sorted(active[serial])} at {e.occurred_at}")
        elif e.type in TASK_ENDS and task in holder:
            active[holder.pop(task)].discard(task)
    return found


def check_webhooks(dbs: Databases, received: list[Received]) -> list[str]:
    with dbs.deliveries.connect() as db:
        messages = db.execute(
            select(WebhookMessage.id, WebhookMessage.status, WebhookMessage.delivery_id,
                   WebhookMessage.event_type, WebhookMessage.endpoint_id)
        ).all()  # fmt: skip
        endpoints = db.execute(
            select(WebhookEndpoint.merchant_id, WebhookEndpoint.id, WebhookEndpoint.events)
        ).all()
        owners = dict(db.execute(select(Delivery.id, Delivery.merchant_id)).all())
        changes = db.execute(
            select(DeliveryEvent.delivery_id, DeliveryEvent.type).where(
                DeliveryEvent.type.in_(WEBHOOK_EVENT_TYPES)
            )
        ).all()
    found = [f"webhook {m} ended {s}" for m, s, *_ in messages if s != "succeeded"]
    got = {r.message_id for r in received}
    found += [f"webhook {m} was never received" for m, *_ in messages if m not in got]
    found += [f"webhook {r.message_id} came with a bad signature" for r in received if not r.signed]
    found += [
        f"webhook {m} was received but is not on record" for m in got - {m for m, *_ in messages}
    ]
    wanted = Counter(
        (d, t, endpoint)
        for d, t in changes
        for merchant, endpoint, events in endpoints
        if merchant == owners[d] and t in events
    )
    made = Counter((d, t, e) for _, _, d, t, e in messages)
    for key, n in wanted.items():
        if made[key] != n:
            found.append(f"{key[1]} of {key[0]} happened {n} times, {made[key]} webhooks")
    return found


def counts(dbs: Databases) -> dict[str, Any]:
    """What the run did, for the report."""
    with dbs.deliveries.connect() as db:
        by_status = dict(
            db.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        )
        couriers = db.scalar(
            select(func.count(func.distinct(DeliveryAttempt.delivery_id)))
            .join(Attempt, Attempt.id == DeliveryAttempt.attempt_id)
            .where(Attempt.provider == AttemptProvider.COURIER)
        )
        webhooks = db.scalar(select(func.count()).select_from(WebhookMessage))
        failures = dict(
            db.execute(
                select(Delivery.failure_reason, func.count())
                .where(Delivery.status == DeliveryStatus.FAILED)
                .group_by(Delivery.failure_reason)
            ).all()
        )
    with dbs.operations.connect() as db:
        tasks = db.scalar(select(func.count()).select_from(Task))
    return {
        "failed_because": {str(k): v for k, v in sorted(failures.items(), key=str)},
        "deliveries": sum(by_status.values()),
        "by_status": {str(k): v for k, v in sorted(by_status.items())},
        "fell_back_to_courier": couriers or 0,
        "tasks": tasks or 0,
        "webhooks": webhooks or 0,
    }
