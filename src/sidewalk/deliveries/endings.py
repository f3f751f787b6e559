"""How a delivery ends, or goes on with another attempt: a merchant's cancel (of a robot's
attempt, a request that operations answers from where the goods are), a robot's attempt that
failed or was cancelled, and what follows a failure before pickup by the merchant's attempt
policy (`attempt_policy`): the next attempt, recorded and asked of its provider with the
delivery back at `pending`, or the end."""

from datetime import datetime

from sidewalk.deliveries import repository
from sidewalk.deliveries.attempt_policy import (
    CANCELLED_BY_OPERATIONS,
    network_of,
    next_provider,
    robot_in_time,
)
from sidewalk.deliveries.attempts import request_attempt
from sidewalk.deliveries.context import INBOX_CONSUMER, DeliveriesContext
from sidewalk.deliveries.domain import (
    BEFORE_PICKUP,
    DELIVERY_TRANSITIONS,
    TERMINAL_ATTEMPT,
    TERMINAL_DELIVERY,
    AttemptProvider,
    AttemptStatus,
    DeliveryStatus,
    MerchantPrincipal,
    cancellation_target,
    not_found,
    robot_steps,
)
from sidewalk.deliveries.models import Attempt, Delivery, DeliveryAttempt
from sidewalk.deliveries.moves import attempt_to, delivery_to
from sidewalk.deliveries.schemas import CancelRequest, DeliveryRead
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.views import delivery_read
from sidewalk.kernel.contracts import AttemptCancelRequested, TaskEnded
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.statemachine import check


def cancel_delivery(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str, cmd: CancelRequest
) -> DeliveryRead:
    """Stop a delivery. A robot's attempt is asked to stop (`attempt.cancel_requested`) and
    the operations service, which alone knows where the goods are, answers through the task's
    own events: cancelled before pickup, the goods brought back after it, or too late (handed
    over); until then the delivery stands as it is, its `cancel_status` `requested`, and
    asking again changes nothing. Otherwise the delivery ends here before pickup, or turns back
    to the merchant (`returning`) with the goods on board. A finished delivery cannot be
    cancelled."""
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id, for_update=True)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        current = DeliveryStatus(delivery.status)
        target = cancellation_target(current)
        check("delivery", DELIVERY_TRANSITIONS, current, target)  # a finished one: 409
        reason = cmd.reason or "cancelled_by_merchant"
        robot = _robot_under_way(delivery)
        if robot is not None:
            if delivery.cancel_reason is None:
                _ask_robot_to_stop(uow, delivery, robot, reason)
            answer = delivery_read(delivery, ctx.settings.public_base_url)
            uow.commit()
            return answer
        delivery_to(uow, delivery, target, reason=reason)
        delivery.cancel_reason = reason
        stop_latest_attempt(
            uow,
            delivery,
            reason=delivery.cancel_reason,
            goods_on_board=target is DeliveryStatus.RETURNING,
        )
        answer = delivery_read(delivery, ctx.settings.public_base_url)
        uow.commit()
        return answer


def _robot_under_way(delivery: Delivery) -> Attempt | None:
    """The delivery's latest attempt if a robot carries it and it has not ended."""
    latest = delivery.latest_attempt
    if latest is None or latest.provider != AttemptProvider.ROBOT:
        return None
    return None if latest.status in TERMINAL_ATTEMPT else latest


def _ask_robot_to_stop(
    uow: DeliveriesUnitOfWork, delivery: Delivery, attempt: Attempt, reason: str
) -> None:
    delivery.cancel_reason = reason
    delivery.updated_at = uow.clock.now()
    uow.record(delivery.id, "delivery.cancel_requested", reason=reason, status=delivery.status)
    uow.tell(
        AttemptCancelRequested(
            delivery_id=delivery.id,
            attempt_id=attempt.id,
            provider=attempt.provider.value,
            reason=reason,
        )
    )


def stop_latest_attempt(
    uow: DeliveriesUnitOfWork, delivery: Delivery, *, reason: str, goods_on_board: bool
) -> None:
    """Ask the provider of the delivery's latest attempt to stop. Without goods on board the
    attempt ends here, cancelled; with them, operations has the robot bring them back (a
    `return` task), which ends the delivery `returned`."""
    latest = delivery.latest_attempt
    if latest is None:
        return
    if not goods_on_board and latest.status not in TERMINAL_ATTEMPT:
        attempt_to(uow, delivery.id, latest, AttemptStatus.CANCELLED)
    uow.tell(
        AttemptCancelRequested(
            delivery_id=delivery.id,
            attempt_id=latest.id,
            provider=latest.provider.value,
            reason=reason,
            goods_on_board=goods_on_board,
        )
    )


# Failures after which the robot cannot bring the goods back: the delivery fails with them.
ROBOT_LOST = frozenset({"robot_fault", "robot_offline"})


def robot_task_ended(ctx: DeliveriesContext, event: Envelope, ended_task: TaskEnded) -> None:
    """A robot's task of a delivery failed, or operations cancelled it: the delivery task's
    attempt ends (`robot_attempt_ended`), or the goods a return task was bringing back did
    not come back (`robot_return_ended`). Other tasks are no delivery's."""
    if ended_task.task_type == "delivery":
        robot_attempt_ended(ctx, event, ended_task)
    elif ended_task.task_type == "return":
        robot_return_ended(ctx, event, ended_task)


def robot_return_ended(ctx: DeliveriesContext, event: Envelope, ended_task: TaskEnded) -> None:
    """The robot bringing the goods back did not get there (it faulted, went offline, or its
    task was cancelled): the delivery fails with the reason, for nobody is bringing the goods
    back any more; through `returning` if news of the return is still coming."""
    if ended_task.delivery_id is None:
        return
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        delivery = repository.delivery_in_progress(uow.connection, ended_task.delivery_id)
        status = DeliveryStatus(delivery.status) if delivery is not None else None
        if delivery is None or status is None or status in TERMINAL_DELIVERY:
            uow.commit()  # it ended otherwise meanwhile (delivered after all)
            return
        for step in robot_steps(status, None, None, DeliveryStatus.RETURNING):
            delivery_to(uow, delivery, DeliveryStatus(step.to), source_event=event.id)
        reason = ended_task.reason or f"return_{event.type.removeprefix('task.')}"
        delivery.failure_reason = reason
        delivery_to(
            uow, delivery, DeliveryStatus.FAILED, reason=reason, return_task_id=ended_task.task_id
        )
        repository.save_progress(uow.connection, delivery, None)
        uow.commit()


def robot_attempt_ended(ctx: DeliveriesContext, event: Envelope, ended_task: TaskEnded) -> None:
    """The robot's delivery task failed, or operations cancelled it: the attempt failed.
    Before pickup the merchant's attempt policy says who takes over (another robot, a courier;
    each told to operations as `attempt.requested`) or the delivery fails; with the goods on
    board it waits for their return (its return task), unless the robot itself is lost."""
    delivery_id, attempt_id = ended_task.delivery_id, ended_task.attempt_id
    if delivery_id is None or attempt_id is None:
        return
    with ctx.uow() as uow:
        if not uow.first_time(INBOX_CONSUMER, event.id):
            return
        delivery = repository.delivery_for_update(uow.session, delivery_id)
        if delivery is None or delivery.latest_attempt_id != attempt_id:
            uow.commit()
            return
        attempt = delivery.latest_attempt
        assert attempt is not None  # its id was just matched
        # A task that never got a robot is named here first.
        attempt.provider_id = attempt.provider_id or ended_task.task_id
        if AttemptStatus(attempt.status) in TERMINAL_ATTEMPT:
            uow.commit()  # the merchant cancelled it: nothing more to do
            return
        reason = ended_task.reason or event.type.removeprefix("task.")
        ended = AttemptStatus.CANCELLED if event.type == "task.cancelled" else AttemptStatus.FAILED
        attempt.failure_reason = reason
        attempt_to(uow, delivery.id, attempt, ended, reason=reason)
        status = DeliveryStatus(delivery.status)
        cancelled = delivery.cancel_reason is not None  # operations' answer to the merchant
        lost = reason in ROBOT_LOST or bool(ended_task.goods_disposed)
        # Operations knows where the goods are, even when news of the pickup is still coming.
        before_pickup = status in BEFORE_PICKUP and not ended_task.goods_on_board
        if before_pickup and cancelled:
            delivery_to(uow, delivery, DeliveryStatus.CANCELLED, reason=delivery.cancel_reason)
        elif before_pickup:
            cancelled_there = ended is AttemptStatus.CANCELLED
            why = CANCELLED_BY_OPERATIONS if cancelled_there else reason
            after = next_after_failure(ctx, uow, delivery.id, AttemptProvider.ROBOT, why)
            if after is not None:
                open_attempt(ctx, uow, delivery, after)
            else:
                delivery.failure_reason = reason
                delivery_to(uow, delivery, DeliveryStatus.FAILED, reason=reason)
        elif lost:
            delivery.failure_reason = reason
            delivery_to(uow, delivery, DeliveryStatus.FAILED, reason=reason)
        # Otherwise the goods are on their way back: the return task's events tell it.
        uow.commit()


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
    # The robot that just failed may still be in the snapshot, as free soon: it is not.
    eta = ctx.eta.robot_from_fleet(
        facts.pickup,
        facts.dropoff,
        facts.distance_m,
        at=now,
        area_id=facts.service_area_id,
        unavailable=1,
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
