"""Hubs: the places where robots charge and wait."""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sidewalk.kernel.errors import Conflict, ValidationFailed
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id
from sidewalk.operations.context import OperationsContext
from sidewalk.operations.models import Hub


def add_hub(ctx: OperationsContext, name: str, where: LatLng) -> Hub:
    name = name.strip()
    if not name or len(name) > 200:
        raise ValidationFailed("A hub name has 1 to 200 characters", code="validation_error")
    if not (-90 <= where.lat <= 90 and -180 <= where.lng <= 180):
        raise ValidationFailed("lat must lie in [-90, 90] and lng in [-180, 180]")
    area = ctx.areas.containing(where)
    try:
        with ctx.uow() as uow:
            hub = Hub(
                id=new_id("hub"),
                name=name,
                lat=where.lat,
                lng=where.lng,
                area_id=area.id if area else None,
                created_at=uow.clock.now(),
            )
            uow.session.add(hub)
            uow.commit()
            return hub
    except IntegrityError as e:
        raise Conflict(f"A hub named {name!r} exists already", code="hub_exists") from e


def list_hubs(ctx: OperationsContext) -> list[Hub]:
    with ctx.uow() as uow:
        return list(uow.session.scalars(select(Hub).order_by(Hub.name)))
