"""Every status change of a delivery is POSTed to the merchant's endpoints that asked for it,
signed as Standard Webhooks specify (checked with the independent library), and retried on the
schedule until accepted or a day has passed; `410 Gone` disables the endpoint; the schedule
lives in the database, so a new sender resumes it, and two senders never send one message
twice. Time is the tests' manual clock; the receiver is a real HTTP server."""

import asyncio
import dataclasses
import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries.webhook_sender import WebhookSender
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.geo import LatLng
from sidewalk.kernel.settings import Settings
from tests.conftest import free_port
from tests.factories import MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import Pump, at, cancelled
from tests.webhook_receiver import Receiver, running_receiver, signature_is_valid

EVERY_STATUS_CHANGE = (
    "delivery.created",
    "delivery.assigned",
    "delivery.enroute_to_pickup",
    "delivery.at_pickup",
    "delivery.enroute_to_dropoff",
    "delivery.at_dropoff",
    "delivery.delivered",
    "delivery.cancelled",
    "delivery.returning",
    "delivery.returned",
    "delivery.failed",
)
WAITS_S = [5, 300, 1800, 7200, 18000, 36000]  # the default schedule
JITTER = 0.1


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The tests run the senders themselves, pass by pass, on the manual clock."""
    return settings.model_copy(update={"webhooks_in_server": False})


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


@pytest.fixture
def sender(platform: Platform) -> WebhookSender:
    return WebhookSender(platform.deliveries)


def send(sender: WebhookSender) -> int:
    return asyncio.run(sender.send_due())


def register(
    merchant: MerchantClient, url: str, events: tuple[str, ...] = EVERY_STATUS_CHANGE
) -> dict[str, Any]:
    response = merchant.post("/v1/webhook-endpoints", {"url": url, "events": list(events)})
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def messages(merchant: MerchantClient, endpoint_id: str, **params: Any) -> list[dict[str, Any]]:
    """The endpoint's log, oldest first."""
    response = merchant.get(f"/v1/webhook-endpoints/{endpoint_id}/deliveries", **params)
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))


def cancel(platform: Platform, merchant: MerchantClient, delivery_id: str) -> dict[str, Any]:
    """The merchant's cancel, answered by the operations service."""
    done = cancelled(platform, merchant, delivery_id)
    assert done["status"] == "cancelled", done
    return done


def test_status_changes_are_sent_to_the_endpoints_that_asked_for_them_signed(
    platform: Platform,
    merchant: MerchantClient,
    rival: MerchantClient,
    receiver: Receiver,
    sender: WebhookSender,
    clock: ManualClock,
) -> None:
    everything = register(merchant, f"{receiver.url}/all")
    delivered_only = register(merchant, f"{receiver.url}/delivered", ("delivery.delivered",))
    cancelled_only = register(merchant, f"{receiver.url}/cancelled", ("delivery.cancelled",))
    register(rival, f"{receiver.url}/rival")
    ordered = merchant.delivery()
    clock.advance(timedelta(minutes=2))
    done = cancel(platform, merchant, ordered["id"])

    assert send(sender) == 3

    log = messages(merchant, everything["id"])
    assert [m["event_type"] for m in log] == ["delivery.created", "delivery.cancelled"]
    assert all(m["status"] == "succeeded" and m["attempt_count"] == 1 for m in log)
    assert messages(merchant, delivered_only["id"]) == []
    assert [m["event_type"] for m in messages(merchant, cancelled_only["id"])] == [
        "delivery.cancelled"
    ]
    assert receiver.at("/rival") == []
    assert receiver.at("/delivered") == []
    created, cancel_hook = sorted(receiver.at("/all"), key=lambda r: r.json["timestamp"])
    assert [created.id, cancel_hook.id] == [m["id"] for m in log]
    assert created.json == {
        "type": "delivery.created",
        "timestamp": ordered["created_at"],
        "data": ordered,
    }
    assert cancel_hook.json == {
        "type": "delivery.cancelled",
        "timestamp": done["status_times"]["cancelled"],
        "data": done,  # the attempt cancelled too: rendered after the whole use case
    }
    assert done["attempts"][0]["status"] == "cancelled"
    for received in receiver.received:
        assert received.headers["content-type"] == "application/json"
        assert received.id.startswith("msg_")
        assert int(received.headers["webhook-timestamp"]) == int(clock.now().timestamp())
        secret = everything["secret"] if received.path == "/all" else cancelled_only["secret"]
        assert signature_is_valid(secret, received)
        assert not signature_is_valid(delivered_only["secret"], received)


def test_a_robot_delivery_tells_every_step_in_order(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    receiver: Receiver,
    sender: WebhookSender,
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks")
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.order(key="order-1").json()
    pump()
    fleet.dispatch()
    pump()
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    for trip in task["trips"]:
        for step in ("started", "arrived", "completed"):
            if (trip["type"], step) == ("to_dropoff", "completed"):
                pin = {"pin": delivery["unlock_pin"]}
                assert fleet.post(token, "/ops/v1/robots/SW-1/unlock", pin).status_code == 200
            answer = fleet.post(token, f"/ops/v1/trips/{trip['id']}/events", {"event": step})
            assert answer.status_code == 200, answer.text
            pump()

    assert send(sender) == 7

    log = messages(merchant, endpoint["id"])
    assert [m["event_type"] for m in log] == [
        "delivery.created",
        "delivery.assigned",
        "delivery.enroute_to_pickup",
        "delivery.at_pickup",
        "delivery.enroute_to_dropoff",
        "delivery.at_dropoff",
        "delivery.delivered",
    ]
    by_id = {r.id: r.json for r in receiver.received}
    statuses = [by_id[m["id"]]["data"]["status"] for m in log]
    assert statuses == ["pending", *[m["event_type"].removeprefix("delivery.") for m in log[1:]]]
    last = by_id[log[-1]["id"]]["data"]
    assert last == merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    assert last["attempts"][0]["status"] == "succeeded"
    assert all(signature_is_valid(endpoint["secret"], r) for r in receiver.received)


def test_a_failing_receiver_gets_retries_on_the_schedule_and_then_the_same_message(
    merchant: MerchantClient, receiver: Receiver, sender: WebhookSender, clock: ManualClock
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    receiver.status = 503
    merchant.delivery()
    first_try = clock.now()

    assert send(sender) == 1
    for attempts, wait in enumerate(WAITS_S[:4], start=1):
        (message,) = messages(merchant, endpoint["id"])
        assert message["status"] == "pending"
        assert message["attempt_count"] == attempts
        assert message["last_status_code"] == 503
        due = at(message["next_attempt_at"])
        assert wait * (1 - JITTER) <= (due - clock.now()).total_seconds() <= wait * (1 + JITTER)
        clock.set(due - timedelta(seconds=1))
        assert send(sender) == 0  # not yet
        clock.set(due)
        assert send(sender) == 1
    receiver.status = 200
    clock.set(at(messages(merchant, endpoint["id"])[0]["next_attempt_at"]))
    assert send(sender) == 1

    (message,) = messages(merchant, endpoint["id"])
    assert message["status"] == "succeeded"
    assert message["attempt_count"] == 6
    assert message["next_attempt_at"] is None
    assert at(message["finished_at"]) == clock.now()
    assert [a["status_code"] for a in message["attempts"]] == [503] * 5 + [200]
    assert at(message["attempts"][0]["attempted_at"]) == first_try
    assert {r.id for r in receiver.received} == {message["id"]}
    assert len({r.body for r in receiver.received}) == 1
    stamps = [int(r.headers["webhook-timestamp"]) for r in receiver.received]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 6  # each attempt signs anew
    assert all(signature_is_valid(endpoint["secret"], r) for r in receiver.received)


def test_a_message_not_accepted_within_a_day_fails(
    merchant: MerchantClient, receiver: Receiver, sender: WebhookSender, clock: ManualClock
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    receiver.status = 500
    merchant.delivery()
    first_try = clock.now()

    passes = 0
    while (message := messages(merchant, endpoint["id"])[0])["status"] == "pending":
        if message["next_attempt_at"] is not None:
            clock.set(max(clock.now(), at(message["next_attempt_at"])))
        assert send(sender) == 1
        passes += 1
        assert passes < 20

    assert message["status"] == "failed"
    assert message["attempt_count"] == 8  # at once, then the six waits, then at the day's end
    assert at(message["attempts"][-1]["attempted_at"]) == first_try + timedelta(days=1)
    assert message["next_attempt_at"] is None
    clock.advance(timedelta(days=3))
    assert send(sender) == 0
    assert len(receiver.received) == 8


def test_a_receiver_that_cannot_be_reached_or_is_too_slow_is_tried_again(
    platform: Platform, merchant: MerchantClient, receiver: Receiver, clock: ManualClock
) -> None:
    closed = register(merchant, f"http://127.0.0.1:{free_port()}/hooks", ("delivery.created",))
    slow = register(merchant, f"{receiver.url}/slow", ("delivery.created",))
    receiver.delay_s = 1.0
    quick = dataclasses.replace(
        platform.deliveries,
        settings=platform.settings.model_copy(update={"webhook_timeout_s": 0.2}),
    )
    merchant.delivery()

    assert send(WebhookSender(quick)) == 2

    (refused,) = messages(merchant, closed["id"])
    assert refused["status"] == "pending"
    assert refused["last_status_code"] is None
    assert "ConnectError" in refused["last_error"]
    assert len(refused["last_error"]) <= 200
    (timed_out,) = messages(merchant, slow["id"])
    assert timed_out["status"] == "pending"
    assert timed_out["last_error"] == "no answer within 0.2 s"
    assert timed_out["attempts"][0]["status_code"] is None
    assert at(timed_out["next_attempt_at"]) > clock.now()


def test_410_gone_disables_the_endpoint_and_ends_its_waiting_messages(
    platform: Platform,
    merchant: MerchantClient,
    receiver: Receiver,
    sender: WebhookSender,
    clock: ManualClock,
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks")
    receiver.status = 503
    delivery = merchant.delivery()
    assert send(sender) == 1  # delivery.created, to be tried again in about 5 s
    receiver.status = 410
    cancel(platform, merchant, delivery["id"])

    assert send(sender) == 1  # only delivery.cancelled is due

    seen = merchant.get(f"/v1/webhook-endpoints/{endpoint['id']}").json()
    assert seen["status"] == "disabled"
    assert at(seen["disabled_at"]) == clock.now()
    assert "410" in seen["disabled_reason"]
    assert merchant.get("/v1/webhook-endpoints").json()["data"] == [seen]
    created, gone = messages(merchant, endpoint["id"])
    assert (gone["status"], gone["last_status_code"]) == ("failed", 410)
    assert (created["status"], created["attempt_count"]) == ("failed", 1)
    assert "disabled" in created["last_error"]
    clock.advance(timedelta(hours=1))
    merchant.delivery()
    assert send(sender) == 0
    assert len(messages(merchant, endpoint["id"])) == 2  # nothing more is queued for it


def test_a_deleted_endpoint_gets_nothing_more(
    merchant: MerchantClient, receiver: Receiver, sender: WebhookSender, clock: ManualClock
) -> None:
    kept = register(merchant, f"{receiver.url}/kept", ("delivery.created",))
    deleted = register(merchant, f"{receiver.url}/deleted", ("delivery.created",))
    merchant.delivery()

    response = merchant.http.delete(f"/v1/webhook-endpoints/{deleted['id']}", headers=merchant.auth)
    assert response.status_code == 204
    merchant.delivery()
    assert send(sender) == 2

    assert receiver.at("/deleted") == []
    assert len(receiver.at("/kept")) == 2
    assert [m["status"] for m in messages(merchant, kept["id"])] == ["succeeded"] * 2


def test_a_new_sender_resumes_the_schedule_kept_in_the_database(
    settings: Settings, clock: ManualClock, merchant: MerchantClient, receiver: Receiver
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    receiver.status = 503
    merchant.delivery()
    first = bootstrap(settings, clock=clock)
    assert send(WebhookSender(first.deliveries)) == 1
    first.close()  # the process stops

    restarted = bootstrap(settings, clock=clock)
    try:
        again = WebhookSender(restarted.deliveries)
        assert send(again) == 0  # its retry is not due yet
        (message,) = messages(merchant, endpoint["id"])
        receiver.status = 200
        clock.set(at(message["next_attempt_at"]))
        assert send(again) == 1
    finally:
        restarted.close()

    (message,) = messages(merchant, endpoint["id"])
    assert (message["status"], message["attempt_count"]) == ("succeeded", 2)
    assert [r.id for r in receiver.received] == [message["id"]] * 2
    assert all(signature_is_valid(endpoint["secret"], r) for r in receiver.received)


def die_mid_send(sender: WebhookSender) -> None:
    """The sender stops half a second into a send the receiver takes a second to answer."""

    async def cut_short() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(sender.send_due(), timeout=0.5)

    asyncio.run(cut_short())


def test_a_message_whose_sender_died_mid_send_is_sent_again_when_its_lease_ends(
    platform: Platform, merchant: MerchantClient, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    receiver.delay_s = 1.0
    merchant.delivery()
    die_mid_send(WebhookSender(platform.deliveries))
    (leased,) = messages(merchant, endpoint["id"])
    assert (leased["status"], leased["attempt_count"]) == ("pending", 0)
    survivor = WebhookSender(platform.deliveries)
    assert send(survivor) == 0  # the lease still holds
    clock.set(at(leased["next_attempt_at"]))
    assert send(survivor) == 1

    (message,) = messages(merchant, endpoint["id"])
    assert message["status"] == "succeeded"
    assert [r.id for r in receiver.received] == [message["id"]] * 2  # at least once, one id


def test_a_shorter_lease_is_taken_from_the_settings(
    platform: Platform, merchant: MerchantClient, receiver: Receiver, clock: ManualClock
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    receiver.delay_s = 1.0
    merchant.delivery()
    short = dataclasses.replace(
        platform.deliveries,
        settings=platform.settings.model_copy(update={"webhook_lease_s": 12.0}),
    )
    die_mid_send(WebhookSender(short))
    (leased,) = messages(merchant, endpoint["id"])
    assert at(leased["next_attempt_at"]) == clock.now() + timedelta(seconds=12)


def test_two_senders_at_once_never_send_one_message_twice(
    platform: Platform, merchant: MerchantClient, receiver: Receiver
) -> None:
    """On PostgreSQL each claim skips the messages another sender holds (SKIP LOCKED); SQLite
    has one writer at a time."""
    endpoints = [register(merchant, f"{receiver.url}/{n}") for n in range(3)]
    for _ in range(5):
        cancel(platform, merchant, merchant.delivery()["id"])
    receiver.delay_s = 0.02
    narrow = dataclasses.replace(
        platform.deliveries,
        settings=platform.settings.model_copy(update={"webhook_max_in_flight": 3}),
    )
    first, second = WebhookSender(narrow), WebhookSender(narrow)

    async def both() -> list[int]:
        return list(await asyncio.gather(first.send_due(), second.send_due()))

    counts = asyncio.run(both())

    assert sum(counts) == 30
    ids = [r.id for r in receiver.received]
    assert len(ids) == len(set(ids)) == 30
    logged = [m for e in endpoints for m in messages(merchant, e["id"], limit=100)]
    assert {m["id"] for m in logged} == set(ids)
    assert all(m["attempt_count"] == 1 and m["status"] == "succeeded" for m in logged)


def test_the_log_is_paged_newest_first(
    merchant: MerchantClient, receiver: Receiver, sender: WebhookSender, clock: ManualClock
) -> None:
    endpoint = register(merchant, f"{receiver.url}/hooks", ("delivery.created",))
    for _ in range(3):
        merchant.delivery()
        clock.advance(timedelta(seconds=1))
    receiver.status = 503
    send(sender)
    log = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"

    pages, cursor = [], None
    while True:
        page = merchant.get(log, limit=2, **({"cursor": cursor} if cursor else {})).json()
        pages.append([m["id"] for m in page["data"]])
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]

    everything = [m["id"] for m in reversed(messages(merchant, endpoint["id"]))]
    assert pages == [everything[:2], everything[2:]]
    created = [at(m["created_at"]) for m in merchant.get(log).json()["data"]]
    assert created == sorted(created, reverse=True)
    assert merchant.get(log, status="succeeded").json()["data"] == []
    assert len(merchant.get(log, status="pending").json()["data"]) == 3


def test_ordering_without_endpoints_asks_the_database_about_webhooks_once(
    platform: Platform, merchant: MerchantClient
) -> None:
    quote = merchant.quote()
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    # Every engine's: on PostgreSQL orders are written over engines of the event loop's own.
    event.listen(Engine, "before_cursor_execute", seen)
    try:
        assert merchant.order(quote["id"]).status_code == 201
    finally:
        event.remove(Engine, "before_cursor_execute", seen)

    about_webhooks = [s for s in statements if "webhook" in s]
    assert len(about_webhooks) == 1
    assert "webhook_endpoints.merchant_id" in about_webhooks[0]


def test_the_robots_location_is_told_only_to_endpoints_that_ask_at_most_every_interval(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    receiver: Receiver,
    sender: WebhookSender,
    clock: ManualClock,
) -> None:
    where = register(merchant, f"{receiver.url}/where", ("delivery.courier_location",))
    statuses = register(merchant, f"{receiver.url}/statuses")
    pump = Pump(platform)
    token = fleet.robot("SW-1")
    delivery = merchant.delivery()
    pump()
    fleet.dispatch()
    task = fleet.get(token, "/ops/v1/robots/SW-1/task").json()
    fleet.post(token, f"/ops/v1/trips/{task['trips'][0]['id']}/events", {"event": "started"})
    pump()
    interval = platform.settings.webhook_location_interval_s
    every = platform.settings.robot_position_event_s
    steps = int(3 * interval / every)  # positions for three intervals
    for i in range(steps):
        clock.advance(timedelta(seconds=every))
        fleet.robot_report("SW-1", LatLng(34.0901 - 0.0001 * i, -118.3617))
        pump()

    told = messages(merchant, where["id"])
    assert [m["event_type"] for m in told] == ["delivery.courier_location"] * 3
    assert all(m["event_type"] != "delivery.courier_location"
               for m in messages(merchant, statuses["id"]))  # fmt: skip
    send(sender)
    bodies = sorted((r.json for r in receiver.at("/where")), key=lambda b: b["timestamp"])
    times = [datetime.fromisoformat(b["data"]["courier_location"]["at"]) for b in bodies]
    assert all(b - a >= timedelta(seconds=interval) for a, b in itertools.pairwise(times))
    assert bodies[-1]["data"]["id"] == delivery["id"]
    timeline = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    assert "delivery.courier_location" not in {e["type"] for e in timeline}
