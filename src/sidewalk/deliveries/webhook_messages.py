"""The webhooks a use case queues: written in its own transaction, just before it commits, so a
merchant is told of a status change exactly when it happened, and never of one rolled back.
`WebhookQueue` is the step the unit of work runs for it (`uow.TellMerchants`), from what the
use case recorded."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from sidewalk.deliveries import repository
from sidewalk.deliveries.models import Delivery, WebhookEndpoint, WebhookMessage
from sidewalk.deliveries.schemas import DeliveryRead
from sidewalk.deliveries.uow import Recorded
from sidewalk.deliveries.views import delivery_read
from sidewalk.deliveries.webhook_domain import (
    WEBHOOK_EVENT_TYPES,
    EndpointStatus,
    MessageStatus,
    check_message_move,
)
from sidewalk.deliveries.webhook_schemas import WebhookPayload
from sidewalk.kernel.db import Inserts, OneOrMany
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.uow import UnitOfWork


@dataclass(frozen=True, slots=True)
class _Endpoint:
    """What a status change needs of an endpoint, to queue it a message."""

    id: str
    merchant_id: str
    events: list[str]
    created_at: datetime


# Built once (a statement object remembers its cache key), as Core rows (a row per endpoint,
# not an ORM object): the enabled endpoints of some merchants, or of the merchants of some
# deliveries (with each delivery's merchant).
_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)
_ENDPOINT_FIELDS = (
    _ENDPOINTS.c.id,
    _ENDPOINTS.c.merchant_id,
    _ENDPOINTS.c.events,
    _ENDPOINTS.c.created_at,
)
_ENABLED = _ENDPOINTS.c.status == EndpointStatus.ENABLED.value
_ENDPOINTS_OF_MERCHANTS = select(*_ENDPOINT_FIELDS).where(
    _ENDPOINTS.c.merchant_id.in_(bindparam("merchants", expanding=True)), _ENABLED
)
_DELIVERIES = cast(Table, Delivery.__table__)
_WITH_ENDPOINTS = (
    select(_DELIVERIES.c.id, _DELIVERIES.c.merchant_id, *_ENDPOINT_FIELDS)
    .select_from(_DELIVERIES)
    .outerjoin(_ENDPOINTS, (_ENDPOINTS.c.merchant_id == _DELIVERIES.c.merchant_id) & _ENABLED)
)
_ENDPOINTS_OF_DELIVERIES = OneOrMany(_WITH_ENDPOINTS.where, _DELIVERIES.c.id, "deliveries")


@dataclass(frozen=True, slots=True)
class WebhookQueue:
    """Tells merchants what a use case recorded: the webhooks of the events merchants may
    subscribe to (each status a delivery enters, where the courier is), queued in the use
    case's transaction."""

    public_base_url: str

    def __call__(
        self, uow: UnitOfWork, recorded: Sequence[Recorded], rendered: Mapping[str, Any]
    ) -> None:
        changes = [r for r in recorded if r.type in WEBHOOK_EVENT_TYPES]
        if changes:
            queue_webhooks(uow, uow.inserts, changes, self.public_base_url, rendered)


def queue_webhooks(
    uow: UnitOfWork,
    inserts: Inserts,
    changes: Sequence[Recorded],
    public_base_url: str,
    rendered: Mapping[str, DeliveryRead] | None = None,
) -> int:
    """One message per change and per enabled endpoint of the delivery's merchant subscribed to
    its type, the delivery rendered as the transaction leaves it (after every change of the use
    case; `rendered` are deliveries the use case rendered so already). Costs one indexed query
    when the merchant has no endpoint. Returns how many."""
    known = dict(rendered or {})
    # The deliveries' merchants: the use case rendered some; the others are read with their
    # endpoints, in the same query.
    merchant_of = {
        c.delivery_id: known[c.delivery_id].merchant_id for c in changes if c.delivery_id in known
    }
    unknown = {c.delivery_id for c in changes} - merchant_of.keys()
    endpoints: dict[str, _Endpoint] = {}
    connection = uow.connection
    if merchant_of:
        merchants = {"merchants": list(set(merchant_of.values()))}
        for row in connection.execute(_ENDPOINTS_OF_MERCHANTS, merchants):
            endpoints[row.id] = _Endpoint(*row)
    if unknown:
        uow.flush()  # the deliveries the use case changed, as they now are
        found = connection.execute(*_ENDPOINTS_OF_DELIVERIES.pick(unknown))
        for delivery_id, merchant_id, *endpoint in found:
            merchant_of[delivery_id] = merchant_id
            if endpoint[0] is not None:
                endpoints[endpoint[0]] = _Endpoint(*endpoint)
    ordered = sorted(endpoints.values(), key=lambda e: (e.created_at, e.id))
    wanted = [
        (change, endpoint)
        for change in changes
        for endpoint in ordered
        if endpoint.merchant_id == merchant_of[change.delivery_id]
        and change.type in endpoint.events
    ]
    if not wanted:
        return 0
    unread = {c.delivery_id for c, _ in wanted} - known.keys()
    if unread:
        uow.flush()
        known |= {
            d.id: delivery_read(d, public_base_url)
            for d in repository.deliveries_as_stored(uow.session, unread)
        }
    messages = [
        {
            "id": new_id("msg"),
            "endpoint_id": endpoint.id,
            "delivery_id": change.delivery_id,
            "event_type": change.type,
            "body": WebhookPayload(
                type=change.type,
                timestamp=change.occurred_at,
                data=known[change.delivery_id],
            ).model_dump_json(),
            "status": MessageStatus.PENDING.value,
            "attempts": 0,
            "next_attempt_at": change.occurred_at,
            "created_at": change.occurred_at,
        }
        for change, endpoint in wanted
    ]
    inserts.add(cast(Table, WebhookMessage.__table__), messages)
    return len(wanted)


def end_pending_messages(session: Session, endpoint_id: str, reason: str, at: datetime) -> int:
    """Give up every message still waiting for `endpoint_id` (it was deleted or disabled): each
    moves pending → failed, the one move the state machine allows from pending to an end."""
    check_message_move(MessageStatus.PENDING.value, MessageStatus.FAILED)
    ended = session.execute(
        update(WebhookMessage)
        .where(
            WebhookMessage.endpoint_id == endpoint_id,
            WebhookMessage.status == MessageStatus.PENDING.value,
        )
        .values(
            status=MessageStatus.FAILED.value,
            next_attempt_at=None,
            lease_id=None,
            last_error=reason[:200],
            finished_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    return int(ended.rowcount)  # type: ignore[attr-defined]
