"""Proof of delivery suited to robots: each delivery has an unlock PIN, given to the merchant
and on the tracking page; the compartment opens at the door only with it (or for a pilot who
says why); wrong PINs open nothing and, five of them, only a pilot can open it; the handover
is recorded with its time, place and proof, and a robot's dropoff cannot complete without
it. A courier's proof comes from its network."""

from typing import Any
from urllib.parse import urlsplit

from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.operations.domain import OperatorRole
from sidewalk.operations.doorstep import MAX_WRONG_PINS
from tests.factories import MerchantClient
from tests.fleet import MAIN_ST, Fleet
from tests.integration.helpers import Pump


def values(document: Any) -> set[str]:
    """Every scalar in a JSON document, as text (ids are random and may hold any 4 digits)."""
    if isinstance(document, dict):
        return set().union(*(values(v) for v in document.values())) if document else set()
    if isinstance(document, list):
        return set().union(*(values(v) for v in document)) if document else set()
    return {str(document)}


class RobotAtDoor:
    """A robot delivery driven over the ops API up to the door."""

    def __init__(
        self, platform: Platform, merchant: MerchantClient, fleet: Fleet, **order: Any
    ) -> None:
        self.pump, self.merchant, self.fleet = Pump(platform), merchant, fleet
        self.token = fleet.robot("SW-1")
        self.delivery = merchant.delivery(**order)
        self.pump()
        fleet.dispatch()
        task = fleet.get(self.token, "/ops/v1/robots/SW-1/task").json()
        self.to_pickup, self.to_dropoff = task["trips"]
        for event in ("started", "arrived", "completed"):
            self.trip(self.to_pickup, event)
        self.trip(self.to_dropoff, "started")
        fleet.robot_report("SW-1", MAIN_ST)

    def trip(self, trip: dict[str, Any], event: str) -> None:
        answer = self.fleet.post(self.token, f"/ops/v1/trips/{trip['id']}/events", {"event": event})
        assert answer.status_code == 200, answer.text

    def arrive(self) -> None:
        self.trip(self.to_dropoff, "arrived")
        self.pump()

    def unlock(self, body: dict[str, Any], token: str | None = None) -> Any:
        return self.fleet.post(token or self.token, "/ops/v1/robots/SW-1/unlock", body)

    def seen(self) -> dict[str, Any]:
        self.pump()
        body: dict[str, Any] = self.merchant.get(f"/v1/deliveries/{self.delivery['id']}").json()
        return body


def wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 10_000:04d}"


def test_the_compartment_opens_at_the_door_with_the_pin_only(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet)
    pin = run.delivery["unlock_pin"]
    assert len(pin) == 4
    assert pin.isdigit()
    token = urlsplit(run.delivery["tracking_url"]).path.rsplit("/", 1)[-1]
    tracking = client.get(f"/track/{token}/status").json()
    assert tracking["unlock_pin"] == pin

    early = run.unlock({"pin": pin})
    assert (early.status_code, early.json()["code"]) == (409, "not_at_dropoff")
    run.arrive()
    refused = run.unlock({"pin": wrong(pin)})
    assert (refused.status_code, refused.json()["code"]) == (403, "wrong_pin")
    assert refused.json()["tries_left"] == MAX_WRONG_PINS - 1
    assert run.seen()["handover"] is None
    assert run.unlock({}).status_code == 422  # a robot must give the PIN

    opened = run.unlock({"pin": pin})
    assert opened.status_code == 200, opened.text
    assert opened.json()["by"] == "pin"
    assert run.unlock({"pin": pin}).json() == opened.json()  # a retry answers the same
    handover = run.seen()["handover"]
    assert (handover["by"], handover["proof"]) == ("robot", "pin")
    assert (handover["lat"], handover["lng"]) == (MAIN_ST.lat, MAIN_ST.lng)
    run.trip(run.to_dropoff, "completed")
    done = run.seen()
    assert done["status"] == "delivered"
    assert done["handover"] == handover
    events = merchant.get(f"/v1/deliveries/{run.delivery['id']}/events").json()["data"]
    unlocked = [e["data"] for e in events if e["type"] == "delivery.unlocked"]
    assert unlocked == [{"attempt_id": run.delivery["latest_attempt_id"], "proof": "pin"}]
    assert pin not in values(events)  # the timeline goes to the warehouse: never the PIN
    assert client.get(f"/track/{token}/status").json()["unlock_pin"] is None  # ended


def test_after_five_wrong_pins_only_a_pilot_opens_it_and_says_why(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet)
    pin = run.delivery["unlock_pin"]
    run.arrive()
    for _ in range(MAX_WRONG_PINS):
        assert run.unlock({"pin": wrong(pin)}).status_code == 403
    locked = run.unlock({"pin": pin})
    assert (locked.status_code, locked.json()["code"]) == (403, "unlock_locked")

    other = fleet.robot("SW-2")
    assert run.unlock({"pin": pin}, token=other).json()["code"] == "forbidden"
    supervisor = fleet.operator(OperatorRole.SUPERVISOR)
    unsaid = run.unlock({}, token=supervisor.token)
    assert (unsaid.status_code, unsaid.json()["code"]) == (422, "reason_required")
    opened = run.unlock({"reason": "customer showed the order on the phone"}, supervisor.token)
    assert opened.status_code == 200, opened.text
    assert opened.json()["by"] == "pilot"
    assert run.seen()["handover"]["proof"] == "pilot"


def test_a_robot_cannot_complete_the_dropoff_without_opening_the_compartment(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet)
    run.arrive()
    shut = run.fleet.post(
        run.token, f"/ops/v1/trips/{run.to_dropoff['id']}/events", {"event": "completed"}
    )
    assert (shut.status_code, shut.json()["code"]) == (409, "compartment_not_opened")
    held = run.seen()
    assert (held["status"], held["handover"]) == ("at_dropoff", None)
    assert run.unlock({"pin": run.delivery["unlock_pin"]}).status_code == 200
    run.trip(run.to_dropoff, "completed")
    done = run.seen()
    assert done["status"] == "delivered"
    assert (done["handover"]["by"], done["handover"]["proof"]) == ("robot", "pin")
