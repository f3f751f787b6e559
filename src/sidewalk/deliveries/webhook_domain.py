"""The rules of merchant webhooks, free of any framework: which events a merchant may subscribe
to, what an endpoint URL may be, the states of endpoints and messages, and when a failed
message is tried again."""

import ipaddress
import string
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, get_args
from urllib.parse import urlsplit

from sidewalk.kernel.statemachine import check

# Every status change of a delivery, as its timeline records it: `delivery.created` when it is
# ordered, then `delivery.<status>` for each status it enters; and, for endpoints that ask for
# it, where the robot or courier is (`delivery.courier_location`, at most once every
# `webhook_location_interval_s` per delivery; not in the timeline).
WebhookEventType = Literal[
    "delivery.created",
    "delivery.pending",
    "delivery.assigned",
    "delivery.enroute_to_pickup",
    "delivery.at_pickup",
    "delivery.enroute_to_dropoff",
    "delivery.at_dropoff",
    "delivery.delivered",
    "delivery.cancelled",
    "delivery.returning",
    "delivery.returned",
    "delivery.failed",
    "delivery.courier_location",
]
LOCATION_EVENT = "delivery.courier_location"
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(get_args(WebhookEventType))

MAX_URL_LENGTH = 2048


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"  # the receiver answered 410 Gone
    DELETED = "deleted"  # by the merchant; kept for the delivery log, never shown again


class MessageStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ENDPOINT_TRANSITIONS: dict[EndpointStatus, frozenset[EndpointStatus]] = {
    EndpointStatus.ENABLED: frozenset({EndpointStatus.DISABLED, EndpointStatus.DELETED}),
    EndpointStatus.DISABLED: frozenset({EndpointStatus.DELETED}),
    EndpointStatus.DELETED: frozenset(),
}

MESSAGE_TRANSITIONS: dict[MessageStatus, frozenset[MessageStatus]] = {
    MessageStatus.PENDING: frozenset({MessageStatus.SUCCEEDED, MessageStatus.FAILED}),
    MessageStatus.SUCCEEDED: frozenset(),
    MessageStatus.FAILED: frozenset(),
}


def check_endpoint_move(current: str, to: EndpointStatus) -> None:
    check("webhook endpoint", ENDPOINT_TRANSITIONS, EndpointStatus(current), to)


def check_message_move(current: str, to: MessageStatus) -> None:
    check("webhook message", MESSAGE_TRANSITIONS, MessageStatus(current), to)


_UNSAFE = frozenset(string.whitespace) | frozenset(chr(c) for c in range(32)) | {"\x7f"}


def check_endpoint_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials (they would be logged and shown
    wherever the URL is) and no fragment (never sent); raises ValueError saying what is wrong."""
    if len(url) > MAX_URL_LENGTH:
        raise ValueError(f"at most {MAX_URL_LENGTH} characters")
    if any(c in _UNSAFE for c in url):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ValueError(f"not a valid URL ({e})") from e
    if parts.scheme.lower() not in {"http", "https"}:
        raise ValueError("must be an absolute http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("must not carry credentials; authenticate the webhook by its signature")
    if parts.fragment or url.endswith("#"):
        raise ValueError("must not have a #fragment")
    if port == 0:
        raise ValueError("port 0 cannot be reached")
    return url


# Names that stand for this machine or its network whatever DNS says.
_LOCAL_NAMES = ("localhost", ".localhost", ".local", ".internal", ".home.arpa")


def is_private_address(address: str) -> bool:
    """An IP address a webhook must not reach unless allowed: loopback, private networks,
    link-local (cloud metadata services live there), and anything else not globally routed."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def private_host(url: str) -> str | None:
    """Why the host of `url` is known to be private without asking DNS (an address or a local
    name), or None. Names are checked again when they are resolved, at each send."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(_LOCAL_NAMES):
        return f"{host} names a local machine"
    try:
        private = is_private_address(host)
    except ValueError:
        return None  # a name, not an address
    return f"{host} is a private, loopback or link-local address" if private else None


def retry_at(
    *,
    first_attempt_at: datetime,
    now: datetime,
    attempts_made: int,
    schedule_s: list[float],
    give_up_after_s: float,
    jitter: float,
) -> datetime | None:
    """When to try a message again after its `attempts_made`-th attempt failed, or None to give
    up. The waits follow `schedule_s` (its last wait repeats), each stretched by the factor
    `jitter` (drawn around 1 by the caller) so that receivers coming back are not hit by every
    sender at once; no retry starts more than `give_up_after_s` after the first attempt, and
    one falls due at that limit itself before the message is given up."""
    deadline = first_attempt_at + timedelta(seconds=give_up_after_s)
    if now >= deadline:
        return None
    wait = schedule_s[min(attempts_made, len(schedule_s)) - 1] * jitter
    return min(now + timedelta(seconds=wait), deadline)
