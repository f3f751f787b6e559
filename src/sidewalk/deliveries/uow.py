"""The deliveries unit of work: the session of one use case and the timeline entries it
records, written in the same transaction as the change they describe."""

from typing import Any

from sidewalk.deliveries.models import OUTBOX, DeliveryEvent
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.outbox import add_to_outbox
from sidewalk.kernel.uow import UnitOfWork


class DeliveriesUnitOfWork(UnitOfWork):
    def record(self, delivery_id: str, type_: str, **data: Any) -> None:
        """Note that something happened to a delivery: kept only if the use case commits."""
        self.session.add(
            DeliveryEvent(
                id=new_id("evt"),
                delivery_id=delivery_id,
                type=type_,
                occurred_at=self.clock.now(),
                data=data,
            )
        )

    def emit(self, type_: str, *, subject: dict[str, str], payload: dict[str, Any]) -> None:
        """Tell the operations service something, through the outbox: sent only if the use
        case commits."""
        envelope = Envelope.new(
            type_, "deliveries", occurred_at=self.clock.now(), subject=subject, payload=payload
        )
        add_to_outbox(self.session, OUTBOX, [envelope])
