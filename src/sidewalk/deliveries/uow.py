"""The deliveries unit of work: the session of one use case and the timeline entries it
records, written in the same transaction as the change they describe, with the webhooks they
owe the merchant. What a use case records and emits is kept until it commits and then written
in one statement per table, however many deliveries the use case touched."""

from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Self, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from sidewalk.deliveries.models import INBOX, OUTBOX, DeliveryEvent
from sidewalk.deliveries.schemas import DeliveryRead
from sidewalk.deliveries.webhook_domain import WEBHOOK_EVENT_TYPES
from sidewalk.deliveries.webhook_messages import StatusChange, queue_webhooks
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.contracts import Contract
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.outbox import add_to_outbox
from sidewalk.kernel.uow import UnitOfWork

_TIMELINE = cast(Table, DeliveryEvent.__table__)


class DeliveriesUnitOfWork(UnitOfWork):
    inbox = INBOX

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
        self._timeline: list[dict[str, Any]] = []
        self._envelopes: list[Envelope] = []
        self._rendered: dict[str, DeliveryRead] = {}

    def __enter__(self) -> Self:
        self._status_changes, self._timeline, self._envelopes = [], [], []
        self._rendered = {}
        return super().__enter__()

    def record(self, delivery_id: str, type_: str, **data: Any) -> None:
        """Note that something happened to a delivery: kept only if the use case commits."""
        now = self.clock.now()
        self._timeline.append(
            {
                "id": new_id("evt"),
                "delivery_id": delivery_id,
                "type": type_,
                "occurred_at": now,
                "data": data,
            }
        )
        if type_ in WEBHOOK_EVENT_TYPES:
            self._status_changes.append(StatusChange(delivery_id, type_, now))

    def notify(self, delivery_id: str, type_: str, at: datetime) -> None:
        """Queue the webhooks of an event the timeline does not keep (the courier's location),
        with those of the use case: sent only if it commits."""
        self._status_changes.append(StatusChange(delivery_id, type_, at))

    def tell(self, contract: Contract) -> None:
        """Tell the other side something (one of the contracts between the services), through
        the outbox: sent only if the use case commits."""
        self._envelopes.append(contract.envelope(occurred_at=self.clock.now()))

    def rendered(self, delivery: DeliveryRead) -> None:
        """The delivery as the use case leaves it, rendered already: its webhooks need not
        read it back."""
        self._rendered[delivery.id] = delivery

    def commit(self) -> None:
        """Write the timeline and the outbox, queue the webhooks of the status changes
        recorded, rendering each delivery as it is now that the use case is done, then commit
        all of it together."""
        timeline, self._timeline = self._timeline, []
        envelopes, self._envelopes = self._envelopes, []
        changes, self._status_changes = self._status_changes, []
        rendered, self._rendered = self._rendered, {}
        self.inserts.add(_TIMELINE, timeline)
        add_to_outbox(self.inserts, OUTBOX, envelopes)
        if changes:
            queue_webhooks(self, self.inserts, changes, self._public_base_url, rendered)
        super().commit()
