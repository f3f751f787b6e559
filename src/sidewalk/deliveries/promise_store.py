"""The promises kept and missed: each delivered order's outcome against the estimate behind
its promise, written when it is delivered, and the recent ones read back per provider to
calibrate new promises (`deliveries.promises`)."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, select

from sidewalk.deliveries.domain import AttemptProvider, DeliveryStatus
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryAttempt, PromiseOutcome, Quote
from sidewalk.deliveries.promises import Errors, Margins, PromisePolicy, calibrate, outcome
from sidewalk.kernel.db import conflict_insert

_OUTCOMES = cast(Table, PromiseOutcome.__table__)

# What deciding whether a delivered order counts reads, and its promise: built once.
_PROMISE = (
    select(
        Quote.provider,
        Quote.service_area_id,
        Quote.pickup_eta,
        Quote.dropoff_eta,
        Quote.pickup_margin_s,
        Quote.dropoff_margin_s,
        (Quote.pickup_ready_at.is_(None))
        & Quote.dropoff_after.is_(None)
        & Quote.dropoff_before.is_(None),
        Attempt.provider,
        select(func.count()).where(DeliveryAttempt.delivery_id == Delivery.id).scalar_subquery(),
    )
    .select_from(Delivery)
    .join(Quote, Quote.id == Delivery.quote_id)
    .join(Attempt, Attempt.id == Delivery.latest_attempt_id)
    .where(Delivery.id == bindparam("delivery_id"))
)


def record_outcome(
    connection: Connection, delivery_id: str, status_times: Mapping[str, Any], delivered: datetime
) -> None:
    """Keep how late a just-delivered order was against its estimate, if it counts: for as
    soon as possible, and delivered by its first attempt with the quoted provider."""
    row = connection.execute(_PROMISE, {"delivery_id": delivery_id}).first()
    if row is None:
        return
    provider, area, pickup, dropoff, pickup_margin, dropoff_margin, asap, by, attempts = row
    if not asap or attempts != 1 or by != provider:
        return
    reached = status_times.get(DeliveryStatus.AT_PICKUP.value)
    kept = outcome(
        AttemptProvider(provider),
        pickup,
        dropoff,
        Margins(pickup_margin, dropoff_margin),
        reached_pickup=datetime.fromisoformat(reached) if reached else None,
        delivered=delivered,
    )
    insert = conflict_insert(connection.dialect.name)(_OUTCOMES)
    connection.execute(
        insert.values(
            delivery_id=delivery_id,
            provider=kept.provider,
            service_area_id=area,
            delivered_at=delivered,
            pickup_error_s=kept.pickup_error_s,
            dropoff_error_s=kept.dropoff_error_s,
        ).on_conflict_do_nothing(index_elements=["delivery_id"])
    )


_RECENT = (
    select(PromiseOutcome.pickup_error_s, PromiseOutcome.dropoff_error_s)
    .where(PromiseOutcome.provider == bindparam("provider"))
    .order_by(PromiseOutcome.delivered_at.desc())
    .limit(bindparam("legs"))
)


def recent_errors(connection: Connection, legs: int) -> dict[AttemptProvider, Errors]:
    """The last `legs` outcomes of each provider, newest first."""
    found = {}
    for provider in AttemptProvider:
        rows = connection.execute(_RECENT, {"provider": provider, "legs": legs}).all()
        found[provider] = Errors([p for p, _ in rows if p is not None], [d for _, d in rows])
    return found


def margins(engine: Engine, policy: PromisePolicy, legs: int) -> dict[AttemptProvider, Margins]:
    """Each provider's margins now, from the last `legs` outcomes of each."""
    with engine.connect() as connection:
        return calibrate(recent_errors(connection, legs), policy)
