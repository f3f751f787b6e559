"""Telling merchants where the robot or courier is, for the endpoints that ask for it
(`delivery.courier_location`): at most once every `webhook_location_interval_s` per delivery,
however often positions come (a robot tells its own every `robot_position_event_s`, a courier
network every 20 s or so). The stamp is taken by one conditional UPDATE, so two processes
storing positions of one delivery at once send one webhook, not two."""

from datetime import datetime, timedelta

from sqlalchemy import or_, update

from sidewalk.deliveries.models import Delivery
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.webhook_domain import LOCATION_EVENT


def tell_location(
    uow: DeliveriesUnitOfWork, delivery_id: str, at: datetime, *, interval_s: float
) -> bool:
    """Queue the location webhooks of a position just stored, unless merchants were told of
    this delivery's less than `interval_s` ago; whether they were queued."""
    due = at - timedelta(seconds=interval_s)
    taken = uow.session.execute(
        update(Delivery)
        .where(
            Delivery.id == delivery_id,
            or_(Delivery.location_told_at.is_(None), Delivery.location_told_at <= due),
        )
        .values(location_told_at=at)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return False
    uow.notify(delivery_id, LOCATION_EVENT, at)
    return True
