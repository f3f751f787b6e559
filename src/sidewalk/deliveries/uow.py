"""The deliveries unit of work: the session of one use case and the timeline entries it
records, written in the same transaction as the change they describe, with the webhooks they
owe the merchant."""

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Self

from sqlalchemy.orm import Session, sessionmaker

from sidewalk.deliveries.models import OUTBOX, DeliveryEvent
from sidewalk.deliveries.webhook_domain import WEBHOOK_EVENT_TYPES
from sidewalk.deliveries.webhook_messages import StatusChange, queue_webhooks
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.outbox import add_to_outbox
from sidewalk.kernel.uow import UnitOfWork


class DeliveriesUnitOfWork(UnitOfWork):
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        public_base_url: str,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """`public_base_url` renders deliveries in webhooks as the API shows them."""
        super().__init__(session_factory, clock, write_lock=write_lock)
        self._public_base_url = public_base_url
        self._status_changes: list[StatusChange] = []

    def __enter__(self) -> Self:
        self._status_changes = []
        return super().__enter__()

    def record(self, delivery_id: str, type_: str, **data: Any) -> None:
        """Note that something happened to a delivery: kept only if the use case commits."""
        now = self.clock.now()
        self.session.add(
            DeliveryEvent(
                id=new_id("evt"),
                delivery_id=delivery_id,
                type=type_,
                occurred_at=now,
                data=data,
            )
        )
        if type_ in WEBHOOK_EVENT_TYPES:
            self._status_changes.append(StatusChange(delivery_id, type_, now))

    def notify(self, delivery_id: str, type_: str, at: datetime) -> None:
        """Queue the webhooks of an event the timeline does not keep (the courier's location),
        with those of the use case: sent only if it commits."""
        self._status_changes.append(StatusChange(delivery_id, type_, at))

    def emit(self, type_: str, *, subject: dict[str, str], payload: dict[str, Any]) -> None:
        """Tell the operations service something, through the outbox: sent only if the use
        case commits."""
        envelope = Envelope.new(
            type_, "deliveries", occurred_at=self.clock.now(), subject=subject, payload=payload
        )
        add_to_outbox(self.session, OUTBOX, [envelope])

    def commit(self) -> None:
        """Queue the webhooks of the status changes recorded, rendering each delivery as it is
        now that the use case is done, then commit all of it together."""
        changes, self._status_changes = self._status_changes, []
        if changes:
            queue_webhooks(self.session, changes, self._public_base_url)
        super().commit()
