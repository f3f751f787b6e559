"""Every query of the deliveries service. A merchant's reads are always scoped to the
merchant, so another merchant's id finds nothing, exactly like an unknown id."""

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Connection,
    Result,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from sidewalk.deliveries.attempt_policy import AttemptPolicy
from sidewalk.deliveries.models import (
    ApiKey,
    Attempt,
    Delivery,
    DeliveryAttempt,
    DeliveryEvent,
    IdempotencyRecord,
    Location,
    Merchant,
    Quote,
)
from sidewalk.deliveries.order_records import NewOrder, Place, QuoteToOrder
from sidewalk.deliveries.progress_records import AttemptInProgress, DeliveryInProgress
from sidewalk.kernel.cursor import decode_cursor, storable
from sidewalk.kernel.db import Inserts, OneOrMany, RowUpdates
from sidewalk.kernel.errors import Conflict
from sidewalk.kernel.geo import LatLng

PLACE_COLUMNS = ("id", "lat", "lng", "full_address")


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


# The progress of a robot or a courier, the most frequent changes of a delivery: its few fields
# and its attempt's as plain records, read locked in one statement and written back in one
# per row, as the ORM's loading and flushing cost several times the statements themselves.

_DELIVERIES = cast(Table, Delivery.__table__)
_ATTEMPTS = cast(Table, Attempt.__table__)
_LINKS = cast(Table, DeliveryAttempt.__table__)
_PROGRESS_COLUMNS = (
    _DELIVERIES.c.id,
    _DELIVERIES.c.status,
    _DELIVERIES.c.status_times,
    _DELIVERIES.c.latest_attempt_id,
    _DELIVERIES.c.handover,
    _DELIVERIES.c.undeliverable,
    _DELIVERIES.c.cancel_reason,
    _DELIVERIES.c.failure_reason,
    _DELIVERIES.c.courier_lat,
    _DELIVERIES.c.courier_lng,
    _DELIVERIES.c.courier_seen_at,
    _DELIVERIES.c.updated_at,
    _ATTEMPTS.c.id,
    _ATTEMPTS.c.provider,
    _ATTEMPTS.c.status,
    _ATTEMPTS.c.status_times,
    _ATTEMPTS.c.provider_id,
    _ATTEMPTS.c.failure_reason,
    _ATTEMPTS.c.updated_at,
)
# A delivery by id with its latest attempt.
_IN_PROGRESS = (
    select(*_PROGRESS_COLUMNS)
    .join_from(
        _DELIVERIES, _ATTEMPTS, _ATTEMPTS.c.id == _DELIVERIES.c.latest_attempt_id, isouter=True
    )
    .where(_DELIVERIES.c.id == bindparam("delivery_id"))
    .with_for_update(of=_DELIVERIES)
)
# The delivery of an attempt, with that attempt.
_OF_ATTEMPT = (
    select(*_PROGRESS_COLUMNS)
    .join_from(_LINKS, _DELIVERIES, _DELIVERIES.c.id == _LINKS.c.delivery_id)
    .join(_ATTEMPTS, _ATTEMPTS.c.id == _LINKS.c.attempt_id)
    .where(_LINKS.c.attempt_id == bindparam("attempt_id"))
    .with_for_update(of=_DELIVERIES)
)
_SAVE_DELIVERY = RowUpdates(
    _DELIVERIES,
    (
        "status",
        "status_times",
        "handover",
        "undeliverable",
        "failure_reason",
        "courier_lat",
        "courier_lng",
        "courier_seen_at",
        "updated_at",
    ),
)
_SAVE_ATTEMPT = RowUpdates(
    _ATTEMPTS, ("status", "status_times", "provider_id", "failure_reason", "updated_at")
)


def delivery_in_progress(connection: Connection, delivery_id: str) -> DeliveryInProgress | None:
    """A delivery by id alone with its latest attempt, locked (as `delivery_for_update`)."""
    if not storable(delivery_id):
        return None
    return _in_progress(connection.execute(_IN_PROGRESS, {"delivery_id": delivery_id}))


def courier_attempt_in_progress(
    connection: Connection, attempt_id: str
) -> DeliveryInProgress | None:
    """The delivery of an attempt (locked), with that attempt, if the attempt exists."""
    if not storable(attempt_id):
        return None
    return _in_progress(connection.execute(_OF_ATTEMPT, {"attempt_id": attempt_id}))


def _in_progress(result: Result[Any]) -> DeliveryInProgress | None:
    row = result.first()
    if row is None:
        return None
    fields: tuple[Any, ...] = tuple(row)
    d_id, status, times, latest_id, handover, undeliverable, cancel, failure, *rest = fields
    lat, lng, seen, updated, *attempt = rest
    found = None if attempt[0] is None else AttemptInProgress(*attempt)
    return DeliveryInProgress(
        d_id, status, times, latest_id, handover, undeliverable, cancel, failure,
        lat, lng, seen, updated, found,
    )  # fmt: skip


def save_progress(
    connection: Connection, delivery: DeliveryInProgress | None, attempt: AttemptInProgress | None
) -> None:
    """Write back the records an event changed (None: unchanged)."""
    _SAVE_ATTEMPT.write(connection, [attempt] if attempt is not None else [])
    _SAVE_DELIVERY.write(connection, [delivery] if delivery is not None else [])


@dataclass(frozen=True, slots=True)
class RetryFacts:
    """What deciding a delivery's next attempt reads: the merchant's policy, the attempts made,
    and the trip and its times as quoted."""

    policy: AttemptPolicy
    attempts: int
    pickup: LatLng
    dropoff: LatLng
    distance_m: int
    service_area_id: str | None
    dropoff_before: datetime | None
    dropoff_eta: datetime


_FROM = aliased(Location)
_TO = aliased(Location)
_RETRY_FACTS = (
    select(
        Merchant.max_attempts,
        Merchant.courier_fallback,
        select(func.count())
        .where(DeliveryAttempt.delivery_id == Delivery.id)
        .scalar_subquery()
        .label("attempts"),
        _FROM.lat,
        _FROM.lng,
        _TO.lat,
        _TO.lng,
        Quote.distance_m,
        Quote.service_area_id,
        Quote.dropoff_before,
        Quote.dropoff_eta,
    )
    .join_from(Delivery, Merchant, Merchant.id == Delivery.merchant_id)
    .join(Quote, Quote.id == Delivery.quote_id)
    .join(_FROM, _FROM.id == Quote.pickup_location_id)
    .join(_TO, _TO.id == Quote.dropoff_location_id)
    .where(Delivery.id == bindparam("delivery_id"))
)


def retry_facts(connection: Connection, delivery_id: str) -> RetryFacts | None:
    row = connection.execute(_RETRY_FACTS, {"delivery_id": delivery_id}).first()
    if row is None:
        return None
    most, fallback, made, p_lat, p_lng, d_lat, d_lng, metres, area, before, eta = row
    return RetryFacts(
        AttemptPolicy(most, fallback),
        made,
        LatLng(p_lat, p_lng),
        LatLng(d_lat, d_lng),
        metres,
        area,
        before,
        eta,
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


# Ordering, a batch at a time (`ordering`): one statement per table, with plain records and
# driver statements, as the ORM's unit of work costs more than the database for rows written
# once and not changed.

_QUOTES = cast(Table, Quote.__table__)
_PICKUP = cast(Table, Location.__table__).alias("pickup")
_DROPOFF = cast(Table, Location.__table__).alias("dropoff")
_QUOTES_AND_PLACES = (
    select(
        _QUOTES.c.id,
        _QUOTES.c.merchant_id,
        _QUOTES.c.provider,
        _QUOTES.c.external_reference_id,
        _QUOTES.c.fee_cents,
        _QUOTES.c.currency,
        _QUOTES.c.order_value_cents,
        _QUOTES.c.pickup_ready_at,
        _QUOTES.c.dropoff_after,
        _QUOTES.c.dropoff_before,
        _QUOTES.c.pickup_eta,
        _QUOTES.c.dropoff_eta,
        _QUOTES.c.expires_at,
        _QUOTES.c.used_by_delivery_id,
        _QUOTES.c.service_area_id,
        *(place.c[name] for place in (_PICKUP, _DROPOFF) for name in PLACE_COLUMNS),
    )
    .join_from(_QUOTES, _PICKUP, _PICKUP.c.id == _QUOTES.c.pickup_location_id)
    .join(_DROPOFF, _DROPOFF.c.id == _QUOTES.c.dropoff_location_id)
    .order_by(_QUOTES.c.id)  # locked in one order by every batch: never in a circle
    .with_for_update(of=_QUOTES)
)
_QUOTES_TO_ORDER = OneOrMany(_QUOTES_AND_PLACES.where, _QUOTES.c.id, "ids")


def quotes_to_order(connection: Connection, quote_ids: set[str]) -> dict[str, QuoteToOrder]:
    """The quotes by id, with their places, locked until the orders commit (a concurrent
    order for one of them waits, then sees it used). Whose they are, the order checks."""
    ids = [quote_id for quote_id in quote_ids if storable(quote_id)]
    if not ids:
        return {}
    quotes: dict[str, QuoteToOrder] = {}
    for row in connection.execute(*_QUOTES_TO_ORDER.pick(ids)):
        fields: tuple[Any, ...] = tuple(row)  # the quote's, then the pickup's and the dropoff's
        places = len(PLACE_COLUMNS)
        pickup, dropoff = Place(*fields[-2 * places : -places]), Place(*fields[-places:])
        quote = QuoteToOrder(pickup, dropoff, *fields[: -2 * places])
        quotes[quote.id] = quote
    return quotes


def claim_quotes(connection: Connection, claims: dict[str, str]) -> None:
    """Mark each quote used by its delivery, in one statement. The quotes are locked (and
    were seen unused) in this transaction, so each claim holds; if one did not, the whole
    batch is refused and its orders are written again one by one."""
    if not claims:
        return
    marker = "?" if connection.dialect.name == "sqlite" else "%s"
    cases = " ".join([f"WHEN {marker} THEN {marker}"] * len(claims))
    ids = ", ".join([marker] * len(claims))
    # Spelled so that no database looks the quotes up by their (mostly empty) claim.
    sql = (
        f"UPDATE quotes SET used_by_delivery_id = CASE id {cases} END"
        f" WHERE id IN ({ids}) AND COALESCE(used_by_delivery_id, '') = ''"
    )
    params = (*(v for pair in claims.items() for v in pair), *claims)
    claimed = connection.exec_driver_sql(sql, params)
    if claimed.rowcount != len(claims):
        raise Conflict("A quote of the batch was already used", code="quote_already_used")


def insert_orders(inserts: Inserts, orders: list[NewOrder]) -> None:
    """New deliveries, each with its first attempt and their link, written as the
    transaction commits."""
    inserts.add(_ATTEMPTS, [o.attempt.row() for o in orders])
    inserts.add(_DELIVERIES, [o.row() for o in orders])
    inserts.add(_LINKS, [o.link_row() for o in orders])


_KEYS = cast(Table, IdempotencyRecord.__table__)
# Both columns by IN, which every database answers from the primary key (a row-value IN is
# not, on SQLite); the pairs asked are picked from what comes back.
_STORED_ANSWERS = select(
    _KEYS.c.merchant_id,
    _KEYS.c.key,
    _KEYS.c.request_hash,
    _KEYS.c.response_body,
    _KEYS.c.expires_at,
).with_for_update()
_IDEMPOTENCY_RECORDS = _STORED_ANSWERS.where(
    _KEYS.c.merchant_id.in_(bindparam("merchants", expanding=True)),
    _KEYS.c.key.in_(bindparam("keys", expanding=True)),
)
# The usual case, one key, without the cost of expanding lists of one.
_IDEMPOTENCY_RECORD = _STORED_ANSWERS.where(
    _KEYS.c.merchant_id == bindparam("merchant"), _KEYS.c.key == bindparam("key")
)
# On PostgreSQL the pairs asked, joined to the primary key: each is one index lookup
# whatever the planner believes of the merchant's share of the table (with two `IN` lists it
# scanned all of a merchant's keys until the table was next analysed).
_ASKED = (
    func.unnest(
        bindparam("merchants", type_=postgresql.ARRAY(String)),
        bindparam("keys", type_=postgresql.ARRAY(String)),
    )
    .table_valued("merchant_id", "key")
    .render_derived(name="asked")
)
_IDEMPOTENCY_PAIRS = _STORED_ANSWERS.join_from(
    _ASKED,
    _KEYS,
    and_(_KEYS.c.merchant_id == _ASKED.c.merchant_id, _KEYS.c.key == _ASKED.c.key),
).with_for_update(of=_KEYS)


_LOCK_KEYS = "SELECT pg_advisory_xact_lock(key) FROM unnest(%s::bigint[]) AS key ORDER BY key"


def _key_lock(merchant_id: str, key: str) -> int:
    """A key's advisory lock: 64 bits of a digest (two keys sharing one merely wait)."""
    digest = hashlib.blake2b(f"{merchant_id}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def idempotency_records(
    connection: Connection, keys: set[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored answers of (merchant, key) pairs (rows with `request_hash`,
    `response_body` and `expires_at`), locked where the database can."""
    keys = {(merchant_id, key) for merchant_id, key in keys if storable(key)}
    if not keys:
        return {}
    if connection.dialect.name == "postgresql":
        # A key not stored yet has no row to lock: another transaction ordering with it
        # would not be waited for, and would be seen only as the quote it claimed. Each key
        # is locked by name instead, in one order, until the transaction ends.
        connection.exec_driver_sql(_LOCK_KEYS, (sorted(_key_lock(m, k) for m, k in keys),))
    if len(keys) == 1:
        ((merchant, key),) = keys
        found = connection.execute(_IDEMPOTENCY_RECORD, {"merchant": merchant, "key": key})
    elif connection.dialect.name == "postgresql":
        pairs = list(keys)
        found = connection.execute(
            _IDEMPOTENCY_PAIRS, {"merchants": [m for m, _ in pairs], "keys": [k for _, k in pairs]}
        )
    else:
        merchants, names = list({m for m, _ in keys}), list({k for _, k in keys})
        found = connection.execute(_IDEMPOTENCY_RECORDS, {"merchants": merchants, "keys": names})
    return {(r.merchant_id, r.key): r for r in found if (r.merchant_id, r.key) in keys}


def delete_idempotency_records(connection: Connection, keys: list[tuple[str, str]]) -> None:
    """Expired answers, making way for new ones (rare: one statement each)."""
    for merchant_id, key in keys:
        connection.execute(
            delete(_KEYS).where(_KEYS.c.merchant_id == merchant_id, _KEYS.c.key == key)
        )


def insert_idempotency_records(inserts: Inserts, records: list[dict[str, Any]]) -> None:
    """The answers to keep for the keys of the batch. A key another transaction stored
    meanwhile fails the batch on its primary key; the batch is then written again."""
    inserts.add(_KEYS, records)
