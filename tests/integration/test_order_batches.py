"""Orders written together: the API commits concurrent orders as one batch (`ordering`), in
the statements of one order, and each order still gets the answer it would get alone."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event, text

from sidewalk.bootstrap import Platform
from sidewalk.deliveries import merchants, ordering
from sidewalk.deliveries.domain import MerchantPrincipal
from sidewalk.deliveries.ordering import AGAIN, Ordered, OrderRequest
from sidewalk.deliveries.schemas import CustomerIn, DeliveryCreate
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.errors import Conflict, Gone, NotFound, Unprocessable
from tests.factories import MerchantClient


def principal(platform: Platform, merchant: MerchantClient) -> MerchantPrincipal:
    return merchants.authenticate(platform.deliveries, merchant.auth["Authorization"])


def write(platform: Platform, requests: list[OrderRequest]) -> None:
    ctx = platform.deliveries
    ordering.write_orders(ctx.uow, ctx.settings, requests)


def request(
    who: MerchantPrincipal, quote_id: str, key: str | None = None, **body: Any
) -> OrderRequest:
    return OrderRequest.of(who, DeliveryCreate(quote_id=quote_id, **body), key)


@contextmanager
def statements(platform: Platform) -> Iterator[list[str]]:
    """The SQL the deliveries database is sent meanwhile."""
    sent: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    engine = platform.deliveries_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", count)


def count(platform: Platform, sql: str) -> int:
    with platform.deliveries_engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def test_twenty_orders_take_the_statements_of_one(
    platform: Platform, merchant: MerchantClient
) -> None:
    who = principal(platform, merchant)
    customer = CustomerIn(name="Ana Ruiz", phone="+13105550100")
    one = [request(who, merchant.quote()["id"], "solo", customer=customer)]
    twenty = [
        request(who, merchant.quote()["id"], f"order-{i}", customer=customer) for i in range(20)
    ]

    with statements(platform) as alone:
        write(platform, one)
    with statements(platform) as together:
        write(platform, twenty)

    assert len(together) == len(alone)
    assert all(isinstance(r.outcome, Ordered) for r in one + twenty)
    ids = {r.answer().delivery["id"] for r in twenty}
    assert len(ids) == 20
    assert count(platform, "SELECT count(*) FROM deliveries") == 21
    assert count(platform, "SELECT count(*) FROM delivery_attempts") == 21
    assert count(platform, "SELECT count(*) FROM idempotency_keys") == 21
    assert count(platform, "SELECT count(*) FROM delivery_events") == 42
    assert count(platform, "SELECT count(*) FROM deliveries_outbox") == 21
    # Columns the order leaves empty are SQL NULL, as the ORM stores them, not JSON null.
    assert count(platform, "SELECT count(*) FROM deliveries WHERE handover IS NULL") == 21
    # What the API answers later is what the batch answered.
    for r in twenty:
        assert merchant.get(f"/v1/deliveries/{r.answer().delivery['id']}").json() == (
            r.answer().delivery
        )


def test_each_order_of_a_batch_gets_its_own_answer(
    platform: Platform, merchant: MerchantClient, rival: MerchantClient, clock: ManualClock
) -> None:
    who, other = principal(platform, merchant), principal(platform, rival)
    stale = merchant.quote()["id"]
    clock.advance(timedelta(hours=2))
    kept = request(who, merchant.quote()["id"], "kept")
    write(platform, [kept])
    shared = merchant.quote()["id"]

    batch = [
        first := request(who, shared, "first"),
        twin := request(who, shared, "first"),
        second_for_quote := request(who, shared, "second"),
        unknown := request(who, "quo_missing", "unknown"),
        theirs := request(other, merchant.quote()["id"], "theirs"),
        expired := request(who, stale, "expired"),
        replay := request(who, kept.cmd.quote_id, "kept"),
        plain := request(who, merchant.quote()["id"]),
    ]
    write(platform, batch)

    made = first.answer().delivery
    assert twin.outcome is AGAIN
    assert isinstance(second_for_quote.outcome, Conflict)
    assert second_for_quote.outcome.code == "quote_already_used"
    assert second_for_quote.outcome.extra == {"delivery_id": made["id"]}
    assert isinstance(unknown.outcome, NotFound)
    assert isinstance(theirs.outcome, NotFound)  # another merchant's quote is not found
    assert isinstance(expired.outcome, Gone)
    assert replay.answer().replayed
    assert replay.answer().delivery == kept.answer().delivery
    reused = request(who, merchant.quote()["id"], "kept")
    write(platform, [reused])
    assert isinstance(reused.outcome, Unprocessable)
    assert reused.outcome.code == "idempotency_key_reused"
    assert not plain.answer().replayed

    # The twin, asked again, replays the answer its key was given.
    write(platform, [twin])
    assert twin.answer().replayed
    assert twin.answer().delivery == made
    assert count(platform, "SELECT count(*) FROM deliveries") == 3


def test_a_key_is_only_its_merchants(
    platform: Platform, merchant: MerchantClient, rival: MerchantClient
) -> None:
    who, other = principal(platform, merchant), principal(platform, rival)
    kept = request(who, merchant.quote()["id"], "shared-key")
    write(platform, [kept])

    batch = [
        replay := request(who, kept.cmd.quote_id, "shared-key"),
        theirs := request(other, rival.quote()["id"], "shared-key"),
        crossed := request(other, rival.quote()["id"], "only-theirs"),
        mine := request(who, merchant.quote()["id"], "only-theirs-too"),
    ]
    write(platform, batch)

    assert replay.answer().replayed
    assert replay.answer().delivery == kept.answer().delivery
    for made in (theirs, crossed, mine):
        assert not made.answer().replayed
    assert theirs.answer().delivery["id"] != kept.answer().delivery["id"]
    assert count(platform, "SELECT count(*) FROM idempotency_keys") == 4


def test_a_merchant_is_told_of_every_order_of_a_batch(
    platform: Platform, merchant: MerchantClient, rival: MerchantClient
) -> None:
    endpoint = merchant.post(
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hooks", "events": ["delivery.created"]},
    )
    assert endpoint.status_code == 201, endpoint.text
    who, other = principal(platform, merchant), principal(platform, rival)
    batch = [request(who, merchant.quote()["id"]) for _ in range(3)]
    batch.append(request(other, rival.quote()["id"]))

    write(platform, batch)

    with platform.deliveries_engine.connect() as connection:
        told = connection.execute(
            text("SELECT delivery_id, event_type, body FROM webhook_messages ORDER BY seq")
        ).all()
    assert [(d, t) for d, t, _ in told] == [
        (r.answer().delivery["id"], "delivery.created") for r in batch[:3]
    ]
    for (_, _, body), r in zip(told, batch[:3], strict=True):
        assert json.loads(body)["data"] == r.answer().delivery
