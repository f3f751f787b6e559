"""An order being written, as plain records: the quote it claims and the delivery, attempt and
link it makes. They have the shapes the views and the provider's payload read
(`shapes`), so a new order is rendered and told exactly as a stored one, and their rows are
inserted once, straight through the driver: building ORM objects for rows that are written
once and never changed in the transaction cost more than writing them."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sidewalk.deliveries.domain import AttemptProvider, AttemptStatus, DeliveryStatus


@dataclass(slots=True)
class Place:
    id: str
    lat: float
    lng: float
    full_address: str


@dataclass(slots=True)
class QuoteToOrder:
    """A quote as an order reads it (locked until the order commits, where the database can)."""

    pickup: Place
    dropoff: Place
    id: str
    merchant_id: str
    provider: str
    external_reference_id: str | None
    fee_cents: int
    currency: str
    order_value_cents: int | None
    pickup_ready_at: datetime | None
    dropoff_after: datetime | None
    dropoff_before: datetime | None
    pickup_eta: datetime
    dropoff_eta: datetime
    expires_at: datetime
    used_by_delivery_id: str | None
    service_area_id: str | None


@dataclass(slots=True)
class NewAttempt:
    id: str
    provider: AttemptProvider
    network: str
    created_at: datetime
    status: str = AttemptStatus.REQUESTED.value
    provider_id: str | None = None
    failure_reason: str | None = None
    status_times: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.status_times = self.status_times or {self.status: self.created_at.isoformat()}

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "provider": self.provider.value,
            "network": self.network,
            "status": self.status,
            "provider_id": self.provider_id,
            "status_times": self.status_times,
            "failure_reason": self.failure_reason,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }


@dataclass(slots=True)
class NewLink:
    attempt: NewAttempt
    sequence: int = 1


@dataclass(slots=True)
class NewOrder:
    """A delivery just ordered: pending, with its first attempt."""

    id: str
    quote: QuoteToOrder
    merchant_id: str
    partner_id: str | None
    customer_name: str | None
    customer_phone: str | None
    dropoff_instructions: str | None
    tracking_token: str
    unlock_pin: str | None
    undeliverable_action: str
    created_at: datetime
    attempt_links: list[NewLink]
    status: str = DeliveryStatus.PENDING.value
    status_times: dict[str, Any] = field(default_factory=dict)
    courier_lat: float | None = None
    courier_lng: float | None = None
    courier_seen_at: datetime | None = None
    handover: dict[str, Any] | None = None
    undeliverable: dict[str, Any] | None = None
    cancel_reason: str | None = None
    failure_reason: str | None = None
    # Read of the quote and the attempt, as a stored delivery holds them.
    quote_id: str = field(init=False)
    external_reference_id: str | None = field(init=False)
    latest_attempt_id: str | None = field(init=False)
    updated_at: datetime = field(init=False)

    def __post_init__(self) -> None:
        self.status_times = self.status_times or {self.status: self.created_at.isoformat()}
        self.quote_id = self.quote.id
        self.external_reference_id = self.quote.external_reference_id
        self.latest_attempt_id = self.attempt.id
        self.updated_at = self.created_at

    @property
    def attempt(self) -> NewAttempt:
        return self.attempt_links[0].attempt

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "quote_id": self.quote.id,
            "latest_attempt_id": self.attempt.id,
            "partner_id": self.partner_id,
            "status": self.status,
            "merchant_id": self.merchant_id,
            "external_reference_id": self.quote.external_reference_id,
            "status_times": self.status_times,
            "customer_name": self.customer_name,
            "customer_phone": self.customer_phone,
            "dropoff_instructions": self.dropoff_instructions,
            "tracking_token": self.tracking_token,
            "unlock_pin": self.unlock_pin,
            "undeliverable_action": self.undeliverable_action,
            "created_at": self.created_at,
            "updated_at": self.created_at,
        }

    def link_row(self) -> dict[str, Any]:
        return {"delivery_id": self.id, "attempt_id": self.attempt.id, "sequence": 1}
