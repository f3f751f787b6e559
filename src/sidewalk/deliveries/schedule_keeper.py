"""Keeping scheduled deliveries to their window: a delivery whose goods are not even picked up
when its dropoff window ends fails (`dropoff_window_missed`) and its provider is asked to stop,
rather than arrive when the customer no longer expects it. It runs beside the deliveries
service's event consumer, every `window_check_interval_s`; several may run (rows another holds
are skipped)."""

import asyncio
import contextlib
import logging

from sqlalchemy import select

from sidewalk.deliveries import repository
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import BEFORE_PICKUP, DeliveryStatus, window_missed
from sidewalk.deliveries.endings import stop_latest_attempt
from sidewalk.deliveries.models import Delivery, Quote
from sidewalk.deliveries.moves import delivery_to

log = logging.getLogger(__name__)

REASON = "dropoff_window_missed"


def fail_missed_windows(ctx: DeliveriesContext, *, batch: int = 100) -> int:
    """Fail the deliveries whose window has ended before pickup; how many did."""
    failed = 0
    with ctx.uow() as uow:
        now = uow.clock.now()
        ids = list(
            uow.session.scalars(
                select(Delivery.id)
                .join(Quote, Quote.id == Delivery.quote_id)
                .where(
                    Quote.dropoff_before <= now,
                    Delivery.status.in_([s.value for s in BEFORE_PICKUP]),
                )
                .order_by(Quote.dropoff_before)
                .limit(batch)
            )
        )
    for delivery_id in ids:
        with ctx.uow() as uow:
            now = uow.clock.now()
            delivery = repository.delivery_for_update(uow.session, delivery_id)
            if delivery is None or not window_missed(
                DeliveryStatus(delivery.status), delivery.quote.dropoff_before, now
            ):
                continue  # picked up or ended meanwhile
            delivery.failure_reason = REASON
            delivery_to(uow, delivery, DeliveryStatus.FAILED, reason=REASON)
            stop_latest_attempt(uow, delivery, reason=REASON, goods_on_board=False)
            uow.commit()
            failed += 1
    return failed


async def keep_windows(ctx: DeliveriesContext, stop: asyncio.Event) -> None:
    """Check every `window_check_interval_s` until `stop` is set; a failed check is logged and
    the next runs as usual."""
    while not stop.is_set():
        try:
            await asyncio.to_thread(fail_missed_windows, ctx)
        except Exception:
            log.exception("checking dropoff windows failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), ctx.settings.window_check_interval_s)
