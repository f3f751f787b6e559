"""The record of a handover: when and where the goods changed hands, by whom, and with what
proof. A robot's compartment opened with the customer's PIN (`pin`) or by a pilot who checked
the customer another way (`pilot`); a courier's proof as its network reports it (`pin`,
`photo` or `signature`, with the image's URL); `none` when the provider gave no proof."""

import logging
from datetime import datetime
from typing import Any

from sidewalk.deliveries.domain import UNDELIVERABLE_TAKEN, AttemptProvider, UndeliverableAction
from sidewalk.deliveries.shapes import MovingDelivery

log = logging.getLogger(__name__)

PROOFS = frozenset({"pin", "pilot", "photo", "signature", "none"})


def handover(
    by: AttemptProvider,
    *,
    at: datetime,
    lat: float | None,
    lng: float | None,
    proof: str,
    url: str | None = None,
) -> dict[str, Any]:
    return {
        "at": at.isoformat(),
        "lat": lat,
        "lng": lng,
        "by": by.value,
        "proof": proof if proof in PROOFS else "none",
        "proof_url": url,
    }


def note_undeliverable(
    delivery: MovingDelivery, action: UndeliverableAction, reason: str, *, at: datetime
) -> None:
    """Keep on the delivery what was done with goods nobody took, and why."""
    delivery.undeliverable = {
        "action_taken": UNDELIVERABLE_TAKEN[action],
        "reason": reason,
        "at": at.isoformat(),
    }
