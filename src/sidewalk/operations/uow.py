"""The operations unit of work: the session of one use case and the events it records, handed
to the service's observers once the transaction has committed (never for a rolled-back one)."""

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sidewalk.kernel.clock import Clock
from sidewalk.kernel.contracts import CONTRACTS, Contract
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.outbox import add_to_outbox
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.uow import UnitOfWork
from sidewalk.operations.models import INBOX, OUTBOX

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpsEvent:
    """Something that happened in operations, e.g. `task.assigned` or `trip.arrived`."""

    type: str
    occurred_at: datetime
    task_id: str | None = None
    robot_serial: str | None = None
    delivery_id: str | None = None
    attempt_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


Observer = Callable[[Sequence[OpsEvent]], None]


class OperationsUnitOfWork(UnitOfWork):
    detaches = True
    inbox = INBOX

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        settings: Settings,
        *,
        observers: Sequence[Observer] = (),
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        super().__init__(session_factory, clock, write_lock=write_lock)
        self.settings = settings
        self._observers = observers
        self.events: list[OpsEvent] = []

    def record(self, type_: str, **fields: Any) -> None:
        self.events.append(OpsEvent(type_, self.clock.now(), **fields))

    def commit(self) -> None:
        """Commit the change with its events in the outbox, then tell the observers."""
        add_to_outbox(self.inserts, OUTBOX, [_envelope(e) for e in self.events])
        super().commit()
        events, self.events = self.events, []
        for observe in self._observers if events else ():
            try:
                observe(events)
            except Exception:  # the change is committed: an observer's failure is its own
                log.exception("an observer of operations events failed")

    def rollback(self) -> None:
        super().rollback()
        self.events = []


# The contracts operations writes, by event type: an event of these types is written by its
# contract's class (checked there), any other as operations' own.
_CONTRACTS: dict[str, type[Contract]] = {
    type_: contract
    for contract in CONTRACTS
    if contract.SOURCE == "operations"
    for type_ in contract.TYPES
}


def _envelope(event: OpsEvent) -> Envelope:
    ids = {
        "task_id": event.task_id,
        "robot_serial": event.robot_serial,
        "delivery_id": event.delivery_id,
        "attempt_id": event.attempt_id,
    }
    contract = _CONTRACTS.get(event.type)
    if contract is not None:
        return contract.write(event.type, occurred_at=event.occurred_at, **ids, **event.data)
    return Envelope.new(
        event.type,
        "operations",
        occurred_at=event.occurred_at,
        subject={k: v for k, v in ids.items() if v is not None},
        payload=dict(event.data),
    )
