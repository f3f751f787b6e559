"""Every query of the deliveries service. A merchant's reads are always scoped to the
merchant, so another merchant's id finds nothing, exactly like an unknown id."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Select,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, joinedload, selectinload

from sidewalk.deliveries.models import (
    ApiKey,
    Attempt,
    Base,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    IdempotencyRecord,
    Merchant,
    Quote,
)
from sidewalk.kernel.cursor import decode_cursor, storable
from sidewalk.kernel.errors import Conflict


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
    query = _DELIVERY_FOR_UPDATE if with_quote else _DELIVERY_AND_ATTEMPTS_FOR_UPDATE
    found = session.scalars(query, {"delivery_id": delivery_id})
    return found.unique().one_or_none()


# The event handlers' reads, built once (a statement object remembers its cache key).
_DELIVERY_FOR_UPDATE = (
    _with_everything(select(Delivery))
    .where(Delivery.id == bindparam("delivery_id"))
    .with_for_update(of=Delivery)
)
_DELIVERY_AND_ATTEMPTS_FOR_UPDATE = (
    select(Delivery)
    .options(joinedload(Delivery.attempt_links).joinedload(DeliveryAttempt.attempt))
    .where(Delivery.id == bindparam("delivery_id"))
    .with_for_update(of=Delivery)
)


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


# Ordering, a batch at a time (`ordering`): one statement per table, in SQLAlchemy Core, as
# the ORM's unit of work costs more than the database for rows written once and not changed.


def quotes_to_order(session: Session, quote_ids: set[str]) -> dict[str, Quote]:
    """The quotes by id, with their places, locked until the orders commit (a concurrent
    order for one of them waits, then sees it used). Whose they are, the order checks."""
    ids = {quote_id for quote_id in quote_ids if storable(quote_id)}
    if not ids:
        return {}
    query = (
        select(Quote)
        .options(joinedload(Quote.pickup), joinedload(Quote.dropoff))
        .where(Quote.id.in_(ids))
        .with_for_update(of=Quote)
    )
    return {q.id: q for q in session.scalars(query)}


def claim_quotes(session: Session, claims: dict[str, str]) -> None:
    """Mark each quote used by its delivery, in one statement. The quotes are locked (and
    were seen unused) in this transaction, so each claim holds; if one did not, the whole
    batch is refused and its orders are written again one by one."""
    if not claims:
        return
    used_by = case(claims, value=Quote.id)
    claimed = session.execute(
        update(Quote)
        # Spelled so that no database looks the quotes up by their (mostly empty) claim.
        .where(Quote.id.in_(claims), func.coalesce(Quote.used_by_delivery_id, "") == "")
        .values(used_by_delivery_id=used_by)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != len(claims):  # type: ignore[attr-defined]
        raise Conflict("A quote of the batch was already used", code="quote_already_used")


def insert_orders(session: Session, deliveries: list[Delivery]) -> None:
    """New deliveries, each with its one attempt and their link, built but not added to the
    session (their rows are taken from them)."""
    links = [link for d in deliveries for link in d.attempt_links]
    _insert_built(session, Attempt, [link.attempt for link in links])
    _insert_built(session, Delivery, deliveries)
    _insert_built(session, DeliveryAttempt, links)


def _insert_built(session: Session, model: type[Base], objects: Sequence[Base]) -> None:
    """Insert objects built in memory, one statement per shape of row. A JSON column left
    empty is left out, so that it is stored as SQL NULL (as the ORM does), not as JSON null."""
    table = cast(Table, model.__table__)
    columns = [(c.key, isinstance(c.type, JSON)) for c in table.columns]
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for obj in objects:
        row = {
            key: value
            for key, is_json in columns
            if (value := getattr(obj, key)) is not None or not is_json
        }
        shapes.setdefault(tuple(row), []).append(row)
    for rows in shapes.values():
        session.execute(insert(table), rows)


def idempotency_records(
    session: Session, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], IdempotencyRecord]:
    """The stored answers of (merchant, key) pairs, locked where the database can."""
    keys = {(merchant_id, key) for merchant_id, key in keys if storable(key)}
    if not keys:
        return {}
    r = IdempotencyRecord
    # Both columns by IN, which every database answers from the primary key (a row-value IN
    # is not, on SQLite); the pairs asked are picked from what comes back.
    query = select(r).where(
        r.merchant_id.in_({m for m, _ in keys}), r.key.in_({k for _, k in keys})
    )
    found = session.scalars(query.with_for_update())
    return {(r.merchant_id, r.key): r for r in found if (r.merchant_id, r.key) in keys}


def delete_idempotency_records(session: Session, keys: list[tuple[str, str]]) -> None:
    """Expired answers, making way for new ones (rare: one statement each)."""
    r = IdempotencyRecord
    for merchant_id, key in keys:
        session.execute(
            delete(r)
            .where(r.merchant_id == merchant_id, r.key == key)
            .execution_options(synchronize_session=False)
        )


def insert_idempotency_records(session: Session, records: list[dict[str, Any]]) -> None:
    """The answers to keep for the keys of the batch. A key another transaction stored
    meanwhile fails the batch on its primary key; the batch is then written again."""
    if records:
        session.execute(insert(cast(Table, IdempotencyRecord.__table__)), records)
