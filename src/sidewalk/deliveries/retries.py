"""What follows an attempt that failed before pickup, by the merchant's attempt policy
(`attempt_policy`): the next attempt, recorded and asked of its provider, with the delivery
back at `pending`; or nothing, and the caller fails the delivery."""

from datetime import datetime

from sidewalk.deliveries import repository
from sidewalk.deliveries.attempt_policy import network_of, next_provider, robot_in_time
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import AttemptProvider, AttemptStatus, DeliveryStatus
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryAttempt
from sidewalk.deliveries.moves import delivery_to
from sidewalk.deliveries.service import request_attempt
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.kernel.ids import new_id

# Why a delivery went back to `pending`, by the provider that takes over.
RETRY_REASONS = {
    AttemptProvider.ROBOT: "robot_retry",
    AttemptProvider.COURIER: "courier_fallback",
}


def next_after_failure(
    ctx: DeliveriesContext,
    uow: DeliveriesUnitOfWork,
    delivery_id: str,
    ended: AttemptProvider,
    reason: str,
) -> AttemptProvider | None:
    """Who takes the delivery over after its latest attempt, by `ended`, failed for `reason`
    before pickup; None when nobody may. A robot is chosen only if the fleet's last known state
    says one sent now makes the delivery's window (a guess from distance alone is not enough:
    a robot that never comes costs the wait for one before a courier is asked)."""
    facts = repository.retry_facts(uow.connection, delivery_id)
    if facts is None:
        return None
    can_make_it = ended is AttemptProvider.ROBOT and robot_in_time(
        _robot_dropoff(ctx, facts, uow.clock.now()),
        dropoff_before=facts.dropoff_before,
        promised_dropoff=facts.dropoff_eta,
        grace_s=ctx.settings.robot_retry_grace_s,
    )
    return next_provider(
        facts.policy,
        attempts=facts.attempts,
        ended=ended,
        reason=reason,
        robot_can_make_it=can_make_it,
    )


def _robot_dropoff(
    ctx: DeliveriesContext, facts: repository.RetryFacts, now: datetime
) -> datetime | None:
    """When a robot sent now would hand over, by the fleet's known state; None outside the
    robots' areas, or when the fleet's state shows no robot (or is not known)."""
    if facts.service_area_id is None:
        return None
    eta = ctx.eta.robot_from_fleet(
        facts.pickup, facts.dropoff, facts.distance_m, at=now, area_id=facts.service_area_id
    )
    return None if eta is None else eta.dropoff


def open_attempt(
    ctx: DeliveriesContext,
    uow: DeliveriesUnitOfWork,
    delivery: Delivery,
    provider: AttemptProvider,
) -> None:
    """The delivery's next attempt, by `provider`: linked as its latest, recorded
    (`attempt.requested`) and asked of the provider; the delivery waits again (`pending`)."""
    now = uow.clock.now()
    sequence = len(delivery.attempt_links) + 1
    attempt = Attempt(
        id=new_id("att"),
        provider=provider,
        network=network_of(provider, ctx.settings.courier_provider),
        status=AttemptStatus.REQUESTED.value,
        provider_id=None,
        status_times={AttemptStatus.REQUESTED.value: now.isoformat()},
        created_at=now,
        updated_at=now,
    )
    uow.session.add(attempt)
    uow.session.add(
        DeliveryAttempt(delivery_id=delivery.id, attempt_id=attempt.id, sequence=sequence)
    )
    delivery.latest_attempt_id = attempt.id
    if delivery.status != DeliveryStatus.PENDING:
        delivery_to(uow, delivery, DeliveryStatus.PENDING, reason=RETRY_REASONS[provider])
    delivery.updated_at = now
    uow.record(
        delivery.id,
        "attempt.requested",
        attempt_id=attempt.id,
        provider=provider.value,
        network=attempt.network,
        sequence=sequence,
    )
    request_attempt(uow, delivery, delivery.quote, attempt, sequence=sequence)
