"""The production bus: NATS JetStream. One stream (file storage) holds every event on subjects
`<prefix>.events.<source>.<type>`; each consumer is a durable pull consumer with explicit
acks, so it keeps its place on the server while no process of it runs, and its replicas share
its events by pulling from it in turn.

What JetStream adds to the contract: an envelope published again within the stream's
duplicate window (the `Nats-Msg-Id` header is the envelope id) is stored once; an event whose
ack is lost, or whose handler outlives `ack_wait` without the process being alive to say so,
is delivered again. The client reconnects for ever when the server goes away; publishes retry
until the server acks them or the caller's timeout passes. While it is away nothing is sent:
the client would otherwise buffer every retried publish and every pull, and flood the server
with stale ones when it comes back."""

import asyncio
import logging
import re
from collections.abc import Awaitable, Collection

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from sidewalk.kernel.bus.base import (
    Backoff,
    Bus,
    Handler,
    PublishTimeout,
    Subscription,
    check_consumer,
    check_types,
    run_handler,
)
from sidewalk.kernel.events import Envelope

log = logging.getLogger(__name__)

DEFAULT_STREAM = "SIDEWALK_EVENTS"
DEFAULT_PREFIX = "sidewalk"
PING_INTERVAL_S = 20

_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")

# Worth another try: the server is away, restarting or electing a leader.
_TRANSIENT: tuple[type[BaseException], ...] = (
    TimeoutError,  # nats.errors.TimeoutError is one too
    OSError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
)


class NatsBus(Bus):
    """Connects on first use, on the event loop that uses it first; use it on that loop only."""

    def __init__(
        self,
        url: str = "nats://127.0.0.1:4222",
        *,
        stream: str | None = None,
        prefix: str | None = None,
        retry_backoff: float = 0.5,
        max_retry_backoff: float = 30.0,
        ack_wait: float = 30.0,
        duplicate_window: float = 120.0,
        max_age: float | None = None,
        fetch_timeout: float = 1.0,
        publish_timeout: float = 30.0,
        request_timeout: float = 2.0,
        connect_timeout: float = 10.0,
        reconnect_wait: float = 1.0,
    ) -> None:
        """`url` may list several servers, comma-separated. `max_age` (seconds) bounds how
        long the stream keeps events, None for ever; a consumer created later starts from the
        oldest one kept. `fetch_timeout` bounds how long `stop()` waits for a pull to end;
        `request_timeout` how long one try of a publish waits for its ack (a request sent
        just as the connection drops is never answered)."""
        self._servers = [s.strip() for s in url.split(",") if s.strip()]
        self._stream = stream or DEFAULT_STREAM
        self._prefix = prefix or DEFAULT_PREFIX
        if not _STREAM_NAME.fullmatch(self._stream):
            raise ValueError(f"invalid stream name {self._stream!r}: letters, digits, '_', '-'")
        if not _PREFIX.fullmatch(self._prefix):
            raise ValueError(f"invalid subject prefix {self._prefix!r}: dotted words")
        self._backoff = Backoff(retry_backoff, max_retry_backoff)
        self._ack_wait, self._duplicate_window, self._max_age = ack_wait, duplicate_window, max_age
        self._fetch_timeout, self._publish_timeout = fetch_timeout, publish_timeout
        self._request_timeout = request_timeout
        self._connect_timeout, self._reconnect_wait = connect_timeout, reconnect_wait
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._stream_ready = False
        self._lock: asyncio.Lock | None = None
        self._subscriptions: set[NatsSubscription] = set()
        self._closed = False

    @property
    def stream(self) -> str:
        return self._stream

    @property
    def connected(self) -> bool:
        """Whether the connection is up now (False before first use and while reconnecting)."""
        return self._nc is not None and self._nc.is_connected

    def subject_of(self, envelope: Envelope) -> str:
        return f"{self._prefix}.events.{envelope.source}.{envelope.type}"

    async def publish(self, envelope: Envelope, *, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self._publish_timeout if timeout is None else timeout)
        data, subject = envelope.to_json(), self.subject_of(envelope)
        pause, last_error = 0.05, None
        while (remaining := deadline - loop.time()) > 0:
            try:
                js = await self._jetstream(remaining)
                if not self.connected:
                    raise nats.errors.ConnectionReconnectingError
                await js.publish(
                    subject,
                    data,
                    timeout=min(remaining, self._request_timeout),
                    stream=self._stream,
                    headers={"Nats-Msg-Id": envelope.id},
                )
                return
            except _TRANSIENT as e:
                last_error = e
                if isinstance(e, nats.js.errors.NoStreamResponseError):
                    self._stream_ready = False  # deleted, or JetStream not back yet: check
            await asyncio.sleep(min(pause, max(deadline - loop.time(), 0)))
            pause = min(pause * 2, 1.0)
        raise PublishTimeout(
            f"NATS did not accept {envelope.type} {envelope.id} in time: {last_error!r}"
        ) from last_error

    async def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None
    ) -> "NatsSubscription":
        check_consumer(consumer)
        wanted = check_types(types)
        js = await self._jetstream(self._connect_timeout)
        await self._ensure_consumer(js, consumer, wanted)
        pull = await js.pull_subscribe_bind(durable=consumer, stream=self._stream)
        subscription = NatsSubscription(self, consumer, wanted, handler, pull)
        self._subscriptions.add(subscription)
        subscription.start()
        return subscription

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(s.stop() for s in list(self._subscriptions)))
        if self._nc is not None:
            await self._nc.close()

    async def _jetstream(self, timeout: float) -> JetStreamContext:
        """The JetStream context, connecting and creating the stream on first use."""
        if self._closed:
            raise RuntimeError("the bus is closed")
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._js is None:
                self._nc = await self._connect(timeout)
                self._js = self._nc.jetstream(timeout=min(5.0, self._connect_timeout))
            if not self._stream_ready:
                await self._ensure_stream(self._js)
                self._stream_ready = True
            return self._js

    async def _connect(self, timeout: float) -> Client:
        """A connection that reconnects for ever once made. The first connection is tried
        for `timeout` seconds (nats-py would otherwise try for ever too)."""
        try:
            return await asyncio.wait_for(
                nats.connect(
                    self._servers,
                    name="sidewalk",
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=self._reconnect_wait,
                    # A server gone without closing the socket is noticed in about a minute
                    # (the default waits four).
                    ping_interval=PING_INTERVAL_S,
                    max_outstanding_pings=3,
                    connect_timeout=max(1, round(min(timeout, 5.0))),
                    error_cb=_log_error,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=_log_reconnected,
                ),
                timeout,
            )
        except TimeoutError as e:
            raise ConnectionError(f"NATS unreachable at {', '.join(self._servers)}") from e

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        subjects = f"{self._prefix}.events.>"
        try:
            info = await js.stream_info(self._stream)
        except nats.js.errors.NotFoundError:
            config = StreamConfig(
                name=self._stream,
                description="sidewalk domain events",
                subjects=[subjects],
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                storage=StorageType.FILE,
                max_age=self._max_age,
                duplicate_window=self._duplicate_window,
            )
            try:
                await js.add_stream(config)
                return
            except nats.js.errors.BadRequestError:  # another process made it meanwhile
                info = await js.stream_info(self._stream)
        if subjects not in (info.config.subjects or []):
            raise ValueError(
                f"stream {self._stream} exists without subjects {subjects}: "
                f"it has {info.config.subjects}"
            )

    async def _ensure_consumer(
        self, js: JetStreamContext, name: str, types: frozenset[str] | None
    ) -> None:
        """Create the durable consumer if it is new; refuse one with another filter. The filter
        is kept in its description, as a 2.9 server filters on one subject only and the
        rest is then done here."""
        description = f"sidewalk consumer of {_describe(types)}"
        try:
            info = await js.consumer_info(self._stream, name)
        except nats.js.errors.NotFoundError:
            filter_subject, filter_subjects = self._filter(types)
            config = ConsumerConfig(
                durable_name=name,
                description=description,
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._ack_wait,
                max_deliver=-1,
                filter_subject=filter_subject,
                filter_subjects=filter_subjects,
            )
            try:
                await js.add_consumer(self._stream, config)
                return
            except nats.js.errors.BadRequestError:  # a replica made it meanwhile
                info = await js.consumer_info(self._stream, name)
        if info.config.description != description:
            raise ValueError(
                f"consumer {name!r} exists as {info.config.description!r}, "
                f"not {description!r}: use another name for another filter"
            )

    def _filter(self, types: frozenset[str] | None) -> tuple[str | None, list[str] | None]:
        """(filter_subject, filter_subjects) for the server: several subjects need 2.10."""
        everything = f"{self._prefix}.events.>"
        subjects = [f"{self._prefix}.events.*.{t}" for t in sorted(types or ())]
        if not subjects:
            return everything, None
        if len(subjects) == 1:
            return subjects[0], None
        assert self._nc is not None
        version = self._nc.connected_server_version
        if (version.major, version.minor) >= (2, 10):
            return None, subjects
        return everything, None

    async def _recover_consumer(self, name: str, types: frozenset[str] | None) -> None:
        """After a server lost its state: make the stream and the consumer again."""
        self._stream_ready = False
        js = await self._jetstream(self._connect_timeout)
        await self._ensure_consumer(js, name, types)

    async def _on_disconnected(self) -> None:
        if not self._closed:
            log.warning("NATS: disconnected; reconnecting")

    def _forget(self, subscription: "NatsSubscription") -> None:
        self._subscriptions.discard(subscription)


class NatsSubscription(Subscription):
    """One pull loop on a durable consumer, handling one event at a time."""

    def __init__(
        self,
        bus: NatsBus,
        consumer: str,
        types: frozenset[str] | None,
        handler: Handler,
        pull: JetStreamContext.PullSubscription,
    ) -> None:
        self.consumer = consumer
        self._bus, self._types, self._handler, self._pull = bus, types, handler, pull
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"bus consumer {self.consumer}"
        )

    async def stop(self) -> None:
        """Waits for the pull in progress to end (at most `fetch_timeout`), so that no event is
        left with a pull nobody reads, held until `ack_wait` passes."""
        self._stopping = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            await task

    async def _run(self) -> None:
        bus = self._bus
        try:
            while not self._stopping:
                if not bus.connected:  # a pull now would wait in the client's buffer
                    await asyncio.sleep(bus._reconnect_wait)
                    continue
                try:
                    messages = await self._pull.fetch(1, timeout=bus._fetch_timeout)
                except TimeoutError:
                    continue
                except nats.js.errors.APIError as e:
                    log.warning("consumer %s: pulling refused (%r); recreating", self.consumer, e)
                    await asyncio.sleep(bus._reconnect_wait)
                    try:
                        await bus._recover_consumer(self.consumer, self._types)
                    except Exception as again:
                        log.warning("consumer %s: not recreated (%r)", self.consumer, again)
                    continue
                except (nats.errors.Error, OSError) as e:
                    log.warning("consumer %s: pulling failed (%r); retrying", self.consumer, e)
                    await asyncio.sleep(bus._reconnect_wait)
                    continue
                for message in messages:
                    if self._stopping:
                        await _quietly(message.nak())  # to a sibling, now
                    else:
                        await self._take(message)
        finally:
            bus._forget(self)
            await _quietly(self._pull.unsubscribe())

    async def _take(self, message: Msg) -> None:
        try:
            envelope = Envelope.from_json(message.data)
        except ValueError as e:
            log.error("consumer %s: dropped %s: %s", self.consumer, message.subject, e)
            await _quietly(message.term())
            return
        if self._types is not None and envelope.type not in self._types:
            await _quietly(message.ack())  # the server could not filter it out
            return
        keep_alive = asyncio.create_task(self._keep_alive(message))
        try:
            ok = await run_handler(self._handler, envelope, consumer=self.consumer)
        finally:
            keep_alive.cancel()
        if ok:
            await _quietly(message.ack())
        else:
            delay = self._bus._backoff.after(message.metadata.num_delivered)
            await _quietly(message.nak(delay=delay))

    async def _keep_alive(self, message: Msg) -> None:
        """Tells the server a slow handler is still at it, so the event is not handed to
        another replica meanwhile."""
        while True:
            await asyncio.sleep(self._bus._ack_wait / 2)
            await _quietly(message.in_progress())


async def _quietly(ack: Awaitable[None]) -> None:
    """Await an ack; if the connection is away the server redelivers after `ack_wait`."""
    try:
        await ack
    except (nats.errors.Error, OSError) as e:
        log.warning("could not settle a message (%r); it will be redelivered", e)


def _describe(types: frozenset[str] | None) -> str:
    return "all events" if types is None else ", ".join(sorted(types))


async def _log_error(e: Exception) -> None:
    log.warning("NATS: %r", e)


async def _log_reconnected() -> None:
    log.info("NATS: reconnected")
