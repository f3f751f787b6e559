"""The deliveries unit of work: the session of one use case, the timeline entries it records
(written in the same transaction as the change they describe) and the contracts it tells the
other side (through the outbox). Before it commits, one explicit step, given by the
composition (`TellMerchants`: the webhooks), turns what was recorded into what the merchants
are owed; the unit of work itself renders nothing. What a use case records and tells is kept
until it commits and then written in one statement per table, however many deliveries the use
case touched."""

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple, Self, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session, sessionmaker

from sidewalk.deliveries.models import INBOX, OUTBOX, DeliveryEvent
from sidewalk.kernel.clock import Clock
from sidewalk.kernel.contracts import Contract
from sidewalk.kernel.events import Envelope
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.outbox import add_to_outbox
from sidewalk.kernel.uow import UnitOfWork

_TIMELINE = cast(Table, DeliveryEvent.__table__)


class Recorded(NamedTuple):
    """Something that happened to a delivery in this use case: a timeline entry, or a notice
    the timeline does not keep (where the courier is)."""

    delivery_id: str
    type: str
    occurred_at: datetime


# The step before commit that tells merchants what was recorded (their webhooks), given the
# deliveries the use case rendered already (by id), so they need not be read back.
TellMerchants = Callable[["DeliveriesUnitOfWork", Sequence[Recorded], Mapping[str, Any]], None]


class DeliveriesUnitOfWork(UnitOfWork):
    inbox = INBOX

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Clock,
        *,
        tell_merchants: TellMerchants | None = None,
        write_lock: AbstractContextManager[object] | None = None,
    ) -> None:
        super().__init__(session_factory, clock, write_lock=write_lock)
        self._tell_merchants = tell_merchants
        self._recorded: list[Recorded] = []
        self._timeline: list[dict[str, Any]] = []
        self._envelopes: list[Envelope] = []
        self._rendered: dict[str, Any] = {}

    def __enter__(self) -> Self:
        self._recorded, self._timeline, self._envelopes = [], [], []
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
        self._recorded.append(Recorded(delivery_id, type_, now))

    def notify(self, delivery_id: str, type_: str, at: datetime) -> None:
        """Note for the merchants an event the timeline does not keep (the courier's location),
        with those of the use case: told only if it commits."""
        self._recorded.append(Recorded(delivery_id, type_, at))

    def tell(self, contract: Contract) -> None:
        """Tell the other side something (one of the contracts between the services), through
        the outbox: sent only if the use case commits."""
        self._envelopes.append(contract.envelope(occurred_at=self.clock.now()))

    def rendered(self, delivery: Any) -> None:
        """The delivery as the use case leaves it, rendered already (with an `id`): telling
        the merchants need not read it back."""
        self._rendered[delivery.id] = delivery

    def commit(self) -> None:
        """Write the timeline and the outbox, tell the merchants what was recorded (the step
        given), then commit all of it together."""
        timeline, self._timeline = self._timeline, []
        envelopes, self._envelopes = self._envelopes, []
        recorded, self._recorded = self._recorded, []
        rendered, self._rendered = self._rendered, {}
        self.inserts.add(_TIMELINE, timeline)
        add_to_outbox(self.inserts, OUTBOX, envelopes)
        if recorded and self._tell_merchants is not None:
            self._tell_merchants(self, recorded, rendered)
        super().commit()
