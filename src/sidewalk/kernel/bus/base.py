"""The bus contract both backends keep, and the few rules they share.

- `publish` returns once the bus has the event durably (the relay may then mark it sent).
- A consumer is durable and named: it gets every event of its types that the bus holds, from
  the oldest retained one on, including those published while none of its subscriptions ran.
  Subscriptions with one name share its events (replicas); different names each get all.
- At least once: an event is acked only when the handler returns; if the handler raises, the
  event comes back after a backoff while later events keep flowing. So handlers must be
  idempotent (the inbox makes them so).
- In order of publication for one publisher, as long as handlers succeed and a consumer has
  one subscription; a redelivered event comes after those that overtook it.
- Publishing an envelope id again is ignored where the backend can tell (memory: always;
  NATS: within the stream's duplicate window)."""

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from sidewalk.kernel.events import Envelope, check_event_type
from sidewalk.kernel.request_context import working_for

log = logging.getLogger(__name__)

Handler = Callable[[Envelope], Awaitable[None]]

# Also a valid NATS durable name: no dots, wildcards or spaces.
_CONSUMER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PublishTimeout(TimeoutError):
    """The bus did not accept the event in time; it may or may not hold it. Publishing the
    same envelope again is safe."""


class Subscription(ABC):
    """One running subscription of a named consumer."""

    consumer: str

    @abstractmethod
    async def stop(self) -> None:
        """Stop taking events: the one being handled is finished and acked first; the
        consumer keeps its place for the next subscription with its name."""


class Bus(ABC):
    @abstractmethod
    async def publish(self, envelope: Envelope, *, timeout: float | None = None) -> None:
        """Return once the bus holds `envelope` durably; retry meanwhile, up to `timeout`
        seconds (the backend's default if None), then raise `PublishTimeout`."""

    @abstractmethod
    async def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None
    ) -> Subscription:
        """Run `handler` on each event of `types` (all if None) for the durable `consumer`.
        A consumer's types are fixed when it is first created; subscribing under its name with
        other types raises `ValueError`."""

    @abstractmethod
    async def close(self) -> None:
        """Stop every subscription (finishing the events in hand) and let go of the bus."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def check_consumer(name: str) -> str:
    if not isinstance(name, str) or not _CONSUMER_NAME.fullmatch(name):
        raise ValueError(
            f"invalid consumer name {name!r}: 1 to 64 letters, digits, '_' or '-' (no dots)"
        )
    return name


def check_types(types: Collection[str] | None) -> frozenset[str] | None:
    """The type filter as a set, None meaning every type."""
    if types is None:
        return None
    if isinstance(types, str):
        raise ValueError(f"types must be a collection of event types, not the string {types!r}")
    checked = frozenset(check_event_type(t) for t in types)
    if not checked:
        raise ValueError("types must not be empty: pass None to receive every type")
    return checked


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failed event waits before it is delivered again: doubling from `first` up
    to `most` seconds, so a broken handler neither spins nor waits for hours."""

    first: float = 0.5
    most: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.first <= self.most:
            raise ValueError(f"need 0 < first <= most, got {self.first} and {self.most}")

    def after(self, deliveries: int) -> float:
        """The wait after the `deliveries`-th delivery failed (1 for the first)."""
        return min(self.most, self.first * 2.0 ** min(max(deliveries - 1, 0), 32))


async def run_handler(handler: Handler, envelope: Envelope, *, consumer: str) -> bool:
    """Whether `handler` took `envelope`; a failure is logged, for the caller to redeliver."""
    try:
        with working_for(envelope.correlation_id):  # its logs and events name the request
            await handler(envelope)
    except Exception:
        log.warning(
            "consumer %s failed on %s %s; it will be delivered again",
            consumer,
            envelope.type,
            envelope.id,
            exc_info=True,
        )
        return False
    return True
