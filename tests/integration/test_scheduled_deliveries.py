"""Scheduled deliveries: a pickup-ready time and a dropoff window, up to 30 days ahead. Quotes
plan their times by them; the dispatcher sends no robot before it can be useful; a delivery not
picked up when its window ends fails `dropoff_window_missed`; the ready time may move until
the robot is at the pickup."""

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.deliveries.schedule_keeper import fail_missed_windows
from sidewalk.kernel.clock import ManualClock
from sidewalk.operations.tasks import task_of_attempt
from tests.factories import MerchantClient, quote_body
from tests.fleet import SUNSET, Fleet
from tests.integration.helpers import Pump


def at(clock: ManualClock, **delta: float) -> str:
    return (clock.now() + timedelta(**delta)).isoformat()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_quote_plans_its_times_by_the_schedule_and_the_delivery_keeps_it(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    now_quote = merchant.quote()
    trip = when(now_quote["dropoff_eta"]) - when(now_quote["pickup_eta"])

    ready = at(clock, hours=3)
    quote = merchant.quote(pickup_ready_at=ready)
    assert when(quote["pickup_eta"]) == when(ready)
    assert when(quote["dropoff_eta"]) == when(ready) + trip
    assert quote["dropoff_window"] is None

    window = {"start_at": at(clock, hours=5), "end_at": at(clock, hours=5, minutes=30)}
    later = merchant.quote(pickup_ready_at=ready, dropoff_window=window)
    # Not at the door before the window opens: the robot is sent later instead of waiting.
    assert when(later["dropoff_eta"]) == when(window["start_at"])
    assert when(later["pickup_eta"]) == when(window["start_at"]) - trip

    delivery = merchant.delivery(quote_id=later["id"])
    assert when(delivery["pickup_ready_at"]) == when(ready)
    assert {k: when(v) for k, v in delivery["dropoff_window"].items()} == {
        k: when(v) for k, v in window.items()
    }
    assert delivery["pickup_eta"] == later["pickup_eta"]
    deadline_only = merchant.quote(dropoff_window={"end_at": at(clock, hours=2)})
    assert deadline_only["dropoff_window"]["start_at"] is None


def test_impossible_schedules_are_refused_with_a_code(
    merchant: MerchantClient, clock: ManualClock
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"pickup_ready_at": at(clock, minutes=-30)}, "pickup_ready_in_past"),
        ({"dropoff_window": {"end_at": at(clock, minutes=-1)}}, "dropoff_window_in_past"),
        ({"pickup_ready_at": at(clock, days=31)}, "schedule_too_far_ahead"),
        ({"dropoff_window": {"start_at": at(clock, days=30, hours=1)}}, "schedule_too_far_ahead"),
        (
            {"dropoff_window": {"start_at": at(clock, hours=2), "end_at": at(clock, hours=2,
                                                                               minutes=5)}},
            "dropoff_window_too_short",
        ),
        # The robot needs its lead to the pickup and the trip: ten minutes is not enough.
        ({"dropoff_window": {"end_at": at(clock, minutes=10)}}, "dropoff_window_unreachable"),
        (
            {"pickup_ready_at": at(clock, hours=3), "dropoff_window": {"end_at": at(clock,
                                                                                    hours=3)}},
            "dropoff_window_unreachable",
        ),
        ({"dropoff_window": {"start_at": at(clock, hours=3), "end_at": at(clock, hours=2)}},
         "validation_error"),
        ({"dropoff_window": {}}, "validation_error"),
        ({"pickup_ready_at": "2026-01-05T15:00:00"}, "validation_error"),  # no time zone
    ]  # fmt: skip
    for body, code in cases:
        refused = merchant.post("/v1/quotes", {**quote_body(), **body})
        assert (refused.status_code, refused.json()["code"]) == (422, code), body
    # A ready time a moment ago (clocks differ) is taken as "ready now".
    assert (
        merchant.post(
            "/v1/quotes", {**quote_body(), "pickup_ready_at": at(clock, minutes=-2)}
        ).status_code
        == 201
    )


def test_no_robot_is_sent_before_it_can_be_useful(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet,
    clock: ManualClock,
) -> None:  # fmt: skip
    pump = Pump(platform)
    fleet.robot("SW-1")
    lead = timedelta(seconds=platform.settings.robot_pickup_lead_s)
    ready = clock.now() + timedelta(hours=2)
    delivery = merchant.delivery(quote_id=merchant.quote(pickup_ready_at=ready.isoformat())["id"])
    pump()
    assert fleet.dispatch().assigned == 0
    # Long past the assign limit of an on-demand task: a scheduled one is still waiting.
    clock.set(ready - lead - timedelta(seconds=1))
    fleet.robot_report("SW-1", SUNSET)
    report = fleet.dispatch()
    assert (report.assigned, report.no_robot_available) == (0, 0)
    clock.set(ready - lead)
    fleet.robot_report("SW-1", SUNSET)
    assert fleet.dispatch().assigned == 1
    pump()
    assert merchant.get(f"/v1/deliveries/{delivery['id']}").json()["status"] == "assigned"


def test_a_delivery_not_picked_up_when_its_window_ends_fails_and_its_robot_is_stopped(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet,
    clock: ManualClock,
) -> None:  # fmt: skip
    pump = Pump(platform)
    fleet.robot("SW-1")
    end = clock.now() + timedelta(hours=1)
    quote = merchant.quote(dropoff_window={"end_at": end.isoformat()})
    delivery = merchant.delivery(quote_id=quote["id"])
    on_time = merchant.delivery()  # no window: nothing to miss
    pump()
    assert fleet.dispatch().assigned == 1  # one robot: the window's delivery waits on

    clock.set(end - timedelta(seconds=1))
    assert fail_missed_windows(platform.deliveries) == 0
    clock.set(end)
    assert fail_missed_windows(platform.deliveries) == 1
    assert fail_missed_windows(platform.deliveries) == 0
    pump()
    failed = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert (failed["status"], failed["failure_reason"]) == ("failed", "dropoff_window_missed")
    assert failed["attempts"][-1]["status"] == "cancelled"
    timeline = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    events = [e["type"] for e in timeline]
    assert events[-2:] == ["delivery.failed", "attempt.cancelled"]
    with fleet.ctx.uow() as uow:  # the attempt's task is stopped
        stopped = task_of_attempt(uow.session, failed["attempts"][-1]["id"])
        assert stopped is not None
        assert stopped.status == "cancelled"
    assert merchant.get(f"/v1/deliveries/{on_time['id']}").json()["status"] != "failed"


def test_the_ready_time_moves_until_the_robot_is_at_the_pickup(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet,
    clock: ManualClock,
) -> None:  # fmt: skip
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    lead = timedelta(seconds=platform.settings.robot_pickup_lead_s)
    first = clock.now() + timedelta(hours=1)
    end = clock.now() + timedelta(hours=3)
    quote = merchant.quote(
        pickup_ready_at=first.isoformat(), dropoff_window={"end_at": end.isoformat()}
    )
    delivery = merchant.delivery(quote_id=quote["id"])
    pump()
    path = f"/v1/deliveries/{delivery['id']}"

    unreachable = merchant.http.patch(
        path, json={"pickup_ready_at": end.isoformat()}, headers=merchant.auth
    )
    assert (unreachable.status_code, unreachable.json()["code"]) == (
        422, "dropoff_window_unreachable",
    )  # fmt: skip
    assert merchant.get(path).json()["pickup_eta"] == delivery["pickup_eta"]

    later = first + timedelta(minutes=40)
    platform.deliveries.eta.forget()  # the estimate reads the fleet's snapshots afresh
    moved = merchant.http.patch(
        path, json={"pickup_ready_at": later.isoformat()}, headers=merchant.auth
    )
    assert moved.status_code == 200, moved.text
    assert when(moved.json()["pickup_eta"]) == later
    assert when(moved.json()["pickup_ready_at"]) == later
    pump()
    clock.set(first - lead)  # the old time to go: the task now waits for the new one
    fleet.robot_report("SW-1", SUNSET)
    assert fleet.dispatch().assigned == 0
    clock.set(later - lead)
    fleet.robot_report("SW-1", SUNSET)
    assert fleet.dispatch().assigned == 1

    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    for event in ("started", "arrived"):
        fleet.post(token, f"/ops/v1/trips/{task['trips'][0]['id']}/events", {"event": event})
    pump()
    too_late = merchant.http.patch(path, json={"pickup_ready_at": None}, headers=merchant.auth)
    assert (too_late.status_code, too_late.json()["code"]) == (409, "delivery_update_too_late")
