"""Telling merchants where the robot or courier is, for the endpoints that ask for it
(`delivery.courier_location`): at most once every `webhook_location_interval_s` per delivery,
however often positions come (a robot tells its own every `robot_position_event_s`, a courier
network every 20 s or so). The stamp is taken by one conditional UPDATE, so two processes
storing positions of one delivery at once send one webhook, not two."""

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, or_, update

from sidewalk.deliveries.models import Delivery
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.webhook_domain import LOCATION_EVENT

_DELIVERIES = cast(Table, Delivery.__table__)
# Built once (a statement object remembers its cache key): the stamp, taken unless it is fresh.
_STAMP = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("delivery_id"),
        or_(
            _DELIVERIES.c.location_told_at.is_(None),
            _DELIVERIES.c.location_told_at <= bindparam("due"),
        ),
    )
    .values(location_told_at=bindparam("at"))
)


def tell_location(
    uow: DeliveriesUnitOfWork, delivery_id: str, at: datetime, *, interval_s: float
) -> bool:
    """Queue the location webhooks of a position just stored, unless merchants were told of
    this delivery's less than `interval_s` ago; whether they were queued."""
    due = at - timedelta(seconds=interval_s)
    stamp = {"delivery_id": delivery_id, "due": due, "at": at}
    taken = uow.connection.execute(_STAMP, stamp)
    if taken.rowcount != 1:
        return False
    uow.notify(delivery_id, LOCATION_EVENT, at)
    return True
