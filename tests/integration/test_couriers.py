"""Courier attempts carried out by the simulated courier network, with only events between
the parts: the deliveries service asks the network for a job (its own `attempt.requested`
heard by the couriers side), the network moves the job along as the manual clock advances and
pushes its updates, which move the attempt and the delivery the merchant reads."""

import threading
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform, bootstrap
from sidewalk.deliveries.domain import CourierStatus
from sidewalk.deliveries.providers.courier import (
    CourierPlace,
    CourierRejected,
    CourierRequest,
    CourierUpdate,
    UpdateSink,
)
from sidewalk.deliveries.providers.courier_timeline import SimParams
from sidewalk.deliveries.providers.courier_updates import apply_courier_update
from sidewalk.deliveries.providers.registry import courier_provider
from sidewalk.deliveries.providers.simulated_courier import SimulatedCourierNetwork
from sidewalk.kernel.bus import Bus, Handler, MemoryBus, Subscription
from sidewalk.kernel.clock import ManualClock
from sidewalk.kernel.settings import Settings
from tests.factories import DOWNTOWN, MerchantClient
from tests.fleet import Fleet
from tests.integration.helpers import SOUTH_PARK
from tests.integration.test_bus import NATS_URL, _delete_stream, fast_nats_bus, nats_or_skip, run
from tests.integration.test_events_runtime import eventually
from tests.runtime import running_events

CUSTOMER = {"name": "Ana Ruiz", "phone": "+13105550100"}
SERVICES = ("deliveries", "operations", "couriers")
LATER = timedelta(hours=3)  # longer than any courier job here takes

# What the timeline of a courier delivery says, step by step, when nothing goes wrong.
DELIVERED_TIMELINE = [
    "delivery.created",
    "attempt.requested",
    "attempt.assigned",
    "delivery.assigned",
    "attempt.in_progress",
    "delivery.enroute_to_pickup",
    "delivery.at_pickup",
    "delivery.enroute_to_dropoff",
    "delivery.at_dropoff",
    "attempt.succeeded",
    "delivery.delivered",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Couriers that never fail unless a test says so, ticking often (in wall time)."""
    return settings.model_copy(
        update={"courier_failure_rate": 0.0, "courier_sim_tick_s": 0.02, "courier_sim_seed": 3}
    )


class TwiceBus(MemoryBus):
    """Hands every event to each consumer twice, as an at-least-once bus may."""

    async def subscribe(
        self, consumer: str, handler: Handler, *, types: Collection[str] | None = None
    ) -> Subscription:
        async def twice(event: Any) -> None:
            await handler(event)
            await handler(event)

        return await super().subscribe(consumer, twice, types=types)


def fast_bus() -> MemoryBus:
    return MemoryBus(retry_backoff=0.05, max_retry_backoff=0.2)


@contextmanager
def running(platform: Platform, make_bus: Callable[[], Bus] = fast_bus) -> Iterator[None]:
    """Both services and the couriers side on an in-process bus, on a thread of their own."""
    with running_events(platform, make_bus, SERVICES):
        yield


def network(
    platform: Platform,
    sink: UpdateSink | None = None,
    max_distance_m: int | None = None,
    **params: Any,
) -> None:
    """Give the platform a simulated network of other behaviour (before it runs)."""
    s = platform.settings
    base = SimParams(
        s.courier_accept_delay_s,
        s.courier_speed_mps,
        s.detour_factor,
        s.courier_failure_rate,
        s.courier_sim_seed,
    )
    platform.couriers = SimulatedCourierNetwork(
        platform.deliveries.uow,
        platform.clock,
        replace(base, **params),
        sink=sink or (lambda u: apply_courier_update(platform.deliveries, u)),
        max_distance_m=max_distance_m or s.courier_max_distance_m,
        tick_s=s.courier_sim_tick_s,
    )


def courier_order(merchant: MerchantClient) -> dict[str, Any]:
    quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)
    assert quote["provider"] == "courier"
    return merchant.delivery(quote_id=quote["id"], customer=CUSTOMER)


def seen(merchant: MerchantClient, delivery: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = merchant.get(f"/v1/deliveries/{delivery['id']}").json()
    return body


def timeline(merchant: MerchantClient, delivery: dict[str, Any]) -> list[str]:
    events = merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()["data"]
    return [e["type"] for e in events if e["type"].split(".")[0] in {"delivery", "attempt"}]


def job_of(merchant: MerchantClient, delivery: dict[str, Any], attempt: int = -1) -> str:
    """The courier job id of the delivery's attempt, once the network has one."""

    def job() -> str | None:
        attempts = seen(merchant, delivery)["attempts"]
        return (
            attempts[attempt]["provider_id"] if attempts[attempt]["provider"] == "courier" else None
        )

    found: str = eventually(job, "the courier network took the job")
    return found


def wait_for(merchant: MerchantClient, delivery: dict[str, Any], status: str) -> dict[str, Any]:
    found: dict[str, Any] = eventually(
        lambda: (body := seen(merchant, delivery))["status"] == status and body,
        f"the delivery became {status}",
    )
    return found


def accepted_not_arrived(platform: Platform) -> timedelta:
    """Past the longest acceptance delay (+25 %), short of the quickest ride to the pickup."""
    return timedelta(seconds=platform.settings.courier_accept_delay_s * 1.25 + 1)


def between(value: float, a: float, b: float) -> bool:
    return min(a, b) - 1e-9 <= value <= max(a, b) + 1e-9


def test_a_courier_quote_is_delivered_by_the_courier_network_as_time_passes(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    assert platform.couriers is not None
    with running(platform):
        delivery = courier_order(merchant)
        job = platform.couriers.get(job_of(merchant, delivery))
        assert job.external_id == delivery["latest_attempt_id"]
        assert job.status is CourierStatus.CREATED
        assert seen(merchant, delivery)["status"] == "pending"

        assert job.pickup_eta is not None
        assert job.dropoff_eta is not None
        clock.set(job.pickup_eta + timedelta(minutes=4))  # picked up, riding to the dropoff
        riding = wait_for(merchant, delivery, "enroute_to_dropoff")
        where = riding["courier_location"]
        assert between(where["lat"], DOWNTOWN["lat"], SOUTH_PARK["lat"])
        assert between(where["lng"], DOWNTOWN["lng"], SOUTH_PARK["lng"])
        assert riding["attempts"][0]["status"] == "in_progress"

        clock.set(job.dropoff_eta)
        done = wait_for(merchant, delivery, "delivered")
    assert [(a["provider"], a["status"]) for a in done["attempts"]] == [("courier", "succeeded")]
    assert done["attempts"][0]["provider_id"] == job.id
    # The courier checked the customer's PIN, as the network reports with the handover.
    handover = done["handover"]
    assert (handover["by"], handover["proof"]) == ("courier", "pin")
    assert (handover["lat"], handover["lng"]) == (SOUTH_PARK["lat"], SOUTH_PARK["lng"])
    assert (done["courier_location"]["lat"], done["courier_location"]["lng"]) == (
        SOUTH_PARK["lat"],
        SOUTH_PARK["lng"],
    )
    times = done["status_times"]
    order = [
        "pending",
        "assigned",
        "enroute_to_pickup",
        "at_pickup",
        "enroute_to_dropoff",
        "at_dropoff",
        "delivered",
    ]
    assert list(times) == order
    assert [times[s] for s in order] == sorted(times[s] for s in order)
    assert timeline(merchant, delivery) == DELIVERED_TIMELINE
    assert platform.couriers.get(job.id).status is CourierStatus.DELIVERED


def test_a_scheduled_courier_job_is_offered_to_couriers_only_before_its_pickup_time(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    assert platform.couriers is not None
    ready = clock.now() + timedelta(hours=4)
    with running(platform):
        quote = merchant.quote(
            pickup=DOWNTOWN, dropoff=SOUTH_PARK, pickup_ready_at=ready.isoformat()
        )
        assert quote["provider"] == "courier"
        delivery = merchant.delivery(quote_id=quote["id"], customer=CUSTOMER)
        job = platform.couriers.get(job_of(merchant, delivery))
        assert job.pickup_eta is not None
        assert job.dropoff_eta is not None
        assert ready <= job.pickup_eta < ready + timedelta(minutes=30)
        clock.set(ready - timedelta(hours=1))  # no courier has taken it yet
        assert platform.couriers.get(job.id).status is CourierStatus.CREATED
        clock.set(job.dropoff_eta)
        wait_for(merchant, delivery, "delivered")


@pytest.mark.parametrize(
    ("action", "status", "taken"),
    [
        ("return", "returned", "returned"),
        ("leave_at_door", "delivered", "left_at_door"),
        ("dispose", "failed", "disposed"),
    ],
)
def test_a_courier_nobody_meets_at_the_door_does_as_the_delivery_says(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    clock: ManualClock,
    action: str,
    status: str,
    taken: str,
) -> None:
    network(platform, undeliverable_rate=1.0)
    assert platform.couriers is not None
    with running(platform):
        quote = merchant.quote(pickup=DOWNTOWN, dropoff=SOUTH_PARK)
        delivery = merchant.delivery(
            quote_id=quote["id"], customer=CUSTOMER, undeliverable_action=action
        )
        job_of(merchant, delivery)
        clock.advance(LATER)
        done = wait_for(merchant, delivery, status)
    assert done["undeliverable"]["action_taken"] == taken
    assert done["undeliverable"]["reason"] == "customer_unavailable"
    assert done["attempts"][0]["status"] == ("succeeded" if status == "delivered" else "failed")
    if status == "delivered":
        assert done["handover"]["proof"] == "none"
    events = [e["type"] for e in merchant.get(f"/v1/deliveries/{delivery['id']}/events").json()[
        "data"]]  # fmt: skip
    assert events.count("delivery.undeliverable") == 1


def test_a_robot_fault_before_pickup_hands_the_delivery_to_a_courier_who_delivers_it(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    fleet: Fleet,
    clock: ManualClock,
) -> None:
    token = fleet.robot("SW-1")
    with running(platform):
        delivery = merchant.delivery(customer=CUSTOMER)

        def robot_task() -> dict[str, Any] | None:
            fleet.dispatch()
            answer = fleet.get(token, "/ops/v1/robots/SW-1/task")
            return answer.json() if answer.status_code == 200 else None

        task = eventually(robot_task, "the robot got the delivery's task")
        trip = task["trips"][0]["id"]
        assert fleet.post(token, f"/ops/v1/trips/{trip}/events", {"event": "started"}).is_success
        fault = {"lat": 34.0890, "lng": -118.3650, "battery_pct": 70, "state": "fault"}
        assert fleet.post(token, "/ops/v1/robots/SW-1/telemetry", fault).is_success
        job_of(merchant, delivery)
        clock.advance(LATER)
        done = wait_for(merchant, delivery, "delivered")

        robot_attempt = done["attempts"][0]["id"]
        stale = CourierUpdate(
            provider="simulated",
            event_id="cev_stale",
            job_id="csj_elsewhere",
            external_id=robot_attempt,
            status=CourierStatus.FAILED,
            occurred_at=clock.now(),
        )
        apply_courier_update(platform.deliveries, stale)  # news of an attempt long over
    assert [(a["provider"], a["status"]) for a in done["attempts"]] == [
        ("robot", "failed"),
        ("courier", "succeeded"),
    ]
    assert [a["sequence"] for a in done["attempts"]] == [1, 2]
    assert done["latest_attempt_id"] == done["attempts"][1]["id"]
    assert seen(merchant, delivery) == done


def test_when_no_courier_can_do_it_the_delivery_fails_with_the_reason(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    network(platform, failure_rate=1.0)
    cap = platform.settings.default_max_attempts
    with running(platform):
        delivery = courier_order(merchant)
        for n in range(1, cap + 1):  # another courier after each failure, up to the cap
            eventually(lambda n=n: len(seen(merchant, delivery)["attempts"]) == n, "an attempt")
            job_of(merchant, delivery)
            clock.advance(LATER)
        failed = wait_for(merchant, delivery, "failed")
    assert failed["failure_reason"] in {"no_courier_available", "courier_failed"}
    assert [a["status"] for a in failed["attempts"]] == ["failed"] * cap
    assert failed["attempts"][-1]["failure_reason"] == failed["failure_reason"]
    assert timeline(merchant, delivery)[-2:] == ["attempt.failed", "delivery.failed"]


def test_a_job_the_network_refuses_fails_the_delivery_with_its_reason(
    platform: Platform, client: TestClient, merchant: MerchantClient
) -> None:
    network(platform, max_distance_m=500)
    with running(platform):
        delivery = courier_order(merchant)
        failed = wait_for(merchant, delivery, "failed")
    assert failed["failure_reason"] == "distance_too_long"
    assert failed["attempts"][0]["status"] == "failed"
    assert failed["attempts"][0]["provider_id"] is None


def test_an_unknown_courier_provider_is_refused_when_the_platform_is_wired(
    platform: Platform, settings: Settings
) -> None:
    unknown = settings.model_copy(update={"courier_provider": "carrier-pigeon"})
    with pytest.raises(ValueError, match="simulated"):
        courier_provider(
            unknown, uow=platform.deliveries.uow, clock=platform.clock, sink=lambda _: None
        )


def test_a_cancel_before_pickup_cancels_the_courier_job(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    assert platform.couriers is not None
    couriers = platform.couriers
    with running(platform):
        delivery = courier_order(merchant)
        job = couriers.get(job_of(merchant, delivery))
        clock.advance(accepted_not_arrived(platform))
        wait_for(merchant, delivery, "enroute_to_pickup")

        cancelled = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "oops"})
        assert cancelled.json()["status"] == "cancelled"
        eventually(
            lambda: couriers.get(job.id).status is CourierStatus.CANCELLED,
            "the network cancelled the job",
        )
        clock.advance(LATER)
        eventually(lambda: couriers.get(job.id).status is CourierStatus.CANCELLED, "still")
        after = seen(merchant, delivery)
    assert after["status"] == "cancelled"
    assert after["attempts"][0]["status"] == "cancelled"
    assert timeline(merchant, delivery).count("delivery.cancelled") == 1


def test_a_cancel_after_pickup_brings_the_goods_back(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    assert platform.couriers is not None
    couriers = platform.couriers
    with running(platform):
        delivery = courier_order(merchant)
        job = couriers.get(job_of(merchant, delivery))
        assert job.pickup_eta is not None
        clock.set(job.pickup_eta + timedelta(minutes=4))
        wait_for(merchant, delivery, "enroute_to_dropoff")

        turned = merchant.post(f"/v1/deliveries/{delivery['id']}/cancel", {"reason": "oops"})
        assert turned.json()["status"] == "returning"
        eventually(
            lambda: couriers.get(job.id).status is CourierStatus.RETURNING,
            "the courier turned back",
        )
        clock.advance(LATER)
        back = wait_for(merchant, delivery, "returned")
    assert back["attempts"][0]["status"] == "cancelled"
    assert (back["courier_location"]["lat"], back["courier_location"]["lng"]) == (
        DOWNTOWN["lat"],
        DOWNTOWN["lng"],
    )
    assert timeline(merchant, delivery)[-3:] == [
        "delivery.returning",
        "attempt.cancelled",
        "delivery.returned",
    ]


def test_every_event_and_update_delivered_twice_ends_the_same(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    def twice(update: CourierUpdate) -> None:
        apply_courier_update(platform.deliveries, update)
        apply_courier_update(platform.deliveries, update)

    network(platform, sink=twice)
    with running(platform, TwiceBus):
        delivery = courier_order(merchant)
        job_of(merchant, delivery)
        clock.advance(LATER)
        done = wait_for(merchant, delivery, "delivered")
    assert [(a["provider"], a["status"]) for a in done["attempts"]] == [("courier", "succeeded")]
    assert timeline(merchant, delivery) == DELIVERED_TIMELINE


def test_a_restarted_network_resumes_its_jobs(
    platform: Platform,
    client: TestClient,
    merchant: MerchantClient,
    clock: ManualClock,
    settings: Settings,
) -> None:
    assert platform.couriers is not None
    with running(platform):
        delivery = courier_order(merchant)
        job = platform.couriers.get(job_of(merchant, delivery))
        clock.advance(accepted_not_arrived(platform))
        wait_for(merchant, delivery, "enroute_to_pickup")

    restarted = bootstrap(settings, clock=clock)  # another process: new objects, same database
    try:
        clock.advance(LATER)
        with running(restarted):
            done = wait_for(merchant, delivery, "delivered")
        assert restarted.couriers is not None
        assert restarted.couriers.get(job.id).status is CourierStatus.DELIVERED
    finally:
        restarted.close()
    assert done["attempts"][0]["provider_id"] == job.id
    assert timeline(merchant, delivery) == DELIVERED_TIMELINE


def test_two_networks_on_one_database_push_every_update(
    platform: Platform, clock: ManualClock
) -> None:
    """Two processes running the network at once: each update is pushed (on PostgreSQL by
    exactly one of them), in order per job, and every job ends."""
    pushed: list[CourierUpdate] = []
    lock = threading.Lock()

    def record(update: CourierUpdate) -> None:
        with lock:
            pushed.append(update)

    networks = []
    for _ in range(2):
        network(platform, sink=record)
        assert isinstance(platform.couriers, SimulatedCourierNetwork)
        networks.append(platform.couriers)
    place = CourierPlace(DOWNTOWN["lat"], DOWNTOWN["lng"], DOWNTOWN["full_address"])
    there = CourierPlace(SOUTH_PARK["lat"], SOUTH_PARK["lng"], SOUTH_PARK["full_address"])
    jobs = [networks[n % 2].create(CourierRequest(f"att_test{n}", place, there)) for n in range(12)]
    assert networks[1].create(CourierRequest("att_test0", place, there)) == jobs[0]
    clock.advance(LATER)
    barrier = threading.Barrier(2)

    def advance(n: int) -> None:
        barrier.wait()
        while networks[n].advance(clock.now()):
            pass

    threads = [threading.Thread(target=advance, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    shared_by_locks = platform.deliveries_engine.dialect.name == "postgresql"
    for job in jobs:
        mine = [u for u in pushed if u.job_id == job.id]
        distinct = {u.event_id: u for u in mine}.values()
        statuses = [u.status for u in sorted(distinct, key=lambda u: u.occurred_at)]
        assert statuses[0] is CourierStatus.CONFIRMED
        assert statuses[-1] is CourierStatus.DELIVERED
        assert networks[0].get(job.id).status is CourierStatus.DELIVERED
        if shared_by_locks:  # one process pushed each job, in order; SQLite may push twice
            assert len(distinct) == len(mine)
            assert [u.status for u in mine] == statuses


def test_a_courier_delivery_over_nats(
    platform: Platform, client: TestClient, merchant: MerchantClient, clock: ManualClock
) -> None:
    """The couriers side's durable consumer on NATS JetStream hears the deliveries service."""
    nats_or_skip()
    tag = uuid.uuid4().hex[:12]
    try:
        with running(
            platform, lambda: fast_nats_bus(NATS_URL, stream=f"TEST_{tag}", prefix=f"test_{tag}")
        ):
            delivery = courier_order(merchant)
            job_of(merchant, delivery)
            clock.advance(LATER)
            done = wait_for(merchant, delivery, "delivered")
    finally:
        run(_delete_stream(f"TEST_{tag}"))
    assert timeline(merchant, delivery) == DELIVERED_TIMELINE
    assert done["attempts"][0]["status"] == "succeeded"


def test_the_network_quotes_a_price_and_times_and_knows_only_its_own_jobs(
    platform: Platform, clock: ManualClock
) -> None:
    assert platform.couriers is not None
    place = CourierPlace(DOWNTOWN["lat"], DOWNTOWN["lng"], DOWNTOWN["full_address"])
    there = CourierPlace(SOUTH_PARK["lat"], SOUTH_PARK["lng"], SOUTH_PARK["full_address"])
    quote = platform.couriers.quote(CourierRequest("att_quoted", place, there, currency="EUR"))
    assert quote.fee.currency == "EUR"
    assert quote.fee.amount_cents > 0
    assert clock.now() < quote.pickup_eta < quote.dropoff_eta
    assert quote.expires_at > clock.now()
    with pytest.raises(CourierRejected) as unknown:
        platform.couriers.get("csj_unknown")
    assert unknown.value.code == "job_not_found"
    with pytest.raises(CourierRejected) as far:
        platform.couriers.create(CourierRequest("att_far", place, CourierPlace(40.7, -74.0, "NY")))
    assert far.value.code == "distance_too_long"
