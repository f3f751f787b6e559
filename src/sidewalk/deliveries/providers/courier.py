"""The courier network interface, shaped after the public APIs of DoorDash Drive and Uber
Direct: quote a job, create it under our own id (the attempt id, as DoorDash's
`external_delivery_id`: creating twice gives the one job), cancel it, read it. Progress comes
back the way networks push it, as status webhooks: `CourierUpdate` values handed to a sink.
Adapters of real networks implement `CourierProvider`; `registry` picks one by name."""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from sidewalk.deliveries.domain import CourierStatus
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.money import Money


@dataclass(frozen=True, slots=True)
class CourierPlace:
    lat: float
    lng: float
    address: str

    @property
    def point(self) -> LatLng:
        return LatLng(self.lat, self.lng)


@dataclass(frozen=True, slots=True)
class CourierRequest:
    """What a courier needs to carry one attempt out. `external_id` is our attempt id: the key
    a network deduplicates creation on."""

    external_id: str
    pickup: CourierPlace
    dropoff: CourierPlace
    dropoff_contact_name: str | None = None
    dropoff_phone: str | None = None
    dropoff_instructions: str | None = None
    order_value_cents: int | None = None
    currency: str = "USD"
    reference: str | None = None
    # A scheduled job: when the courier is wanted at the pickup, and the end of the dropoff
    # window (DoorDash's `pickup_time` and `dropoff_window`, Uber's `*_dt` fields).
    pickup_at: datetime | None = None
    dropoff_before: datetime | None = None
    # What the customer tells the courier at the door, as proof of the handover.
    dropoff_pin: str | None = None
    # What to do with goods nobody takes: `return`, `leave_at_door` or `dispose`.
    undeliverable_action: str = "return"


@dataclass(frozen=True, slots=True)
class CourierQuote:
    fee: Money
    pickup_eta: datetime
    dropoff_eta: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class CourierJob:
    """A job as the network tells it: its own `id` (our attempt's `provider_id`), ours, where
    it stands, its price and estimates, and the courier's position when known."""

    id: str
    external_id: str
    status: CourierStatus
    fee: Money
    pickup_eta: datetime | None
    dropoff_eta: datetime | None
    courier_position: LatLng | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CourierUpdate:
    """One status (or position) update pushed by a network. `event_id` is the network's own
    id of the update: the same update pushed twice has the same id and is applied once."""

    provider: str
    event_id: str
    job_id: str
    external_id: str
    status: CourierStatus
    occurred_at: datetime
    lat: float | None = None
    lng: float | None = None
    reason: str | None = None
    # The courier's proof of a handover, as the network reports it with `delivered`:
    # `pin` (the customer's PIN checked), `photo` or `signature` (with its image's URL).
    proof: str | None = None
    proof_url: str | None = None
    # Nobody took the goods: what the courier does with them (`returned`, `left_at_door`,
    # `disposed`, as Uber Direct's `undeliverable_action`), with `reason` saying why.
    undeliverable: str | None = None


UpdateSink = Callable[[CourierUpdate], None]


class CourierError(Exception):
    """The network did not answer or failed: the same call may work later."""


class CourierRejected(CourierError):
    """The network refuses the request for good (not serviceable, invalid, unknown job):
    asking again changes nothing. `code` is the network's reason, in our words."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


class CourierProvider(Protocol):
    """A courier network. Calls go over the network: never make them inside a database
    transaction of the deliveries service."""

    @property
    def name(self) -> str:
        """The provider's name in settings, inboxes and logs (`simulated`, …)."""
        ...

    def quote(self, request: CourierRequest) -> CourierQuote:
        """The network's price and times for carrying `request` out now."""
        ...

    def create(self, request: CourierRequest) -> CourierJob:
        """Create the job for `request.external_id`, or return the one already created."""
        ...

    def cancel(self, job_id: str, *, reason: str | None = None) -> CourierJob:
        """Stop the job: before pickup it ends `cancelled`; with the goods on board the
        courier brings them back (`returning` → `returned`). A finished job stays as it is."""
        ...

    def get(self, job_id: str) -> CourierJob:
        """The job as it stands; `CourierRejected` (`job_not_found`) for an unknown id."""
        ...

    def update(self, job_id: str, request: CourierRequest) -> CourierJob:
        """Pass on what the merchant changed (instructions, contact, value, pickup time), as
        far as the network takes changes; `CourierRejected` when it no longer does."""
        ...


@runtime_checkable
class InProcessNetwork(Protocol):
    """A network that lives in this process (the simulated one): something must keep it
    running, beside the consumer of courier attempts."""

    async def run(self, stop: asyncio.Event) -> None:
        """Move the network's jobs along until `stop` is set."""
        ...
