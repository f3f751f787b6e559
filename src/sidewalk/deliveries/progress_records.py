"""A delivery and its latest attempt as the robot's progress moves them: plain records of the
few fields a progress event reads and writes. Each is `Stateful`, so it goes through the
same state machines as the ORM rows; the repository reads them locked and writes them back
in one statement each (`repository.delivery_in_progress`, `repository.save_progress`)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class AttemptInProgress:
    id: str
    status: str
    status_times: dict[str, Any]
    provider_id: str | None
    updated_at: datetime


@dataclass(slots=True)
class DeliveryInProgress:
    id: str
    status: str
    status_times: dict[str, Any]
    handover: dict[str, Any] | None
    updated_at: datetime
    latest: AttemptInProgress | None  # the latest attempt, if the delivery has one
