"""The fields a delivery's views and its provider's payload read, as protocols: the ORM rows
have them, and so do the plain records of an order being written (`order_store`), which are
rendered by the same views without the cost of building ORM objects."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol


class PlaceFields(Protocol):
    id: str
    lat: float
    lng: float
    full_address: str


class QuoteFields(Protocol):
    fee_cents: int
    currency: str
    order_value_cents: int | None
    pickup_ready_at: datetime | None
    dropoff_after: datetime | None
    dropoff_before: datetime | None
    pickup_eta: datetime
    dropoff_eta: datetime

    @property
    def pickup(self) -> PlaceFields: ...

    @property
    def dropoff(self) -> PlaceFields: ...


class AttemptFields(Protocol):
    id: str
    status: str
    provider_id: str | None
    failure_reason: str | None
    status_times: dict[str, Any]
    created_at: datetime

    @property
    def provider(self) -> Any: ...  # an `AttemptProvider`, or its value

    @property
    def network(self) -> str | None: ...


class AttemptLinkFields(Protocol):
    sequence: int

    @property
    def attempt(self) -> AttemptFields: ...


class DeliveryFields(Protocol):
    id: str
    quote_id: str
    merchant_id: str
    external_reference_id: str | None
    status: str
    partner_id: str | None
    latest_attempt_id: str | None
    status_times: dict[str, Any]
    courier_lat: float | None
    courier_lng: float | None
    courier_seen_at: datetime | None
    customer_name: str | None
    customer_phone: str | None
    dropoff_instructions: str | None
    unlock_pin: str | None
    handover: dict[str, Any] | None
    undeliverable_action: str
    undeliverable: dict[str, Any] | None
    cancel_reason: str | None
    failure_reason: str | None
    tracking_token: str
    created_at: datetime
    updated_at: datetime

    @property
    def quote(self) -> QuoteFields: ...

    @property
    def attempt_links(self) -> Sequence[AttemptLinkFields]: ...


class Moving(Protocol):
    """What a change of status reads and writes (`moves`): the ORM row, or a plain record."""

    id: str
    status: str
    status_times: dict[str, Any]
    updated_at: datetime


class MovingAttempt(Moving, Protocol):
    """What following a provider's progress reads and writes of an attempt (the ORM row, or
    `progress_records.AttemptInProgress`)."""

    provider_id: str | None
    failure_reason: str | None


class MovingDelivery(Moving, Protocol):
    """What following a provider's progress reads and writes of a delivery."""

    cancel_reason: str | None
    failure_reason: str | None
    undeliverable: dict[str, Any] | None
