"""The events between the services, one class each: the one way each is written
(`Contract.envelope`) and read (`Contract.read`), and the tables of handlers keyed by them
(`Routes`). Both services import these; neither imports the other."""

from sidewalk.kernel.contracts.base import Contract, Routes, Unreadable
from sidewalk.kernel.contracts.deliveries import (
    AttemptCancelRequested,
    AttemptRequested,
    AttemptUpdated,
)
from sidewalk.kernel.contracts.operations import (
    FleetSnapshot,
    RobotPosition,
    TaskEnded,
    TaskProgress,
    TaskUndeliverable,
    TaskUnlocked,
)

# Every contract, in the order docs/events.md lists them.
CONTRACTS: tuple[type[Contract], ...] = (
    AttemptRequested,
    AttemptUpdated,
    AttemptCancelRequested,
    TaskProgress,
    TaskEnded,
    TaskUnlocked,
    TaskUndeliverable,
    RobotPosition,
    FleetSnapshot,
)

__all__ = [
    "CONTRACTS",
    "AttemptCancelRequested",
    "AttemptRequested",
    "AttemptUpdated",
    "Contract",
    "FleetSnapshot",
    "RobotPosition",
    "Routes",
    "TaskEnded",
    "TaskProgress",
    "TaskUndeliverable",
    "TaskUnlocked",
    "Unreadable",
]
