"""The deliveries unit of work: the session of one use case and the timeline entries it
records, written in the same transaction as the change they describe."""

from typing import Any

from sidewalk.deliveries.models import DeliveryEvent
from sidewalk.kernel.ids import new_id
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
