"""The deliveries unit of work: the session of one use case and the timeline entries it
records, written in the same transaction as the change they describe."""

from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from sidewalk.deliveries.models import DeliveryEvent
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.uow import UnitOfWork


class DeliveriesUnitOfWork(UnitOfWork):
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        super().__init__(session_factory, clock, write_lock=write_lock)
        self._events: list[DeliveryEvent] = []

    def record(self, delivery_id: str, type_: str, **data: Any) -> None:
        """Note that something happened to a delivery; kept only if the use case commits."""
        self._events.append(
            DeliveryEvent(
                id=new_id("evt"),
                delivery_id=delivery_id,
                type=type_,
                occurred_at=self.clock.now(),
                data=data,
            )
        )

    def before_commit(self) -> None:
        self.session.add_all(self._events)
        self._events = []

    def rollback(self) -> None:
        self._events = []
        super().rollback()

    def __exit__(self, *exc: Any) -> None:
        self._events = []
        super().__exit__(*exc)
