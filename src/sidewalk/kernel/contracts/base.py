"""What every contract between the services is: a typed event with its types on the bus, its
source, the fields that go in the envelope's subject, and a schema version. A contract is
written one way (`envelope`) and read one way (`read`); a reader raises `Unreadable`, which
the consumer's dead letters keep with the reason, for an event that does not parse or is of a
newer version than it knows."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sidewalk.kernel.events import Envelope, Source


class Unreadable(ValueError):
    """An event its contract cannot read: what is wrong, for the dead letter's reason."""


class Contract(BaseModel):
    """One event between the services. Subclasses name `TYPES` (the event types this class
    is; progress of several kinds shares one shape), `SOURCE`, `SUBJECT` (the fields that are
    the ids the event is about, carried in the envelope's subject so consumers route without
    the payload) and `WHEN` (for the docs). Unknown fields are ignored when read, so a newer
    writer's added field does not stop an older reader; a field's removal or change of
    meaning is a new `SCHEMA_VERSION`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPES: ClassVar[tuple[str, ...]]
    SOURCE: ClassVar[Source]
    SUBJECT: ClassVar[tuple[str, ...]] = ()
    SCHEMA_VERSION: ClassVar[int] = 1
    WHEN: ClassVar[str] = ""

    @classmethod
    def read(cls, event: Envelope) -> Self:
        """The contract an event carries; `Unreadable` if it is not one of this class."""
        if event.type not in cls.TYPES:
            raise Unreadable(f"{event.type} is not read as {cls.__name__}")
        if event.schema_version > cls.SCHEMA_VERSION:
            raise Unreadable(
                f"{event.type} of schema version {event.schema_version}: this service reads "
                f"{cls.__name__} up to version {cls.SCHEMA_VERSION}"
            )
        try:
            return cls.model_validate({**event.payload, **event.subject})
        except ValidationError as e:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'payload'}: {error['msg']}"
                for error in e.errors(include_url=False)
            )
            raise Unreadable(f"{event.type} does not match {cls.__name__}: {problems}") from e

    def envelope(self, *, occurred_at: datetime, type_: str | None = None) -> Envelope:
        """The event as it goes in the outbox: the subject's ids apart (those not None), the
        rest the payload, as JSON."""
        if type_ is None and len(self.TYPES) > 1:
            raise ValueError(f"{type(self).__name__} is of several types: say which")
        type_ = type_ or self.TYPES[0]
        if type_ not in self.TYPES:
            raise ValueError(f"{type(self).__name__} is not a {type_} event")
        payload = self.model_dump(mode="json")
        subject = {}
        for name in self.SUBJECT:
            value = payload.pop(name)
            if value is not None:
                subject[name] = value
        return Envelope.new(
            type_,
            self.SOURCE,
            occurred_at=occurred_at,
            subject=subject,
            payload=payload,
            schema_version=self.SCHEMA_VERSION,
        )

    @classmethod
    def write(cls, type_: str, *, occurred_at: datetime, **fields: Any) -> Envelope:
        """The envelope of an event made of loose fields (ids and data), checked against the
        contract as it is written: a field missing or of the wrong kind is the writer's bug,
        raised here rather than in the other service."""
        return cls.model_validate(fields).envelope(occurred_at=occurred_at, type_=type_)


C = TypeVar("C", bound=Contract)
Ctx = TypeVar("Ctx")


@dataclass(frozen=True, slots=True)
class Route(Generic[Ctx, C]):
    """A consumer's handler of one contract: given the envelope (its id, type and time) and
    the contract read from it."""

    contract: type[C]
    handler: Callable[[Ctx, Envelope, C], None]

    def __call__(self, ctx: Ctx, event: Envelope) -> None:
        self.handler(ctx, event, self.contract.read(event))


def on(contract: type[C], handler: Callable[[Ctx, Envelope, C], None]) -> Route[Ctx, C]:
    return Route(contract, handler)


class Routes(Generic[Ctx]):
    """A consumer's table of handlers, keyed by contract: the event types it reads are those
    of its contracts, and each event is read by its contract before its handler runs."""

    def __init__(self, *routes: Route[Ctx, Any]) -> None:
        self._by_type: dict[str, Route[Ctx, Any]] = {}
        for route in routes:
            for type_ in route.contract.TYPES:
                if type_ in self._by_type:
                    raise ValueError(f"two handlers of {type_}")
                self._by_type[type_] = route

    def reads(self, event_type: str) -> bool:
        return event_type in self._by_type

    @property
    def types(self) -> frozenset[str]:
        return frozenset(self._by_type)

    def __call__(self, ctx: Ctx, event: Envelope) -> None:
        """Read the event by its contract and run its handler."""
        self._by_type[event.type](ctx, event)
