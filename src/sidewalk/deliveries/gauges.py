"""What the deliveries service's `/metrics` reads from its database at each scrape."""

from prometheus_client.core import Metric
from sqlalchemy import func, select

from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import DeliveryStatus
from sidewalk.deliveries.models import DEAD_LETTERS, OUTBOX, Delivery, WebhookMessage
from sidewalk.deliveries.webhook_domain import MessageStatus
from sidewalk.kernel.dead_letters import count_waiting, waiting_gauge
from sidewalk.kernel.metrics import gauge
from sidewalk.kernel.outbox_lag import outbox_lag


def snapshot(ctx: DeliveriesContext) -> list[Metric]:
    with ctx.uow() as uow:
        s = uow.session
        by_status = dict.fromkeys((str(st) for st in DeliveryStatus), 0)
        for status, n in s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)):
            by_status[str(status)] = int(n)
        waiting_webhooks = s.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.status == MessageStatus.PENDING)
        )
        unpublished, lag_s = outbox_lag(s, OUTBOX, ctx.clock.now())
        dead = count_waiting(s.connection(), DEAD_LETTERS)
    return [
        waiting_gauge("deliveries", dead),
        gauge(
            "sidewalk_deliveries",
            "Deliveries by status.",
            {(status,): n for status, n in by_status.items()},
            ("status",),
        ),
        gauge(
            "sidewalk_webhook_messages_pending",
            "Webhook messages still to be sent or retried.",
            {(): float(waiting_webhooks or 0)},
        ),
        gauge(
            "sidewalk_outbox_unpublished",
            "Events written but not yet published on the bus.",
            {("deliveries",): unpublished},
            ("service",),
        ),
        gauge(
            "sidewalk_outbox_lag_seconds",
            "Age of the oldest event not yet published on the bus.",
            {("deliveries",): lag_s},
            ("service",),
        ),
    ]
