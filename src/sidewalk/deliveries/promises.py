"""Promises the fleet keeps. The fleet model (`eta`) estimates when a provider reaches the
pickup and hands the goods over; it cannot know everything (a fault on the way, a robot the
dispatcher sends from farther, a courier network's own lead times). So a promise is the
estimate plus a margin: the `percentile`-th of how late recent deliveries were against
their own estimate, per provider.
With it, that share of orders is handed over by the time promised, whatever the fleet's
load. Until `min_legs` deliveries are known, `prior_s` stands in for the margin.

Only orders for as soon as possible that their first attempt, by the quoted provider,
delivered are counted: a scheduled order's times are the merchant's, and a failed attempt's
lateness is the failure's, not the estimate's."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sidewalk.deliveries.domain import AttemptProvider


@dataclass(frozen=True, slots=True)
class Margins:
    """Seconds added to the estimated pickup and dropoff times."""

    pickup_s: int = 0
    dropoff_s: int = 0


NO_MARGINS = Margins()


@dataclass(frozen=True, slots=True)
class PromisePolicy:
    percentile: float  # of recent deliveries that meet their promise, 0-1
    min_legs: int
    prior_s: int


@dataclass(frozen=True, slots=True)
class Errors:
    """How late recent deliveries of one provider were against their estimate, newest
    first: at the pickup (where it was seen reached) and at the dropoff."""

    pickup_s: Sequence[float]
    dropoff_s: Sequence[float]


def covering(values: Sequence[float], share: float) -> float:
    """The least of `values` that at least `share` of them do not exceed (the nearest-rank
    quantile): a promise at it is kept for that share, not one order fewer."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def margin(errors: Sequence[float], policy: PromisePolicy) -> int:
    """The margin that `policy.percentile` of `errors` stay within, the prior with too few to
    tell. Negative where the estimate is pessimistic: a network's couriers that come sooner
    than its typical lead time are promised sooner."""
    if len(errors) < policy.min_legs:
        return policy.prior_s
    return math.ceil(covering(errors, policy.percentile))


def calibrate(
    recent: Mapping[AttemptProvider, Errors], policy: PromisePolicy
) -> dict[AttemptProvider, Margins]:
    """Each provider's margins from its recent deliveries (the prior for one never seen)."""
    empty = Errors((), ())
    return {
        provider: Margins(
            margin(recent.get(provider, empty).pickup_s, policy),
            margin(recent.get(provider, empty).dropoff_s, policy),
        )
        for provider in AttemptProvider
    }


def promised(
    at: datetime, pickup: datetime, dropoff: datetime, margins: Margins
) -> tuple[datetime, datetime, Margins]:
    """The times promised at `at` for an estimate, and the margins they add to it: the pickup
    is never promised before `at`, nor the dropoff sooner after the pickup than the
    estimate's trip takes."""
    pickup_at = max(at, pickup + timedelta(seconds=margins.pickup_s))
    dropoff_at = max(dropoff + timedelta(seconds=margins.dropoff_s), pickup_at + (dropoff - pickup))
    return (
        pickup_at,
        dropoff_at,
        Margins(_seconds(pickup_at - pickup), _seconds(dropoff_at - dropoff)),
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    provider: AttemptProvider
    pickup_error_s: float | None
    dropoff_error_s: float


def outcome(
    provider: AttemptProvider,
    promised_pickup: datetime,
    promised_dropoff: datetime,
    margins: Margins,
    *,
    reached_pickup: datetime | None,
    delivered: datetime,
) -> Outcome:
    """How late a delivery was against the estimate behind its promise."""
    estimate_pickup = promised_pickup - timedelta(seconds=margins.pickup_s)
    estimate_dropoff = promised_dropoff - timedelta(seconds=margins.dropoff_s)
    late_pickup = (
        None if reached_pickup is None else (reached_pickup - estimate_pickup).total_seconds()
    )
    return Outcome(provider, late_pickup, (delivered - estimate_dropoff).total_seconds())


def _seconds(delta: timedelta) -> int:
    return round(delta.total_seconds())
