"""What the deliveries service does when the operations service tells it something: each
contract it reads goes to its use case (`progress`: a robot's progress and what happened at
the door; `endings`: a robot's attempt that ended; `fleet`: where the robots are). An event it
cannot read is kept as a dead letter."""

from sidewalk.deliveries import endings, fleet, progress
from sidewalk.deliveries.context import INBOX_CONSUMER, DeliveriesContext
from sidewalk.deliveries.models import DEAD_LETTERS
from sidewalk.kernel.contracts import (
    FleetSnapshot,
    RobotPosition,
    Routes,
    TaskEnded,
    TaskProgress,
    TaskUndeliverable,
    TaskUnlocked,
)
from sidewalk.kernel.contracts.base import on
from sidewalk.kernel.dead_letters import DeadLetter, DeadLetters
from sidewalk.kernel.events import Envelope

# What this service reads of the other's events, by contract, and the use case of each.
ROUTES: Routes[DeliveriesContext] = Routes(
    on(TaskProgress, progress.robot_progress),
    on(TaskUnlocked, progress.robot_unlocked),
    on(TaskUndeliverable, progress.robot_undeliverable),
    on(TaskEnded, endings.robot_task_ended),
    on(RobotPosition, lambda ctx, _, position: fleet.store_position(ctx, position)),
    on(FleetSnapshot, lambda ctx, _, snapshot: fleet.store_snapshot(ctx, snapshot)),
)


def handle(ctx: DeliveriesContext, event: Envelope) -> None:
    """Run the handler of `event`'s type (other types are not this service's business); an
    event it cannot read is kept as a dead letter."""
    if ROUTES.reads(event.type):
        dead_letters(ctx).handle(event)


def dead_letters(ctx: DeliveriesContext) -> DeadLetters:
    """This service's handling of the other's events, with the ones it could not read."""
    return DeadLetters(ctx.uow, DEAD_LETTERS, INBOX_CONSUMER, lambda e: ROUTES(ctx, e))


def replay_dead_letter(ctx: DeliveriesContext, seq: int) -> DeadLetter | None:
    """Run the handler again on a dead letter, once its cause is fixed."""
    return dead_letters(ctx).replay(seq)
