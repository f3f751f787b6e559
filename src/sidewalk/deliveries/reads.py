"""A merchant's reads of its deliveries and their timelines."""

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import MerchantPrincipal, not_found
from sidewalk.deliveries.schemas import DeliveryEvents, DeliveryPage, DeliveryRead
from sidewalk.deliveries.views import delivery_read, event_read
from sidewalk.kernel.cursor import encode_cursor


def get_delivery(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str
) -> DeliveryRead:
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        return delivery_read(delivery, ctx.settings.public_base_url)


def list_deliveries(
    ctx: DeliveriesContext,
    merchant: MerchantPrincipal,
    filt: repository.DeliveryFilter,
    *,
    cursor: str | None,
    limit: int,
) -> DeliveryPage:
    with ctx.uow() as uow:
        rows, more = repository.deliveries_page(
            uow.session, merchant.id, filt, cursor=cursor, limit=limit
        )
        base = ctx.settings.public_base_url
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id) if more else None
        return DeliveryPage(
            data=[delivery_read(d, base) for d in rows], has_more=more, next_cursor=next_cursor
        )


def delivery_events(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, delivery_id: str
) -> DeliveryEvents:
    with ctx.uow() as uow:
        delivery = repository.delivery(uow.session, merchant.id, delivery_id)
        if delivery is None:
            raise not_found("delivery", delivery_id)
        events = repository.delivery_events(uow.session, delivery_id)
        return DeliveryEvents(delivery_id=delivery_id, data=[event_read(e) for e in events])
