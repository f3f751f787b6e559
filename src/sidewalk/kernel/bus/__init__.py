"""The event bus between the two services: `make_bus(url)` gives the backend the URL names,
`memory://` (in-process) or `nats://host:port` (NATS JetStream); both keep the contract told in
`base`."""

from urllib.parse import urlsplit

from sidewalk.kernel.bus.base import Bus, Handler, PublishTimeout, Subscription
from sidewalk.kernel.bus.memory import MemoryBus

__all__ = ["Bus", "Handler", "MemoryBus", "PublishTimeout", "Subscription", "make_bus"]


def make_bus(
    url: str, *, stream: str | None = None, prefix: str | None = None, ack_wait: float = 30.0
) -> Bus:
    """The bus at `url`, not yet connected (NATS connects on first use). `stream` and `prefix`
    name the JetStream stream and the subjects' first token, `ack_wait` how long JetStream
    waits for a consumer's ack before delivering again; the memory bus needs none of them."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return MemoryBus()
    if scheme in {"nats", "tls"}:
        from sidewalk.kernel.bus.nats import NatsBus  # only the NATS mode pays for its import

        return NatsBus(url, stream=stream, prefix=prefix, ack_wait=ack_wait)
    raise ValueError(f"unknown bus URL {url!r}: use memory:// or nats://host:port")
