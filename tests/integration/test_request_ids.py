"""A request's id follows the work it causes: the events the request writes carry it as their
`correlation_id`, and so do the events the other service writes while handling them."""

import asyncio
from typing import Any

from sqlalchemy import Engine, select

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.kernel.bus.base import run_handler
from sidewalk.kernel.events import Envelope
from sidewalk.operations import handlers as operations_handlers
from sidewalk.operations.models import OUTBOX as OPERATIONS_OUTBOX
from tests.factories import MerchantClient


def _events(engine: Engine, outbox: Any) -> list[Envelope]:
    with engine.connect() as connection:
        rows = connection.execute(select(outbox.c.envelope).order_by(outbox.c.seq)).scalars()
        return [Envelope.from_json(r) for r in rows]


def test_the_request_id_travels_with_the_events_across_services(
    platform: Platform, merchant: MerchantClient
) -> None:
    quote = merchant.quote()
    ordered = merchant.post(
        "/v1/deliveries", {"quote_id": quote["id"]}, **{"X-Request-ID": "order-1042-try-1"}
    )
    assert ordered.status_code == 201, ordered.text
    assert ordered.headers["X-Request-ID"] == "order-1042-try-1"

    written = _events(platform.deliveries_engine, DELIVERIES_OUTBOX)
    assert written
    assert {e.correlation_id for e in written} == {"order-1042-try-1"}

    async def handle(envelope: Envelope) -> None:
        await asyncio.to_thread(operations_handlers.handle, platform.operations, envelope)

    for envelope in written:
        assert asyncio.run(run_handler(handle, envelope, consumer="test"))
    caused = _events(platform.operations_engine, OPERATIONS_OUTBOX)
    assert caused
    assert {e.correlation_id for e in caused} == {"order-1042-try-1"}


def test_events_of_no_request_carry_none(platform: Platform) -> None:
    envelope = Envelope.from_json(
        Envelope.new(
            "delivery.created", "deliveries", occurred_at=platform.clock.now(), subject={},
            payload={},
        ).to_json()
    )  # fmt: skip
    assert envelope.correlation_id is None
    assert b"correlation_id" not in envelope.to_json()
