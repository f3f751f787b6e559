"""A delivery and one of its attempts as the progress of a robot or a courier moves them:
plain records of the fields those events read and write. Each is `Stateful`, so it goes
through the same state machines as the ORM rows; the repository reads them locked in one
statement and writes them back in one statement each (`repository.delivery_in_progress`,
`repository.courier_attempt_in_progress`, `repository.save_progress`)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class AttemptInProgress:
    id: str
    provider: str
    status: str
    status_times: dict[str, Any]
    provider_id: str | None
    failure_reason: str | None
    updated_at: datetime


@dataclass(slots=True)
class DeliveryInProgress:
    id: str
    status: str
    status_times: dict[str, Any]
    latest_attempt_id: str | None
    handover: dict[str, Any] | None
    undeliverable: dict[str, Any] | None
    cancel_reason: str | None
    failure_reason: str | None
    courier_lat: float | None
    courier_lng: float | None
    courier_seen_at: datetime | None
    updated_at: datetime
    attempt: AttemptInProgress | None  # the attempt asked for (or the latest), if any
