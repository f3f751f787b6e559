"""Goods nobody takes at the door: each delivery says what becomes of them (`return`, the
default; `leave_at_door`; `dispose`), the robot carries it out when it (or its pilot) reports
the customer absent, and the delivery's status, record and webhooks say what was done."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from sidewalk.bootstrap import Platform
from sidewalk.operations.domain import OperatorRole
from tests.factories import MerchantClient
from tests.fleet import MAIN_ST, Fleet
from tests.integration.test_proof_of_delivery import RobotAtDoor


def give_up(run: RobotAtDoor, token: str | None = None, **body: Any) -> Any:
    return run.fleet.post(token or run.token, "/ops/v1/robots/SW-1/undeliverable", body or None)


def timeline(run: RobotAtDoor) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = run.merchant.get(
        f"/v1/deliveries/{run.delivery['id']}/events"
    ).json()["data"]
    return events


def test_by_default_the_robot_brings_the_goods_back(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet)
    assert run.delivery["undeliverable_action"] == "return"
    early = give_up(run)
    assert (early.status_code, early.json()["code"]) == (409, "not_at_dropoff")
    run.arrive()
    answer = give_up(run, reason="customer_unavailable")
    assert answer.status_code == 200, answer.text
    assert answer.json()["action_taken"] == "return"
    seen = run.seen()
    assert seen["status"] == "returning"
    assert seen["undeliverable"]["action_taken"] == "returned"
    assert seen["undeliverable"]["reason"] == "customer_unavailable"
    back = fleet.get(run.token, "/ops/v1/robots/SW-1/task").json()
    assert back["type"] == "return"
    for event in ("started", "arrived", "completed"):
        run.trip(back["trips"][0], event)
    assert run.seen()["status"] == "returned"
    undeliverable = [e["data"] for e in timeline(run) if e["type"] == "delivery.undeliverable"]
    assert undeliverable == [{"action": "return", "reason": "customer_unavailable"}]


def test_left_at_the_door_the_delivery_is_delivered_and_says_so(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet, undeliverable_action="leave_at_door")
    run.arrive()
    pilot = fleet.operator(OperatorRole.SUPERVISOR)
    answer = give_up(run, token=pilot.token, reason="no_answer_at_door")
    assert answer.json()["action_taken"] == "leave_at_door"
    done = run.seen()
    assert done["status"] == "delivered"
    assert done["undeliverable"]["action_taken"] == "left_at_door"
    assert (done["handover"]["proof"], done["handover"]["lat"]) == ("none", MAIN_ST.lat)
    assert fleet.get(run.token, "/ops/v1/robots/SW-1/task").status_code == 204  # free


def test_disposed_of_the_delivery_fails_and_the_robot_is_free(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet, undeliverable_action="dispose")
    run.arrive()
    assert give_up(run).json()["action_taken"] == "dispose"
    done = run.seen()
    assert (done["status"], done["failure_reason"]) == ("failed", "undeliverable")
    assert done["undeliverable"]["action_taken"] == "disposed"
    assert fleet.get(run.token, "/ops/v1/robots/SW-1/task").status_code == 204
    assert fleet.robot_state("SW-1") == "idle"


def test_the_action_may_change_until_the_door_and_an_opened_compartment_is_handed_over(
    platform: Platform, client: TestClient, merchant: MerchantClient, fleet: Fleet
) -> None:
    run = RobotAtDoor(platform, merchant, fleet)
    path = f"/v1/deliveries/{run.delivery['id']}"
    for bad in ({"undeliverable_action": "burn"}, {"undeliverable_action": None}):
        refused = merchant.http.patch(path, json=bad, headers=merchant.auth)
        assert (refused.status_code, refused.json()["code"]) == (422, "validation_error")
    changed = merchant.http.patch(
        path, json={"undeliverable_action": "dispose"}, headers=merchant.auth
    )
    assert changed.json()["undeliverable_action"] == "dispose"
    run.pump()
    run.arrive()
    late = merchant.http.patch(path, json={"undeliverable_action": "return"}, headers=merchant.auth)
    assert (late.status_code, late.json()["code"]) == (409, "delivery_update_too_late")
    assert run.unlock({"pin": run.delivery["unlock_pin"]}).status_code == 200
    handed = give_up(run)
    assert (handed.status_code, handed.json()["code"]) == (409, "already_handed_over")


@pytest.mark.parametrize("action", ["return", "leave_at_door", "dispose"])
def test_an_order_chooses_its_action(merchant: MerchantClient, action: str) -> None:
    assert merchant.delivery(undeliverable_action=action)["undeliverable_action"] == action
