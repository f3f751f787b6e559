"""Sends the queued webhooks to the merchants' endpoints and keeps their retry schedule.

A pass claims the messages that are due in a short transaction, leasing each to this sender
(on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so that any number of senders share the work
without sending one message twice at once), POSTs them with no transaction open, a bounded
number at a time, and records each outcome in a transaction of its own. The schedule lives in
the database: a sender that stops, or dies, loses nothing, and any sender resumes it (a
message whose sender died is due again when its lease runs out, with the same `webhook-id`).

2xx settles a message. Any other answer, a timeout or a connection error is retried on the
schedule of the settings until a day has passed since its first try; `410 Gone` disables the
endpoint and ends its waiting messages."""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from sidewalk import __version__
from sidewalk.deliveries.context import DeliveriesContext
from sidewalk.deliveries.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from sidewalk.deliveries.webhook_domain import (
    EndpointStatus,
    MessageStatus,
    check_endpoint_move,
    check_message_move,
    is_private_address,
    retry_at,
)
from sidewalk.deliveries.webhook_messages import end_pending_messages
from sidewalk.deliveries.webhook_signing import signed_headers
from sidewalk.kernel.ids import new_id
from sidewalk.kernel.metrics import WEBHOOK_ATTEMPTS

log = logging.getLogger(__name__)

GONE = 410
FAILED_PASS_WAIT_S = 5.0  # a database away is not asked again every poll
MAX_ERROR_CHARS = 200


@dataclass(frozen=True, slots=True)
class _Claimed:
    message_id: str
    endpoint_id: str
    lease_id: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True, slots=True)
class _Outcome:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def accepted(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """`await send_due()` sends what is due once; `await run(stop)` keeps sending until `stop`
    is set. Build one per process from the deliveries context (`platform.deliveries`)."""

    def __init__(self, ctx: DeliveriesContext, *, rng: random.Random | None = None) -> None:
        s = ctx.settings
        self._ctx = ctx
        self._schedule = list(s.webhook_retry_schedule_s)
        self._give_up_after_s = s.webhook_give_up_after_s
        self._jitter = s.webhook_retry_jitter
        self._timeout_s = s.webhook_timeout_s
        self._max_in_flight = s.webhook_max_in_flight
        self._poll_s = s.webhook_poll_interval_s
        # Long enough for one attempt and its record, short enough to resume soon after a crash.
        self._lease = timedelta(seconds=s.webhook_lease_s or 2 * s.webhook_timeout_s + 30)
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None

    async def send_due(self) -> int:
        """Send every message due now, at most `webhook_max_in_flight` at once; how many
        attempts were made."""
        if self._client is not None:
            return await self._send_due(self._client)
        async with self._new_client() as client:
            return await self._send_due(client)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until `stop` is set, looking for due messages every `webhook_poll_interval_s`
        while there is nothing to send; a failed pass (database away) is tried again."""
        async with self._new_client() as client:
            self._client = client
            try:
                while not stop.is_set():
                    wait = self._poll_s
                    try:
                        sent = await self._send_due(client)
                    except Exception:
                        log.exception("webhook pass failed; trying again")
                        sent, wait = 0, max(self._poll_s, FAILED_PASS_WAIT_S)
                    if sent == 0:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=wait)
            finally:
                self._client = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The sender loop for as long as the block runs (an ASGI lifespan, a worker)."""
        stop = asyncio.Event()
        loop = asyncio.create_task(self.run(stop))
        try:
            yield
        finally:
            stop.set()
            await loop

    def _new_client(self) -> httpx.AsyncClient:
        # Redirects are answers like any other non-2xx: a receiver must give its final URL.
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout_s),
            follow_redirects=False,
            headers={"user-agent": f"sidewalk-webhooks/{__version__}"},
            limits=httpx.Limits(max_connections=self._max_in_flight),
        )

    async def _send_due(self, client: httpx.AsyncClient) -> int:
        sent = 0
        running: set[asyncio.Task[None]] = set()
        more = True
        try:
            while True:
                room = self._max_in_flight - len(running)
                if more and room > 0:
                    claimed = await asyncio.to_thread(self._claim, room)
                    more = len(claimed) == room
                    running.update(asyncio.create_task(self._deliver(client, c)) for c in claimed)
                if not running:
                    return sent
                done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    if task.exception() is not None:
                        # Its lease runs out and it is sent again: at least once, never lost.
                        log.error("recording a webhook attempt failed", exc_info=task.exception())
                sent += len(done)
        except BaseException:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            raise

    def _claim(self, limit: int) -> list[_Claimed]:
        """Lease up to `limit` due messages to this sender, soonest due first."""
        with self._ctx.uow() as uow:
            now = uow.clock.now()
            rows = uow.session.execute(
                select(WebhookMessage, WebhookEndpoint.url, WebhookEndpoint.secret)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                .where(
                    WebhookMessage.status == MessageStatus.PENDING.value,
                    WebhookMessage.next_attempt_at <= now,
                    WebhookEndpoint.status == EndpointStatus.ENABLED.value,
                )
                .order_by(WebhookMessage.next_attempt_at, WebhookMessage.seq)
                .limit(limit)
                .with_for_update(of=WebhookMessage, skip_locked=True, key_share=True)
            ).all()
            claimed = []
            for message, url, secret in rows:
                message.lease_id = new_id("lse")
                message.first_attempt_at = message.first_attempt_at or now
                message.next_attempt_at = now + self._lease
                claimed.append(
                    _Claimed(
                        message.id,
                        message.endpoint_id,
                        message.lease_id,
                        url,
                        secret,
                        message.body.encode(),
                    )
                )
            uow.commit()
            return claimed

    async def _deliver(self, client: httpx.AsyncClient, job: _Claimed) -> None:
        """One signed POST, then its outcome recorded."""
        at = self._ctx.clock.now()
        headers = signed_headers(job.secret, job.message_id, int(at.timestamp()), job.body)
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            if not self._ctx.settings.webhooks_allow_private_targets:
                await _refuse_private(job.url)
            async with (
                asyncio.timeout(self._timeout_s),
                client.stream("POST", job.url, content=job.body, headers=headers) as response,
            ):
                status_code = response.status_code  # the body is never read
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self._timeout_s:g} s"
        except Exception as e:  # any failure to reach the receiver is retried
            error = " ".join(f"{type(e).__name__}: {e}".split())[:MAX_ERROR_CHARS]
        duration_ms = round((time.perf_counter() - started) * 1000)
        outcome = _Outcome(at, status_code, error, duration_ms)
        await asyncio.to_thread(self._record, job, outcome)

    def _record(self, job: _Claimed, outcome: _Outcome) -> None:
        """Log the attempt; if this sender still holds the message, settle it or schedule its
        next attempt (a message ended meanwhile, or leased again after this sender overran its
        lease, only gets the attempt logged). The endpoint is locked before the message, the
        order in which deleting an endpoint takes them."""
        with self._ctx.uow() as uow:
            session, now = uow.session, uow.clock.now()
            endpoint = _locked_endpoint(session, job.endpoint_id)
            message = session.scalars(
                select(WebhookMessage)
                .where(WebhookMessage.id == job.message_id)
                .with_for_update(key_share=True)
            ).one()
            session.add(
                WebhookAttempt(
                    message_id=job.message_id,
                    attempted_at=outcome.attempted_at,
                    status_code=outcome.status_code,
                    error=outcome.error,
                    duration_ms=outcome.duration_ms,
                )
            )
            message.attempts += 1
            if message.status == MessageStatus.PENDING and message.lease_id == job.lease_id:
                self._settle(session, endpoint, message, outcome, now)
            uow.commit()

    def _settle(
        self,
        session: Session,
        endpoint: WebhookEndpoint,
        message: WebhookMessage,
        outcome: _Outcome,
        now: datetime,
    ) -> None:
        message.lease_id = None
        message.last_attempt_at = outcome.attempted_at
        message.last_status_code = outcome.status_code
        message.last_error = outcome.error
        if outcome.accepted:
            _finish(message, MessageStatus.SUCCEEDED, now)
            WEBHOOK_ATTEMPTS.labels("delivered").inc()
            return
        if outcome.status_code == GONE:
            _finish(message, MessageStatus.FAILED, now)
            _disable_endpoint(session, endpoint, now)
            WEBHOOK_ATTEMPTS.labels("failed").inc()
            return
        retry = retry_at(
            first_attempt_at=message.first_attempt_at or outcome.attempted_at,
            now=now,
            attempts_made=message.attempts,
            schedule_s=self._schedule,
            give_up_after_s=self._give_up_after_s,
            jitter=self._rng.uniform(1 - self._jitter, 1 + self._jitter),
        )
        if retry is None:
            _finish(message, MessageStatus.FAILED, now)
            WEBHOOK_ATTEMPTS.labels("failed").inc()
        else:
            message.next_attempt_at = retry
            WEBHOOK_ATTEMPTS.labels("retry").inc()


class PrivateTarget(Exception):
    """The endpoint's name resolves to an address webhooks may not reach."""


async def _refuse_private(url: str) -> None:
    """Every address the endpoint's host resolves to must be public. (The client resolves the
    name again to connect; a name that changes its answer in between is not caught here.)"""
    parts = httpx.URL(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    found = await asyncio.get_running_loop().getaddrinfo(parts.host, port)
    for *_, address in found:
        if is_private_address(str(address[0])):
            raise PrivateTarget(f"{parts.host} resolves to a private address ({address[0]})")


def _finish(message: WebhookMessage, to: MessageStatus, now: datetime) -> None:
    check_message_move(message.status, to)
    message.status = to.value
    message.next_attempt_at = None
    message.finished_at = now


def _locked_endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint:
    return session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .with_for_update(key_share=True)
    ).one()


def _disable_endpoint(session: Session, endpoint: WebhookEndpoint, now: datetime) -> None:
    """The receiver said the endpoint is gone for good: send it nothing more."""
    if endpoint.status != EndpointStatus.ENABLED:
        return
    check_endpoint_move(endpoint.status, EndpointStatus.DISABLED)
    endpoint.status = EndpointStatus.DISABLED.value
    endpoint.disabled_at = endpoint.updated_at = now
    endpoint.disabled_reason = "The endpoint answered 410 Gone"
    end_pending_messages(session, endpoint.id, "the endpoint was disabled (410 Gone)", now)
