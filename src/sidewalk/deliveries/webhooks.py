"""The merchant's webhook endpoints and their delivery log. A merchant sees only its own
endpoints: any other id answers 404, exactly like an unknown one."""

from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import MerchantPrincipal, not_found
from sidewalk.deliveries.models import Merchant, WebhookAttempt, WebhookEndpoint, WebhookMessage
from sidewalk.deliveries.webhook_domain import (
    EndpointStatus,
    MessageStatus,
    check_endpoint_move,
    private_host,
)
from sidewalk.deliveries.webhook_messages import end_pending_messages
from sidewalk.deliveries.webhook_schemas import (
    WebhookAttemptRead,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointList,
    WebhookEndpointRead,
    WebhookMessagePage,
    WebhookMessageRead,
)
from sidewalk.deliveries.webhook_signing import new_signing_secret
from sidewalk.kernel.cursor import decode_cursor, encode_cursor, storable
from sidewalk.kernel.errors import Conflict, FieldError, ValidationFailed
from sidewalk.kernel.ids import new_id

SHOWN = (EndpointStatus.ENABLED.value, EndpointStatus.DISABLED.value)


def endpoint_read(endpoint: WebhookEndpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead(
        id=endpoint.id,
        url=endpoint.url,
        description=endpoint.description,
        events=endpoint.events,
        status=EndpointStatus(endpoint.status),
        disabled_at=endpoint.disabled_at,
        disabled_reason=endpoint.disabled_reason,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
    )


def create_endpoint(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, cmd: WebhookEndpointCreate
) -> WebhookEndpointCreated:
    """A new endpoint with a fresh signing secret, returned here once and never again. The
    merchant's row is locked meanwhile, so concurrent requests cannot pass the cap together."""
    limit = ctx.settings.webhook_endpoints_per_merchant
    private = private_host(cmd.url)
    if private and not ctx.settings.webhooks_allow_private_targets:
        raise ValidationFailed(
            "Webhooks are not sent to private, loopback or link-local addresses",
            code="webhook_url_private",
            errors=[FieldError("url", private)],
        )
    with ctx.uow() as uow:
        session, now = uow.session, uow.clock.now()
        session.scalars(
            select(Merchant.id).where(Merchant.id == merchant.id).with_for_update()
        ).one()
        if len(_endpoints(session, merchant.id)) >= limit:
            raise Conflict(
                f"A merchant may have at most {limit} webhook endpoints; delete one first",
                code="webhook_endpoint_limit_reached",
                extra={"limit": limit},
            )
        endpoint = WebhookEndpoint(
            id=new_id("whe"),
            merchant_id=merchant.id,
            url=cmd.url,
            description=cmd.description,
            events=list(dict.fromkeys(cmd.events)),
            secret=new_signing_secret(),
            status=EndpointStatus.ENABLED.value,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
        uow.commit()
        return WebhookEndpointCreated(
            **endpoint_read(endpoint).model_dump(), secret=endpoint.secret
        )


def list_endpoints(ctx: DeliveriesContext, merchant: MerchantPrincipal) -> WebhookEndpointList:
    with ctx.uow() as uow:
        return WebhookEndpointList(
            data=[endpoint_read(e) for e in _endpoints(uow.session, merchant.id)]
        )


def get_endpoint(
    ctx: DeliveriesContext, merchant: MerchantPrincipal, endpoint_id: str
) -> WebhookEndpointRead:
    with ctx.uow() as uow:
        return endpoint_read(_endpoint(uow.session, merchant.id, endpoint_id))


def delete_endpoint(ctx: DeliveriesContext, merchant: MerchantPrincipal, endpoint_id: str) -> None:
    """The endpoint gets nothing more: its waiting messages end now, and a message on its way
    at this moment is not tried again. Its log stays in the database, out of the API."""
    with ctx.uow() as uow:
        now = uow.clock.now()
        endpoint = _endpoint(uow.session, merchant.id, endpoint_id, for_update=True)
        check_endpoint_move(endpoint.status, EndpointStatus.DELETED)
        endpoint.status = EndpointStatus.DELETED.value
        endpoint.deleted_at = endpoint.updated_at = now
        end_pending_messages(uow.session, endpoint.id, "the endpoint was deleted", now)
        uow.commit()


def endpoint_log(
    ctx: DeliveriesContext,
    merchant: MerchantPrincipal,
    endpoint_id: str,
    *,
    status: MessageStatus | None,
    cursor: str | None,
    limit: int,
) -> WebhookMessagePage:
    """The endpoint's messages, newest first, each with its attempts; keyset paging on
    (created_at, seq) like the deliveries list."""
    with ctx.uow() as uow:
        session = uow.session
        endpoint = _endpoint(session, merchant.id, endpoint_id)
        query = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint.id)
        if status is not None:
            query = query.where(WebhookMessage.status == status.value)
        if cursor is not None:
            at, seq = _log_position(cursor)
            query = query.where(
                or_(
                    WebhookMessage.created_at < at,
                    and_(WebhookMessage.created_at == at, WebhookMessage.seq < seq),
                )
            )
        query = query.order_by(WebhookMessage.created_at.desc(), WebhookMessage.seq.desc())
        rows = list(session.scalars(query.limit(limit + 1)))
        page, more = rows[:limit], len(rows) > limit
        attempts: dict[str, list[WebhookAttemptRead]] = {m.id: [] for m in page}
        if page:
            for attempt in session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.message_id.in_(list(attempts)))
                .order_by(WebhookAttempt.seq)
            ):
                attempts[attempt.message_id].append(
                    WebhookAttemptRead(
                        attempted_at=attempt.attempted_at,
                        status_code=attempt.status_code,
                        error=attempt.error,
                        duration_ms=attempt.duration_ms,
                    )
                )
        last = page[-1] if more else None
        return WebhookMessagePage(
            data=[_message_read(m, attempts[m.id]) for m in page],
            has_more=more,
            next_cursor=encode_cursor(last.created_at, str(last.seq)) if last else None,
        )


def _message_read(
    message: WebhookMessage, attempts: list[WebhookAttemptRead]
) -> WebhookMessageRead:
    return WebhookMessageRead(
        id=message.id,
        event_type=message.event_type,
        delivery_id=message.delivery_id,
        status=MessageStatus(message.status),
        attempt_count=message.attempts,
        # While a sender holds it, `next_attempt_at` is the end of its lease: when the message
        # would be tried again should that sender never come back.
        next_attempt_at=message.next_attempt_at,
        last_attempt_at=message.last_attempt_at,
        last_status_code=message.last_status_code,
        last_error=message.last_error,
        created_at=message.created_at,
        finished_at=message.finished_at,
        attempts=attempts,
    )


def _log_position(cursor: str) -> tuple[datetime, int]:
    at, ident = decode_cursor(cursor)
    if not (ident.isascii() and ident.isdigit() and int(ident) < 2**63):
        raise ValidationFailed("The cursor is not one this API gave out", code="invalid_cursor")
    return at, int(ident)


def _endpoints(session: Session, merchant_id: str) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.status.in_(SHOWN))
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def _endpoint(
    session: Session, merchant_id: str, endpoint_id: str, *, for_update: bool = False
) -> WebhookEndpoint:
    """The merchant's endpoint, unless deleted; anything else is the same 404."""
    if not storable(endpoint_id):
        raise not_found("webhook_endpoint", endpoint_id)
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id,
        WebhookEndpoint.merchant_id == merchant_id,
        WebhookEndpoint.status.in_(SHOWN),
    )
    if for_update:  # the endpoint's row, then its messages: the order senders lock them in
        query = query.with_for_update(key_share=True)
    endpoint = session.scalars(query).one_or_none()
    if endpoint is None:
        raise not_found("webhook_endpoint", endpoint_id)
    return endpoint
