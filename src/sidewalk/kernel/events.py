"""The event envelope: what one service tells the other, the same on every bus and in every
outbox. The envelope says what happened, when, by whom and about which ids; the payload is the
event's own data, shaped by its type and `schema_version`. JSON on the wire, so that either side
can be rewritten, replayed or inspected with ordinary tools."""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Self, cast, get_args

from sidewalk.kernel.ids import new_id
from sidewalk.kernel.request_context import current_request_id

Source = Literal["deliveries", "operations"]
SOURCES: frozenset[str] = frozenset(get_args(Source))

# Dotted lowercase words (`attempt.requested`): each word is one NATS subject token.
_EVENT_TYPE = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_FIELDS = ("id", "type", "occurred_at", "source", "subject", "schema_version", "payload")


def check_event_type(value: object) -> str:
    """`value` if it is a valid event type, else a `ValueError` that says what one looks like."""
    if not isinstance(value, str) or not _EVENT_TYPE.fullmatch(value):
        raise ValueError(
            f"invalid event type {value!r}: dotted lowercase words such as 'attempt.requested'"
        )
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event. `id` is unique per event and is what buses deduplicate on and inboxes
    remember; `subject` names the ids the event is about so a consumer can route it without
    reading the payload."""

    id: str
    type: str
    occurred_at: datetime
    source: Source
    subject: dict[str, str]
    schema_version: int
    payload: dict[str, Any]
    # The API request the event comes of (its X-Request-ID), when it comes of one.
    correlation_id: str | None = None
    # Its JSON, made once (an envelope is not changed once made).
    _json: bytes | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"event id must be a non-empty string, not {self.id!r}")
        check_event_type(self.type)
        if not isinstance(self.occurred_at, datetime) or self.occurred_at.utcoffset() is None:
            raise ValueError(f"occurred_at must be a timezone-aware datetime: {self.occurred_at!r}")
        if self.occurred_at.tzinfo is not UTC:
            object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))
        if self.source not in SOURCES:
            raise ValueError(f"source must be one of {sorted(SOURCES)}, not {self.source!r}")
        if not isinstance(self.subject, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.subject.items()
        ):
            raise ValueError(f"subject must map names to id strings: {self.subject!r}")
        if type(self.schema_version) is not int or self.schema_version < 1:
            raise ValueError(f"schema_version must be a positive int: {self.schema_version!r}")
        if not isinstance(self.payload, dict) or not all(isinstance(k, str) for k in self.payload):
            raise ValueError("payload must be a JSON object (a dict with string keys)")
        if self.correlation_id is not None and not (
            isinstance(self.correlation_id, str) and 0 < len(self.correlation_id) <= 64
        ):
            raise ValueError(f"correlation_id must be 1-64 characters: {self.correlation_id!r}")

    @classmethod
    def new(
        cls,
        type: str,
        source: Source,
        *,
        occurred_at: datetime,
        subject: dict[str, str],
        payload: dict[str, Any],
        schema_version: int = 1,
    ) -> Self:
        """A new event with a fresh id, carrying the request id of the work it is written in.
        The payload is checked here, where a bad value is the caller's bug, rather than later
        in a relay far from it."""
        envelope = cls(
            id=new_id("evt"),
            type=type,
            occurred_at=occurred_at,
            source=source,
            subject=dict(subject),
            schema_version=schema_version,
            payload=dict(payload),
            correlation_id=current_request_id(),
        )
        envelope.to_json()
        return envelope

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON; times as RFC 3339 in UTC with a `Z`."""
        if self._json is not None:
            return self._json
        document = {
            "id": self.id,
            "type": self.type,
            "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "source": self.source,
            "subject": self.subject,
            "schema_version": self.schema_version,
            "payload": self.payload,
        }
        if self.correlation_id is not None:
            document["correlation_id"] = self.correlation_id
        try:
            text = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"event {self.type} {self.id} is not JSON-serialisable: {e}") from e
        encoded = text.encode()
        object.__setattr__(self, "_json", encoded)
        return encoded

    @classmethod
    def from_json(cls, data: bytes | str) -> Self:
        """The envelope in `data`, or a `ValueError` saying what is wrong with it. Fields a
        newer producer may add to the envelope are ignored, so producers can be upgraded
        first."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"not an event envelope: invalid JSON ({e})") from e
        if not isinstance(document, dict):
            raise ValueError(f"not an event envelope: a JSON {type(document).__name__}")
        missing = [name for name in _FIELDS if name not in document]
        if missing:
            raise ValueError(f"not an event envelope: missing {', '.join(missing)}")
        occurred_at = document["occurred_at"]
        if not isinstance(occurred_at, str):
            raise ValueError(f"occurred_at must be an RFC 3339 string: {occurred_at!r}")
        try:
            when = datetime.fromisoformat(occurred_at)
        except ValueError as e:
            raise ValueError(f"occurred_at is not an RFC 3339 time: {occurred_at!r}") from e
        return cls(
            id=document["id"],
            type=document["type"],
            occurred_at=when,
            source=cast(Source, document["source"]),
            subject=document["subject"],
            schema_version=document["schema_version"],
            payload=document["payload"],
            correlation_id=document.get("correlation_id"),
        )
