"""What the deliveries service keeps of the robots: the newest fleet snapshot per area (for
quote ETAs) and the position of the robot on each delivery (for the merchant and the
customer). Both are "newest wins" facts, so applying an event twice, or an old one late,
changes nothing: no inbox entry is needed."""

from typing import Any, cast

from sqlalchemy import Engine, Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import TERMINAL_DELIVERY
from sidewalk.deliveries.eta import FleetState
from sidewalk.deliveries.location_webhooks import tell_location
from sidewalk.deliveries.models import Delivery, FleetSnapshot
from sidewalk.kernel import contracts
from sidewalk.kernel.db import among, conflict_insert


def store_snapshot(ctx: DeliveriesContext, snapshot: contracts.FleetSnapshot) -> None:
    """Keep an area's snapshot unless a newer one is kept already."""
    row: dict[str, Any] = {
        "area_id": snapshot.area_id,
        "taken_at": snapshot.taken_at,
        "robots": snapshot.robots,
        "pending": snapshot.pending,
    }
    with ctx.uow() as uow:
        row["received_at"] = uow.clock.now()
        insert = conflict_insert(uow.session.get_bind().dialect.name)
        statement = insert(FleetSnapshot).values(row)
        uow.session.execute(
            statement.on_conflict_do_update(
                index_elements=[FleetSnapshot.area_id],
                set_={k: statement.excluded[k] for k in row if k != "area_id"},
                where=FleetSnapshot.taken_at < statement.excluded.taken_at,
            )
        )
        uow.commit()
    ctx.eta.forget()  # this process prices with it at once; others on their next refresh


def fleet_states(engine: Engine) -> dict[str, FleetState]:
    with Session(engine) as session:
        return {
            row.area_id: FleetState.of(row.taken_at, row.robots, row.pending)
            for row in session.scalars(select(FleetSnapshot))
        }


_DELIVERIES = cast(Table, Delivery.__table__)
# Built once (a statement object remembers its cache key): the position, stored if newer than
# the one kept and the delivery still under way (with that attempt, when the event names one).
_STORE_POSITION = (
    update(_DELIVERIES)
    .where(
        _DELIVERIES.c.id == bindparam("delivery_id"),
        ~among(_DELIVERIES.c.status, TERMINAL_DELIVERY),
        or_(
            _DELIVERIES.c.courier_seen_at.is_(None),
            _DELIVERIES.c.courier_seen_at < bindparam("taken"),
        ),
    )
    .values(
        courier_lat=bindparam("lat"),
        courier_lng=bindparam("lng"),
        courier_seen_at=bindparam("taken"),
    )
)
_STORE_POSITION_OF_ATTEMPT = _STORE_POSITION.where(
    _DELIVERIES.c.latest_attempt_id == bindparam("attempt_id")
)


def store_position(ctx: DeliveriesContext, position: contracts.RobotPosition) -> None:
    """The robot's position on the delivery it carries out (or brings back), if newer than
    the one kept and the delivery is still under way with that attempt."""
    delivery_id = position.delivery_id
    if delivery_id is None:
        return
    taken = position.taken_at
    attempt_id = position.attempt_id
    params = {"delivery_id": delivery_id, "taken": taken, "lat": position.lat, "lng": position.lng}
    with ctx.uow() as uow:
        connection = uow.connection
        if attempt_id is None:
            stored = connection.execute(_STORE_POSITION, params)
        else:
            stored = connection.execute(
                _STORE_POSITION_OF_ATTEMPT, {**params, "attempt_id": attempt_id}
            )
        if stored.rowcount == 1:
            interval = ctx.settings.webhook_location_interval_s
            tell_location(uow, delivery_id, taken, interval_s=interval)
        uow.commit()
