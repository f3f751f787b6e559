"""Every query of the deliveries service. A merchant's reads are always scoped to the
merchant, so another merchant's id finds nothing, exactly like an unknown id."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from sidewalk.deliveries.models import (
    ApiKey,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    IdempotencyRecord,
    Merchant,
    Quote,
)
from sidewalk.kernel.cursor import decode_cursor, storable


def merchant_by_key_digest(session: Session, key_digest: str) -> Merchant | None:
    return session.scalars(
        select(Merchant)
        .join(ApiKey, ApiKey.merchant_id == Merchant.id)
        .where(ApiKey.key_hash == key_digest, ApiKey.revoked_at.is_(None))
    ).one_or_none()


def merchant_named(session: Session, name: str) -> Merchant | None:
    return session.scalars(
        select(Merchant).where(Merchant.name == name).order_by(Merchant.created_at).limit(1)
    ).one_or_none()


def merchants(session: Session) -> list[Merchant]:
    return list(session.scalars(select(Merchant).order_by(Merchant.created_at, Merchant.id)))


def quote(
    session: Session, merchant_id: str, quote_id: str, *, for_update: bool = False
) -> Quote | None:
    if not storable(quote_id):
        return None
    query = (
        select(Quote)
        .options(joinedload(Quote.pickup), joinedload(Quote.dropoff))
        .where(Quote.id == quote_id, Quote.merchant_id == merchant_id)
    )
    if for_update:
        query = query.with_for_update(of=Quote)
    return session.scalars(query).one_or_none()


def _with_everything(query: Select[Delivery], *, many: bool = False) -> Select[Delivery]:
    """The delivery with its quote, places and attempts. One delivery's few attempts come in
    the same query (a join); a page of deliveries gets them in a second one."""
    attempts = selectinload if many else joinedload
    return query.options(
        joinedload(Delivery.quote).joinedload(Quote.pickup),
        joinedload(Delivery.quote).joinedload(Quote.dropoff),
        attempts(Delivery.attempt_links).joinedload(DeliveryAttempt.attempt),
    )


def delivery(
    session: Session, merchant_id: str, delivery_id: str, *, for_update: bool = False
) -> Delivery | None:
    if not storable(delivery_id):
        return None
    query = _with_everything(select(Delivery)).where(
        Delivery.id == delivery_id, Delivery.merchant_id == merchant_id
    )
    if for_update:
        query = query.with_for_update(of=Delivery)
    return session.scalars(query).unique().one_or_none()


def delivery_for_update(
    session: Session, delivery_id: str, *, with_quote: bool = True
) -> Delivery | None:
    """A delivery by id alone, locked: for the events of the operations service, which know
    no merchant. Without its quote (and places) when the caller only moves statuses."""
    if not storable(delivery_id):
        return None
    select_delivery = select(Delivery)
    if with_quote:
        query = _with_everything(select_delivery).where(Delivery.id == delivery_id)
    else:
        query = select_delivery.options(
            joinedload(Delivery.attempt_links).joinedload(DeliveryAttempt.attempt)
        ).where(Delivery.id == delivery_id)
    return session.scalars(query.with_for_update(of=Delivery)).unique().one_or_none()


def deliveries_as_stored(session: Session, delivery_ids: set[str]) -> list[Delivery]:
    """Deliveries with everything a view needs, read back from the (flushed) transaction and
    refreshing what the session already holds: a use case may have added attempts without
    touching the delivery's loaded collections."""
    query = _with_everything(select(Delivery)).where(Delivery.id.in_(delivery_ids))
    return list(session.scalars(query.execution_options(populate_existing=True)).unique())


@dataclass(frozen=True)
class DeliveryFilter:
    status: list[str] | None = None
    external_reference_id: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def deliveries_page(
    session: Session, merchant_id: str, filt: DeliveryFilter, *, cursor: str | None, limit: int
) -> tuple[list[Delivery], bool]:
    """Newest first; keyset paging on (created_at, id), so pages stay stable while new
    deliveries arrive."""
    if not storable(filt.external_reference_id):
        return [], False
    query = select(Delivery).where(Delivery.merchant_id == merchant_id)
    if filt.status:
        query = query.where(Delivery.status.in_(filt.status))
    if filt.external_reference_id is not None:
        query = query.where(Delivery.external_reference_id == filt.external_reference_id)
    if filt.created_from is not None:
        query = query.where(Delivery.created_at >= filt.created_from)
    if filt.created_to is not None:
        query = query.where(Delivery.created_at < filt.created_to)
    if cursor is not None:
        at, ident = decode_cursor(cursor)
        query = query.where(
            or_(Delivery.created_at < at, and_(Delivery.created_at == at, Delivery.id < ident))
        )
    query = _with_everything(query, many=True).order_by(
        Delivery.created_at.desc(), Delivery.id.desc()
    )
    rows = list(session.scalars(query.limit(limit + 1)).unique())
    return rows[:limit], len(rows) > limit


def delivery_events(session: Session, delivery_id: str) -> list[DeliveryEvent]:
    return list(
        session.scalars(
            select(DeliveryEvent)
            .where(DeliveryEvent.delivery_id == delivery_id)
            .order_by(DeliveryEvent.seq)
        )
    )


def idempotency_record(session: Session, merchant_id: str, key: str) -> IdempotencyRecord | None:
    if not storable(key):
        return None
    return session.get(IdempotencyRecord, (merchant_id, key))
