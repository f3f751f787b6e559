"""Who takes a delivery over when an attempt fails before pickup, through both services'
APIs and their events: another robot when the fleet has one that makes the window, a courier
otherwise, another courier after a courier's job fails, and never more attempts than the
merchant allows. Each attempt says which network carried it."""

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.domain import CourierStatus
from sidewalk.deliveries.models import OUTBOX as DELIVERIES_OUTBOX
from sidewalk.deliveries.providers.courier import CourierUpdate
from sidewalk.deliveries.providers.courier_updates import apply_courier_update
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from sidewalk.operations.fleet import tell_fleet
from tests.factories import DOWNTOWN, MerchantClient, make_merchant
from tests.fleet import MELROSE, Fleet
from tests.integration.helpers import SOUTH_PARK, Pump
from tests.outboxes import outbox_events

FAULT = {"lat": 34.0890, "lng": -118.3650, "battery_pct": 70, "state": "fault"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A generous grace: whether a robot can make it here turns on who is free, not on time."""
    return settings.model_copy(update={"robot_retry_grace_s": 36_000})


def _seen(merchant: MerchantClient, delivery: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    return body


def _attempts(seen: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(a["provider"], a["network"], a["status"]) for a in seen["attempts"]]


def _timeline(merchant: MerchantClient, delivery: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()[
        "data"
    ]
    return events


def _holder(fleet: Fleet, tokens: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The robot that holds a task now, and its task."""
    for serial, token in tokens.items():
        answer = fleet.get(token, f"/ops/v1/robots/{serial}/task")
        if answer.status_code == 200:
            return serial, answer.json()
    raise AssertionError("no robot holds a task")


def _fault(fleet: Fleet, serial: str, token: str) -> None:
    assert fleet.post(token, f"/ops/v1/robots/{serial}/telemetry", FAULT).status_code == 200


def _robots_and_an_order(
    platform: Platform, merchant: MerchantClient, fleet: Fleet, free: int = 2
) -> tuple[Pump, dict[str, str], dict[str, Any]]:
    """SW-1 at the pickup takes the order; `free` more robots a few hundred metres away stay
    free, and the deliveries service has heard of the fleet's state since."""
    pump = Pump(platform)
    tokens = {"SW-1": fleet.robot("SW-1")}
    for n in range(2, free + 2):
        tokens[f"SW-{n}"] = fleet.robot(f"SW-{n}", where=MELROSE)
    delivery = merchant.order(key="order-1").json()
    pump()
    fleet.dispatch()
    pump()
    tell_fleet(platform.operations)
    pump()
    return pump, tokens, delivery


def test_a_robot_fault_before_pickup_sends_another_robot_that_makes_the_window(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    pump, tokens, delivery = _robots_and_an_order(platform, merchant, fleet)
    first, task = _holder(fleet, tokens)
    assert first == "SW-1"
    _fault(fleet, first, tokens[first])
    pump()
    seen = _seen(merchant, delivery)
    assert seen["status"] == "pending"
    assert _attempts(seen) == [
        ("robot", "sidewalk", "failed"),
        ("robot", "sidewalk", "requested"),
    ]
    events = _timeline(merchant, delivery)
    pending = next(e for e in events if e["type"] == "delivery.pending")
    assert pending["data"]["reason"] == "robot_retry"
    asked = [e for e in events if e["type"] == "attempt.requested"][-1]
    assert (asked["data"]["provider"], asked["data"]["sequence"]) == ("robot", 2)

    fleet.dispatch()
    pump()
    second, new_task = _holder(fleet, {s: t for s, t in tokens.items() if s != "SW-1"})
    assert new_task["id"] != task["id"]
    carried = _seen(merchant, delivery)
    assert carried["status"] == "assigned"
    assert carried["attempts"][1]["provider_id"] == new_task["id"]
    assert carried["latest_attempt_id"] == carried["attempts"][1]["id"]
    # The second robot carries it to the door, where the customer's PIN opens it.
    token = tokens[second]
    for trip in new_task["trips"]:
        for event in ("started", "arrived", "completed"):
            if (trip["type"], event) == ("to_dropoff", "completed"):
                fleet.open_door(second)
            answer = fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
            assert answer.status_code == 200, answer.text
            pump()
    done = _seen(merchant, delivery)
    assert done["status"] == "delivered"
    assert _attempts(done) == [
        ("robot", "sidewalk", "failed"),
        ("robot", "sidewalk", "succeeded"),
    ]


def test_a_robot_that_cannot_make_the_window_any_more_is_followed_by_a_courier(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    pump, tokens, delivery = _robots_and_an_order(platform, merchant, fleet)
    promised = delivery["dropoff_eta"]
    clock.advance(timedelta(seconds=platform.settings.robot_retry_grace_s + 3_600))
    tell_fleet(platform.operations)  # the fleet is known, SW-2 free: but too late
    pump()
    _fault(fleet, "SW-1", tokens["SW-1"])
    pump()
    seen = _seen(merchant, delivery)
    assert seen["dropoff_eta"] == promised
    assert _attempts(seen) == [
        ("robot", "sidewalk", "failed"),
        ("courier", "simulated", "requested"),
    ]
    pending = next(e for e in _timeline(merchant, delivery) if e["type"] == "delivery.pending")
    assert pending["data"]["reason"] == "courier_fallback"


def test_the_robot_that_failed_is_not_counted_on_to_take_over(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    """The fleet's last state still lists the robot that just faulted (free after its task):
    with no other robot, a courier takes over at once."""
    pump, tokens, delivery = _robots_and_an_order(platform, merchant, fleet, free=0)
    _fault(fleet, "SW-1", tokens["SW-1"])
    pump()
    assert _attempts(_seen(merchant, delivery)) == [
        ("robot", "sidewalk", "failed"),
        ("courier", "simulated", "requested"),
    ]


def test_a_merchant_caps_the_attempts_of_a_delivery(
    platform: Platform, client: TestClient, fleet: Fleet
) -> None:
    capped = make_merchant(platform, client, "Two Tries", max_attempts=2)
    pump, tokens, delivery = _robots_and_an_order(platform, capped, fleet)
    _fault(fleet, "SW-1", tokens["SW-1"])
    pump()
    fleet.dispatch()
    pump()
    second, _ = _holder(fleet, {s: t for s, t in tokens.items() if s != "SW-1"})
    _fault(fleet, second, tokens[second])
    pump()
    seen = _seen(capped, delivery)
    assert (seen["status"], seen["failure_reason"]) == ("failed", "robot_fault")
    assert _attempts(seen) == [
        ("robot", "sidewalk", "failed"),
        ("robot", "sidewalk", "failed"),
    ]


def _courier_failed(platform: Platform, attempt_id: str, n: int, status: CourierStatus) -> None:
    """The network's word that the attempt's job ended so (its n-th update here)."""
    apply_courier_update(
        platform.deliveries,
        CourierUpdate(
            provider="simulated",
            event_id=f"cev_{attempt_id}_{n}",
            job_id=f"csj_{attempt_id}",
            external_id=attempt_id,
            status=status,
            occurred_at=platform.clock.now(),
        ),
    )


def test_a_courier_job_that_fails_gets_another_courier_up_to_the_cap(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)
    assert quote["provider"] == "courier"
    delivery = merchant.delivery(quote_id=quote["id"])
    cap = platform.settings.default_max_attempts
    for n in range(1, cap + 1):
        latest = _seen(merchant, delivery)["latest_attempt_id"]
        _courier_failed(platform, latest, 1, CourierStatus.CONFIRMED)
        _courier_failed(platform, latest, 2, CourierStatus.FAILED)
        seen = _seen(merchant, delivery)
        assert len(seen["attempts"]) == min(n + 1, cap)
    assert (seen["status"], seen["failure_reason"]) == ("failed", "courier_failed")
    assert _attempts(seen) == [("courier", "simulated", "failed")] * cap
    assert [a["sequence"] for a in seen["attempts"]] == list(range(1, cap + 1))
    kinds = [e["type"] for e in _timeline(merchant, delivery)]
    assert kinds.count("delivery.pending") == cap - 1  # back from assigned, each time
    assert kinds[-2:] == ["attempt.failed", "delivery.failed"]
    asked = [
        e
        for e in outbox_events(platform.deliveries_engine, DELIVERIES_OUTBOX)
        if e.type == "attempt.requested" and e.subject["delivery_id"] == delivery["id"]
    ]
    assert [(e.payload["provider"], e.payload["sequence"]) for e in asked] == [
        ("courier", n) for n in range(1, cap + 1)
    ]


def test_a_courier_who_fails_with_the_goods_on_board_is_not_replaced(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)
    delivery = merchant.delivery(quote_id=quote["id"])
    attempt = delivery["latest_attempt_id"]
    _courier_failed(platform, attempt, 1, CourierStatus.PICKED_UP)
    _courier_failed(platform, attempt, 2, CourierStatus.FAILED)
    seen = _seen(merchant, delivery)
    assert seen["status"] == "failed"
    assert _attempts(seen) == [("courier", "simulated", "failed")]
