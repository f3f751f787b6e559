"""One row of the legacy export checked and turned into a delivery, or refused with every
reason found, so that whoever fixes the export sees all that is wrong with a row at once.

Pure: no file, no warehouse. The file around the rows is `legacy_format`."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")

# Columns a row cannot do without; the rest may be empty.
REQUIRED = ("order_id", "merchant_name", "created_at", "final_status")


class FinalStatus(StrEnum):
    """How a legacy delivery ended: the same words the current deliveries use for their ends."""

    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RETURNED = "returned"


# Other words the legacy system wrote for the same ends (compared without case or spaces).
STATUS_SYNONYMS: Mapping[str, FinalStatus] = {
    "completed": FinalStatus.DELIVERED,
    "canceled": FinalStatus.CANCELLED,
    "returned_to_sender": FinalStatus.RETURNED,
}


class RejectedRow(ValueError):
    """A row the import sets aside; the message is the reason kept with it."""


@dataclass(frozen=True, slots=True)
class LegacyDelivery:
    order_id: str
    merchant_name: str
    pickup_address: str | None
    pickup_lat: float | None
    pickup_lng: float | None
    dropoff_address: str | None
    dropoff_lat: float | None
    dropoff_lng: float | None
    created_at: datetime  # all times in UTC
    picked_up_at: datetime | None
    delivered_at: datetime | None
    final_status: FinalStatus
    robot_name: str | None


def final_status(value: str) -> FinalStatus:
    word = value.lower()
    try:
        return STATUS_SYNONYMS.get(word) or FinalStatus(word)
    except ValueError:
        expected = ", ".join(s.value for s in FinalStatus)
        raise RejectedRow(f"{value!r} is not one of {expected}") from None


def legacy_time(value: str) -> datetime:
    """An ISO 8601 time with its offset, in UTC. A time without one is refused: it could be
    UTC or any city's local time, and a guess would move it by hours without anyone noticing."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RejectedRow(f"{value!r} is not an ISO 8601 time") from None
    if parsed.utcoffset() is None:
        raise RejectedRow(f"{value!r} has no UTC offset (add Z or +hh:mm)")
    return parsed.astimezone(UTC)


def _coordinate(value: str, limit: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise RejectedRow(f"{value!r} is not a number") from None
    if not -limit <= number <= limit:  # also refuses nan
        raise RejectedRow(f"{value} is out of range (-{limit:g} to {limit:g})")
    return number


def latitude(value: str) -> float:
    return _coordinate(value, 90)


def longitude(value: str) -> float:
    return _coordinate(value, 180)


def legacy_delivery(row: Mapping[str, str]) -> LegacyDelivery:
    """The delivery a row (column → text, already stripped) describes, or `RejectedRow`."""
    problems = [f"missing {name}" for name in REQUIRED if not row[name]]

    def parsed(name: str, parse: Callable[[str], T]) -> T | None:
        if not row[name]:
            return None
        try:
            return parse(row[name])
        except RejectedRow as e:
            problems.append(f"{name} {e}")
            return None

    points: dict[str, tuple[float | None, float | None]] = {}
    for end in ("pickup", "dropoff"):
        lat = parsed(f"{end}_lat", latitude)
        lng = parsed(f"{end}_lng", longitude)
        if bool(row[f"{end}_lat"]) != bool(row[f"{end}_lng"]):
            problems.append(f"{end}_lat and {end}_lng come together or not at all")
        points[end] = (lat, lng)
    created_at = parsed("created_at", legacy_time)
    picked_up_at = parsed("picked_up_at", legacy_time)
    delivered_at = parsed("delivered_at", legacy_time)
    status = parsed("final_status", final_status)
    if created_at is None or status is None or problems:
        raise RejectedRow("; ".join(problems))
    if problems := _inconsistencies(created_at, picked_up_at, delivered_at, status):
        raise RejectedRow("; ".join(problems))
    return LegacyDelivery(
        order_id=row["order_id"],
        merchant_name=row["merchant_name"],
        pickup_address=row["pickup_address"] or None,
        pickup_lat=points["pickup"][0],
        pickup_lng=points["pickup"][1],
        dropoff_address=row["dropoff_address"] or None,
        dropoff_lat=points["dropoff"][0],
        dropoff_lng=points["dropoff"][1],
        created_at=created_at,
        picked_up_at=picked_up_at,
        delivered_at=delivered_at,
        final_status=status,
        robot_name=row["robot_name"] or None,
    )


def _inconsistencies(
    created_at: datetime,
    picked_up_at: datetime | None,
    delivered_at: datetime | None,
    status: FinalStatus,
) -> list[str]:
    """What the times and the status say that cannot both be true."""
    problems = []
    if picked_up_at is not None and picked_up_at < created_at:
        problems.append("picked_up_at is before created_at")
    if delivered_at is not None and delivered_at < (picked_up_at or created_at):
        problems.append(
            f"delivered_at is before {'picked_up_at' if picked_up_at else 'created_at'}"
        )
    if status is FinalStatus.DELIVERED:
        problems += [
            f"delivered without {name}"
            for name, at in (("picked_up_at", picked_up_at), ("delivered_at", delivered_at))
            if at is None
        ]
    elif delivered_at is not None:
        problems.append(f"delivered_at given but final_status is {status}")
    if status is FinalStatus.RETURNED and picked_up_at is None:
        problems.append("returned without picked_up_at")
    return problems
