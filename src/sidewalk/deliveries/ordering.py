"""Ordering deliveries, the merchant's most valuable write. Concurrent orders are committed
together (`kernel.group_commit`): one transaction and a handful of statements for a whole
batch, whatever its size. Its idempotency keys and its quotes are read in one query each, the
quotes claimed in one UPDATE, and the rows the orders make (idempotency records, deliveries,
attempts and their links, timeline, outbox, webhooks) built as plain records
(`order_records`) and inserted as the transaction commits (`kernel.db.Inserts`: one
statement per table, or one for all of them on PostgreSQL). Each order still gets its own
answer: a bad quote fails only its own request."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sidewalk.deliveries import repository
from sidewalk.deliveries.attempt_policy import network_of
from sidewalk.deliveries.attempts import request_attempt
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.domain import (
    AttemptProvider,
    MerchantPrincipal,
    check_quote_usable,
    not_found,
)
from sidewalk.deliveries.order_records import NewAttempt, NewLink, NewOrder, QuoteToOrder
from sidewalk.deliveries.schemas import DeliveryCreate, DeliveryRead
from sidewalk.deliveries.uow import DeliveriesUnitOfWork
from sidewalk.deliveries.views import delivery_read
from sidewalk.kernel.db import JsonText
from sidewalk.kernel.errors import SidewalkError, Unprocessable
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.loop_sessions import LoopSessions
from sidewalk.kernel.secrets import new_pin, new_token
from sidewalk.kernel.settings import Settings
from sidewalk.kernel.write_lock import write_soon

CREATED = "delivery.created"
REQUESTED = "attempt.requested"


@dataclass(frozen=True)
class Ordered:
    """The answer to an order: the delivery as JSON (kept as it is for replays), and its id."""

    id: str
    text: str
    replayed: bool

    @classmethod
    def made(cls, read: DeliveryRead) -> "Ordered":
        return cls(read.id, read.model_dump_json(), replayed=False)  # in pydantic's serialiser

    @classmethod
    def replay(cls, delivery: dict[str, Any]) -> "Ordered":
        text = json.dumps(delivery, ensure_ascii=False, separators=(",", ":"))
        return cls(str(delivery["id"]), text, replayed=True)

    @property
    def delivery(self) -> dict[str, Any]:
        body: dict[str, Any] = json.loads(self.text)
        return body


class _Again:
    """The answer to an order whose key an earlier order of the same batch holds: it is asked
    again once that one is committed, and then replays its answer (or makes its own)."""


AGAIN = _Again()


@dataclass(eq=False)
class OrderRequest:
    """One merchant's order, with the answer the writer gives it."""

    merchant: MerchantPrincipal
    cmd: DeliveryCreate
    key: str | None
    fingerprint: str
    outcome: Ordered | SidewalkError | _Again | None = field(default=None, repr=False)
    # Where a robot is to pick up the goods of the delivery ordered, for the ETAs that follow.
    robot_pickup: tuple[str, LatLng] | None = field(default=None, repr=False)

    @classmethod
    def of(
        cls, merchant: MerchantPrincipal, cmd: DeliveryCreate, key: str | None
    ) -> "OrderRequest":
        return cls(merchant, cmd, key, request_fingerprint(cmd))

    def answer(self) -> Ordered:
        """The delivery ordered (or replayed), or the problem that refused it."""
        if isinstance(self.outcome, SidewalkError):
            raise self.outcome
        if not isinstance(self.outcome, Ordered):
            raise RuntimeError("the order was not written")
        return self.outcome


def request_fingerprint(cmd: DeliveryCreate) -> str:
    """Two requests are the same when their parsed bodies are equal."""
    canonical = json.dumps(cmd.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_delivery(
    ctx: DeliveriesContext,
    merchant: MerchantPrincipal,
    cmd: DeliveryCreate,
    *,
    idempotency_key: str | None = None,
) -> Ordered:
    """Order the delivery a quote priced, with its first attempt by the quoted provider.

    With an `Idempotency-Key`, the first answer is stored in the same transaction and given
    again for the same request; concurrent requests with one key queue on its row, so only
    one delivery is ever made.
    """
    request = OrderRequest.of(merchant, cmd, idempotency_key)
    try:
        write_orders(ctx.uow, ctx.settings, [request])
    except IntegrityError:
        # Another request with this key, or for this quote, committed first: answer as it did
        # (a replay, `idempotency_key_reused` or `quote_already_used`).
        write_orders(ctx.uow, ctx.settings, [request])
    _robot_taken(ctx, request)
    return request.answer()


def _robot_taken(ctx: DeliveriesContext, request: OrderRequest) -> None:
    """Tell the estimates that a robot is spoken for until the fleet tells its state again."""
    if request.robot_pickup is not None:
        area_id, pickup = request.robot_pickup
        ctx.eta.note_order(area_id, pickup, at=ctx.clock.now())


async def order_delivery(ctx: DeliveriesContext, request: OrderRequest) -> Ordered:
    """`create_delivery` for the API: the order joins the batch being written."""
    collisions = 0
    while True:
        try:
            await ctx.order_writer.submit(request)
        except IntegrityError:
            collisions += 1  # as in `create_delivery`: answer as the twin that won did
            if collisions > 1:
                raise
            continue
        if request.outcome is not AGAIN:
            _robot_taken(ctx, request)
            return request.answer()


Units = Callable[[], DeliveriesUnitOfWork]


def write_orders(uow: Units, settings: Settings, requests: list[OrderRequest]) -> None:
    """Write a batch of orders in one unit of work, each request getting its outcome."""
    with uow() as unit:
        order_deliveries(
            unit,
            requests,
            public_base_url=settings.public_base_url,
            keep_keys_for=timedelta(hours=settings.idempotency_ttl_hours),
            courier_network=settings.courier_provider,
        )
        unit.commit()


def order_writer(
    uow: Units, settings: Settings, write_lock: AbstractContextManager[object] | None
) -> Callable[[list[OrderRequest]], Awaitable[None]]:
    """The group commit's batch write: on the event loop when SQLite's write lock is free at
    once, else on a thread, which waits for the lock (or for PostgreSQL) so the loop does not
    (`write_soon`)."""

    async def write(requests: list[OrderRequest]) -> None:
        await write_soon(write_lock, lambda: write_orders(uow, settings, requests))

    return write


def loop_order_writer(
    sessions: LoopSessions, uow_in: Callable[[Session], DeliveriesUnitOfWork], settings: Settings
) -> Callable[[list[OrderRequest]], Awaitable[None]]:
    """The batch write on PostgreSQL: the same unit of work, its statements waiting on the
    event loop (`LoopSessions`) rather than on a thread."""

    async def write(requests: list[OrderRequest]) -> None:
        def in_session(session: Session) -> None:
            write_orders(lambda: uow_in(session), settings, requests)

        await sessions.run(in_session)

    return write


def order_deliveries(
    uow: DeliveriesUnitOfWork,
    requests: list[OrderRequest],
    *,
    public_base_url: str,
    keep_keys_for: timedelta,
    courier_network: str,
) -> None:
    """Answer each request in `uow`'s transaction, to be committed by the caller; raises
    only when the transaction fails (and then nothing may be committed)."""
    connection, now = uow.connection, uow.clock.now()
    for request in requests:
        request.outcome = None  # a batch written again after a failure answers afresh
        request.robot_pickup = None
    to_order = _replay_known_keys(uow, _one_per_key(requests), now)
    quotes = repository.quotes_to_order(connection, {r.cmd.quote_id for r in to_order})
    claimed: dict[str, str] = {}
    orders: list[tuple[OrderRequest, NewOrder, Ordered]] = []
    for request in to_order:
        try:
            quote = quotes.get(request.cmd.quote_id)
            delivery = _new_order(request, quote, claimed, now, courier_network)
        except SidewalkError as refused:
            request.outcome = refused
            continue
        claimed[delivery.quote_id] = delivery.id
        read = delivery_read(delivery, public_base_url)
        uow.rendered(read)
        orders.append((request, delivery, Ordered.made(read)))
        attempt = delivery.attempt
        uow.record(delivery.id, CREATED, status=delivery.status, quote_id=delivery.quote_id)
        uow.record(
            delivery.id,
            REQUESTED,
            attempt_id=attempt.id,
            provider=attempt.provider.value,
            sequence=1,
        )
        request_attempt(uow, delivery, delivery.quote, attempt, sequence=1)
        area = delivery.quote.service_area_id
        if attempt.provider is AttemptProvider.ROBOT and area is not None:
            pickup = delivery.quote.pickup
            request.robot_pickup = (area, LatLng(pickup.lat, pickup.lng))
    if not orders:
        return
    repository.claim_quotes(connection, claimed)
    repository.insert_orders(uow.inserts, [delivery for _, delivery, _ in orders])
    repository.insert_idempotency_records(
        uow.inserts,
        [
            {
                "merchant_id": request.merchant.id,
                "key": request.key,
                "request_hash": request.fingerprint,
                "status_code": 201,
                "response_body": JsonText(ordered.text),
                "created_at": now,
                "expires_at": now + keep_keys_for,
            }
            for request, _, ordered in sorted(orders, key=_by_key)
            if request.key is not None
        ],
    )
    for request, _, ordered in orders:
        request.outcome = ordered


def _by_key(order: tuple[OrderRequest, NewOrder, Ordered]) -> tuple[str, str]:
    """Keys are taken in one order by every batch, so that two batches never wait on each
    other's keys in a circle."""
    return order[0].merchant.id, order[0].key or ""


def _one_per_key(requests: list[OrderRequest]) -> list[OrderRequest]:
    """The first request of each key; a twin later in the batch is asked again after it."""
    seen: set[tuple[str, str]] = set()
    first: list[OrderRequest] = []
    for request in requests:
        if request.key is not None:
            owner = (request.merchant.id, request.key)
            if owner in seen:
                request.outcome = AGAIN
                continue
            seen.add(owner)
        first.append(request)
    return first


def _replay_known_keys(
    uow: DeliveriesUnitOfWork, requests: list[OrderRequest], now: datetime
) -> list[OrderRequest]:
    """Answer the requests whose key has a live answer; the others are to be ordered (an
    expired record makes way for a new one)."""
    keys = {(r.merchant.id, r.key) for r in requests if r.key is not None}
    if not keys:
        return requests
    records = repository.idempotency_records(uow.connection, keys)
    expired = [k for k, record in records.items() if record.expires_at <= now]
    repository.delete_idempotency_records(uow.connection, expired)
    to_order: list[OrderRequest] = []
    for request in requests:
        record = records.get((request.merchant.id, request.key)) if request.key else None
        if record is None or record.expires_at <= now:
            to_order.append(request)
        elif record.request_hash != request.fingerprint:
            request.outcome = Unprocessable(
                "This Idempotency-Key was used with a different request",
                code="idempotency_key_reused",
            )
        else:
            request.outcome = Ordered.replay(record.response_body)
    return to_order


def _new_order(
    request: OrderRequest,
    quote: QuoteToOrder | None,
    claimed: dict[str, str],
    now: datetime,
    courier_network: str,
) -> NewOrder:
    """The delivery, its first attempt and their link, for a quote of the merchant's still
    unused (by the store or by an earlier order of the batch) and unexpired."""
    merchant, cmd = request.merchant, request.cmd
    if quote is None or quote.merchant_id != merchant.id:
        raise not_found("quote", cmd.quote_id)
    check_quote_usable(
        quote_id=quote.id,
        expires_at=quote.expires_at,
        used_by=claimed.get(quote.id, quote.used_by_delivery_id),
        now=now,
    )
    provider = AttemptProvider(quote.provider)
    attempt = NewAttempt(new_id("att"), provider, network_of(provider, courier_network), now)
    return NewOrder(
        id=new_id("dlv"),
        quote=quote,
        merchant_id=merchant.id,
        partner_id=merchant.partner_id,
        customer_name=cmd.customer.name if cmd.customer else None,
        customer_phone=cmd.customer.phone if cmd.customer else None,
        dropoff_instructions=cmd.dropoff_instructions,
        tracking_token=new_token(),
        unlock_pin=new_pin(),
        undeliverable_action=cmd.undeliverable_action.value,
        created_at=now,
        attempt_links=[NewLink(attempt)],
    )
